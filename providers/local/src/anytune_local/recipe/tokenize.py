"""Training sequences (``input_ids`` + ``labels``) from chat examples: the one definition of
what is trained, used by SFT, DPO, ``anytune data render``, token counting and ``validate``.

Labels follow OpenAI: the loss is on assistant messages whose ``weight`` is not 0 — their
text, reasoning (where the template keeps it), tool calls and the token the model stops on —
and nowhere else. ``recipe.chat`` says, as text, what each trained turn's context (the
inference prompt) and target are; here they are tokenized the way inference does: the prompt
alone (``add_special_tokens=False``, as generation does after rendering), then the answer as
a continuation, with control-token look-alikes inside messages tokenized as plain text.

Turns are packed into as few sequences as is *provably* the same: the next turn joins the
current sequence only when its inference prompt tokenizes to the current sequence's ids
followed by more. Otherwise (templates that render history differently from the newest turn,
or a token that would straddle the answer's end) the turn is trained as its own sequence, in
its own inference-time context. Every sequence is truncated to ``max_length`` tokens.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from anytune.dataset.rules import ExampleRefused
from anytune.provider import RenderedExample, Segment, TokenCounter
from anytune_local.recipe import TrainingFailure
from anytune_local.recipe.chat import MARK_END, MARK_START, ChatTemplate, Turn, unmarked
from anytune_local.recipe.messages import Conversation, conversation, example_parts

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100
_MARKS = re.compile(f"{MARK_START}([^{MARK_START}{MARK_END}]*){MARK_END}|[{MARK_START}{MARK_END}]")


@dataclass(frozen=True)
class Piece:
    """A run of a training sequence: its text, ids, and whether they are trained."""

    text: str
    ids: list[int]
    trained: bool


@dataclass
class Encoded:
    """One example as training sequences (untruncated pieces, truncated rows)."""

    sequences: list[list[Piece]]
    max_length: int
    cut: bool = False
    """A message was longer than ``max_length`` tokens can hold and was cut before rendering."""
    rows: list[dict[str, list[int]]] = field(init=False)

    def __post_init__(self) -> None:
        self.rows = []
        for pieces in self.sequences:
            ids = [i for p in pieces for i in p.ids]
            labels = [i if p.trained else IGNORE_INDEX for p in pieces for i in p.ids]
            self.rows.append(
                {"input_ids": ids[: self.max_length], "labels": labels[: self.max_length]}
            )

    @property
    def total_tokens(self) -> int:
        """Tokens of every sequence, before truncation (the compute this example costs)."""
        return sum(len(p.ids) for pieces in self.sequences for p in pieces)

    @property
    def trained_tokens(self) -> int:
        return sum(1 for row in self.rows for label in row["labels"] if label != IGNORE_INDEX)

    @property
    def truncated(self) -> bool:
        return self.cut or any(
            sum(len(p.ids) for p in pieces) > self.max_length for pieces in self.sequences
        )

    # single-sequence views (tests and callers that predate several sequences)
    @property
    def input_ids(self) -> list[int]:
        return [i for row in self.rows for i in row["input_ids"]]

    @property
    def labels(self) -> list[int]:
        return [i for row in self.rows for i in row["labels"]]


@functools.lru_cache(maxsize=8)
def _longest_token(tokenizer: Any) -> int:
    return max((len(token) for token in tokenizer.get_vocab()), default=16)


class ChatEncoder:
    """Tokenizes conversations with ``tokenizer``'s chat template (see the module docstring)."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        *,
        model: str = "the model",
        template_kwargs: Mapping[str, Any] | None = None,
        stops: Sequence[str] = (),
    ) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise TrainingFailure(
                "invalid_model",
                f"model {model}'s tokenizer is not a fast (Rust) tokenizer; anytune needs one",
            )
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.template = ChatTemplate(
            tokenizer, model=model, kwargs=template_kwargs, stops=tuple(stops)
        )
        # A token never covers more than _longest_token characters, so this many characters
        # always hold more than max_length tokens: text past it can never be trained.
        self.max_chars = max_length * _longest_token(tokenizer) + 64
        # Long prompts are expected here (truncation comes after): no "longer than the
        # maximum sequence length" warning from the tokenizer.
        warned = getattr(tokenizer, "deprecation_warnings", None)
        if isinstance(warned, dict):
            warned["sequence-length-is-longer-than-the-specified-maximum"] = True
        newline = tokenizer.encode("\n", add_special_tokens=False)
        self._newline = list(newline)

    # -- tokenization ------------------------------------------------------------------
    def ids(self, text: str, *, start: bool) -> list[int]:
        """Ids of rendered ``text``: the template's control tokens as tokens, marked
        look-alikes from content as plain text. ``start``: the text opens the sequence (a
        prompt); otherwise it continues one (an answer), encoded as mid-text.

        The same pieces as transformers' ``apply_chat_template(sanitize_control_tokens=True)``
        (what inference uses): a marked look-alike is encoded on its own, as plain text, so
        that text on either side can never join into a control token."""
        if MARK_START not in text and MARK_END not in text:
            return self._encode(text, as_text=False, start=start)
        ids: list[int] = []
        position = 0
        for match in _MARKS.finditer(text):
            if match.start() > position:
                ids += self._encode(
                    text[position : match.start()], as_text=False, start=start and not ids
                )
            if match.group(1):
                ids += self._encode(match.group(1), as_text=True, start=start and not ids)
            position = match.end()
        if position < len(text):
            ids += self._encode(text[position:], as_text=False, start=start and not ids)
        return ids

    def _encode(self, text: str, *, as_text: bool, start: bool) -> list[int]:
        if not text:
            return []
        tokenizer = self.tokenizer

        def encode(value: str) -> list[int]:
            return list(
                tokenizer.encode(value, add_special_tokens=False, split_special_tokens=as_text)
            )

        if start:
            return encode(text)
        # Mid-text: encode after a newline so SentencePiece adds no word-start space, then drop
        # the newline again (transformers does the same for marked chats).
        ids = encode("\n" + text)
        if ids[: len(self._newline)] == self._newline:
            return ids[len(self._newline) :]
        return encode(text)

    # -- examples ----------------------------------------------------------------------
    def conversation(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        functions: Sequence[Mapping[str, Any]] | None = None,
    ) -> Conversation:
        return conversation(messages, tools, functions, max_chars=self.max_chars)

    def encode(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        functions: Sequence[Mapping[str, Any]] | None = None,
    ) -> Encoded:
        conv = self.conversation(messages, tools, functions)
        return self.encode_turns(self.template.turns(conv), cut=conv.cut)

    def target_ids(self, turn: Turn) -> tuple[list[int], str]:
        ids = self.ids(turn.target, start=False)
        text = unmarked(turn.target)
        if turn.append is not None:
            ids.append(self._token_id(turn.append))
            text += turn.append
        return ids, text

    def _token_id(self, token: str) -> int:
        found: Any = self.tokenizer.convert_tokens_to_ids(token)
        return int(found)

    def context_ids(self, turn: Turn) -> list[int]:
        limit = self.max_chars
        # Past limit characters the prompt alone is over max_length tokens: the turn is
        # truncated away whatever follows, so the rest need not be tokenized.
        return self.ids(turn.context[:limit], start=True)

    def encode_turns(self, turns: list[Turn], *, cut: bool = False) -> Encoded:
        sequences: list[list[Piece]] = []
        current: list[Piece] = []
        current_ids: list[int] = []
        current_text = ""
        for turn in turns:
            target, target_text = self.target_ids(turn)
            follows = bool(current) and turn.context.startswith(current_text)
            if follows and len(current_ids) >= self.max_length:
                # Past max_length nothing more is trained: keep the text, skip the proof.
                gap_text = turn.context[len(current_text) :]
                gap = self.ids(gap_text[: self.max_chars], start=False)
                current.append(Piece(unmarked(gap_text), gap, False))
                current.append(Piece(target_text, target, True))
                current_ids += gap + target
                current_text = turn.context + turn.target + (turn.append or "")
                continue
            context = self.context_ids(turn)
            if follows and context[: len(current_ids)] == current_ids:
                gap = context[len(current_ids) :]
                if gap:
                    current.append(Piece(unmarked(turn.context[len(current_text) :]), gap, False))
            else:
                if current:
                    sequences.append(current)
                current = [Piece(unmarked(turn.context), context, False)]
                current_ids = list(context)
            current.append(Piece(target_text, target, True))
            current_ids += target
            current_text = turn.context + turn.target + (turn.append or "")
        if current:
            sequences.append(current)
        return Encoded(sequences, self.max_length, cut)

    def encode_preference(
        self,
        messages: Sequence[Mapping[str, Any]],
        chosen: Mapping[str, Any],
        rejected: Mapping[str, Any],
        tools: Sequence[Mapping[str, Any]] | None = None,
        functions: Sequence[Mapping[str, Any]] | None = None,
    ) -> tuple[list[int], list[int], list[int]]:
        """``(prompt_ids, chosen_ids, rejected_ids)``: both replies to the same prompt."""
        out: list[list[int]] = []
        prompt: list[int] | None = None
        for reply in (chosen, rejected):
            reply = {k: v for k, v in reply.items() if k != "weight"}
            conv = self.conversation([*messages, reply], tools, functions)
            last = len(conv.messages) - 1
            conv = Conversation(conv.messages, conv.tools, [last], conv.cut)
            (turn,) = self.template.turns(conv)
            context = self.context_ids(turn)
            if prompt is not None and context != prompt:
                raise TrainingFailure(
                    "invalid_training_file",
                    f"model {self.template.model}'s chat template renders the prompt "
                    "differently for the two replies",
                )
            prompt = context
            out.append(self.target_ids(turn)[0])
        assert prompt is not None
        return prompt, out[0], out[1]


