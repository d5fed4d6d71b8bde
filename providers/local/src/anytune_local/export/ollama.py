"""An Ollama ``Modelfile`` whose ``TEMPLATE`` and ``PARAMETER stop`` come from the model's own
chat template and stop tokens, so the exported model is prompted exactly as it was trained.

The Jinja chat template is rendered (``recipe.chat.ChatTemplate``, the renderer training
uses) on conversations of placeholder messages; the text around the placeholders gives each
role's opening and closing text, the generation prompt and the start of a conversation with
and without a system message. ``render`` replays those pieces in Python and the derivation is
accepted only when it reproduces the chat template's own rendering of test conversations;
the ``TEMPLATE`` is written from the same pieces, each as a quoted Go string (so whitespace
and ``{{`` inside them survive Go's template syntax).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from anytune.errors import InvalidArgumentError

_S, _U1, _A1, _U2, _A2 = "ANYTUNESYS0", "ANYTUNEUSR1", "ANYTUNEAST1", "ANYTUNEUSR2", "ANYTUNEAST2"


@dataclass(frozen=True)
class Pieces:
    start_system: str
    """Before the system message's text (bos, the system header)."""
    start_plain: str
    """Before the first user message when there is no system message (bos, a default
    system prompt the template adds)."""
    system_end: str
    user_start: str
    user_end: str
    assistant_start: str
    assistant_end: str
    generation: str
    """After the last user message's ``user_end``: what the model answers after."""


class NotExpressible(InvalidArgumentError):
    """The chat template does not fit Ollama's per-message template."""


def _split(text: str, marks: list[str]) -> list[str]:
    parts, rest = [], text
    for mark in marks:
        if rest.count(mark) != 1:
            raise NotExpressible(f"the chat template does not render {mark} exactly once")
        before, _, rest = rest.partition(mark)
        parts.append(before)
    return [*parts, rest]


def _without_prefix(text: str, prefix: str, what: str) -> str:
    if not text.startswith(prefix):
        raise NotExpressible(f"the chat template renders {what} differently in different turns")
    return text[len(prefix) :]


def derive(template_render: Any) -> Pieces:
    """The pieces of a template; ``template_render(messages, gen)`` is its rendering."""

    def render(messages: list[dict[str, Any]], gen: bool) -> str:
        try:
            return str(template_render(messages, gen))
        except Exception as exc:  # the template refuses a plain conversation (no system role)
            raise NotExpressible(
                f"the chat template fails on a plain conversation ({exc})"
            ) from exc

    def msg(role: str, content: str) -> dict[str, Any]:
        return {"role": role, "content": content}

    full = [msg("system", _S), msg("user", _U1), msg("assistant", _A1), msg("user", _U2)]
    full.append(msg("assistant", _A2))
    p0, p1, p2, p3, p4, p5 = _split(render(full, False), [_S, _U1, _A1, _U2, _A2])
    opened = render(full[:2], False)
    user_end = _split(opened, [_S, _U1])[2]
    generation = _without_prefix(render(full[:2], True), opened, "the generation prompt")
    assistant_start = _without_prefix(p2, user_end, "the end of a user turn")
    user_start = _without_prefix(p3, p5, "the end of an assistant turn")
    if p4 != p2 or not p1.endswith(user_start):
        raise NotExpressible(
            "the chat template renders the system message or later turns differently "
            "(e.g. it merges the system prompt into the first user turn)"
        )
    q0, q1, q2 = _split(render(full[1:3], False), [_U1, _A1])
    if not q0.endswith(user_start) or q1 != p2 or q2 != p5:
        raise NotExpressible(
            "the chat template renders a conversation without a system prompt differently"
        )
    return Pieces(
        start_system=p0,
        start_plain=q0[: len(q0) - len(user_start)],
        system_end=p1[: len(p1) - len(user_start)],
        user_start=user_start,
        user_end=user_end,
        assistant_start=assistant_start,
        assistant_end=p5,
        generation=generation,
    )


def render(pieces: Pieces, messages: list[dict[str, Any]], gen: bool) -> str:
    """What the ``TEMPLATE`` written by ``go_template`` produces (Python mirror)."""
    out: list[str] = []
    for i, m in enumerate(messages):
        last = i == len(messages) - 1
        role, content = m["role"], str(m.get("content") or "")
        if role == "system":
            out += [pieces.start_system, content, pieces.system_end]
        elif role == "user":
            if i == 0:
                out.append(pieces.start_plain)
            out += [pieces.user_start, content, pieces.user_end]
            if last and gen:
                out.append(pieces.generation)
        elif role == "assistant":
            out += [pieces.assistant_start, content]
            if not last or not gen:
                out.append(pieces.assistant_end)
    return "".join(out)


def check(pieces: Pieces, template_render: Any) -> None:
    """Refuse pieces that do not reproduce the template on a few conversations."""
    turns = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "Thanks"},
    ]
    for messages, gen in ((turns, True), (turns[1:], True), (turns[:5], False), (turns[1:2], True)):
        if render(pieces, messages, gen) != template_render(messages, gen):
            raise NotExpressible("the chat template's rendering depends on more than each message")


def _q(text: str) -> str:
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}" if text else ""


def go_template(p: Pieces) -> str:
    """Ollama's ``TEMPLATE`` (Go text/template over ``.Messages``) for the pieces."""
    first = f"{{{{ if eq $i 0 }}}}{_q(p.start_plain)}{{{{ end }}}}" if p.start_plain else ""
    return (
        "{{- range $i, $_ := .Messages }}\n"
        "{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
        f'{{{{- if eq .Role "system" }}}}{_q(p.start_system)}{{{{ .Content }}}}{_q(p.system_end)}\n'
        f'{{{{- else if eq .Role "user" }}}}{first}'
        f"{_q(p.user_start)}{{{{ .Content }}}}{_q(p.user_end)}"
        f"{{{{ if $last }}}}{_q(p.generation)}{{{{ end }}}}\n"
        f'{{{{- else if eq .Role "assistant" }}}}{_q(p.assistant_start)}{{{{ .Content }}}}'
        f"{{{{ if not $last }}}}{_q(p.assistant_end)}{{{{ end }}}}\n"
        "{{- end }}\n"
        "{{- end }}"
    )


def modelfile(source: str, adapter: str | None, template: str, stops: list[str]) -> str:
    lines = [f"FROM {source}"]
    if adapter:
        lines.append(f"ADAPTER {adapter}")
    lines.append(f'TEMPLATE """{template}"""')
    lines += [f"PARAMETER stop {json.dumps(stop, ensure_ascii=False)}" for stop in stops]
    return "\n".join(lines) + "\n"


__all__ = ["NotExpressible", "Pieces", "check", "derive", "go_template", "modelfile", "render"]
