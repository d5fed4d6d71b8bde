"""One training process: load the request, run the recipe, write how it ended.

Started by the worker (``python -m anytune_local.worker train ...``), directly or once per
rank by torchrun. It dies with its parent, reports through the store (rank 0 only), and
always leaves a result file: ``result.json`` from rank 0, ``result-rank<N>.json`` from any
rank that failed. The supervisor turns that into the job's final status.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anytune_local.processes import die_with_parent
from anytune_local.reporter import StoreReporter
from anytune_local.store import Store

if TYPE_CHECKING:
    from anytune_local.recipe import Reporter

OOM_HINT = (
    "try a smaller batch_size or max_length (option), gradient_accumulation_steps to keep the "
    "effective batch, or quantize=4bit"
)


def run_training(store: Store, job_id: str, request_path: Path, result_path: Path) -> int:
    """Train one job in this process; returns the exit code (0 when the recipe returned)."""
    die_with_parent()
    rank = int(os.environ.get("RANK", "0"))
    reporter = StoreReporter(store, job_id, primary=rank == 0, parent_pid=os.getppid())
    outcome = train_request(request_path, reporter)
    # Queued reports (a store lock held during training) are written before the supervisor
    # reads the result, so the checkpoints it resumes from are all recorded.
    reporter.flush()
    if rank == 0:
        write_outcome(result_path, outcome)
    elif not outcome["ok"]:
        write_outcome(result_path.with_name(f"result-rank{rank}.json"), outcome)
    return 0 if outcome["ok"] else 1


def train_request(request_path: Path, reporter: Reporter) -> dict[str, Any]:
    """Run the recipe on the request at ``request_path``; how it ended, as JSON values (never
    raises). The one wrapper around the recipe: the local worker and ``run_spec`` use it."""
    try:
        from anytune_local.recipe import TrainingFailure, TrainRequest, train
    except Exception as exc:
        traceback.print_exc()
        return {"ok": False, "code": "training_error", "message": f"cannot load the recipe: {exc}"}
    try:
        request = TrainRequest.from_json(request_path.read_text(encoding="utf-8"))
        result = train(request, reporter)
    except TrainingFailure as exc:
        code = str(getattr(exc, "code", "") or "training_error")
        message = str(getattr(exc, "message", "") or exc)
        print(f"anytune training: {code}: {message}", flush=True)
        return {"ok": False, "code": code, "message": message}
    except Exception as exc:
        traceback.print_exc()
        if _out_of_memory(exc):
            message = f"out of memory: {exc}; {OOM_HINT}"
            return {"ok": False, "code": "out_of_memory", "message": message}
        return {"ok": False, "code": "training_error", "message": f"{type(exc).__name__}: {exc}"}
    except BaseException as exc:  # KeyboardInterrupt, SystemExit inside the recipe
        traceback.print_exc()
        return {"ok": False, "code": "training_error", "message": f"training stopped: {exc!r}"}
    return {
        "ok": True,
        "stopped": result.stopped,
        "trained_tokens": result.trained_tokens,
        "final_train_loss": result.final_train_loss,
        "output_dir": str(result.output_dir) if result.output_dir else None,
        "last_checkpoint": str(result.last_checkpoint) if result.last_checkpoint else None,
    }


def _is(exc: BaseException, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or _is(exc, "OutOfMemoryError"):
        return True
    return "out of memory" in str(exc).lower()


def write_outcome(path: Path, outcome: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(outcome), encoding="utf-8")
    os.replace(tmp, path)
