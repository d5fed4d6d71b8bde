"""Constructing the hosted providers, their dataset rules and their spec checks import
neither vendor SDK (``anytune validate`` and ``providers`` stay fast and work offline)."""

from __future__ import annotations

import subprocess
import sys


def test_rules_and_checks_import_no_sdk() -> None:
    code = (
        "import sys; from anytune import registry; from anytune.types import JobSpec\n"
        "for name in ('together', 'fireworks'):\n"
        "    p = registry.create(name)\n"
        "    p.dataset_rules('some-model', method='dpo')\n"
        "    p.validate_spec(JobSpec(model='m', training_file=''), check_files=False)\n"
        "print([m for m in ('together', 'fireworks', 'openai') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
