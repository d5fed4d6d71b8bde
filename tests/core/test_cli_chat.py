"""`anytune chat` in a real process: the reply is printed as it is generated (read from the
pipe before the provider writes the rest), a chat keeps its history, sampling settings reach
the provider, a job id finds its provider in the index, and Ctrl-C stops generation."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from anytune.index import JobIndex

# A provider whose second delta waits for the test to open a gate: the first delta can only
# be read from the pipe before that if the CLI printed (and flushed) it as it came.
SCRIPT = """
import sys, time
from pathlib import Path
from anytune import registry
from anytune.testing import InMemoryProvider

gate = Path(sys.argv[1])

class Streaming(InMemoryProvider):
    name = "streaming"

    def generate_stream(self, model, messages, *, max_new_tokens=128, temperature=0.0,
                        top_p=1.0, seed=None, options=None):
        messages = list(messages)
        try:
            yield f"[{model} {len(messages)} {temperature} {top_p} {seed} {max_new_tokens}] "
            yield "first"
            deadline = time.monotonic() + 60
            while not gate.exists():
                if time.monotonic() > deadline:
                    raise SystemExit("the gate never opened")
                time.sleep(0.01)
            yield " second"
        finally:
            gate.with_name("closed").touch()

registry.register("streaming", Streaming)
from anytune.cli import main
sys.argv = ["anytune", *sys.argv[2:]]
main()
"""


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ANYTUNE_HOME": str(tmp_path / "home")}
    env.pop("ANYTUNE_PROVIDER", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "gate"), "chat", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    return proc


def _read_until(proc: subprocess.Popen[bytes], text: str, timeout: float = 60) -> str:
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"never printed {text!r}; got {seen!r}"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, f"stdout closed before {text!r}; got {seen!r}"
            seen += chunk
    return seen.decode()


def test_a_reply_is_printed_as_it_is_generated(tmp_path: Path) -> None:
    proc = _start(tmp_path, "-p", "streaming", "-m", "m", "hello")
    early = _read_until(proc, "first")
    assert "second" not in early  # the provider has not written it yet
    (tmp_path / "gate").touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert early + out.decode() == "[m 1 0.0 1.0 None 128] first second\n"


def test_an_interactive_chat_keeps_its_history(tmp_path: Path) -> None:
    (tmp_path / "gate").touch()
    proc = _start(tmp_path, "-p", "streaming", "-m", "m", "-s", "be brief")
    out, err = proc.communicate(b"hi\n\nagain\n", timeout=60)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    # system + user, then system + user + assistant + user; the blank line is no turn
    assert "[m 2 0.0 1.0 None 128] first second\n" in text
    assert "[m 4 0.0 1.0 None 128] first second\n" in text
    assert text.count("first second") == 2


def test_sampling_settings_reach_the_provider(tmp_path: Path) -> None:
    (tmp_path / "gate").touch()
    args = ["--temperature", "0.7", "--top-p", "0.9", "--seed", "3", "--max-new-tokens", "5"]
    proc = _start(tmp_path, "-p", "streaming", "-m", "m", *args, "hi")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out.decode() == "[m 1 0.7 0.9 3 5] first second\n"


def test_out_of_range_settings_are_usage_errors(tmp_path: Path) -> None:
    for bad in (["--temperature", "-1"], ["--top-p", "0"], ["--max-new-tokens", "0"]):
        proc = _start(tmp_path, "-p", "streaming", "-m", "m", *bad, "hi")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, (bad, err.decode())
        assert bad[0] in err.decode() and "Traceback" not in err.decode()
        assert not out


def test_a_job_id_finds_its_provider_in_the_index(tmp_path: Path) -> None:
    (tmp_path / "gate").touch()
    JobIndex(tmp_path / "home" / "index.sqlite3").record("ftjob-abc", "streaming")
    proc = _start(tmp_path, "-m", "ftjob-abc", "hi")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out.decode() == "[ftjob-abc 1 0.0 1.0 None 128] first second\n"

    proc = _start(tmp_path, "-m", "ftjob-unknown", "hi")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "no provider given" in err.decode() and "Traceback" not in err.decode()


def test_ctrl_c_stops_generation(tmp_path: Path) -> None:
    proc = _start(tmp_path, "-p", "streaming", "-m", "m", "hello")
    _read_until(proc, "first")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "second" not in out.decode()
    assert "stopped" in err.decode() and "Traceback" not in err.decode()
    assert (tmp_path / "closed").exists()  # the provider's stream was closed
