"""Replies of a (fine-tuned) model through chat completions: ``generate`` and
``generate_batch`` (``anytune eval``, ``anytune chat``). A mixin of ``OpenAIProvider``; the
SDK call goes through the provider's retry policy and error translation (``_call``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from openai import OpenAI

T = TypeVar("T")


class ChatGeneration:
    """``generate`` / ``generate_batch`` for ``OpenAIProvider``."""

    if TYPE_CHECKING:

        def _call(self, fn: Callable[[OpenAI], T]) -> T: ...

    def generate(
        self,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        *,
        max_new_tokens: int = 128,
        options: Mapping[str, Any] | None = None,
    ) -> str:
        """The greedy (temperature 0) reply of ``model`` to ``messages``."""
        return self._reply(model, list(messages), max_new_tokens, 0.0, 1.0)

    def generate_batch(
        self,
        model: str,
        conversations: Sequence[Sequence[Mapping[str, Any]]],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        options: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """One request per conversation (chat completions take one conversation each)."""
        return [
            self._reply(model, list(c), max_new_tokens, temperature, top_p) for c in conversations
        ]

    def _reply(
        self,
        model: str,
        messages: list[Mapping[str, Any]],
        max_tokens: int,
        temperature: float,
        top_p: float,
    ) -> str:
        # weight is a training-file field, not part of a chat message
        sent = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
        completion = self._call(
            lambda c: c.chat.completions.create(
                model=model,
                messages=sent,  # type: ignore[arg-type]
                max_completion_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
            )
        )
        return (completion.choices[0].message.content or "").strip()
