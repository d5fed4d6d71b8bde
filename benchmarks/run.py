"""Run anytune's benchmarks side by side and write the results table.

    python benchmarks/run.py                    # all six, full size (training: ~25 min on 2 cores; GPU: SKIPPED without one)
    python benchmarks/run.py --smoke --out DIR  # seconds-sized, to keep the scripts working (CI)
    python benchmarks/run.py --only startup --only polling

Writes DIR/results.md (for people; the README links to it) and DIR/results.json (every
number), with the machine description and the exact command. Default DIR: benchmarks/results.
A benchmark whose dependencies are missing reports "SKIPPED: <what is missing>"; one that
fails reports "ERROR" with the reason, and the others still run. Exit status: 1 if any
benchmark errored, else 0. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import common
import gpu_training
import polling
import serve_polling
import startup
import training_throughput
from common import Result, Target

VALIDATION_SCRIPT = common.BENCH_DIR / "validate_throughput.py"
VALIDATION_TITLE = "3. Validation throughput"


def run_validation(smoke: bool) -> Result:
    """Benchmark 3, measured by ``validate_throughput.py`` (its own script, run as a process):
    ``anytune validate`` on a generated 200 MB file, and a 10× smaller one to show that RSS
    does not grow with the file. Its JSON is folded into this table."""
    name = "validation"
    if not VALIDATION_SCRIPT.exists():
        return common.skipped(name, VALIDATION_TITLE, f"{VALIDATION_SCRIPT.name} is not there")
    result = Result(name, VALIDATION_TITLE)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "validation.json"
        argv = [sys.executable, str(VALIDATION_SCRIPT), "--json", str(out)]
        process = common.run_process(argv + (["--smoke"] if smoke else []), timeout=900)
        if not out.exists():
            tail = (process.stderr or process.stdout).strip().splitlines()[-5:]
            raise RuntimeError(
                f"{VALIDATION_SCRIPT.name} exited {process.returncode}: {' / '.join(tail)}"
            )
        report = json.loads(out.read_text())
    rows = []
    for label, r in report["results"].items():
        rows.append(
            (
                f"{label}: {r['bytes'] / 1e6:.1f} MB, {r['examples']:,} examples",
                f"{r['wall_s_median']:.2f}",
                f"{r['mb_per_s_median']:.1f} (runs: {', '.join(map(str, r['mb_per_s_all']))})",
                f"{r['mb_per_cpu_s_median']:.1f}",
                f"{r['peak_rss_mb_max']:.1f}",
            )
        )
    result.table(("file", "wall s (median)", "MB/s", "MB per CPU-s", "peak RSS MB (max)"), rows)
    names = {"throughput": "MB/s on the large file", "peak_rss": "peak RSS on the large file"}
    names["startup_12_lines"] = "`anytune validate` on 12 lines (start-up)"
    for key, check in report["targets"].items():
        met = None if smoke else check["met"]
        result.targets.append(
            Target(names.get(key, key), check["target"], str(check["measured"]), met)
        )
    result.notes.append(
        f"Measured by `python benchmarks/{VALIDATION_SCRIPT.name}` (exit {process.returncode});"
        " MB = 10^6 bytes, whole-process wall time including start-up; MB per CPU-s is the"
        " figure that other load on the machine does not move."
    )
    result.data = report
    return result


BENCHMARKS: dict[str, tuple[str, Callable[[bool], Result]]] = {
    training_throughput.NAME: (training_throughput.TITLE, training_throughput.run),
    gpu_training.NAME: (gpu_training.TITLE, gpu_training.run),
    startup.NAME: (startup.TITLE, startup.run),
    "validation": (VALIDATION_TITLE, run_validation),
    polling.NAME: (polling.TITLE, polling.run),
    serve_polling.NAME: (serve_polling.TITLE, serve_polling.run),
}


def run_one(name: str, smoke: bool) -> Result:
    title, run = BENCHMARKS[name]
    print(f"== {title} ({'smoke' if smoke else 'full'})", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        result = run(smoke)
    except Exception as exc:
        traceback.print_exc()
        result = Result(name, title, status="error", reason=f"{type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - start
    verdicts = ", ".join(
        f"{t.what}: {t.measured}" + ("" if t.met is None else (" (met)" if t.met else " (MISSED)"))
        for t in result.targets
    )
    status = result.status.upper() + (f": {result.reason}" if result.reason else "")
    print(f"   {status} in {result.seconds:.0f} s. {verdicts}", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="smoke-sized runs; targets are not judged"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        help="run only this benchmark (repeatable)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=common.BENCH_DIR / "results",
        help="where to write results.md and results.json (default: benchmarks/results)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for every benchmarked process (OMP_NUM_THREADS); default: torch's"
        " own choice (one per core). On a machine shared with other work, 1 avoids the"
        " OpenMP spin-waiting that makes every arm many times slower",
    )
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    command = shlex.join(
        ["python", os.path.relpath(sys.argv[0]), *(argv if argv is not None else sys.argv[1:])]
    )
    info = common.machine()
    info["threads"] = args.threads or "default"
    results = [run_one(name, args.smoke) for name in (args.only or list(BENCHMARKS))]
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    md, js = common.write_results(args.out, results, info, command, args.smoke)
    print(f"Wrote {md} and {js}", file=sys.stderr)
    return 1 if any(r.status == "error" for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