def segments(encoded: Encoded, decode: Any = None) -> list[Segment]:
    """The example's sequences as runs of trained / untrained text (truncated text untrained).

    ``decode`` (the tokenizer's) gives the text of a run that truncation cuts in two."""
    merged: list[Segment] = []

    def add(text: str, trained: bool) -> None:
        if not text:
            return
        if merged and merged[-1].trained == trained:
            merged[-1] = Segment(merged[-1].text + text, trained)
        else:
            merged.append(Segment(text, trained))

    count = len(encoded.sequences)
    for number, pieces in enumerate(encoded.sequences, start=1):
        if count > 1:
            add(f"\n──── sequence {number} of {count} ────\n", False)
        used = 0
        for piece in pieces:
            room = encoded.max_length - used
            used += len(piece.ids)
            if room >= len(piece.ids):
                add(piece.text, piece.trained)
            elif room > 0 and piece.trained:
                text = str(decode(piece.ids[:room])) if decode else ""
                if not piece.text.startswith(text):
                    text = ""
                add(text, True)
                add(piece.text[len(text) :], False)
            else:
                add(piece.text, False)
    return merged


@functools.lru_cache(maxsize=4)
def load_tokenizer(model: str) -> PreTrainedTokenizerBase:
    """The tokenizer of a model directory, adapter directory or hub id (cached)."""
    from anytune_local.recipe.setup import load_tokenizer as _load

    return _load(model)


