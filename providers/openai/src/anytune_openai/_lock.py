"""A lock per uploaded content, across threads and processes: eight concurrent creates with
the same training file upload it once, not eight times.

An advisory ``flock`` on a file under ``anytune.config.home()``, keyed by the content's
sha256. Lock files are striped (256 of them at most, by the digest's first two hex digits)
so that they do not pile up; two different contents that share a stripe only wait for each
other. The lock is released when the holder exits, however it exits. Where no lock can be
taken (no ``fcntl``, an unwritable home) uploads go ahead unlocked: the cache is an
optimisation, never a reason to fail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from anytune import config
from anytune.errors import AnytuneError

try:
    import fcntl
except ImportError:  # pragma: no cover -- Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("anytune.openai")


@contextlib.contextmanager
def content_lock(directory: Path, digest: str) -> Iterator[None]:
    """Hold the lock for ``digest`` while the block runs (see the module docstring).

    ``directory`` is a folder directly under anytune's home."""
    if fcntl is None:
        yield
        return
    path = directory / f"upload-{digest[:2]}.lock"
    try:
        config.private_dir(directory.parent)  # anytune's home first: parents keep their mode
        config.private_file(path)
        fd = os.open(path, os.O_RDWR)
    except (OSError, AnytuneError) as exc:
        log.debug("upload lock %s unavailable: %s", path, exc)
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another upload of the same content is running; waiting for it")
            started = time.monotonic()
            fcntl.flock(fd, fcntl.LOCK_EX)
            log.info("waited %.1f s for the other upload", time.monotonic() - started)
        except OSError as exc:  # e.g. ENOLCK on a network file system
            log.debug("upload lock %s unavailable: %s", path, exc)
        yield
    finally:
        os.close(fd)  # releases the lock
