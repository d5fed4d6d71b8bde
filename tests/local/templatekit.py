"""Tokenizers for the real chat templates in ``../shared/chat-templates`` (built offline).

Each template gets a small byte-level BPE tokenizer in which the template's markers
(``<|im_start|>``, ``[INST]``, ``<start_of_turn>``, ...) are special tokens, as they are in the
real models, with the real model's bos / eos tokens and the extra stop tokens of its
generation config (``MODELS``). No model is needed: the label tests only need tokenizers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def templates_dir() -> Path | None:
    """``<workspace>/shared/chat-templates``, found from this file upwards (None if absent)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent.parent / "shared" / "chat-templates"
        if candidate.is_dir():
            return candidate
        candidate = parent / "shared" / "chat-templates"
        if candidate.is_dir():
            return candidate
    return None


def template_names() -> list[str]:
    folder = templates_dir()
    return sorted(p.stem for p in folder.glob("*.jinja")) if folder else []


@dataclass(frozen=True)
class ModelFacts:
    """What the real model's tokenizer / generation config say (not in the template)."""

    bos: str | None = "<s>"
    eos: str = "</s>"
    stops: tuple[str, ...] = ()
    """Other ``generation_config.eos_token_id`` tokens."""
    extra: tuple[str, ...] = field(default=())
    """Markers the template builds from pieces, which the regex cannot see."""


# bos / eos / generation-config stop tokens of the real models (their tokenizer_config.json and
# generation_config.json on the hub).
_QWEN = ModelFacts(bos=None, eos="<|im_end|>", stops=("<|endoftext|>",))
_LLAMA3 = ModelFacts(
    bos="<|begin_of_text|>", eos="<|eot_id|>", stops=("<|end_of_text|>", "<|eom_id|>")
)
_COHERE = ModelFacts(bos="<BOS_TOKEN>", eos="<|END_OF_TURN_TOKEN|>")
_DEEPSEEK = ModelFacts(bos="<｜begin▁of▁sentence｜>", eos="<｜end▁of▁sentence｜>")
_GRANITE = ModelFacts(bos=None, eos="<|end_of_text|>")
_GEMMA = ModelFacts(bos="<bos>", eos="<eos>", stops=("<end_of_turn>",))
MODELS: dict[str, ModelFacts] = {
    "Apertus-8B-Instruct": ModelFacts(eos="</s>", stops=("<|assistant_end|>",)),
    "ByteDance-Seed-OSS": ModelFacts(bos="<seed:bos>", eos="<seed:eos>"),
    "CohereForAI-c4ai-command-r-plus-tool_use": _COHERE,
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": _COHERE,
    "GLM-4.6": ModelFacts(bos=None, eos="<|endoftext|>", stops=("<|user|>", "<|observation|>")),
    "HuggingFaceH4-zephyr-7b-beta": ModelFacts(),
    "HuggingFaceTB-SmolLM3-3B": ModelFacts(bos=None, eos="<|im_end|>"),
    "LFM2.5-Instruct": ModelFacts(bos="<|startoftext|>", eos="<|im_end|>"),
    "MiniMax-M2": ModelFacts(bos="]~!b[", eos="[e~["),
    "Mistral-Small-3.2-24B-Instruct-2506": ModelFacts(),
    "NVIDIA-Nemotron-Nano-v2": ModelFacts(eos="<SPECIAL_12>"),
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": ModelFacts(
        bos="<|begin_of_text|>", eos="<|im_end|>"
    ),
    "Qwen-QwQ-32B": _QWEN,
    "Qwen-Qwen2.5-7B-Instruct": _QWEN,
    "Qwen-Qwen3-0.6B": _QWEN,
    "Qwen3-Coder": _QWEN,
    "chujiezheng-llama-2-chat": ModelFacts(),
    "chujiezheng-mistral-instruct": ModelFacts(),
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B": _DEEPSEEK,
    "deepseek-ai-DeepSeek-V3.1": _DEEPSEEK,
    "google-gemma-2-2b-it": _GEMMA,
    "ibm-granite-granite-3.3-2B-Instruct": _GRANITE,
    "ibm-granite-granite-4.0": _GRANITE,
    "meta-llama-Llama-3.1-8B-Instruct": _LLAMA3,
    "meta-llama-Llama-3.2-3B-Instruct": _LLAMA3,
    "microsoft-Phi-3.5-mini-instruct": ModelFacts(
        eos="<|endoftext|>", stops=("<|end|>", "<|assistant|>")
    ),
    "mistralai-Mistral-Nemo-Instruct-2407": ModelFacts(),
    "moonshotai-Kimi-K2": ModelFacts(bos="[BOS]", eos="[EOS]", stops=("<|im_end|>",)),
    "ollama-aya-expanse-8b": _COHERE,
    "ollama-exaone3.5-7.8b": ModelFacts(bos="[BOS]", eos="[|endofturn|]"),
    "ollama-gemma3-270m": _GEMMA,
    "ollama-internlm2-1.8b": ModelFacts(stops=("<|im_end|>",)),
    "ollama-llama4-latest": ModelFacts(
        bos="<|begin_of_text|>", eos="<|eot|>", stops=("<|end_of_text|>", "<|eom|>")
    ),
    "ollama-olmo2-7b": ModelFacts(bos="<|endoftext|>", eos="<|endoftext|>"),
    "ollama-phi4-14b": ModelFacts(bos="<|endoftext|>", eos="<|im_end|>"),
    "ollama-phi4-mini-3.8b": ModelFacts(
        bos="<|endoftext|>", eos="<|endoftext|>", stops=("<|end|>",)
    ),
    "ollama-yi-6b": ModelFacts(bos="<|startoftext|>", eos="<|im_end|>"),
    "openai-gpt-oss-120b": ModelFacts(
        bos="<|startoftext|>", eos="<|return|>", stops=("<|call|>", "<|endoftext|>")
    ),
    "openchat-openchat-3.5-0106": ModelFacts(eos="<|end_of_turn|>"),
    "tiiuae-Falcon3-7B-Instruct": ModelFacts(bos=None, eos="<|endoftext|>"),
}

