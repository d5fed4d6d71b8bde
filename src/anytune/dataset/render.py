"""Show a provider-rendered example with its trained spans marked.

``provider.render_example`` returns the training text as segments, each trained (the loss is
computed on it) or not. Here they become text for people: trained spans in bold green on a
terminal, or between visible markers elsewhere::

    <|im_start|>user
    What is 2+2?<|im_end|>
    <|im_start|>assistant
    [[TRAIN]]4<|im_end|>[[/TRAIN]]
"""

from __future__ import annotations

from typing import Any

from anytune.provider import RenderedExample

TRAIN_OPEN = "[[TRAIN]]"
TRAIN_CLOSE = "[[/TRAIN]]"
_BOLD_GREEN = "\x1b[1;32m"
_RESET = "\x1b[0m"


def marked_text(rendered: RenderedExample, *, color: bool = False) -> str:
    """The example's text with trained spans coloured (``color``) or between markers."""
    opening, closing = (_BOLD_GREEN, _RESET) if color else (TRAIN_OPEN, TRAIN_CLOSE)
    return "".join(
        f"{opening}{s.text}{closing}" if s.trained and s.text else s.text for s in rendered.segments
    )


def rendered_to_dict(rendered: RenderedExample) -> dict[str, Any]:
    """A JSON-ready form: line, tokens, trained_tokens, truncated, segments."""
    return {
        "line": rendered.line,
        "tokens": rendered.tokens,
        "trained_tokens": rendered.trained_tokens,
        "truncated": rendered.truncated,
        "segments": [{"text": s.text, "trained": s.trained} for s in rendered.segments],
    }


__all__ = ["TRAIN_CLOSE", "TRAIN_OPEN", "marked_text", "rendered_to_dict"]
