"""Training from object storage (``-P storage=s3://...``, ``gs://...``): the Ray job's
entrypoint copies what the run reads to the node's disk, runs the training command there,
and keeps storage up to date while it runs.

::

    python -m anytune_ray.staging --storage URI --run RUN -- COMMAND...

``RUN`` is the run's folder in storage (``jobs/<job>/runs/<n>``, as ``Storage.path`` names
it); ``COMMAND`` is the training command as it would run on shared storage (``python -m
anytune_local.run_spec RUN/request.json --result ... --events ... --control ...``, or torchrun
around it). Every argument that names something under the storage root is rewritten to the
same place under a local scratch directory (the storage layout mirrored), and so are the paths
in ``request.json``.

- **Before**: the request, the training and validation files, the checkpoint a resume starts
  from, a base model kept in the same storage, and the run's events so far are downloaded.
- **While it runs** (every ``SYNC_SECONDS``): new event lines go up (scratch paths in them
  shown as storage URIs); lines a client added to the stored events meanwhile (a pause
  request) are kept, before ours; ``control`` (cancel / pause) comes down; each complete
  checkpoint goes up once, and one the trainer pruned locally is pruned in storage too.
- **After** (also after SIGTERM, which goes to the command's process group): checkpoints,
  the final adapter, the events, then the result files, so a client that sees the Ray job
  ended finds its outcome. The exit status is the command's.

Credentials are the node's (e.g. AWS_* / an instance role for s3fs, application-default
credentials for gcsfs): nothing secret travels in the job's runtime_env.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from anytune_local import checkpoints as local_checkpoints

from anytune_ray.storage import Storage

SYNC_SECONDS = 2.0
REQUEST_PATHS = ("train_path", "valid_path", "resume_from_checkpoint", "base_model")
OUTPUT_PATHS = ("output_dir", "checkpoint_dir")


class Mirror:
    """Storage paths under the root and their places in the scratch directory."""

    def __init__(self, storage: Storage, scratch: Path) -> None:
        self.storage = storage
        self.root = storage.root.rstrip("/")
        self.scratch = scratch

    def covers(self, value: str) -> bool:
        return value == self.root or value.startswith(self.root + "/")

    def local(self, value: str) -> str:
        return (
            str(self.scratch / value[len(self.root) :].lstrip("/")) if self.covers(value) else value
        )

    def remote(self, local: Path) -> str:
        return self.storage.path(*local.relative_to(self.scratch).parts)

    def argument(self, value: str) -> str:
        """An argument as the command runs here: a storage path (or ``--opt=PATH``) mapped."""
        if "=" in value and value.startswith("-"):
            name, _, rest = value.partition("=")
            return f"{name}={self.local(rest)}"
        return self.local(value)

    def fetch(self, remote: str) -> None:
        """Copy a file or directory from storage to its scratch place (if it exists)."""
        fs = self.storage.fs
        target = Path(self.local(remote))
        if not fs.exists(remote):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if fs.isdir(remote):
            fs.get(remote.rstrip("/") + "/", str(target), recursive=True)
        else:
            fs.get(remote, str(target))


class Sync:
    """What goes up and down while the command runs (one thread; ``final`` at the end)."""

    def __init__(self, mirror: Mirror, run: str, request: dict[str, Any]) -> None:
        self.mirror = mirror
        self.storage = mirror.storage
        self.run = run.rstrip("/")
        self.events = f"{self.run}/events.jsonl"
        self.local_events = Path(mirror.local(self.events))
        self.control = f"{self.run}/control"
        self.checkpoints = Path(mirror.local(str(request["checkpoint_dir"])))
        self.within = self.checkpoints
        self.adapter = Path(mirror.local(str(request["output_dir"])))
        self.uploaded: dict[str, float] = {}
        self.stored = self.storage.read_from(self.events, 0)
        """The stored events as this process last wrote (or found) them."""
        self.read_offset = self.local_events.stat().st_size if self.local_events.exists() else 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def _public(self, text: str) -> str:
        scratch = str(self.mirror.scratch)
        return text.replace(scratch, self.storage.public(self.mirror.root))

    def push_events(self) -> None:
        try:
            with self.local_events.open("rb") as handle:
                handle.seek(self.read_offset)
                fresh = handle.read()
        except FileNotFoundError:
            fresh = b""
        complete = fresh[: fresh.rfind(b"\n") + 1]
        current = self.storage.read_from(self.events, 0)
        added = current[len(self.stored) :] if current.startswith(self.stored) else b""
        if not complete and not added:
            return
        self.read_offset += len(complete)
        merged = self.stored + added + self._public(complete.decode("utf-8", "replace")).encode()
        with self.storage.fs.open(self.events, "wb") as out:
            out.write(merged)
        self.stored = merged

    def pull_control(self) -> None:
        text = self.storage.read_from(self.control, 0)
        if text:
            target = Path(self.mirror.local(self.control))
            if not target.exists() or target.read_bytes() != text:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(text)

    def push_checkpoints(self) -> None:
        fs = self.storage.fs
        present = {}
        if self.checkpoints.is_dir():
            for path in sorted(self.checkpoints.iterdir()):
                if local_checkpoints.problem(path, within=self.within) is None:
                    present[path.name] = path
        for name, path in present.items():
            mtime = max(f.stat().st_mtime for f in path.rglob("*") if f.is_file())
            if self.uploaded.get(name) == mtime:
                continue
            remote = self.mirror.remote(path)
            if fs.exists(remote):
                fs.rm(remote, recursive=True)
            fs.put(str(path).rstrip("/") + "/", remote, recursive=True)
            self.uploaded[name] = mtime
        for name in [n for n in self.uploaded if n not in present]:
            # The trainer pruned it (save_total_limit): storage keeps what the run keeps.
            remote = self.mirror.remote(self.checkpoints / name)
            if fs.exists(remote):
                fs.rm(remote, recursive=True)
            del self.uploaded[name]

    def once(self) -> None:
        with self.lock:
            self.pull_control()
            self.push_events()
            self.push_checkpoints()

    def loop(self) -> None:
        while not self.stop.wait(SYNC_SECONDS):
            try:
                self.once()
            except Exception as exc:  # a storage hiccup: try again at the next tick
                print(f"anytune-ray staging: sync failed, retrying: {exc}", file=sys.stderr)

    def final(self) -> None:
        self.stop.set()
        with self.lock:
            self.push_checkpoints()
            fs = self.storage.fs
            if self.adapter.is_dir() and any(self.adapter.iterdir()):
                remote = self.mirror.remote(self.adapter)
                if fs.exists(remote):
                    fs.rm(remote, recursive=True)
                fs.put(str(self.adapter).rstrip("/") + "/", remote, recursive=True)
            self.push_events()
            run = Path(self.mirror.local(self.run))
            for result in sorted(run.glob("result*.json")):
                fs.put(str(result), self.mirror.remote(result))


def _end_with_parent() -> None:
    """In the child, before exec: SIGTERM when this process dies, even by SIGKILL (Ray's
    stop escalates to it), so no training outlives its job in another session (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def stage_in(mirror: Mirror, run: str) -> dict[str, Any]:
    """Download what the run reads; returns the request as the command here reads it."""
    storage = mirror.storage
    request = storage.read_json(f"{run}/request.json")
    if not isinstance(request, dict):
        raise SystemExit(f"anytune-ray staging: {storage.public(run)}/request.json is missing")
    for key in REQUEST_PATHS:
        value = request.get(key)
        if isinstance(value, str) and mirror.covers(value):
            mirror.fetch(value)
            request[key] = mirror.local(value)
    for key in OUTPUT_PATHS:
        request[key] = mirror.local(str(request[key]))
        Path(request[key]).mkdir(parents=True, exist_ok=True)
    # Error messages name files as the user knows them, not by their scratch path.
    names = request.get("file_names") or {}
    request["file_names"] = {mirror.local(k): v for k, v in names.items()}
    local_run = Path(mirror.local(run))
    local_run.mkdir(parents=True, exist_ok=True)
    (local_run / "request.json").write_text(json.dumps(request), encoding="utf-8")
    mirror.fetch(f"{run}/events.jsonl")
    mirror.fetch(f"{run}/control")  # a cancel or pause sent while the job was queued
    return request


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args:
        raise SystemExit("usage: python -m anytune_ray.staging --storage URI --run RUN -- CMD")
    split = args.index("--")
    parser = argparse.ArgumentParser(prog="python -m anytune_ray.staging")
    parser.add_argument("--storage", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--scratch", type=Path, default=None)
    options = parser.parse_args(args[:split])
    command = args[split + 1 :]
    storage = Storage(options.storage)
    scratch = Path(options.scratch or tempfile.mkdtemp(prefix="anytune-ray-"))
    mirror = Mirror(storage, scratch)
    try:
        request = stage_in(mirror, options.run)
        sync = Sync(mirror, options.run, request)
        child = subprocess.Popen(
            [mirror.argument(a) for a in command],
            start_new_session=True,  # signals reach torchrun's workers too (``forward``)
            preexec_fn=_end_with_parent,
        )

        def forward(signum: int, frame: FrameType | None) -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signum)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, forward)
        thread = threading.Thread(target=sync.loop, name="anytune-ray-sync", daemon=True)
        thread.start()
        code = child.wait()
        sync.stop.set()
        thread.join(timeout=60)
        sync.final()
        return code
    finally:
        if options.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
