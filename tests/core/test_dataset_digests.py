"""DigestTable: the compact fingerprint -> line map behind duplicate and overlap detection."""

from __future__ import annotations

import random

from anytune.dataset.digests import DigestTable


def test_behaves_like_a_dict_through_growth_and_collisions() -> None:
    rng = random.Random(1)
    table = DigestTable(capacity=8)
    reference: dict[int, int] = {}
    keys = [rng.getrandbits(64) - 2**63 for _ in range(5000)]
    keys += [0, 1, -1, 8, 16, 24, 2**63 - 1, -(2**63)]  # zero, the stand-in, same low bits
    keys += keys[:500]  # repeats
    for line, key in enumerate(keys, start=1):
        expected = reference.setdefault(key or 1, line)
        assert table.setdefault(key, line) == expected
    assert len(table) == len(reference)
    for key, line in reference.items():
        assert table.get(key) == line
    assert table.get(123456789) is None
    assert table.memory_bytes() <= 16 * 4 * len(reference)
