"""A compact map from 64-bit fingerprints to line numbers.

A ``dict[int, int]`` costs about 110 bytes per entry (two int objects plus the slot); this
open-addressing table keeps both in flat arrays, 16 bytes per slot at a load of 3/8 to 3/4,
so 20-45 bytes per example: a multi-GB file with millions of examples stays in tens of MB.
"""

from __future__ import annotations

from array import array

_EMPTY = 0
_ZERO_STANDIN = 1
"""0 marks an empty slot, so a fingerprint of 0 is stored as 1 (a negligible collision)."""


class DigestTable:
    """``fingerprint -> first line`` with ``setdefault`` and ``get``, like a dict."""

    __slots__ = ("_keys", "_lines", "_mask", "_size")

    def __init__(self, capacity: int = 1024) -> None:
        size = 8
        while size < capacity:
            size *= 2
        self._keys = array("q", bytes(8 * size))
        self._lines = array("q", bytes(8 * size))
        self._mask = size - 1
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def setdefault(self, key: int, line: int) -> int:
        """The line stored for ``key``; stores ``line`` first if there is none."""
        key = key or _ZERO_STANDIN
        keys, mask = self._keys, self._mask
        i = key & mask
        while True:
            found = keys[i]
            if found == key:
                return self._lines[i]
            if found == _EMPTY:
                break
            i = (i + 1) & mask
        keys[i] = key
        self._lines[i] = line
        self._size += 1
        if self._size * 4 > self._mask * 3:
            self._grow()
        return line

    def get(self, key: int) -> int | None:
        """The line stored for ``key``, or None."""
        key = key or _ZERO_STANDIN
        keys, mask = self._keys, self._mask
        i = key & mask
        while True:
            found = keys[i]
            if found == key:
                return self._lines[i]
            if found == _EMPTY:
                return None
            i = (i + 1) & mask

    def _grow(self) -> None:
        old_keys, old_lines = self._keys, self._lines
        size = (self._mask + 1) * 2
        keys = array("q", bytes(8 * size))
        lines = array("q", bytes(8 * size))
        mask = size - 1
        for key, line in zip(old_keys, old_lines, strict=True):
            if key == _EMPTY:
                continue
            i = key & mask
            while keys[i] != _EMPTY:
                i = (i + 1) & mask
            keys[i] = key
            lines[i] = line
        self._keys, self._lines, self._mask = keys, lines, mask

    def memory_bytes(self) -> int:
        """Bytes held by the two arrays."""
        return 2 * 8 * (self._mask + 1)


__all__ = ["DigestTable"]
