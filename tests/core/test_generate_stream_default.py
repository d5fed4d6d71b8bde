"""The contract's default ``generate_stream``: a provider that cannot stream still answers
(its whole reply as one delta), greedy through ``generate``, sampled through
``generate_batch``, which refuses sampling it cannot do."""

from __future__ import annotations

from typing import Any

import pytest

from anytune.errors import UnsupportedOperationError
from anytune.testing import InMemoryProvider

MESSAGES = [{"role": "user", "content": "a"}]


class Greedy(InMemoryProvider):
    def generate(self, model: str, messages: Any, **kwargs: Any) -> str:
        return f"greedy {model} {kwargs['max_new_tokens']}"


class Sampling(Greedy):
    def generate_batch(self, model: str, conversations: Any, **settings: Any) -> list[str]:
        return [f"sampled {settings['temperature']} {settings['top_p']}" for _ in conversations]


def test_greedy_is_generate_in_one_piece() -> None:
    assert list(Greedy().generate_stream("m", iter(MESSAGES), max_new_tokens=5)) == ["greedy m 5"]
    # The seed is best effort, as in OpenAI's API: nothing to seed when greedy.
    assert list(Sampling().generate_stream("m", MESSAGES, seed=3)) == ["greedy m 128"]


def test_sampled_goes_through_generate_batch() -> None:
    assert list(Sampling().generate_stream("m", MESSAGES, temperature=0.7, top_p=0.9)) == [
        "sampled 0.7 0.9"
    ]
    with pytest.raises(UnsupportedOperationError, match="sampling"):
        list(Greedy().generate_stream("m", MESSAGES, temperature=0.7))


def test_a_provider_that_cannot_generate_cannot_stream() -> None:
    with pytest.raises(UnsupportedOperationError):
        list(InMemoryProvider().generate_stream("m", MESSAGES))


def test_stripped_deltas_join_into_the_stripped_text() -> None:
    from anytune.provider import StrippedDeltas

    pieces = ["  ", "\n Hello", " ", "", "world ", " \n", "!", "  \n"]
    strip = StrippedDeltas()
    out = [strip.feed(p) for p in pieces]
    assert "".join(out) == "".join(pieces).strip() == "Hello world  \n!"
    assert out[:2] == ["", "Hello"]  # leading whitespace dropped, text passed on at once
    assert out[-1] == ""  # trailing whitespace held, never sent at the end
