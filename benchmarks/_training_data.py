"""The training benchmark's fixed inputs: a seeded mixed-length chat data set and a tiny model.

``prepare(dir)`` writes, offline and deterministically for a given seed:

- ``model/``: a Llama (hidden 256, 4 layers, vocab up to 4096) with a byte-level BPE trained on
  the generated text (``anytune_local.recipe.tiny.make_tiny_model``), briefly pretrained on
  plain text of the same words (not chats), so that it is a base that knows the vocabulary;
- ``train.jsonl``: chat examples whose chat-template length in tokens is drawn log-uniformly
  between 30 and 800 (many short, a few long: as in real chat data, and the shape on which
  padding to the longest in each batch computes ~2.4× the real tokens);
- ``meta.json``: the lengths actually obtained.

The task is learnable by a LoRA in a short run: the user writes words of a large Zipfian
vocabulary, the assistant "translates" each into one of a small set of reply words (a fixed
dictionary). The base saw the words but never a chat or the dictionary, so the loss on the
assistant tokens starts high and falls within a short run, and the final losses of two
trainers can be told apart.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIN_TOKENS = 30
MAX_TOKENS = 800
MODEL_SHAPE = {"vocab_size": 4096, "hidden_size": 256, "layers": 4}
SYSTEM_PROMPTS = (
    "You are a careful translator. Answer with the translation only.",
    "Translate every word, in order.",
)
_SYLLABLES = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"]


@dataclass(frozen=True)
class Language:
    """User words (Zipfian), reply words (few), and the dictionary between them."""

    words: list[str]
    replies: list[str]
    dictionary: dict[str, str]
    cumulative: list[float]

    @classmethod
    def make(cls, rng: random.Random, size: int = 3000, replies: int = 64) -> Language:
        words: set[str] = set()
        while len(words) < size:
            words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))))
        ordered = sorted(words)
        rng.shuffle(ordered)
        reply_words = sorted(
            {"x" + rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES) for _ in range(replies * 2)}
        )[:replies]
        dictionary = {w: rng.choice(reply_words) for w in ordered}
        # Zipf-Mandelbrot frequencies: a few words are frequent (they become single tokens),
        # most are rare (split into several).
        total, cumulative = 0.0, []
        for rank in range(size):
            total += 1.0 / (rank + 10)
            cumulative.append(total)
        return cls(ordered, reply_words, dictionary, cumulative)

    def text(self, rng: random.Random, count: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cumulative, k=max(1, count))

    def example(self, rng: random.Random, count: int) -> dict[str, Any]:
        words = self.text(rng, count)
        messages = []
        if rng.random() < 0.5:
            messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
        messages.append({"role": "user", "content": "Translate: " + " ".join(words)})
        messages.append(
            {"role": "assistant", "content": " ".join(self.dictionary[w] for w in words)}
        )
        return {"messages": messages}


def _target_lengths(rng: random.Random, n: int) -> list[int]:
    low, high = math.log(MIN_TOKENS), math.log(MAX_TOKENS)
    return [round(math.exp(rng.uniform(low, high))) for _ in range(n)]


def pretrain(model_dir: Path, texts: list[str], *, steps: int, seed: int) -> list[float]:
    """Full-parameter training of the random model on ``texts`` (packed 128-token rows), so
    that the benchmark fine-tunes a base that already knows the vocabulary: on a random base
    LoRA barely moves the loss in a few epochs, and two trainers' final losses would agree
    whatever they did. Returns the losses."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    stream: list[int] = []
    for text in texts:
        stream.extend(tokenizer(text)["input_ids"])
    width, rows = 128, 16
    chunks = torch.tensor(stream[: len(stream) // width * width]).view(-1, width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(steps):
        index = torch.randint(0, chunks.size(0), (rows,))
        batch = chunks[index]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    model.save_pretrained(model_dir)
    return losses


def widen_vocabulary(model_dir: Path, vocab: int) -> None:
    """Give the model an output layer (and embeddings) of ``vocab`` rows, as real models have
    (32k-256k): the tokenizer keeps its own tokens, the extra rows are tokens the data never
    uses, as in any real vocabulary. The output layer then dominates the compute."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.resize_token_embeddings(vocab, mean_resizing=False)
    model.save_pretrained(model_dir)


def prepare(
    out: Path,
    *,
    examples: int,
    seed: int = 0,
    pretrain_steps: int = 150,
    vocab: int | None = None,
    hidden: int | None = None,
    layers: int | None = None,
) -> dict[str, Any]:
    """Write model/, train.jsonl and meta.json into ``out`` (see the module docstring);
    ``vocab`` widens the model's vocabulary (``widen_vocabulary``); ``hidden`` and ``layers``
    change its size (the GPU benchmark's larger model)."""
    from anytune_local.recipe.tiny import make_tiny_model
    from transformers import AutoTokenizer

    rng = random.Random(seed)
    language = Language.make(rng)
    corpus = [" ".join(language.text(rng, 200)) for _ in range(200)]
    corpus += [" ".join(language.replies)] * 20
    shape = dict(MODEL_SHAPE)
    shape.update({k: v for k, v in (("hidden_size", hidden), ("layers", layers)) if v})
    model_dir = make_tiny_model(out / "model", seed=seed, corpus=corpus, **shape)
    if vocab:
        widen_vocabulary(model_dir, vocab)
        shape["vocab_size"] = vocab
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    def length(record: dict[str, Any]) -> int:
        ids: Any = tokenizer.apply_chat_template(record["messages"], tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(ids)

    records, lengths = [], []
    for target in _target_lengths(rng, examples):
        # Two tries to land near the target: guess the word count, measure, rescale.
        words = max(1, target // 4)
        state = rng.getstate()
        record = language.example(rng, words)
        got = length(record)
        words = max(1, round(words * (target - 12) / max(1, got - 12)))
        rng.setstate(state)
        record = language.example(rng, words)
        while length(record) > MAX_TOKENS and words > 1:
            words -= max(1, words // 20)
            rng.setstate(state)
            record = language.example(rng, words)
        records.append(record)
        lengths.append(length(record))
    pretrain_losses: list[float] = []
    if pretrain_steps:
        # Plain text (another seed) of both vocabularies, mixed at random: the base knows every
        # word, but not the chat format, the dictionary or the training set.
        other = random.Random(seed + 1)
        texts = []
        for _ in range(800):
            plain = language.text(other, 100)
            texts.append(
                " ".join(
                    other.choice(language.replies) if other.random() < 0.3 else w for w in plain
                )
            )
        pretrain_losses = pretrain(model_dir, texts, steps=pretrain_steps, seed=seed)
    with (out / "train.jsonl").open("w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    meta = {
        "examples": examples,
        "seed": seed,
        "model": shape,
        "lengths": lengths,
        "min": min(lengths),
        "max": max(lengths),
        "mean": sum(lengths) / len(lengths),
        "total": sum(lengths),
        "pretrain_steps": pretrain_steps,
        "pretrain_loss": [pretrain_losses[0], pretrain_losses[-1]] if pretrain_losses else None,
    }
    (out / "meta.json").write_text(json.dumps(meta))
    return meta
