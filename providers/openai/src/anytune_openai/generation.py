"""Replies of a (fine-tuned) model through chat completions: ``generate``,
``generate_batch`` (``anytune eval``) and ``generate_stream`` (``anytune chat``, streamed
chat completions). A mixin of ``OpenAIProvider``; the SDK call goes through the provider's
retry policy and error translation (``_call``); a stream is retried only before its first
delta (after that, a retry would repeat what was already shown)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from anytune.provider import StrippedDeltas

if TYPE_CHECKING:
    from openai import OpenAI, Stream
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

    from anytune_openai._errors import ErrorContext

T = TypeVar("T")


class ChatGeneration:
    """``generate`` / ``generate_batch`` for ``OpenAIProvider``."""

    if TYPE_CHECKING:

        def _call(self, fn: Callable[[OpenAI], T]) -> T: ...

        @property
        def _errors(self) -> ErrorContext: ...

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

    def generate_stream(
        self,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Iterator[str]:
        """The reply's text deltas as the API streams them (greedy ones join into exactly
        ``generate``'s reply); closing the iterator closes the stream."""
        from openai import omit

        from anytune_openai._errors import translated

        sent = _sent(messages)  # once: a retry sends the same messages
        stream: Stream[ChatCompletionChunk] = self._call(
            lambda c: c.chat.completions.create(
                model=model,
                messages=sent,
                max_completion_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                seed=omit if seed is None else seed,
                stream=True,
            )
        )
        strip = StrippedDeltas()
        try:
            with translated(self._errors):
                for chunk in stream:
                    for choice in chunk.choices[:1]:
                        if piece := strip.feed(choice.delta.content or ""):
                            yield piece
        finally:
            stream.close()

    def _reply(
        self,
        model: str,
        messages: list[Mapping[str, Any]],
        max_tokens: int,
        temperature: float,
        top_p: float,
    ) -> str:
        completion = self._call(
            lambda c: c.chat.completions.create(
                model=model,
                messages=_sent(messages),
                max_completion_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
            )
        )
        return (completion.choices[0].message.content or "").strip()


def _sent(messages: Iterable[Mapping[str, Any]]) -> list[ChatCompletionMessageParam]:
    """Chat messages as sent: ``weight`` is a training-file field, not part of a message."""
    sent = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
    return cast("list[ChatCompletionMessageParam]", sent)
