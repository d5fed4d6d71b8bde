"""A tiny, randomly initialised chat model for tests and demos (never for real use).

``make_tiny_model(dir)`` writes, offline and in about a second, a directory that
``AutoModelForCausalLM`` / ``AutoTokenizer`` load like any hub checkpoint:

- a byte-level BPE tokenizer trained locally with ``tokenizers`` (every byte encodes, so any
  text works), wrapped as a fast tokenizer;
- a ChatML chat template with ``{% generation %}`` markers and tool support;
- a Llama model (hidden 128, 2 layers, ~0.5M parameters) with random weights.

Its answers are noise until it is fine-tuned; it exists so that the whole training path can run
without a download. Example::

    >>> from anytune_local.recipe.tiny import make_tiny_model
    >>> path = make_tiny_model(Path("/tmp/tiny"))          # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD = "<|endoftext|>"

# ChatML, as Qwen/SmolLM ship it, plus {% generation %} markers around what an assistant turn
# trains on (its text, its tool calls and the end-of-turn token) and OpenAI-style tools.
CHAT_TEMPLATE = (
    "{%- macro text(content) -%}"
    "{%- if content is string -%}{{ content }}"
    "{%- elif content -%}{%- for part in content -%}"
    "{%- if part.type == 'text' -%}{{ part.text }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- if tools -%}"
    "{{- '<|im_start|>system\\n' -}}"
    "{%- if messages[0].role == 'system' -%}{{- text(messages[0].content) + '\\n\\n' -}}{%- endif -%}"
    '{{- \'# Tools\\nTo call a function, write <tool_call>{"name": ..., "arguments": ...}'
    "</tool_call>.\\n' -}}"
    "{%- for tool in tools -%}{{- tool | tojson + '\\n' -}}{%- endfor -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- elif messages and messages[0].role == 'system' -%}"
    "{{- '<|im_start|>system\\n' + text(messages[0].content) + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'system' and loop.first -%}"
    "{%- elif message.role == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- generation -%}"
    "{{- text(message.content) -}}"
    "{%- for call in message.tool_calls or [] -%}"
    "{%- set fn = call.function if call.function is defined else call -%}"
    '{{- \'<tool_call>{"name": "\' + fn.name + \'", "arguments": \' -}}'
    "{%- if fn.arguments is string -%}{{- fn.arguments -}}{%- else -%}{{- fn.arguments | tojson -}}{%- endif -%}"
    "{{- '}</tool_call>' -}}"
    "{%- endfor -%}"
    "{{- '<|im_end|>' -}}"
    "{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + text(message.content) + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

DEFAULT_CORPUS: tuple[str, ...] = (
    "You are a helpful assistant. Answer the question briefly and correctly.",
    "The quick brown fox jumps over the lazy dog. What is the capital of France? Paris.",
    "I loved this movie, it was wonderful and great. I hated this film, it was awful and bad.",
    "positive negative neutral yes no true false ok thanks hello goodbye please sorry",
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}',
    "def add(a, b):\n    return a + b\n\nprint(add(1, 2))  # 3",
    "system user assistant tool function content role messages weight tool_calls",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 the a an of to in is it that for on with as by",
)


def _train_tokenizer(corpus: list[str], vocab_size: int) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer)
    return tokenizer


def make_tiny_model(
    path: Path,
    *,
    seed: int = 0,
    vocab_size: int = 1024,
    hidden_size: int = 128,
    layers: int = 2,
    corpus: list[str] | None = None,
) -> Path:
    """Write a random-weight tiny Llama chat model with a locally trained tokenizer to ``path``.

    ``corpus`` is the text the byte-level BPE learns its merges from (a small built-in English
    sample when None); ``vocab_size`` is an upper bound, reached only if the corpus has enough
    distinct pairs. The same arguments always give the same files. Returns ``path``.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from transformers.utils import logging

    logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    texts = list(corpus) if corpus else []
    texts.extend(DEFAULT_CORPUS)
    backend = _train_tokenizer(texts, vocab_size)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend,
        eos_token=IM_END,
        pad_token=PAD,
        unk_token=None,
        bos_token=None,
        chat_template=CHAT_TEMPLATE,
        model_max_length=4096,
        padding_side="right",
    )
    tokenizer.save_pretrained(path)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=int(tokenizer.convert_tokens_to_ids(IM_END)),  # type: ignore[arg-type]
        pad_token_id=int(tokenizer.convert_tokens_to_ids(PAD)),  # type: ignore[arg-type]
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(path)
    (path / "README.md").write_text(
        "# anytune tiny test model\n\nRandom weights, written by `anytune local make-tiny-model`"
        " for tests and demos. It produces noise until fine-tuned.\n"
        + json.dumps({"hidden_size": hidden_size, "layers": layers, "seed": seed})
        + "\n"
    )
    return path
