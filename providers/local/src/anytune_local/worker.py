"""The worker: the detached process that takes one job to a final status.

::

    python -m anytune_local.worker supervise --home H --job J --attempt N [--resume]
        validating_files -> queued -> (waits for the training slot) -> running ->
        succeeded / failed / cancelled / paused. Starts the training process below (or
        torchrun with N of them), watches it, and records how it ended.
    python -m anytune_local.worker train --home H --job J --request R --result OUT
        one training process (one per rank under torchrun): runs the recipe.

The supervisor imports no ML library; only the training process does. Every way out of the
supervisor leaves the job in a final status (or paused): exceptions become ``failed`` with
a code and message, and a ``finally`` catches anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from anytune.errors import StorageError
from anytune_local import checkpoints, processes, scheduler
from anytune_local.launch import (
    build_request,
    read_outcome,
    training_argv,
    write_job_record,
)
from anytune_local.store import ACTIVE_STATUSES, JobRecord, Store, StoreBusyError, retry_busy
from anytune_local.validation import validate_job_files

TERMINATE_GRACE = 10.0
"""Seconds the training process gets to exit after SIGTERM before SIGKILL."""
TRANSITION_PATIENCE = 3600.0
"""Seconds a status change keeps retrying while another process holds the store's lock."""
EVENT_PATIENCE = 120.0


