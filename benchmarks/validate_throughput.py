"""Throughput and memory of ``anytune validate`` on large chat JSONL files.

Generates realistic chat training data (system prompt, 1-3 user/assistant turns of varied
length, some tool calls, some non-ASCII text; every example unique) in a temporary
directory, then runs ``anytune validate FILE --json`` as a separate process on a small and a
large file and reports MB/s (10^6 bytes per second of whole-process wall time, start-up
included) and the process's own peak RSS (``wait4``). RSS that stays nearly the same from the
small to the large file shows that memory does not grow with the file size. Also times the
whole process on a 12-line file (start-up cost).

Targets (issue 2): >= 50 MB/s and < 150 MB RSS on a 200 MB file; < 0.25 s on 12 lines.

    python benchmarks/validate_throughput.py                 # 200 MB and 20 MB
    python benchmarks/validate_throughput.py --size-mb 1000  # a bigger one
    python benchmarks/validate_throughput.py --smoke         # seconds; not judged
    python benchmarks/validate_throughput.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_MB_S = 50.0
TARGET_RSS_MB = 150.0
TARGET_START_S = 0.25

_TEXT = """
the model answer question data train token user assistant system value result because however
therefore example number table report summary customer order ship invoice refund policy please
thanks first second third finally also which when where time year people way day man thing
woman life child world school state family group country problem hand part place case week
company system program work government small large next early young important few public bad
same able great little own
"""
_WORDS = tuple(_TEXT.split())
_EXTRA = ["Grüße aus München.", "東京は晴れです。", "Привет, как дела?", "¿Dónde está la estación?"]


def _sentences(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        words = rng.choices(_WORDS, k=rng.randint(5, 18))
        out.append(" ".join(words).capitalize() + rng.choice([".", ".", ".", "?", "!"]))
    return out


def generate(paths_and_sizes: list[tuple[Path, int]], seed: int = 0) -> dict[Path, int]:
    """Write chat JSONL files, each a prefix of one stream, up to its size in bytes.

    Returns the number of examples in each file.
    """
    rng = random.Random(seed)
    pool = _sentences(rng, 4000)
    systems = [" ".join(_sentences(rng, rng.randint(1, 3))) for _ in range(8)]
    handles = {path: path.open("w", encoding="utf-8") for path, _ in paths_and_sizes}
    limits = dict(paths_and_sizes)
    written = dict.fromkeys(limits, 0)
    counts = dict.fromkeys(limits, 0)
    i = 0
    try:
        while handles:
            i += 1
            messages: list[dict[str, Any]] = [{"role": "system", "content": rng.choice(systems)}]
            for turn in range(rng.choice([1, 1, 1, 2, 2, 3])):
                user = " ".join(rng.choices(pool, k=rng.randint(1, 6)))
                if turn == 0:
                    user = f"[#{i}] {user}"
                if rng.random() < 0.05:
                    user += " " + rng.choice(_EXTRA)
                messages.append({"role": "user", "content": user})
                if rng.random() < 0.03:
                    call = {
                        "id": f"call_{i}_{turn}",
                        "type": "function",
                        "function": {
                            "name": "lookup",
                            "arguments": json.dumps({"query": rng.choice(pool)}),
                        },
                    }
                    messages.append({"role": "assistant", "tool_calls": [call]})
                    messages.append(
                        {"role": "tool", "tool_call_id": call["id"], "content": rng.choice(pool)}
                    )
                messages.append(
                    {
                        "role": "assistant",
                        "content": " ".join(rng.choices(pool, k=rng.randint(2, 15))),
                    }
                )
            line = json.dumps({"messages": messages}, ensure_ascii=False) + "\n"
            size = len(line.encode("utf-8"))
            for path in list(handles):
                if written[path] + size > limits[path]:
                    handles.pop(path).close()
                    continue
                handles[path].write(line)
                written[path] += size
                counts[path] += 1
    finally:
        for fh in handles.values():
            fh.close()
    return counts


def run_validate(path: Path) -> dict[str, Any]:
    """Run ``anytune validate PATH --json`` as a child process; wall time and its peak RSS."""
    env = {k: v for k, v in os.environ.items() if k != "ANYTUNE_PROVIDER"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "anytune.cli", "validate", str(path), "--json"],
            stdout=out,
            stderr=err,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(
            f"anytune validate {path} exited {proc.returncode}: {stderr[-2000:] or stdout[-2000:]}"
        )
    report = json.loads(stdout)
    size = path.stat().st_size
    return {
        "bytes": size,
        "wall_s": wall,
        "mb_per_s": size / 1e6 / wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "mb_per_cpu_s": size / 1e6 / max(usage.ru_utime + usage.ru_stime, 1e-9),
        # Linux reports ru_maxrss in KiB, macOS in bytes.
        "peak_rss_mb": usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024),
        "examples": report["stats"]["train"]["examples"],
        "ok": report["ok"],
    }


def measure(path: Path, repeat: int) -> dict[str, Any]:
    runs = [run_validate(path) for _ in range(repeat)]
    best = min(runs, key=lambda r: r["wall_s"])
    return {
        "bytes": best["bytes"],
        "examples": best["examples"],
        "ok": best["ok"],
        "runs": repeat,
        "wall_s_median": statistics.median(r["wall_s"] for r in runs),
        "mb_per_s_median": statistics.median(r["mb_per_s"] for r in runs),
        "mb_per_s_all": [round(r["mb_per_s"], 1) for r in runs],
        "mb_per_cpu_s_median": statistics.median(r["mb_per_cpu_s"] for r in runs),
        "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size-mb", type=float, default=200.0, help="Large file size (default 200)."
    )
    parser.add_argument(
        "--small-mb", type=float, default=None, help="Small file size (default size/10)."
    )
    parser.add_argument("--repeat", type=int, default=3, help="Runs per file (default 3).")
    parser.add_argument(
        "--smoke", action="store_true", help="Tiny sizes, one run each: checks the script works."
    )
    parser.add_argument(
        "--json", dest="json_out", type=Path, help="Write the results as JSON here."
    )
    args = parser.parse_args(argv)
    size_mb = 2.0 if args.smoke else args.size_mb
    small_mb = args.small_mb or size_mb / 10
    repeat = 1 if args.smoke else args.repeat

    with tempfile.TemporaryDirectory(prefix="anytune-validate-bench-") as tmp:
        big, small, tiny = (
            Path(tmp) / "big.jsonl",
            Path(tmp) / "small.jsonl",
            Path(tmp) / "tiny.jsonl",
        )
        started = time.perf_counter()
        counts = generate([(big, int(size_mb * 1e6)), (small, int(small_mb * 1e6))])
        with tiny.open("w", encoding="utf-8") as fh, small.open(encoding="utf-8") as src:
            for _ in range(12):
                fh.write(src.readline())
        print(
            f"generated {size_mb:g} MB ({counts[big]:,} examples) and {small_mb:g} MB in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        startup = [run_validate(tiny)["wall_s"] for _ in range(1 if args.smoke else 7)]
        results = {"small": measure(small, repeat), "large": measure(big, repeat)}

    large, small_r = results["large"], results["small"]
    start_s = statistics.median(startup)
    judged = not args.smoke
    checks = {
        "throughput": {
            "target": f">= {TARGET_MB_S} MB/s",
            "measured": round(large["mb_per_s_median"], 1),
            "met": large["mb_per_s_median"] >= TARGET_MB_S if judged else None,
        },
        "peak_rss": {
            "target": f"< {TARGET_RSS_MB} MB",
            "measured": round(large["peak_rss_mb_max"], 1),
            "met": large["peak_rss_mb_max"] < TARGET_RSS_MB if judged else None,
        },
        "startup_12_lines": {
            "target": f"< {TARGET_START_S} s",
            "measured": round(start_s, 3),
            "met": start_s < TARGET_START_S if judged else None,
        },
    }
    header = (
        "file",
        "size MB",
        "examples",
        "B/example",
        "wall s",
        "MB/s",
        "MB/CPU-s",
        "peak RSS MB",
    )
    print("".join(f"{h:>12}" for h in header))
    for name, r in (("small", small_r), ("large", large)):
        row = (
            name,
            f"{r['bytes'] / 1e6:.1f}",
            f"{r['examples']:,}",
            f"{r['bytes'] / max(r['examples'], 1):.0f}",
            f"{r['wall_s_median']:.2f}",
            f"{r['mb_per_s_median']:.1f}",
            f"{r['mb_per_cpu_s_median']:.1f}",
            f"{r['peak_rss_mb_max']:.1f}",
        )
        print("".join(f"{c:>12}" for c in row))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if load is not None and load > (os.cpu_count() or 1) * 0.5:
        print(
            f"note: load average {load:.2f} on {os.cpu_count()} CPUs: other processes compete, "
            "so wall-time MB/s is low; MB/CPU-s is the load-independent figure"
        )
    print(f"start-up, 12-line file: median {start_s:.3f} s over {len(startup)} runs")
    for name, c in checks.items():
        verdict = {True: "MET", False: "NOT MET", None: "not judged (smoke)"}[c["met"]]
        print(f"{name}: {c['measured']} (target {c['target']}): {verdict}")
    payload = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "smoke": args.smoke,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        },
        "results": results,
        "startup_s": {"median": start_s, "all": [round(s, 3) for s in startup]},
        "targets": checks,
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n")
    all_ok = all(r["ok"] for r in results.values())
    return 0 if all_ok and all(c["met"] is not False for c in checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
