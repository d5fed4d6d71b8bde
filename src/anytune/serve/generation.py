"""Running a chat completion on the provider's ``generate_stream`` (base and fine-tuned models).

The contract streams a reply's text; what OpenAI's API adds is done here, the same way for
plain and streamed requests: stop sequences (the reply ends before the first one to appear,
and generation stops there), ``n`` replies (choice ``i`` sampled with ``seed + i``), usage
counts (the provider's token counter for the model, else anytune's estimate) and
``finish_reason``. One generation runs at a time (the model is shared), in a thread of its own
(``produce``), so the event loop never waits on the model; it hands each piece of text to
``emit`` and stops, closing the provider's iterator, when ``cancelled`` is set.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from anytune.dataset.tokens import estimate_tokens
from anytune.errors import AnytuneError
from anytune.provider import TokenCounter
from anytune.serve.chat import ChatRequest, completion_json
from anytune.serve.errors import INTERNAL, APIError, from_anytune, invalid
from anytune.serve.service import Service

log = logging.getLogger("anytune.serve")
_generate_lock = threading.Lock()
_counters: dict[str, TokenCounter | None] = {}


@dataclass(frozen=True)
class Prepared:
    """What is settled before generating: any error here is an HTTP error, not a stream's."""

    request: ChatRequest
    target: str
    counter: TokenCounter | None
    prompt_tokens: int
    id: str = field(default_factory=lambda: f"chatcmpl-{secrets.token_hex(12)}")
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass(frozen=True)
class Delta:
    index: int
    text: str


@dataclass(frozen=True)
class Finish:
    index: int
    reason: str
    completion_tokens: int


@dataclass(frozen=True)
class Done:
    usage: dict[str, int]


@dataclass(frozen=True)
class Failure:
    error: APIError


Event = Delta | Finish | Done | Failure


def _counter(service: Service, model: str) -> TokenCounter | None:
    if model not in _counters:
        try:
            _counters[model] = service.provider.dataset_rules(model).token_counter
        except Exception:  # no counter for this model: estimates instead
            _counters[model] = None
    return _counters[model]


def _count(counter: TokenCounter | None, messages: list[dict[str, Any]]) -> int:
    example = {"messages": messages}
    if counter is not None:
        try:
            return counter.count(example)
        except Exception:  # a template that rejects a prompt-only conversation, say
            pass
    return estimate_tokens(example)


def prepare(service: Service, project: str, request: ChatRequest) -> Prepared:
    """Check the provider can run models and resolve the model (blocking)."""
    if not service.provider.capabilities.generate:
        raise invalid(
            f"The provider '{service.provider.name}' behind this server cannot run models, so "
            "chat completions are not available here.",
            param="model",
            code="unsupported_provider",
        )
    target, _, _ = service.resolve_model(project, request.model)
    counter = _counter(service, target)
    # Counters count a whole training line: the prompt is the conversation with an empty
    # reply, and a reply's tokens are what it adds to that.
    prompt = _count(counter, [*request.messages, {"role": "assistant", "content": ""}])
    return Prepared(request, target, counter, prompt)


class StopScanner:
    """Text deltas in, the text before the first stop sequence out: a tail that could be the
    start of a stop sequence is held back until the next delta shows it is not one."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.tail = ""

    def feed(self, delta: str) -> tuple[str, bool]:
        """``(text to send, whether a stop sequence ended the reply)``."""
        text = self.tail + delta
        found = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        if found:
            self.tail = ""
            return text[: min(found)], True
        hold = max((_overlap(text, s) for s in self.stops), default=0)
        self.tail = text[len(text) - hold :] if hold else ""
        return text[: len(text) - hold], False

    def flush(self) -> str:
        text, self.tail = self.tail, ""
        return text


def _overlap(text: str, stop: str) -> int:
    """The length of the longest end of ``text`` that begins ``stop`` (shorter than it)."""
    for size in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-size:]):
            return size
    return 0


def _choice(
    service: Service,
    prepared: Prepared,
    index: int,
    emit: Callable[[Event], None],
    cancelled: threading.Event,
) -> Finish | None:
    """Generate choice ``index``; None when cancelled before it ended."""
    request = prepared.request
    deltas: Iterator[str] = iter(
        service.provider.generate_stream(
            prepared.target,
            request.messages,
            max_new_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=None if request.seed is None else request.seed + index,
        )
    )
    scanner = StopScanner(request.stop)
    pieces: list[str] = []
    stopped = False
    try:
        for delta in deltas:
            text, stopped = scanner.feed(str(delta))
            if text:
                pieces.append(text)
                emit(Delta(index, text))
            if stopped or cancelled.is_set():
                break
        else:
            if text := scanner.flush():
                pieces.append(text)
                emit(Delta(index, text))
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()  # stops the provider's generation when the reply ended early
    if cancelled.is_set():
        return None
    reply = [*request.messages, {"role": "assistant", "content": "".join(pieces)}]
    tokens = min(
        max(0, _count(prepared.counter, reply) - prepared.prompt_tokens), request.max_tokens
    )
    reason = "length" if not stopped and tokens >= request.max_tokens else "stop"
    return Finish(index, reason, tokens)


def produce(
    service: Service,
    prepared: Prepared,
    emit: Callable[[Event], None],
    cancelled: threading.Event,
) -> None:
    """Generate every choice, emitting ``Delta``s and ``Finish``es, then ``Done`` (or a
    ``Failure``); blocking. Stops early, emitting nothing more, once ``cancelled`` is set."""
    completion_tokens = 0
    try:
        with _generate_lock:
            for index in range(prepared.request.n):
                finish = (
                    None
                    if cancelled.is_set()
                    else _choice(service, prepared, index, emit, cancelled)
                )
                if finish is None:
                    log.info("%s: the client went away; generation stopped", prepared.id)
                    return
                completion_tokens += finish.completion_tokens
                emit(finish)
    except AnytuneError as exc:
        error = from_anytune(exc, param="model")
        error.message = service.redact(error.message)
        emit(Failure(error))
        return
    except APIError as exc:
        emit(Failure(exc))
        return
    except Exception:
        log.exception("%s: generation failed", prepared.id)
        emit(Failure(APIError(500, INTERNAL, type="server_error")))
        return
    emit(
        Done(
            {
                "prompt_tokens": prepared.prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prepared.prompt_tokens + completion_tokens,
            }
        )
    )


def complete(service: Service, project: str, request: ChatRequest) -> dict[str, Any]:
    """A whole ``chat.completion`` (blocking)."""
    prepared = prepare(service, project, request)
    texts: dict[int, list[str]] = {i: [] for i in range(request.n)}
    reasons: dict[int, str] = {}
    ended: list[Done | Failure] = []

    def collect(event: Event) -> None:
        if isinstance(event, Delta):
            texts[event.index].append(event.text)
        elif isinstance(event, Finish):
            reasons[event.index] = event.reason
        else:
            ended.append(event)

    produce(service, prepared, collect, threading.Event())
    outcome = ended[0]
    if isinstance(outcome, Failure):
        raise outcome.error
    replies = [("".join(texts[i]), reasons[i]) for i in range(request.n)]
    return completion_json(prepared.id, prepared.created, request.model, replies, outcome.usage)
