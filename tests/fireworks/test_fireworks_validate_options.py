"""`anytune validate -p fireworks -o ...` checks options exactly as create does (issue 15,
item 2): an option create refuses is refused offline, before any upload."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from anytune.cli import cli
from anytune.testing import write_chat_jsonl


def test_validate_refuses_lora_alpha_as_create_does(tmp_path: Path) -> None:
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    args = ["validate", str(train), "-p", "fireworks", "-m", "llama-v3p1-8b-instruct"]
    refused = CliRunner().invoke(cli, [*args, "-o", "lora_alpha=4"])
    assert refused.exit_code == 2, refused.output
    assert "lora_alpha" in refused.stderr and "LoRA rank only" in refused.stderr
    # No per-model context is verified (catalog), so only a non-positive length is refused.
    bad_length = CliRunner().invoke(cli, [*args, "-o", "max_length=0"])
    assert bad_length.exit_code == 2 and "max_length must be positive" in bad_length.stderr
    fine = CliRunner().invoke(cli, [*args, "-o", "lora_r=16"])
    assert fine.exit_code == 0, fine.output
