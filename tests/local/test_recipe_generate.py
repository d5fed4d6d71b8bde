"""``generate`` in a long-lived process (``anytune chat``, an application): a second call
works, the process keeps seeing bitsandbytes as it is (the trick that hides it belongs
to training processes only), and ``anytune chat`` streams the same greedy reply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
from anytune_local.provider import LocalProvider

provider = LocalProvider(home=sys.argv[2])
messages = [{"role": "user", "content": "Hello"}]
first = provider.generate(sys.argv[1], messages, max_new_tokens=3)
second = provider.generate(sys.argv[1], messages, max_new_tokens=3)
assert first == second, (first, second)
hidden = "bitsandbytes" in sys.modules and sys.modules["bitsandbytes"] is None
print(json.dumps(first))
print("HIDDEN" if hidden else "VISIBLE")
"""


def test_generate_twice_in_one_process_and_bitsandbytes_stays_visible(
    tiny_model: Path, tmp_path: Path
) -> None:
    # issue 10 item 1: the second call failed with "'module' object is not callable"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_model), str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    *_, reply, visible = result.stdout.strip().splitlines()
    assert visible == "VISIBLE"

    # `anytune chat` (the README's quickstart) prints that reply, streamed.
    home = f"home={tmp_path / 'home'}"
    args = ["-p", "local", "-P", home, "-m", str(tiny_model), "--max-new-tokens", "3", "Hello"]
    chat = subprocess.run(
        [sys.executable, "-m", "anytune.cli", "chat", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "ANYTUNE_HOME": str(tmp_path / "anytune")},
    )
    assert chat.returncode == 0, chat.stderr[-2000:]
    assert json.loads(reply) and chat.stdout == json.loads(reply) + "\n"
