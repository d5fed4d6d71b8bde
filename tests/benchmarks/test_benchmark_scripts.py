"""Keep the benchmark scripts working: their shared helpers, their measurement of a process,
and a smoke-sized run of the cheap benchmarks end to end. Timings are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402


def test_stat_and_pair_ratios() -> None:
    s = common.stat([3.0, 1.0, 2.0])
    assert (s.median, s.low, s.high, s.n) == (2.0, 1.0, 3.0, 3)
    # Pair by pair, not a ratio of medians: (4/2, 9/3, 10/10) -> median 2.
    r = common.pair_ratios([4.0, 9.0, 10.0], [2.0, 3.0, 10.0])
    assert r.values == (2.0, 3.0, 1.0)
    assert r.median == 2.0
    with pytest.raises(ValueError):
        common.pair_ratios([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        common.stat([])


def test_alternate_reverses_order_every_other_round() -> None:
    calls: list[str] = []

    def arm(name: str) -> Callable[[], int]:
        def run() -> int:
            calls.append(name)
            return len(calls)

        return run

    results = common.alternate([("a", arm("a")), ("b", arm("b"))], 3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert results == {"a": [1, 4, 5], "b": [2, 3, 6]}


def test_run_process_reports_the_childs_own_peak_rss() -> None:
    # The parent holds 300 MB; a direct child's ru_maxrss would include it on Linux.
    ballast = bytearray(300 * 1024 * 1024)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    small = common.run_process([sys.executable, "-c", "pass"]).check()
    big = common.run_process(
        [
            sys.executable,
            "-c",
            "b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])",
        ]
    ).check()
    assert small.max_rss_mb < 100
    assert big.max_rss_mb > 200
    assert small.wall_s > 0 and small.cpu_s >= 0
    del ballast


def test_run_process_failure_and_timeout() -> None:
    failed = common.run_process([sys.executable, "-c", "import sys; sys.exit('boom')"])
    assert failed.returncode == 1
    with pytest.raises(RuntimeError, match="boom"):
        failed.check()
    with pytest.raises(TimeoutError):
        common.run_process([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)


def test_results_writers(tmp_path: Path) -> None:
    result = common.Result("x", "X bench")
    result.table(("a", "b|c"), [("1", "2")])
    result.targets.append(common.Target("speed", "≥ 2×", "1.5×", False, "short by 1.33×"))
    skipped = common.skipped("y", "Y bench", "thing not installed")
    md, js = common.write_results(tmp_path, [result, skipped], common.machine(), "cmd", False)
    text = md.read_text()
    assert "| a | b\\|c |" in text
    assert "**missed**" in text and "short by 1.33×" in text
    assert "SKIPPED: thing not installed" in text
    payload = json.loads(js.read_text())
    assert payload["command"] == "cmd"
    assert [r["status"] for r in payload["results"]] == ["ok", "skipped"]
    assert payload["machine"]["cores"] >= 1


@pytest.mark.timeout(120)
def test_smoke_run_of_the_cheap_benchmarks(tmp_path: Path) -> None:
    argv = [sys.executable, str(BENCH / "run.py"), "--smoke", "--out", str(tmp_path)]
    # training-gpu: SKIPPED without CUDA (says so), a smoke run on a GPU.
    for name in ("startup", "polling", "validation", "training-gpu"):
        argv += ["--only", name]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads((tmp_path / "results.json").read_text())
    by_name = {r["name"]: r for r in payload["results"]}
    assert set(by_name) == {"startup", "polling", "validation", "training-gpu"}
    assert payload["smoke"] is True
    for result in by_name.values():
        assert result["status"] in ("ok", "skipped"), result
        assert all(t["met"] is None for t in result["targets"])  # smoke: never judged
    if by_name["polling"]["status"] == "ok":
        shape = by_name["polling"]["data"]["shapes"][0]
        for run in shape["naive"] + shape["anytune"]:
            assert run["events_shown"] == run["events_total"] > 0
    assert "# anytune benchmark results" in (tmp_path / "results.md").read_text()
