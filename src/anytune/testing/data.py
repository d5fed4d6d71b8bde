"""Small, valid training files for tests."""

from __future__ import annotations

import json
from pathlib import Path


def write_chat_jsonl(path: str | Path, n: int = 12, *, system: bool = True) -> Path:
    """Write ``n`` chat examples (a keyword sentiment task) to ``path`` and return it."""
    words = ["great", "awful", "lovely", "terrible", "fine", "bad"]
    path = Path(path)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            word = words[i % len(words)]
            label = "negative" if word in {"awful", "terrible", "bad"} else "positive"
            messages = [{"role": "user", "content": f"Review {i}: the food was {word}."}]
            if system:
                messages.insert(0, {"role": "system", "content": "Classify the sentiment."})
            messages.append({"role": "assistant", "content": label})
            fh.write(json.dumps({"messages": messages}) + "\n")
    return path
