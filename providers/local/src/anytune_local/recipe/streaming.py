"""A reply streamed as the model writes it: ``generate_stream`` yields text deltas.

``model.generate`` runs in a thread of its own with a streamer that hands each new token to the
caller's thread, which decodes incrementally and yields text. The generation settings are
``generate_batch``'s (same prompt, same decoding), so the deltas of a greedy reply join into
exactly the reply ``generate`` gives, stripped the same way. Closing the iterator (a client that
went away) stops generation at the next token: a stopping criterion reads a flag it sets.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

from anytune.provider import StrippedDeltas
from anytune_local.recipe.inference import (
    _bf16_autocast_if_needed,
    _prompt_inputs,
    _sampling,
    load_for_inference,
)

_END = None
REPLACEMENT = "\ufffd"  # what a token ending inside a multi-byte character decodes to


class _TokenQueue:
    """A ``model.generate`` streamer: new token ids into a queue (the prompt is skipped)."""

    def __init__(self) -> None:
        self.tokens: queue.Queue[list[int] | None] = queue.Queue()
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate first pushes the whole prompt
            self._prompt_seen = True
            return
        self.tokens.put([int(t) for t in value.reshape(-1).tolist()])

    def end(self) -> None:
        pass  # the generation thread always sends _END itself, also when generate fails


def _stop_when(flag: threading.Event) -> Any:
    import torch
    from transformers import StoppingCriteria

    class StopFlag(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full(
                (input_ids.shape[0],), flag.is_set(), dtype=torch.bool, device=input_ids.device
            )

    return StopFlag()


@contextlib.contextmanager
def _seeded(seed: int | None, device: Any) -> Iterator[None]:
    """Seed sampling for this reply only: the global generator is restored afterwards."""
    if seed is None:
        yield
        return
    import torch

    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed % 2**64)
        yield


class _Decoder:
    """Token ids to text deltas: each new token decoded against a short window of the ones
    before it (as TGI does), held back while it ends inside a multi-byte character."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = 0
        self.read = 0

    def _text(self, ids: list[int]) -> str:
        text: str = self.tokenizer.decode(ids, skip_special_tokens=True)
        return text

    def feed(self, tokens: list[int]) -> str:
        self.ids.extend(tokens)
        before = self._text(self.ids[self.prefix : self.read])
        now = self._text(self.ids[self.prefix :])
        if len(now) <= len(before) or now.endswith(REPLACEMENT):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return now[len(before) :]

    def whole(self) -> str:
        return self._text(self.ids)


def generate_stream(
    model_path: str,
    messages: list[dict[str, Any]],
    *,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
) -> Iterator[str]:
    """The reply of ``model_path`` to ``messages`` as text deltas (see the module docstring);
    greedy unless ``temperature`` > 0, ``seed`` making sampling repeatable."""
    import torch
    from transformers import StoppingCriteriaList

    model, tokenizer = load_for_inference(model_path)
    inputs = _prompt_inputs(model, tokenizer, model_path, [messages])
    device = inputs["input_ids"].device
    streamer = _TokenQueue()
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with torch.no_grad(), _bf16_autocast_if_needed(model), _seeded(seed, device):
                model.generate(
                    **inputs,
                    max_new_tokens=max_new_tokens,
                    **_sampling(temperature, top_p),
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_stop_when(stop)]),
                )
        except BaseException as exc:  # handed to the caller's thread, raised there
            failures.append(exc)
        finally:
            streamer.tokens.put(_END)

    thread = threading.Thread(target=run, name="anytune-generate", daemon=True)
    thread.start()
    decoder, strip, sent = _Decoder(tokenizer), StrippedDeltas(), []
    try:
        while (tokens := streamer.tokens.get()) is not _END:
            if piece := strip.feed(decoder.feed(tokens)):
                sent.append(piece)
                yield piece
        if failures:
            raise failures[0]
        # What the windows missed (a character completed by the last token, say): the
        # joined deltas are always the whole decoded reply.
        whole, shown = decoder.whole().strip(), "".join(sent)
        if whole.startswith(shown) and len(whole) > len(shown):
            yield whole[len(shown) :]
    finally:
        stop.set()
        thread.join()
