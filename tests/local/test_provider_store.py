"""The local provider's SQLite store and scheduler on real files and real processes: event
ids, exclusive status changes, many writers at once, FIFO training slots, and dead workers
(exited, or their pid reused) noticed on the next look."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from anytune_local import scheduler
from anytune_local.store import Store

from anytune.types import Metrics


def _job(store: Store, job_id: str, status: str = "queued") -> None:
    spec = {"model": "m", "training_file": "file-x", "hyperparameters": {}, "options": {}}
    store.insert_job(job_id, model="m", spec=json.dumps(spec), status=status)


def _dead_pid() -> tuple[int, float]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(proc.pid).create_time()
    proc.wait()
    return proc.pid, started


def test_event_ids_grow_and_after_is_exclusive(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _job(store, "ftjob-a")
    _job(store, "ftjob-b")
    ids = [store.add_event("ftjob-a", f"a{i}") for i in range(3)]
    store.add_event("ftjob-b", "b0", metrics=Metrics(step=1, train_loss=0.5))
    events = store.list_events("ftjob-a")
    assert [e.id for e in events] == ids
    assert [e.message for e in store.list_events("ftjob-a", after=int(ids[0][8:]))] == ["a1", "a2"]
    (b_event,) = store.list_events("ftjob-b")
    assert b_event.metrics == Metrics(step=1, train_loss=0.5)


def test_only_one_of_two_racing_transitions_wins(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _job(store, "ftjob-a", status="running")
    assert store.transition("ftjob-a", ("running",), "succeeded")
    assert not store.transition("ftjob-a", ("running",), "cancelled")
    record = store.get_job("ftjob-a")
    assert record is not None and record.status == "succeeded"


def test_many_processes_write_at_once_without_losing_anything(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _job(store, "ftjob-a")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from anytune_local.store import Store\n"
        "s = Store(Path(sys.argv[1]))\n"
        "for i in range(50):\n"
        "    s.add_event('ftjob-a', f'{sys.argv[2]}-{i}')\n"
        "    s.update_job('ftjob-a', heartbeat=float(i))\n"
        "    s.list_events('ftjob-a', after=i)\n"
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), str(n)], stderr=subprocess.PIPE
        )
        for n in range(8)
    ]
    errors = [w.communicate(timeout=120)[1] for w in writers]
    assert [w.returncode for w in writers] == [0] * 8, errors
    assert len(store.list_events("ftjob-a")) == 8 * 50


def test_a_dead_worker_is_noticed_and_named(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _job(store, "ftjob-a", status="running")
    pid, started = _dead_pid()
    store.update_job("ftjob-a", worker_pid=pid, worker_started=started, worker_host=None)
    record = store.get_job("ftjob-a")
    assert record is not None

    fresh = scheduler.reconcile(store, record)

    assert fresh.status == "failed" and fresh.error_code == "worker_died"
    assert f"worker process {pid}" in (fresh.error_message or "")
    assert "anytune resume ftjob-a" in (fresh.error_message or "")
    assert store.list_events("ftjob-a")[-1].level == "error"


def test_a_reused_pid_is_not_mistaken_for_the_worker(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _job(store, "ftjob-a", status="running")
    me = psutil.Process(os.getpid())
    store.update_job("ftjob-a", worker_pid=me.pid, worker_started=me.create_time() - 3600)
    record = store.get_job("ftjob-a")
    assert record is not None
    assert scheduler.reconcile(store, record).status == "failed"


def test_a_live_worker_is_left_alone_and_a_cancel_of_a_dead_one_ends_cancelled(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    _job(store, "ftjob-live", status="running")
    me = psutil.Process(os.getpid())
    store.update_job("ftjob-live", worker_pid=me.pid, worker_started=me.create_time())
    live = store.get_job("ftjob-live")
    assert live is not None and scheduler.reconcile(store, live).status == "running"

    _job(store, "ftjob-gone", status="running")
    pid, started = _dead_pid()
    store.update_job(
        "ftjob-gone", worker_pid=pid, worker_started=started, requested_action="cancel"
    )
    gone = store.get_job("ftjob-gone")
    assert gone is not None and scheduler.reconcile(store, gone).status == "cancelled"


def test_slots_are_exclusive_and_freed_when_the_holder_exits(tmp_path: Path) -> None:
    store = Store(tmp_path)
    slot = scheduler.try_acquire_slot(store, 1)
    assert slot is not None
    assert scheduler.try_acquire_slot(store, 1) is None
    slot.release()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from anytune_local.scheduler import try_acquire_slot\n"
            "from anytune_local.store import Store\n"
            "assert try_acquire_slot(Store(Path(sys.argv[1])), 1) is not None\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert scheduler.try_acquire_slot(store, 1) is None
    holder.kill()
    holder.wait()
    again = scheduler.try_acquire_slot(store, 1)
    assert again is not None, "the kernel frees a dead holder's slot"
    again.release()


def test_queue_is_first_in_first_out_and_skips_jobs_whose_worker_died(tmp_path: Path) -> None:
    store = Store(tmp_path)
    me = psutil.Process(os.getpid())
    pid, started = _dead_pid()
    _job(store, "ftjob-dead")  # submitted first, its worker is gone
    store.update_job("ftjob-dead", worker_pid=pid, worker_started=started)
    _job(store, "ftjob-first")
    _job(store, "ftjob-second")
    for job_id in ("ftjob-first", "ftjob-second"):
        store.update_job(job_id, worker_pid=me.pid, worker_started=me.create_time())
    assert scheduler.jobs_ahead(store, "ftjob-second") == 2

    got: dict[str, scheduler.Slot | None] = {}
    second = threading.Thread(
        target=lambda: got.update(second=scheduler.wait_for_slot(store, "ftjob-second"))
    )
    second.start()
    first = scheduler.wait_for_slot(store, "ftjob-first", interval=0.05)
    assert first is not None
    dead = store.get_job("ftjob-dead")
    assert dead is not None and dead.status == "failed" and dead.error_code == "worker_died"
    time.sleep(0.6)
    assert "second" not in got, "the second job must wait while the first holds the slot"
    store.transition("ftjob-first", ("queued",), "succeeded")
    first.release()
    second.join(timeout=30)
    slot = got.get("second")
    assert slot is not None
    slot.release()


def test_waiting_ends_when_the_job_is_cancelled_while_queued(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _job(store, "ftjob-a")
    blocker = scheduler.try_acquire_slot(store, 1)
    assert blocker is not None
    me = psutil.Process(os.getpid())
    store.update_job("ftjob-a", worker_pid=me.pid, worker_started=me.create_time())
    threading.Timer(0.3, lambda: store.transition("ftjob-a", ("queued",), "cancelled")).start()
    assert scheduler.wait_for_slot(store, "ftjob-a", interval=0.05) is None
    blocker.release()


def test_last_log_error_picks_the_latest_attempts_error_line(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    header = scheduler.WORKER_LOG_HEADER
    log.write_text(
        f"{header} attempt 0\nKeyError: from the first attempt\n"
        f"{header} attempt 1\nloading\nTraceback (most recent call last):\n"
        "ValueError: bad thing\nWriting model shards: 100%\n"
    )
    assert scheduler.last_log_error(log) == "ValueError: bad thing"
    log.write_text(f"{header} attempt 0\nKeyError: old\n{header} attempt 1\nall fine\n")
    assert scheduler.last_log_error(log) is None


def _torchrun_summary(*failures: tuple[int, int]) -> str:
    """torchrun's failure summary (its layout as torch 2.13 prints it) for ``(rank, exit)``
    pairs, the last being its root cause."""
    *others, root = failures

    def entry(i: int, rank: int, code: int) -> str:
        return (
            f"[{i}]:\n  time      : 2026-12-01_20:11:35\n  host      : localhost\n"
            f"  rank      : {rank} (local_rank: {rank})\n"
            f"  exitcode  : {code} (pid: {2200 + rank})\n  error_file: <N/A>\n"
        )

    return (
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n"
        + "=" * 54
        + "\nanytune_local.training FAILED\n"
        + "-" * 54
        + "\nFailures:\n"
        + "".join(entry(i + 1, *f) for i, f in enumerate(others))
        + "-" * 54
        + "\nRoot Cause (first observed failure):\n"
        + entry(0, *root)
        + "=" * 54
        + "\n"
    )


def test_failed_rank_names_the_killed_rank_before_the_others_consequences(
    tmp_path: Path,
) -> None:
    log = tmp_path / "worker.log"
    header = scheduler.WORKER_LOG_HEADER
    # Rank 1 killed (SIGKILL); rank 0 then stopped by torchrun (SIGTERM): the root cause.
    log.write_text(f"{header} attempt 0\n" + _torchrun_summary((0, -15), (1, -9)))
    assert scheduler.failed_rank(log) == (1, -9)
    # Rank 0 failed on its broken connection first (exit 1), so torchrun calls it the root
    # cause; the killed rank is still the cause.
    log.write_text(f"{header} attempt 0\n" + _torchrun_summary((1, -9), (0, 1)))
    assert scheduler.failed_rank(log) == (1, -9)
    # No rank killed: torchrun's root cause.
    log.write_text(f"{header} attempt 0\n" + _torchrun_summary((0, -15), (1, 1)))
    assert scheduler.failed_rank(log) == (1, 1)
    # Only the latest attempt counts; a log without a summary has no failed rank.
    log.write_text(_torchrun_summary((1, -9)) + f"{header} attempt 1\nTraceback\n")
    assert scheduler.failed_rank(log) is None
    assert scheduler.failed_rank(tmp_path / "missing.log") is None


def test_read_outcome_prefers_the_failed_ranks_own_failure(tmp_path: Path) -> None:
    from anytune_local.launch import read_outcome

    result = tmp_path / "result.json"
    assert read_outcome(result) is None
    result.write_text(json.dumps({"ok": False, "message": "gloo: connection reset"}))
    (tmp_path / "result-rank1.json").write_text(json.dumps({"ok": False, "message": "CUDA OOM"}))
    assert read_outcome(result)["message"] == "gloo: connection reset"  # type: ignore[index]
    assert read_outcome(result, failed_rank=1)["message"] == "CUDA OOM"  # type: ignore[index]
    assert read_outcome(result, failed_rank=0)["message"] == "gloo: connection reset"  # type: ignore[index]
    result.write_text(json.dumps({"ok": True, "output_dir": "x"}))
    assert read_outcome(result, failed_rank=1)["ok"] is True  # type: ignore[index]


def test_the_worker_parses_a_stored_spec_once_into_a_typed_record(tmp_path: Path) -> None:
    from anytune_local.launch import load_spec

    store = Store(tmp_path)
    spec = {
        "model": "tiny",
        "base_model": "/abs/tiny",
        "training_file": "file-x",
        "hyperparameters": {"n_epochs": 2, "batch_size": "auto"},
        "options": {"lora_r": "8", "merge": "true", "retired_option": 1},
    }
    store.insert_job("ftjob-typed", model="tiny", spec=json.dumps(spec), status="queued")
    record = store.get_job("ftjob-typed")
    assert record is not None

    typed = load_spec(record)

    assert typed.model == "/abs/tiny"  # the path made absolute at create
    assert typed.options.get_int("lora_r") == 8 and typed.options.get_bool("merge") is True
    assert typed.options.get_int("max_length") == 2048  # defaults filled in
    assert "retired_option" not in typed.options  # an option this version no longer has
    assert typed.hyperparameters.n_epochs == 2 and typed.hyperparameters.batch_size == "auto"


def test_a_store_of_the_previous_schema_is_upgraded_in_place(tmp_path: Path) -> None:
    import sqlite3

    from anytune_local.records import SCHEMA

    old = SCHEMA.replace(",\n    progress TEXT\n", "\n")
    assert old != SCHEMA
    conn = sqlite3.connect(tmp_path / "store.sqlite3")
    conn.executescript(old)
    conn.execute("PRAGMA user_version=1")
    conn.close()
    (tmp_path / "jobs").mkdir()

    store = Store(tmp_path)
    _job(store, "ftjob-old")
    store.update_job("ftjob-old", progress=json.dumps(Metrics(step=3).to_dict()))
    record = store.get_job("ftjob-old")
    assert record is not None and record.progress is not None


_OPENER = """
import sys
from pathlib import Path
from anytune_local.store import Store
released()
print(len(Store(Path(sys.argv[1])).list_jobs(limit=10)))
"""


def test_an_older_store_opened_by_several_processes_at_once_is_upgraded_once(
    tmp_path: Path, at_once: Callable[[str, list[list[str]]], list[tuple[int, str, str]]]
) -> None:
    import sqlite3

    from anytune_local.records import SCHEMA

    conn = sqlite3.connect(tmp_path / "store.sqlite3")
    conn.executescript(SCHEMA.replace(",\n    progress TEXT\n", "\n"))
    conn.execute("PRAGMA user_version=1")
    conn.close()
    (tmp_path / "jobs").mkdir()
    for code, out, err in at_once(_OPENER, [[str(tmp_path)]] * 4):
        assert code == 0, err  # none ran the migration a second time
        assert out.strip() == "0"
    conn = sqlite3.connect(tmp_path / "store.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
    assert columns.count("progress") == 1