def training_env(nproc: int) -> dict[str, str]:
    """The training process's environment (the user's own settings win).

    ``OMP_WAIT_POLICY=PASSIVE``: idle OpenMP threads sleep instead of spinning. With the
    default spinning, any other load on the machine makes training up to 10× slower
    (measured: the benchmark's micro-batches on 2 cores next to a test run, 134 s against
    12 s), because every one of a step's thousands of small operations waits for spinning
    threads that the scheduler has put aside.
    """
    env = processes.isolated_env(PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if nproc > 1:
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


class _Terminated(Exception):
    """The supervisor got SIGTERM/SIGINT/SIGHUP while not training."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signame = signal.Signals(signum).name


class Supervisor:
    """Runs one job in this process; see the module docstring."""

    def __init__(self, store: Store, job_id: str, attempt: int) -> None:
        self.store = store
        self.job_id = job_id
        self.attempt = attempt
        """The job's attempt this worker runs; it changes nothing of another attempt."""
        self.job_dir = store.job_dir(job_id)
        self.training = False
        self.terminated_by: str | None = None

    # -- entry ----------------------------------------------------------------------------
    def run(self, *, resume: bool) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        if not self.store.claim_worker(
            self.job_id,
            self.attempt,
            pid=os.getpid(),
            started=processes.start_time(os.getpid()),
            host=processes.hostname(),
        ):
            print(f"anytune worker: job {self.job_id} moved past attempt {self.attempt}; exiting")
            return 0
        mode = "resume" if resume else "start"
        print(
            f"{scheduler.WORKER_LOG_HEADER} pid {os.getpid()}, job {self.job_id}, "
            f"attempt {self.attempt} ({mode})"
        )
        slot: scheduler.Slot | None = None
        try:
            if not resume and not self._validate():
                return 0
            ahead = scheduler.jobs_before(self.store, self.job_id)
            behind = f" behind {ahead} other job(s)" if ahead else ""
            slots = scheduler.max_jobs()
            limit = "one job trains" if slots == 1 else f"{slots} jobs train"
            self._event(f"Job queued{behind}; {limit} at a time on this machine.")
            slot = scheduler.wait_for_slot(self.store, self.job_id, attempt=self.attempt)
            if slot is None or not self._transition(("queued",), "running", started_at=time.time()):
                return 0
            self._train()
            return 0
        except _Terminated as exc:
            self._stopped_by_signal(exc.signame)
            return 1
        except Exception as exc:
            traceback.print_exc()
            self._fail("internal_error", f"the worker crashed: {type(exc).__name__}: {exc}")
            return 1
        finally:
            self._ensure_final()
            if slot is not None:
                slot.release()
            final = self.store.get_job(self.job_id)
            print(f"anytune worker {os.getpid()}: exits, job is {final.status if final else '?'}")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.training:
            self.terminated_by = signal.Signals(signum).name
            return
        raise _Terminated(signum)

    # -- phases ---------------------------------------------------------------------------
    def _validate(self) -> bool:
        record = self._record()
        problem = validate_job_files(self.store, record, self._event)
        if problem is not None:
            code, message = problem
            self._fail(code, message, from_statuses=("validating_files",))
            return False
        return self._transition(("validating_files",), "queued")

    def _layout(self, request: Any) -> tuple[int, str]:
        """The job's process count (``layout.training_layout``), chosen at its first start
        and kept for every later attempt, so a resumed run has the processes (and per-process
        state in its checkpoints) that it was started with."""
        from anytune_local.layout import training_layout

        kept = self.job_dir / "layout.json"
        try:
            processes_ = int(json.loads(kept.read_text(encoding="utf-8"))["processes"])
            return processes_, ""
        except (OSError, ValueError, KeyError, TypeError):
            pass
        layout = training_layout(request)
        kept.write_text(json.dumps({"processes": layout.processes}), encoding="utf-8")
        return layout.processes, f", {layout.why}" if layout.why else ""

    def _train(self) -> None:
        record = self._record()
        request_path = self.job_dir / "request.json"
        result_path = self.job_dir / "result.json"
        for stale in self.job_dir.glob("result*.json"):
            stale.unlink()
        record = self._check_resume_point(record)
        request = build_request(self.store, record)
        request_path.write_text(request.to_json(), encoding="utf-8")
        nproc, why = self._layout(request)
        resumed = (
            f", resuming from {request.resume_from_checkpoint}"
            if request.resume_from_checkpoint
            else ""
        )
        launcher = f" with torchrun ({nproc} processes{why})" if nproc > 1 else ""
        self._event(f"Job started (attempt {record.attempt + 1}){launcher}{resumed}.")
        argv = training_argv(self.store, self.job_id, request_path, result_path, nproc)
        env = training_env(nproc)
        self.training = True
        sys.stdout.flush()
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.job_dir,
            umask=0o077,
            preexec_fn=processes.die_with_parent,
        )
        self.store.update_job(self.job_id, training_pid=child.pid)
        try:
            self._finish(self._watch(child), result_path, nproc)
        finally:
            self.training = False

    def _watch(self, child: subprocess.Popen[bytes]) -> int:
        last_heartbeat = time.monotonic()
        stopping = False
        while True:
            returncode = child.poll()
            if returncode is not None:
                return returncode
            if self.terminated_by and not stopping:
                stopping = True
                processes.terminate_tree(child.pid, grace=TERMINATE_GRACE)
            if time.monotonic() - last_heartbeat > scheduler.HEARTBEAT_INTERVAL:
                try:
                    self.store.update_job(self.job_id, heartbeat=time.time())
                except (StoreBusyError, StorageError) as exc:  # a missed heartbeat is harmless
                    print(f"anytune worker: heartbeat not written: {exc.message}", flush=True)
                last_heartbeat = time.monotonic()
            time.sleep(0.2)

    def _finish(self, returncode: int, result_path: Path, nproc: int) -> None:
        # Under torchrun, the rank that made the run fail (not the others' consequences).
        failed = scheduler.failed_rank(self.job_dir / "worker.log") if nproc > 1 else None
        outcome = read_outcome(result_path, failed_rank=failed[0] if failed else None)
        now = time.time()
        if self.store.requested_action(self.job_id) == "cancel" or (
            outcome is not None and outcome.get("stopped") == "cancel"
        ):
            self._transition(("running",), "cancelled", finished_at=now, event="Job cancelled.")
        elif outcome is not None and outcome.get("ok") and outcome.get("stopped") == "pause":
            checkpoint = outcome.get("last_checkpoint") or "no checkpoint"
            self._transition(
                ("running",),
                "paused",
                requested_action=None,
                event=f"Job paused ({checkpoint}); continue with `anytune resume {self.job_id}`.",
            )
        elif outcome is not None and outcome.get("ok"):
            model = outcome.get("output_dir")
            if model:
                write_job_record(self._record(), Path(model), outcome)
            self._transition(
                ("running",),
                "succeeded",
                finished_at=now,
                fine_tuned_model=model,
                trained_tokens=outcome.get("trained_tokens"),
                estimated_finish=None,
                requested_action=None,
                event=f"Job succeeded. Fine-tuned model (PEFT adapter): {model}",
            )
        elif self.terminated_by:
            self._stopped_by_signal(self.terminated_by)
        elif failed is not None and (failed[1] < 0 or outcome is None):
            # A killed rank (out of memory, a crash) wrote nothing, and what the others wrote
            # or logged is their broken connection to it.
            rank, code = failed
            who = f"training process of rank {rank} (of {nproc})"
            self._fail_without_outcome(code, who=who, log_detail=code > 0)
        elif outcome is None:
            self._fail_without_outcome(returncode)
        else:
            self._fail(str(outcome.get("code") or "training_error"), str(outcome.get("message")))

    def _fail_without_outcome(
        self, returncode: int, *, who: str = "training process", log_detail: bool = True
    ) -> None:
        what = f"the {who} {processes.describe_exit(returncode)}"
        if returncode == -signal.SIGKILL:
            what += (
                " (if nobody killed it, the system probably ran out of memory: try a smaller "
                "batch_size or max_length, or quantize=4bit)"
            )
        detail = scheduler.last_log_error(self.job_dir / "worker.log") if log_detail else None
        if detail:
            what += f"; last error in the log: {detail}"
        code = "worker_died" if returncode < 0 else "training_error"
        self._fail(code, f"{what}; {scheduler.resume_hint(self.store, self.job_id)}")

    def _stopped_by_signal(self, signame: str) -> None:
        if self.store.requested_action(self.job_id) == "cancel":
            self._transition(
                ACTIVE_STATUSES, "cancelled", finished_at=time.time(), event="Job cancelled."
            )
            return
        hint = scheduler.resume_hint(self.store, self.job_id)
        self._fail("worker_died", f"the worker was stopped by {signame}; {hint}")

    def _check_resume_point(self, record: JobRecord) -> JobRecord:
        """A checkpoint damaged since ``resume`` chose it gives way to the newest intact one."""
        if not record.resume_from:
            return record
        within = self.job_dir / "checkpoints"
        why = checkpoints.problem(Path(record.resume_from), within=within)
        if why is None:
            return record
        choice = checkpoints.newest_usable(self.store, self.job_id)
        self._event(
            f"Checkpoint {record.resume_from} cannot be used ({why}); resuming "
            f"{choice.describe()} instead.",
            level="warn",
        )
        resume_from = str(choice.path) if choice.path else None
        retry_busy(
            lambda: self.store.update_job(self.job_id, resume_from=resume_from),
            patience=TRANSITION_PATIENCE,
        )
        return self._record()

    # -- helpers --------------------------------------------------------------------------
    def _record(self) -> JobRecord:
        record = self.store.get_job(self.job_id)
        if record is None:
            raise RuntimeError(f"job {self.job_id} is not in the store {self.store.db_path}")
        return record

    def _transition(self, from_statuses: tuple[str, ...], to_status: str, **fields: Any) -> bool:
        # A status change must happen: a lock held by another process delays it, never loses
        # it (and never turns a finished training into a crash).
        return retry_busy(
            lambda: self.store.transition(
                self.job_id, from_statuses, to_status, if_attempt=self.attempt, **fields
            ),
            patience=TRANSITION_PATIENCE,
            what=f"move to {to_status}",
        )

    def _event(self, message: str, level: str = "info") -> None:
        try:
            retry_busy(
                lambda: self.store.add_event(self.job_id, message, level=level),
                patience=EVENT_PATIENCE,
                what="event",
            )
        except (StoreBusyError, StorageError) as exc:  # an event is not worth failing a job
            print(f"anytune worker: event not written ({exc.message}): {message}", flush=True)

    def _fail(
        self, code: str, message: str, *, from_statuses: tuple[str, ...] = ACTIVE_STATUSES
    ) -> None:
        self._transition(
            from_statuses,
            "failed",
            finished_at=time.time(),
            error_code=code,
            error_message=message,
            estimated_finish=None,
            event=f"Job failed: {message}",
            level="error",
        )
        print(f"anytune worker: job {self.job_id} failed: {code}: {message}", flush=True)

    def _ensure_final(self) -> None:
        """Never leave a job active once its worker exits."""
        record = self.store.get_job(self.job_id)
        if (
            record is not None
            and record.status in ACTIVE_STATUSES
            and record.attempt == self.attempt
            and record.worker_pid == os.getpid()
        ):
            self._fail("internal_error", "the worker exited before the job finished")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anytune_local.worker")
    sub = parser.add_subparsers(dest="command", required=True)
    supervise = sub.add_parser("supervise", help="run a job to its final status")
    supervise.add_argument("--home", type=Path, required=True)
    supervise.add_argument("--job", required=True)
    supervise.add_argument("--attempt", type=int, required=True)
    supervise.add_argument("--resume", action="store_true")
    train = sub.add_parser("train", help="one training process (a torchrun rank)")
    train.add_argument("--home", type=Path, required=True)
    train.add_argument("--job", required=True)
    train.add_argument("--request", type=Path, required=True)
    train.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "supervise":
        return Supervisor(Store(args.home), args.job, args.attempt).run(resume=args.resume)
    from anytune_local.training import run_training

    code = run_training(Store(args.home), args.job, args.request, args.result)
    # The result is on disk: skip the interpreter's slow teardown of torch (about a second).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
