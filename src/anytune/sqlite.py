"""What every SQLite file anytune keeps needs when several processes open it at once.

SQLite's busy timeout (``sqlite3.connect(timeout=...)``) makes a statement wait for another
connection's lock, with two exceptions that matter here:

- switching a database to WAL needs an exclusive lock that SQLite does not wait for, so two
  processes opening a *new* database at the same moment see "database is locked" at once;
- ``executescript`` commits whatever transaction is open first, so a schema script cannot be
  run inside one (``BEGIN IMMEDIATE``) to keep a concurrent upgrade from running twice.

``use_wal`` and ``statements`` are the one place those two are handled.
"""

from __future__ import annotations

import sqlite3
import time


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" / "busy"."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put ``conn``'s database in WAL mode, waiting up to ``timeout`` seconds for other
    connections (an already-WAL database costs one read of its header)."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not is_locked(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def statements(script: str) -> list[str]:
    """The statements of a SQL script, to ``execute`` one by one inside a transaction."""
    found: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    if pending.strip():
        found.append(pending.strip())
    return found
