"""Reliability and security of the local store, part 1: what the store does when the disk or
its files go wrong, hostile ids and working directories, and file modes.

Each scenario asserts that nothing is lost or duplicated and that the message says which
file, what is wrong and what to do. Disk-full and read-only cases use a real size-limited
tmpfs (skipped where this machine does not allow mounting). Jobs that train are in
``test_reliability_jobs.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from anytune_local.provider import LocalProvider
from anytune_local.store import Store
from jobhelp import FAST_OPTIONS, anytune_cli, wait_until, worker_log

from anytune.errors import ConflictError, InvalidRequestError, NotFoundError, StorageError
from anytune.testing.data import write_chat_jsonl
from anytune.types import JobSpec, JobStatus

HOSTILE_MODULES = ("json", "secrets", "argparse", "subprocess", "torch", "anytune_local")


def _no_internal_error(result: subprocess.CompletedProcess[str]) -> None:
    text = result.stdout + result.stderr
    assert "unexpected" not in text.lower() and "Traceback" not in text, text


# -- hostile working directory --------------------------------------------------------------
@pytest.mark.slow
def test_modules_in_the_users_directory_never_run_in_the_worker(
    local_provider: LocalProvider,
    tiny_model: Path,
    train_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostile = tmp_path / "project"
    hostile.mkdir()
    marker = tmp_path / "MARKER"
    for name in HOSTILE_MODULES:
        (hostile / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'a').write({name!r} + ' imported\\n')\n"
        )
    monkeypatch.chdir(hostile)  # where the user typed `anytune create`
    file_id = local_provider.upload_file(train_file).id
    job = local_provider.create_job(
        JobSpec(model=str(tiny_model), training_file=file_id, options=FAST_OPTIONS)
    )

    final = wait_until(local_provider, job.id, lambda j: j.is_terminal)

    assert final.status == JobStatus.SUCCEEDED, worker_log(local_provider, job.id)
    assert not marker.exists(), marker.read_text()


# -- hostile ids ----------------------------------------------------------------------------
HOSTILE_IDS = ("../../x", "..", "ftjob-a/../../x", "/etc/passwd", "ftjob-1\x00", "a" * 300, "")


def test_ids_that_could_leave_the_store_are_refused_everywhere(
    local_provider: LocalProvider, local_home: Path
) -> None:
    outside = local_home.parent / "x"
    outside.mkdir(parents=True)
    (outside / "worker.log").write_text("SECRET outside the store\n")
    local_provider.store.list_jobs()

    calls = (
        local_provider.get_job,
        local_provider.list_events,
        local_provider.list_checkpoints,
        local_provider.cancel_job,
        local_provider.pause_job,
        local_provider.resume_job,
        local_provider.get_file,
        local_provider.delete_file,
    )
    for bad in HOSTILE_IDS:
        for call in calls:
            with pytest.raises(InvalidRequestError, match="letters, digits") as info:
                call(bad)
            assert "SECRET" not in str(info.value)
        with pytest.raises(InvalidRequestError):
            local_provider.store.job_dir(bad)
    with pytest.raises(NotFoundError):  # a well-formed id that does not exist stays a 404
        local_provider.get_job("ftjob-0123456789abcdef01234567")

    result = anytune_cli("local", "worker-log", "../../x", "--home", str(local_home))
    assert result.returncode != 0
    assert "SECRET" not in result.stdout + result.stderr
    assert "not a valid local job id" in result.stderr
    _no_internal_error(result)


def test_a_checkpoint_recorded_outside_its_job_is_never_resumed_from(
    local_provider: LocalProvider, tmp_path: Path
) -> None:
    from anytune_local.checkpoints import newest_usable

    store = local_provider.store
    spec = json.dumps({"model": "m", "training_file": "file-x", "options": {}})
    store.insert_job("ftjob-paused", model="m", spec=spec, status="paused")
    elsewhere = tmp_path / "checkpoint-9"
    elsewhere.mkdir()
    store.add_checkpoint("ftjob-paused", 9, str(elsewhere), {})
    store.add_checkpoint("ftjob-paused", 10, str(store.job_dir("ftjob-paused") / ".."), {})

    choice = newest_usable(store, "ftjob-paused")

    assert choice.path is None
    assert any("outside" in why for why in choice.skipped), choice.skipped


def test_gc_of_one_job_removes_its_checkpoints_and_keeps_its_adapter(
    local_provider: LocalProvider, local_home: Path
) -> None:
    store = local_provider.store
    spec = json.dumps({"model": "m", "training_file": "file-x", "options": {}})
    for job_id, status in (("ftjob-done", "failed"), ("ftjob-busy", "paused")):
        store.insert_job(job_id, model="m", spec=spec, status=status)
        checkpoint = store.job_dir(job_id) / "checkpoints" / "checkpoint-2"
        checkpoint.mkdir(parents=True)
        (checkpoint / "optimizer.pt").write_bytes(b"x" * 1000)
        (store.job_dir(job_id) / "adapter").mkdir()
        store.add_checkpoint(job_id, 2, str(checkpoint), {})

    done = anytune_cli("local", "gc", "--job", "ftjob-done", "--home", str(local_home))
    busy = anytune_cli("local", "gc", "--job", "ftjob-busy", "--home", str(local_home))

    assert done.returncode == 0, done.stderr
    assert not (store.job_dir("ftjob-done") / "checkpoints").exists()
    assert (store.job_dir("ftjob-done") / "adapter").is_dir()
    assert local_provider.list_checkpoints("ftjob-done") == []
    assert busy.returncode == 1 and "still needs its checkpoints" in busy.stderr
    assert [c.step for c in local_provider.list_checkpoints("ftjob-busy")] == [2]
    _no_internal_error(busy)
    with pytest.raises(ConflictError, match="still needs"):  # the same through the Python API
        local_provider.delete_job_artifacts("ftjob-busy")
    store.update_job("ftjob-busy", status="cancelled")
    assert local_provider.delete_job_artifacts("ftjob-busy") == 1000
    assert local_provider.list_checkpoints("ftjob-busy") == []


# -- damaged, missing and blocked stores ----------------------------------------------------
def _store_with_a_file(home: Path, tmp_path: Path) -> LocalProvider:
    provider = LocalProvider(home=home)
    provider.upload_file(write_chat_jsonl(tmp_path / "t.jsonl", 3))
    (home / "jobs" / "ftjob-old").mkdir(parents=True)  # an earlier job's directory
    return provider


@pytest.mark.parametrize(
    ("content", "what"),
    [(b"", "empty (0 bytes)"), (b"garbage that is no database" * 100, "not a SQLite database")],
)
def test_an_empty_or_foreign_store_file_is_refused_not_reinitialised(
    local_home: Path, tmp_path: Path, content: bytes, what: str
) -> None:
    provider = _store_with_a_file(local_home, tmp_path)
    stored = sorted(p.name for p in provider.store.files_dir.iterdir())
    db = provider.store.db_path
    db.write_bytes(content)

    with pytest.raises(StorageError) as info:
        LocalProvider(home=local_home).list_jobs()

    assert str(db) in info.value.message and what in info.value.message
    assert info.value.path == str(db) and "mv " in (info.value.hint or "")
    assert db.read_bytes() == content, "the store file must be left as it was"
    assert sorted(p.name for p in provider.store.files_dir.iterdir()) == stored
    result = anytune_cli("local", "gc", "--home", str(local_home))
    assert result.returncode == 1 and str(db) in result.stderr, result.stderr
    _no_internal_error(result)


def test_a_store_damaged_inside_names_the_file_and_how_to_recover(
    local_home: Path, tmp_path: Path
) -> None:
    provider = _store_with_a_file(local_home, tmp_path)
    for n in range(200):  # enough rows for several pages
        provider.store.add_event("ftjob-old", f"event {n} " + "x" * 200)
    db = provider.store.db_path
    data = bytearray(db.read_bytes())
    data[4096 : len(data)] = b"\xff" * (len(data) - 4096)  # every page after the first
    db.write_bytes(bytes(data))

    with pytest.raises(StorageError) as info:
        Store(local_home).list_events("ftjob-old")

    assert str(db) in info.value.message and "damaged" in info.value.message
    assert "backup" in (info.value.hint or "") and "mv " in (info.value.hint or "")


def test_a_fresh_empty_store_file_with_nothing_around_it_is_initialised(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "store.sqlite3").touch()  # e.g. created by a crash before the first write
    assert Store(home).list_jobs() == []


def test_a_store_file_deleted_while_jobs_exist_is_refused(local_home: Path, tmp_path: Path) -> None:
    provider = _store_with_a_file(local_home, tmp_path)
    provider.store.db_path.unlink()
    with pytest.raises(StorageError, match="missing while jobs/"):
        LocalProvider(home=local_home).list_jobs()


def test_a_home_that_is_a_file_says_so(tmp_path: Path) -> None:
    home = tmp_path / "local"
    home.write_text("not a directory")

    with pytest.raises(StorageError) as info:
        LocalProvider(home=home).list_jobs()

    assert f"{home} is a file" in info.value.message
    assert "ANYTUNE_HOME" in (info.value.hint or "")
    env = dict(os.environ, ANYTUNE_HOME=str(tmp_path))
    result = anytune_cli("local", "gc", env=env)
    assert result.returncode == 1 and f"{home} is a file" in result.stderr, result.stderr
    _no_internal_error(result)


# -- full and read-only disks (a real, size-limited file system) -----------------------------
@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with open(filler, "wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    return filler


def test_a_full_disk_is_reported_with_the_file_and_what_to_do_and_loses_nothing(
    tmp_path: Path,
) -> None:
    with _tmpfs(tmp_path / "disk", "2m") as disk:
        home = disk / "local"
        provider = LocalProvider(home=home)
        first = provider.upload_file(write_chat_jsonl(tmp_path / "a.jsonl", 3))
        big = write_chat_jsonl(tmp_path / "b.jsonl", 400)
        filler = _fill(disk)

        with pytest.raises(StorageError) as info:
            provider.upload_file(big)
        assert "no space left" in info.value.message and str(home) in info.value.message
        assert "free space" in (info.value.hint or "") and "gc" in (info.value.hint or "")
        with pytest.raises(StorageError, match="no space left"):
            for n in range(2000):  # metadata writes: the database itself meets the full disk
                provider.store.add_event("ftjob-x", f"event {n} " + "x" * 2000)

        env = dict(os.environ, ANYTUNE_HOME=str(disk))
        result = anytune_cli("upload", str(big), "--provider", "local", env=env)
        assert result.returncode == 1 and "no space left" in result.stderr, result.stderr
        _no_internal_error(result)
        # Once there is room again: nothing lost, no partial upload left, uploads work.
        filler.unlink()
        assert [f.id for f in provider.list_files()] == [first.id]
        assert not list(provider.store.files_dir.glob(".upload-*"))
        assert provider.upload_file(big).bytes == big.stat().st_size


def test_a_file_size_limit_met_while_uploading_is_reported_and_loses_nothing(
    tmp_path: Path,
) -> None:
    # Needs no mount (runs anywhere): the kernel refuses writes past RLIMIT_FSIZE (EFBIG).
    home = tmp_path / "local"
    first = LocalProvider(home=home).upload_file(write_chat_jsonl(tmp_path / "a.jsonl", 3))
    big = write_chat_jsonl(tmp_path / "b.jsonl", 2000)
    assert big.stat().st_size > 256 * 1024
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))\n"
        "from anytune.errors import StorageError\n"
        "from anytune_local.provider import LocalProvider\n"
        "try:\n"
        "    LocalProvider(home=sys.argv[1]).upload_file(sys.argv[2])\n"
        "except StorageError as exc:\n"
        "    print(exc.message); print(exc.hint); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(home), str(big)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 3, result.stdout + result.stderr
    assert str(home / "files") in result.stdout and "largest size" in result.stdout
    assert "ulimit -f" in result.stdout
    provider = LocalProvider(home=home)
    assert [f.id for f in provider.list_files()] == [first.id]
    assert not list(provider.store.files_dir.glob(".upload-*"))


def test_a_read_only_home_is_reported_as_such(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "disk", "4m") as disk:
        provider = LocalProvider(home=disk / "local")
        provider.upload_file(write_chat_jsonl(tmp_path / "a.jsonl", 3))
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)

        with pytest.raises(StorageError) as info:
            provider.upload_file(write_chat_jsonl(tmp_path / "b.jsonl", 3))

        assert "read-only" in info.value.message, info.value.message
        assert "writable" in (info.value.hint or "")


# -- permissions ----------------------------------------------------------------------------
def private_problems(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that others could read."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        expected = 0o700 if stat.S_ISDIR(mode) else 0o600
        if stat.S_IMODE(mode) & 0o077:
            found.append(f"{path}: {oct(stat.S_IMODE(mode))}, expected {oct(expected)}")
    return found


@pytest.mark.slow
def test_everything_the_provider_creates_is_private_to_the_user(
    local_provider: LocalProvider, tiny_model: Path, train_file: Path, local_home: Path
) -> None:
    old = os.umask(0o022)  # the common default: files 0644 unless anytune says otherwise
    try:
        file_id = local_provider.upload_file(train_file).id
        job = local_provider.create_job(
            JobSpec(model=str(tiny_model), training_file=file_id, options=FAST_OPTIONS)
        )
        final = wait_until(local_provider, job.id, lambda j: j.is_terminal)
    finally:
        os.umask(old)

    assert final.status == JobStatus.SUCCEEDED, worker_log(local_provider, job.id)
    made = {p.name for p in local_home.rglob("*")}
    assert {"store.sqlite3", "worker.log", "adapter_model.safetensors", "optimizer.pt"} <= made
    assert private_problems(local_home) == []

    # SQLite's -wal and -shm files (present while a connection is open) get the db's mode.
    reader = sqlite3.connect(local_provider.store.db_path)
    try:
        reader.execute("SELECT count(*) FROM jobs").fetchall()
        local_provider.store.add_event(job.id, "one more write, into the WAL")
        sidecars = [local_home / "store.sqlite3-wal", local_home / "store.sqlite3-shm"]
        assert all(p.exists() for p in sidecars)
        assert private_problems(local_home) == []
    finally:
        reader.close()
