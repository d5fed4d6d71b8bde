"""SQLite files opened by several processes at once (``anytune.sqlite``): the switch to WAL
waits for other connections instead of failing at once, and a fresh index written by many
processes together loses nothing."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from anytune.index import JobIndex
from anytune.sqlite import statements, use_wal


def _held_exclusively(path: Path, seconds: float) -> threading.Event:
    """Hold ``path``'s exclusive lock for ``seconds`` from another connection; the event
    returned is set once it is released."""
    held, released = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
        conn.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        released.set()
        conn.close()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)
    return released


def test_the_switch_to_wal_waits_for_another_connections_lock(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    released = _held_exclusively(path, 0.5)
    # No busy timeout of its own: only use_wal's waiting can get it through.
    conn = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        conn.execute("PRAGMA journal_mode=WAL")
    use_wal(conn, 10)
    assert released.is_set()  # it waited for the lock rather than failing
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    use_wal(conn, 0)  # already WAL: nothing to wait for
    conn.close()


def test_the_switch_to_wal_gives_up_after_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    _held_exclusively(path, 3)
    conn = sqlite3.connect(path, timeout=0)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(conn, 0.3)
    assert time.monotonic() - started < 2.5
    conn.close()


def test_statements_splits_a_script_where_sqlite_would() -> None:
    script = """
    CREATE TABLE a (x TEXT DEFAULT ';');
    CREATE INDEX a_x ON a (x);
    INSERT INTO a VALUES ('one;
    two')"""
    found = statements(script)
    assert len(found) == 3
    assert found[0] == "CREATE TABLE a (x TEXT DEFAULT ';');"
    assert found[2].endswith("two')")
    conn = sqlite3.connect(":memory:")
    for statement in found:
        conn.execute(statement)
    assert conn.execute("SELECT x FROM a").fetchone()[0] == "one;\n    two"


_WRITER = """
import sys, warnings
from pathlib import Path
from anytune.index import JobIndex
warnings.simplefilter("error")  # a record that could not be written fails the process
released()
index = JobIndex(Path(sys.argv[1]))
for i in range(10):
    index.record(f"job-{sys.argv[2]}-{i}", "memory", model="m")
"""


def test_a_new_index_written_by_many_processes_at_once_loses_nothing(
    tmp_path: Path, at_once: Callable[[str, list[list[str]]], list[tuple[int, str, str]]]
) -> None:
    path = tmp_path / "index.sqlite3"
    for code, _, err in at_once(_WRITER, [[str(path), str(n)] for n in range(6)]):
        assert code == 0, err
    assert len(JobIndex(path).list(limit=500)) == 60


def test_an_older_index_opened_by_many_threads_at_once_gains_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE jobs (job_id TEXT NOT NULL, provider TEXT NOT NULL,"
        " connection TEXT NOT NULL DEFAULT '{}', model TEXT, training_file TEXT,"
        " created_at INTEGER NOT NULL, last_status TEXT, PRIMARY KEY (provider, job_id))"
    )
    conn.execute("INSERT INTO jobs VALUES ('old', 'memory', '{}', 'm', NULL, 1, 'succeeded')")
    conn.commit()
    conn.close()
    index = JobIndex(path)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def reader() -> None:
        try:
            start.wait()
            index.list(limit=10)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [job.job_id for job in index.list(limit=10)] == ["old"]
    columns = [row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(jobs)")]
    assert columns.count("spec") == 1 and columns.count("parent") == 1
