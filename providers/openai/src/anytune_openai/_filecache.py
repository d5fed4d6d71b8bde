"""Remembers which file id holds which content on which account, so that uploading the same
bytes twice reuses the first upload (after the provider confirms the file still exists).

A small SQLite table under ``anytune.config.home()``: safe for concurrent processes, and it
holds no secret (an account is its base URL -- credentials inside it removed -- plus
organization and project, never the key). The file is private to the user (0600, in a
directory created 0700: ``anytune.config.private_file``).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from pathlib import Path

from anytune import config
from anytune.errors import AnytuneError

log = logging.getLogger("anytune.openai")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploaded_files (
    account TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    purpose TEXT NOT NULL,
    file_id TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (account, sha256, purpose)
)
"""


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class FileCache:
    """``(account, sha256, purpose) -> file id``, in one SQLite file.

    A cache that cannot be read or written only costs a re-upload, so its errors are
    swallowed (and logged at debug level).
    """

    def __init__(self, path: Path):
        self.path = path

    def _run(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        try:
            # 0600 before SQLite opens it: its journal and WAL files copy the mode.
            config.private_file(self.path)
            conn = sqlite3.connect(self.path, timeout=30.0)
            try:
                with conn:
                    conn.execute(_SCHEMA)
                    return list(conn.execute(sql, params).fetchall())
            finally:
                conn.close()
        except (sqlite3.Error, OSError, AnytuneError) as exc:
            log.debug("file cache %s unavailable: %s", self.path, exc)
            return []

    def get(self, account: str, sha256: str, purpose: str) -> tuple[str, int] | None:
        """The recorded ``(file_id, bytes)``, if any."""
        rows = self._run(
            "SELECT file_id, bytes FROM uploaded_files "
            "WHERE account = ? AND sha256 = ? AND purpose = ?",
            (account, sha256, purpose),
        )
        return (str(rows[0][0]), int(str(rows[0][1]))) if rows else None

    def put(self, account: str, sha256: str, purpose: str, file_id: str, size: int) -> None:
        self._run(
            "INSERT OR REPLACE INTO uploaded_files VALUES (?, ?, ?, ?, ?, ?)",
            (account, sha256, purpose, file_id, size, int(time.time())),
        )

    def forget(self, account: str, sha256: str, purpose: str) -> None:
        self._run(
            "DELETE FROM uploaded_files WHERE account = ? AND sha256 = ? AND purpose = ?",
            (account, sha256, purpose),
        )

    def forget_file(self, account: str, file_id: str) -> None:
        """Drop every record of ``file_id`` (it was deleted)."""
        self._run(
            "DELETE FROM uploaded_files WHERE account = ? AND file_id = ?", (account, file_id)
        )
