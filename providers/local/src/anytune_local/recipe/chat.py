"""What is trained, as text: the inference prompt and the answer of every trained turn.

For assistant message *i* whose weight is not 0 (``Turn``):

- **context** = the template's rendering of ``messages[:i]`` *with* the generation prompt:
  exactly what the model is given at inference (an empty conversation when the assistant
  speaks first);
- **target** = what the model must generate after it. When the rendering of ``messages[:i+1]``
  starts with the context (most templates), it is the rest of that rendering. Otherwise (the
  template renders history differently, e.g. it moves the system prompt or forces text in the
  generation prompt) it is the rendering of message *i* itself, found by comparing with the
  same conversation whose last answer is a placeholder; text the generation prompt already
  forces (``<think>\\n``) is not repeated.
- A generation prompt that opens a block (``<think>``) the rendered answer never closes makes
  the model write the block's end itself: the target becomes ``reasoning\\n</think>\\n\\n`` +
  answer (an empty block when the message has no ``reasoning_content``).

``tokenize`` turns these texts into ids and cuts the target after the stop token. ``guard.check``
refuses (never trains) what a template drops (``recipe.guard``): the answer's text, reasoning,
tool calls, tool definitions, or earlier messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anytune_local.recipe import TrainingFailure
from anytune_local.recipe.messages import Conversation, arguments_as_strings

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

MARK_START = "\U000f0000"  # transformers' markers around control-token look-alikes in content
MARK_END = "\U000f0001"
_PLACEHOLDER = "\ue000"
_OPEN_BLOCK = re.compile(r"<([A-Za-z][\w:.-]{0,30})>\s*$")


def template_limit(message: str) -> TrainingFailure:
    """The template cannot render this example faithfully: a data problem, not a crash.

    A plain ``TrainingFailure`` (the provider translates that type by name)."""
    return TrainingFailure("invalid_training_file", message)


def unmarked(text: str) -> str:
    return text.replace(MARK_START, "").replace(MARK_END, "")


def common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    lo, hi = 0, n  # binary search on blocks is faster than a char loop for long texts
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True)
class Turn:
    """One trained assistant turn as text (control-token look-alikes marked)."""

    index: int
    context: str
    target: str
    """Up to and including the token the model stops on (when the template writes one)."""
    append: str | None = None
    """The stop token to add after ``target`` when the template ends the answer with none."""


def control_tokens(tokenizer: PreTrainedTokenizerBase, template: str) -> tuple[str, ...]:
    """Tokens that must never come from message text: special tokens, and added tokens the
    template writes itself (transformers' own rule for ``sanitize_control_tokens``)."""
    return tuple(
        token.content
        for token in tokenizer.added_tokens_decoder.values()
        if token.special or (token.content in template and not token.content.isspace())
    )


def _mark(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        value = value.replace(MARK_START, "").replace(MARK_END, "")
        return pattern.sub(f"{MARK_START}\\g<0>{MARK_END}", value)
    if isinstance(value, dict):
        return {k: _mark(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark(v, pattern) for v in value]
    return value


class ChatTemplate:
    """A tokenizer's chat template with the job's template switches (``chat_template_kwargs``)."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        *,
        model: str,
        kwargs: Mapping[str, Any] | None = None,
        stops: tuple[str, ...] = (),
    ) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise TrainingFailure(
                "invalid_model",
                f"model {model} has no chat template; use an instruct/chat model, or add a "
                "chat_template to its tokenizer_config.json",
            )
        self.tokenizer = tokenizer
        self.model = model
        self.kwargs = dict(kwargs or {})
        source = tokenizer.chat_template
        self.source = source if isinstance(source, str) else "\n".join(map(str, source.values()))
        tokens = sorted(control_tokens(tokenizer, self.source), key=len, reverse=True)
        self.control = re.compile("|".join(map(re.escape, tokens)) or "(?!)")
        eos = tokenizer.eos_token
        self.stops = tuple(dict.fromkeys([*([eos] if eos else []), *stops]))
        """The tokens generation stops on: eos and the generation config's eos_token_id."""
        self._closing: str | bool | None = False  # False: not derived yet

    # -- rendering ---------------------------------------------------------------------
    def render(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, *, gen: bool
    ) -> str:
        """The template's text (no None-dropping, empty conversations allowed)."""
        from transformers.utils.chat_template_utils import render_jinja_template

        template = self.tokenizer.get_chat_template(None, tools)
        kwargs = {**self.tokenizer.special_tokens_map, **self.kwargs}
        rendered: Any = render_jinja_template(
            conversations=[messages],
            tools=list(tools) if tools is not None else None,
            chat_template=template,
            add_generation_prompt=gen,
            **kwargs,
        )
        return str(rendered[0][0])

    def marked(self, conv: Conversation) -> Conversation:
        """``conv`` with control-token look-alikes in its strings marked (only if any)."""
        probe = json.dumps([conv.messages, conv.tools], ensure_ascii=False)
        if not self.control.search(probe) and MARK_START not in probe and MARK_END not in probe:
            return conv
        return Conversation(
            _mark(conv.messages, self.control),
            _mark(conv.tools, self.control),
            conv.trained,
            conv.cut,
        )

    def variants(self, conv: Conversation) -> Iterator[Conversation]:
        """Ways to hand ``content: null`` and tool-call arguments to templates, best first."""
        has_null = any(m.get("content") is None for m in conv.messages)
        has_calls = any(m.get("tool_calls") for m in conv.messages)
        nulls = ("drop", "none", "empty") if has_null else ("none",)
        for arguments in ("objects", "strings") if has_calls else ("objects",):
            messages = (
                conv.messages if arguments == "objects" else arguments_as_strings(conv.messages)
            )
            for null in nulls:
                yield Conversation(_null_as(messages, null), conv.tools, conv.trained, conv.cut)

    # -- turns -------------------------------------------------------------------------
    def turns(self, conv: Conversation) -> list[Turn]:
        """Context and target of every trained turn, for the first way of passing
        ``content: null`` / arguments that the template renders faithfully."""
        from anytune_local.recipe.guard import check

        conv = self.marked(conv)
        failures: list[TrainingFailure] = []
        for variant in self.variants(conv):
            try:
                turns = [self.turn(variant, i) for i in variant.trained]
                check(self, variant, turns)
                return turns
            except TrainingFailure as exc:
                failures.append(exc)
        # A way that rendered but lost something says more than one that crashed.
        dropped = [f for f in failures if f.message.startswith(self._drops("").message)]
        raise (dropped or failures)[0]

    def _render_or_fail(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, *, gen: bool
    ) -> str:
        try:
            return self.render(messages, tools, gen=gen)
        except Exception as exc:  # raise_exception(), TypeError on None, UndefinedError...
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if tools is None and self._renders_with_tools(messages, gen=gen):
                raise template_limit(
                    f"model {self.model}'s chat template renders only conversations with "
                    f'tools ({reason}); give this example "tools", or use the model\'s '
                    "chat template for plain conversations"
                ) from exc
            if type(exc).__name__ == "UndefinedError":
                reason += " (the template expects a field this example does not have)"
            if not messages:
                raise template_limit(
                    f"model {self.model}'s chat template cannot render a conversation that "
                    f"starts with the assistant ({reason}); add the user message it answers"
                ) from exc
            raise template_limit(
                f"model {self.model}'s chat template cannot render this conversation: {reason}"
            ) from exc

    def _renders_with_tools(self, messages: list[dict[str, Any]], *, gen: bool) -> bool:
        try:
            self.render(messages, [], gen=gen)
        except Exception:  # it fails for another reason
            return False
        return True

    def turn(self, conv: Conversation, i: int) -> Turn:
        messages, tools = conv.messages, conv.tools
        full = self._render_or_fail(messages[: i + 1], tools, gen=False)
        placeholder = {"role": "assistant", "content": _PLACEHOLDER}
        context: str | None
        try:
            context = self._render_or_fail(messages[:i], tools, gen=True)
        except TrainingFailure:
            if i:
                raise
            # The template cannot render an empty conversation (messages[0]): what it writes
            # before the answer (BOS, default system prompt, header) is the context.
            context = None
        if (
            context is not None
            and full.startswith(context)
            and not (
                # an empty conversation for which the generation prompt adds nothing (Zephyr): the
                # answer's header is the template's, not something the model must write
                i == 0
                and context == self._render_or_fail(messages[:i], tools, gen=False)
                and not context.endswith(_header(self, messages[:i], tools, placeholder))
            )
        ):
            target = full[len(context) :]
        else:  # history rendered differently: the answer is what follows the same header
            other = self._render_or_fail([*messages[:i], placeholder], tools, gen=False)
            start = common_prefix(full, other)
            target = full[start:]
            if context is None or full.startswith(context):  # the header joins the context
                context = full[:start]
                prompt = self._generation_header()
                at = context.rfind(prompt) if prompt else -1
                if at >= 0:  # what the model writes after its generation prompt stays trained
                    target = context[at + len(prompt) :] + target
                    context = context[: at + len(prompt)]
            forced = context[common_prefix(context, other) :]
            if forced and target.startswith(forced):
                target = target[len(forced) :]
        target, append = self._end(self._close_open_block(context, target, messages[i]))
        return Turn(i, context, target, append)

    def _generation_header(self) -> str:
        """What the generation prompt adds after a user message (``<|im_start|>assistant\\n``)."""
        probe = [{"role": "user", "content": "\ue004"}]
        try:
            bare = self.render(probe, None, gen=False)
            prompted = self.render(probe, None, gen=True)
        except Exception:  # no probe, no refinement
            return ""
        return prompted[len(bare) :] if prompted.startswith(bare) else ""

    # -- where an answer ends ----------------------------------------------------------
    @property
    def closing(self) -> str | None:
        """The control token the template closes a turn with before the next turn's header
        (``<|im_end|>``, ``<end_of_turn>``), None when it has none (GLM-4.6)."""
        if self._closing is False:
            self._closing = None
            probe = [
                {"role": "user", "content": "\ue001"},
                {"role": "assistant", "content": "\ue002"},
                {"role": "user", "content": "\ue003"},
            ]
            try:
                text = self.render(probe, None, gen=False)
            except Exception:  # a template that cannot render the probe has no known closing
                return None
            start, end = text.find("\ue002"), text.find("\ue003")
            if 0 <= start < end:
                between = self.control.findall(text[start + 1 : end])
                if len(between) >= 2:  # the closing token, then the next header's
                    self._closing = between[0]
        return self._closing if isinstance(self._closing, str) else None

    def _end(self, target: str) -> tuple[str, str | None]:
        """``target`` cut after its first stop token; else after the template's closing
        token; else the stop token to add (the closing token, or eos)."""
        found = [(at, len(t)) for t in self.stops if (at := _find_token(target, t)) >= 0]
        if found:
            at, size = min(found)
            return target[: at + size], None
        closing = self.closing
        if closing is not None and (at := _find_token(target, closing)) >= 0:
            return target[: at + len(closing)], None
        end = closing or (self.stops[0] if self.stops else None)
        if end is None:
            raise TrainingFailure(
                "invalid_model",
                f"model {self.model} has no end-of-sequence token and its chat template ends "
                "answers with nothing, so the model could never learn to stop",
            )
        return target, end

    def _close_open_block(self, context: str, target: str, message: Mapping[str, Any]) -> str:
        opened = _OPEN_BLOCK.search(unmarked(context[-200:]))
        if opened is None:
            return target
        closing = f"</{opened.group(1)}>"
        if closing not in self.source or closing in unmarked(target):
            return target
        reasoning = message.get("reasoning_content")
        thought = reasoning.strip("\n") if isinstance(reasoning, str) else ""
        return f"{thought}\n{closing}\n\n{target}"

    def _drops(self, what: str) -> TrainingFailure:
        return template_limit(f"model {self.model}'s chat template does not render {what}")


def _header(
    template: ChatTemplate,
    history: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    placeholder: dict[str, Any],
) -> str:
    """What the template writes between ``history`` and an answer's first character."""
    before = template._render_or_fail(history, tools, gen=False)
    other = template._render_or_fail([*history, placeholder], tools, gen=False)
    at = other.find(_PLACEHOLDER)
    return other[len(before) : at] if other.startswith(before) and at >= len(before) else ""


def _find_token(text: str, token: str) -> int:
    """Where the template wrote ``token`` (not a marked look-alike from content), or -1."""
    at = text.find(token)
    while at > 0 and text[at - 1] == MARK_START:
        at = text.find(token, at + 1)
    return at


def _null_as(messages: list[dict[str, Any]], how: str) -> list[dict[str, Any]]:
    if how == "none":
        return messages
    out = []
    for message in messages:
        if message.get("content") is None:
            message = {k: v for k, v in message.items() if k != "content"}
            if how == "empty":
                message["content"] = ""
        out.append(message)
    return out
