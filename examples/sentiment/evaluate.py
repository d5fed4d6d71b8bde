"""Exact-match accuracy of a model (a base model or a fine-tuned adapter) on valid.jsonl.

For every example the model answers the conversation minus its last (assistant) message,
greedily; the answer counts when it equals the expected one (case and surrounding spaces
ignored).

    python examples/sentiment/evaluate.py MODEL [--data examples/sentiment/valid.jsonl]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from anytune_local.recipe.inference import generate_batch


def load(path: Path) -> list[tuple[list[dict[str, object]], str]]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            messages = json.loads(line)["messages"]
            examples.append((messages[:-1], str(messages[-1]["content"])))
    return examples


def accuracy(model: str, data: Path, *, batch_size: int = 50) -> tuple[float, list[str]]:
    """Fraction of exact matches, and the model's answers."""
    examples = load(data)
    answers: list[str] = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        answers += generate_batch(model, [prompt for prompt, _ in chunk], max_new_tokens=4)
    correct = sum(
        a.strip().lower() == e.strip().lower() for a, (_, e) in zip(answers, examples, strict=True)
    )
    return correct / len(examples), answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model directory, adapter directory or hub id")
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parent / "valid.jsonl"
    )
    parser.add_argument("--label", default="accuracy", help="what to call the result")
    args = parser.parse_args()
    started = time.monotonic()
    score, answers = accuracy(args.model, args.data)
    examples = len(answers)
    print(
        f"{args.label}: {score:.2f} ({round(score * examples)}/{examples} exact matches, "
        f"{time.monotonic() - started:.1f} s); first answers: {answers[:3]}"
    )


if __name__ == "__main__":
    main()
