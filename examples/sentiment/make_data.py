"""Write train.jsonl and valid.jsonl: a small keyword sentiment task in OpenAI's chat format.

Each example is a short review; the assistant answers "positive" or "negative". The reviews
are generated from templates, deterministically (same seed, same files), and no review appears
in both files.

    python examples/sentiment/make_data.py            # writes next to this script
    python examples/sentiment/make_data.py --out DIR --train 300 --valid 100
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SYSTEM = "Classify the sentiment of the review. Answer with one word: positive or negative."

SUBJECTS = [
    "the movie",
    "this book",
    "the food",
    "the service",
    "the hotel",
    "our trip",
    "the concert",
    "this phone",
    "the game",
    "the staff",
    "the show",
    "this album",
    "the room",
    "the course",
    "the app",
    "the coffee",
]
POSITIVE = [
    "great",
    "wonderful",
    "excellent",
    "amazing",
    "fantastic",
    "brilliant",
    "delightful",
    "superb",
    "lovely",
    "enjoyable",
]
NEGATIVE = [
    "awful",
    "terrible",
    "horrible",
    "boring",
    "dreadful",
    "poor",
    "disappointing",
    "bad",
    "annoying",
    "mediocre",
]
TEMPLATES = [
    "{subject} was {word}.",
    "I thought {subject} was {word}.",
    "Honestly, {subject} was {word} from start to finish.",
    "{subject} turned out {word}, to be frank.",
    "My friends agreed that {subject} was {word}.",
    "After a long week, {subject} felt {word}.",
    "We all found {subject} {word}.",
    "In short: {word}. That is {subject} for you.",
]


def make_examples(count: int, rng: random.Random, seen: set[str]) -> list[dict[str, object]]:
    examples: list[dict[str, object]] = []
    while len(examples) < count:
        label = "positive" if len(examples) % 2 == 0 else "negative"
        word = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
        review = rng.choice(TEMPLATES).format(subject=rng.choice(SUBJECTS), word=word)
        review = review[0].upper() + review[1:]
        if review in seen:
            continue
        seen.add(review)
        examples.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": review},
                    {"role": "assistant", "content": label},
                ]
            }
        )
    rng.shuffle(examples)
    return examples


def write_jsonl(path: Path, examples: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(json.dumps(example) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--valid", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seen: set[str] = set()
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "train.jsonl", make_examples(args.train, rng, seen))
    write_jsonl(args.out / "valid.jsonl", make_examples(args.valid, rng, seen))
    print(f"wrote {args.train} training and {args.valid} validation examples to {args.out}")


if __name__ == "__main__":
    main()