def encoder_for(model: str, options: Mapping[str, Any]) -> ChatEncoder:
    """The encoder a job with ``options`` would use for ``model``."""
    from anytune_local.options import OPTION_SPECS
    from anytune_local.recipe.setup import generation_stops, template_kwargs

    max_length = int(options.get("max_length") or OPTION_SPECS["max_length"].default)
    tokenizer = load_tokenizer(model)
    return ChatEncoder(
        tokenizer,
        max_length,
        model=model,
        template_kwargs=template_kwargs(options),
        stops=generation_stops(model, tokenizer),
    )


def encode_example(encoder: ChatEncoder, example: Mapping[str, Any]) -> Encoded:
    """A chat line, or a DPO line (its prompt with each reply, one sequence each)."""
    messages, tools, functions, replies = example_parts(example)
    if replies is None:
        return encoder.encode(messages, tools, functions)
    sequences: list[list[Piece]] = []
    cut = False
    for reply in replies:
        encoded = encoder.encode([*messages, {**reply, "weight": 1}], tools, functions)
        sequences += encoded.sequences[-1:]
        cut = cut or encoded.cut
    return Encoded(sequences, encoder.max_length, cut)


def render_example(
    example: Mapping[str, Any], *, model: str, options: Mapping[str, Any], line: int
) -> RenderedExample:
    """Which text of one example is trained, as ``anytune data render`` shows it."""
    encoder = encoder_for(model, options)
    encoded = encode_example(encoder, example)
    return RenderedExample(
        line=line,
        segments=segments(encoded, encoder.tokenizer.decode),
        tokens=encoded.total_tokens,
        trained_tokens=encoded.trained_tokens,
        truncated=encoded.truncated,
    )


class ChatTemplateTokenCounter(TokenCounter):
    """Exact tokens of a training line: what training computes on, every sequence of it.

    Raises ``TrainingFailure`` (``model M's chat template does not render X``) for a line the
    template cannot train faithfully; ``validate`` reports it at its line.
    """

    exact = True

    def __init__(self, model: str, options: Mapping[str, Any] | None = None) -> None:
        self.model = model
        self.options = dict(options or {})
        self.description = f"{model} tokenizer + chat template"
        self._encoder: ChatEncoder | None = None

    def count(self, example: Mapping[str, Any]) -> int:
        if self._encoder is None:
            self._encoder = encoder_for(self.model, self.options)
        try:
            return encode_example(self._encoder, example).total_tokens
        except TrainingFailure as exc:
            if exc.code != "invalid_training_file":
                raise
            raise ExampleRefused(exc.message) from exc