_MARKERS = re.compile(
    r"<\|[^<>|\s'\"]{1,40}\|>"  # <|im_start|>, <|start_header_id|>, <|START_OF_TURN_TOKEN|>
    r"|<｜[^｜'\"]{1,40}｜>"  # DeepSeek's full-width bars
    r"|\[/?[A-Z][A-Z_]{1,30}\]"  # [INST], [/INST], [TOOL_CALLS]
    r"|\[\|[a-z]{2,20}\|\]"  # EXAONE's [|user|]
    r"|</?(?:start|end)_of_[a-z_]+>"  # Gemma
    r"|</?seed:[a-z_]+>"  # Seed-OSS
    r"|<SPECIAL_\d+>"  # Nemotron
    r"|</?think>|</?tool_call>|<<SYS>>|<</SYS>>|\[gMASK\]|<sop>|</?s>|<bos>|<eos>"
    r"|\]~!b\[|\]~b\]|\[e~\["  # MiniMax
)
_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CORPUS = [
    "Hello! How are you today? I am fine, thank you.",
    "The weather in Paris is sunny, 21 degrees. Tomorrow it will rain.",
    '{"city": "Paris", "unit": "celsius", "days": [1, 2, 3], "ok": true}',
    "def add(a, b):\n    return a + b\n\n\nprint(add(2, 3))\n",
    "You are a helpful assistant. Answer briefly.\n\nQuestion: what is 2+2?\nAnswer: 4\n",
    "system user assistant tool function model human bot response tools arguments name",
    "  leading spaces and trailing spaces   \n\n\n\t tabs \r\n",
    "Ünïcödé — 日本語のテキスト, emoji 🙂🎉, Ελληνικά, русский.",
    "Let me think step by step. First, 3 * 7 = 21. So the answer is 21.",
]


@functools.lru_cache(maxsize=1)
def _base_tokenizer_json() -> str:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    # Llama 3 / Qwen 2 style pre-tokenization (runs of newlines stay together), byte-level
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 20, trainer=trainer)
    return tokenizer.to_str()


def markers(template: str, facts: ModelFacts) -> list[str]:
    found = dict.fromkeys(_MARKERS.findall(template))
    for token in (facts.bos, facts.eos, *facts.stops, *facts.extra):
        if token:
            found.setdefault(token)
    return list(found)


@functools.lru_cache(maxsize=64)
def build_tokenizer(name: str) -> Any:
    """A fast tokenizer for template ``name`` with its markers as special tokens."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    folder = templates_dir()
    assert folder is not None
    template = (folder / f"{name}.jinja").read_text(encoding="utf-8")
    facts = MODELS.get(name, ModelFacts())
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_base_tokenizer_json()),
        bos_token=facts.bos,
        eos_token=facts.eos,
        pad_token=facts.eos,
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [m for m in markers(template, facts)]}
    )
    tokenizer.chat_template = template
    return tokenizer


def stop_ids(name: str) -> set[int]:
    tokenizer = build_tokenizer(name)
    facts = MODELS.get(name, ModelFacts())
    return {int(tokenizer.convert_tokens_to_ids(t)) for t in (facts.eos, *facts.stops)}


def save_model_dir(name: str, path: Path) -> Path:
    """A directory that loads like the real model's tokenizer (no weights: enough for
    ``validate`` and ``data render``), with its generation config's stop tokens."""
    import json

    tokenizer = build_tokenizer(name)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(path)
    facts = MODELS.get(name, ModelFacts())
    (path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    stops = [int(tokenizer.convert_tokens_to_ids(t)) for t in (facts.eos, *facts.stops)]
    (path / "generation_config.json").write_text(json.dumps({"eos_token_id": stops}))
    return path
