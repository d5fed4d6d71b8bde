"""Whole processes: ``anytune run -p local`` against ``python benchmarks/trl_sft.py``.

Each arm is one command from fork to exit, Python imports included, on the same data, model
and hyperparameters: what a user waits for. Both are split into

- **start → first step**: imports, validation (anytune checks the file and counts its tokens
  with the model's tokenizer before the upload), upload, the background worker's start,
  model load, tokenization;
- **loop**: first step to last step;
- **last step → exit**: saving (anytune also writes a resumable checkpoint and the job's
  result), and, for anytune, noticing the end (``run`` follows the job's events).

TRL's step times come from a callback in ``trl_sft.py``; anytune's from the job's events in
its store (``Training started`` and the last step's event, wall-clock times). Times are
wall-clock (``time.time()``) so that the parent's fork time and the children's events compare.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

TRL_SCRIPT = common.BENCH_DIR / "trl_sft.py"


def _split(start: float, end: float, first: float | None, last: float | None) -> dict[str, Any]:
    if first is None or last is None:
        return {"to_first_step_s": None, "loop_s": None, "after_last_step_s": None}
    return {
        "to_first_step_s": first - start,
        "loop_s": last - first,
        "after_last_step_s": end - last,
    }


def trl_script(data_dir: Path, config: Any, env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="anytune-bench-trl-") as tmp:
        argv = [sys.executable, str(TRL_SCRIPT), str(data_dir), tmp]
        argv += ["--epochs", str(config.epochs), "--batch-size", str(config.batch_size)]
        argv += ["--lr", str(config.learning_rate), "--seed", str(config.seed)]
        start = time.time()
        process = common.run_process(argv, env=env, timeout=1800).check()
        report = json.loads((Path(tmp) / "result.json").read_text())
    end = start + process.wall_s
    print(f"   TRL script (whole process): {process.wall_s:.1f} s", file=sys.stderr, flush=True)
    return {
        "wall_s": process.wall_s,
        "peak_rss_mb": process.max_rss_mb,
        "real_tokens": report["real_tokens"],
        **_split(start, end, report.get("first_step_at"), report.get("last_step_at")),
    }


def _anytune_step_times(home: Path) -> tuple[float | None, float | None]:
    """``Training started`` and the last step's event, from the local provider's store."""
    path = home / "local" / "store.sqlite3"
    if not path.exists():
        return None, None
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT created_at, message FROM events ORDER BY created_at").fetchall()
    started = next((at for at, message in rows if message.startswith("Training started")), None)
    steps = [at for at, message in rows if message.startswith("Step ")]
    return started, (steps[-1] if steps else None)


def anytune_run(data_dir: Path, config: Any, env: dict[str, str]) -> dict[str, Any]:
    """One whole ``anytune run -p local`` job: validate, upload, the worker process, training
    and following the job to its end (``--json``: the finished job is the last line)."""
    anytune = common.anytune_executable()
    if anytune is None or common.missing_modules("anytune_local.provider"):
        return {"error": "anytune or anytune-local is not installed"}
    from anytune_local.options import BASE_LEARNING_RATE

    with tempfile.TemporaryDirectory(prefix="anytune-bench-e2e-") as tmp:
        home = Path(tmp)
        argv = [anytune, "run", str(data_dir / "train.jsonl"), "-m", str(data_dir / "model")]
        argv += ["-p", "local", "--n-epochs", str(config.epochs)]
        argv += ["--batch-size", str(config.batch_size), "--seed", str(config.seed)]
        argv += ["--lr-multiplier", f"{config.learning_rate / BASE_LEARNING_RATE:g}", "--json"]
        start = time.time()
        try:
            process = common.run_process(argv, env={**env, "ANYTUNE_HOME": str(home)}, timeout=900)
            process.check()
            job = json.loads(process.stdout.strip().splitlines()[-1])
        except (RuntimeError, TimeoutError, ValueError, IndexError) as exc:
            return {"error": str(exc)[-300:]}
        first, last = _anytune_step_times(home)
    end = start + process.wall_s
    print(f"   anytune run -p local: {process.wall_s:.1f} s", file=sys.stderr, flush=True)
    return {
        "wall_s": process.wall_s,
        # The CLI's own peak; the worker is a separate (detached) process.
        "peak_rss_mb": process.max_rss_mb,
        "real_tokens": int(job.get("trained_tokens") or 0),
        "status": job.get("status"),
        **_split(start, end, first, last),
    }
