"""API keys and projects.

A key file has one key per line, ``PROJECT KEY`` (``#`` starts a comment); ``KEY`` may be given
already hashed as ``sha256:HEX`` so the file need not hold the secret at all.
``ANYTUNE_SERVER_API_KEYS`` holds the same entries separated by commas, ``PROJECT:KEY``. A bare
``KEY`` belongs to the project ``default``. Only SHA-256 digests are kept in memory and nothing
is ever written; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from anytune.errors import ConfigurationError

DEFAULT_PROJECT = "default"
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_HASHED = re.compile(r"^sha256:([0-9a-fA-F]{64})$")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyRing:
    """Key digests and the project each belongs to. Empty: no authentication (loopback only)."""

    entries: tuple[tuple[str, str], ...] = ()
    """``(sha256 hex digest, project)`` pairs."""

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    def project_for(self, key: str) -> str | None:
        """The project of ``key``, or None. Every entry is compared, so timing says nothing."""
        wanted = digest(key)
        found: str | None = None
        for known, project in self.entries:
            if hmac.compare_digest(known, wanted):
                found = project
        return found

    @classmethod
    def load(cls, key_file: Path | None, env_value: str | None) -> KeyRing:
        entries: list[tuple[str, str]] = []
        if key_file is not None:
            try:
                text = key_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(
                    f"{key_file}: cannot read the API key file ({exc.strerror})"
                ) from None
            for number, raw in enumerate(text.splitlines(), 1):
                line = raw.split("#", 1)[0].strip()
                if line:
                    entries.append(_entry(line.split(), f"{key_file}:{number}"))
        if env_value:
            for number, item in enumerate(env_value.split(","), 1):
                item = item.strip()
                if item:
                    project, sep, key = item.partition(":")
                    parts = [project, key] if sep and not item.startswith("sha256:") else [item]
                    entries.append(_entry(parts, f"ANYTUNE_SERVER_API_KEYS entry {number}"))
        return cls(tuple(entries))


def _entry(parts: Iterable[str], where: str) -> tuple[str, str]:
    fields = list(parts)
    if len(fields) == 1:
        project, key = DEFAULT_PROJECT, fields[0]
    elif len(fields) == 2:
        project, key = fields
    else:
        raise ConfigurationError(
            f"{where}: expected 'PROJECT KEY' (or just KEY), got {len(fields)} fields"
        )
    if not _PROJECT.match(project):
        raise ConfigurationError(
            f"{where}: project name {project!r} must be letters, digits, '-' or '_' (64 at most)"
        )
    hashed = _HASHED.match(key)
    if hashed:
        return hashed.group(1).lower(), project
    if len(key) < 16:
        raise ConfigurationError(
            f"{where}: the API key is too short (at least 16 characters)",
            hint="make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    return digest(key), project


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
