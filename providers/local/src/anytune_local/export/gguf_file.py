"""A GGUF file of a merged Llama-architecture model, written with the ``gguf`` package (the
one llama.cpp publishes on PyPI).

llama.cpp's own converter (``convert_hf_to_gguf.py``) is not in any registry package (the
``gguf`` wheel ships the reader/writer and metadata tools only), so this module does what the
converter does for the ``llama`` architecture (Llama, Mistral and the tiny test model):
the tensor names from ``gguf.TensorNameMap``, the rotary permutation of the query and key
weights, the hyperparameters, and the tokenizer (``gpt2``-style BPE: tokens, types and merges,
special token ids and the chat template, read by ``gguf.SpecialVocab``). Other architectures
need the converter's per-architecture code: for them export ``--to merged`` and run
``convert_hf_to_gguf.py`` from a llama.cpp checkout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from anytune.errors import ConfigurationError, InvalidArgumentError

LLAMA_TYPES = frozenset({"llama", "mistral"})
GGUF_TYPES = ("f16", "f32")


def require_gguf() -> None:
    """``ConfigurationError`` naming the extra when the ``gguf`` package is missing."""
    try:
        import gguf  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            "GGUF export needs the gguf package, which is not installed",
            hint="pip install 'anytune-local[gguf]'",
            provider="local",
        ) from exc


def permute(weights: Any, n_head: int, n_head_kv: int | None) -> Any:
    """llama.cpp's reordering of q/k rows (HF's rotary halves -> interleaved pairs)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    shape = weights.shape
    return (
        weights.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:])
        .swapaxes(1, 2)
        .reshape(shape)
    )


def _tokens(model_dir: Path, vocab_size: int) -> tuple[list[str], list[int]]:
    import gguf
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    by_id = {i: t for t, i in tokenizer.get_vocab(with_added_tokens=True).items()}
    added = {t.content: t for t in tokenizer.get_added_tokens_decoder().values()}
    tokens, types = [], []
    for i in range(vocab_size):
        token = by_id.get(i)
        if token is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif token in added:
            tokens.append(token)
            types.append(
                gguf.TokenType.CONTROL if added[token].special else gguf.TokenType.USER_DEFINED
            )
        else:
            tokens.append(token)
            types.append(gguf.TokenType.NORMAL)
    return tokens, [int(t) for t in types]


def write_gguf(model_dir: Path, target: Path, *, kind: str = "f16") -> Path:
    """``model_dir`` (a merged HF model directory) as the GGUF file ``target``."""
    require_gguf()
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    model_type = config.get("model_type")
    if model_type not in LLAMA_TYPES:
        raise InvalidArgumentError(
            f"GGUF export writes Llama-architecture models only, not {model_type!r}: llama.cpp's "
            "per-architecture converter (convert_hf_to_gguf.py) is not on PyPI",
            hint="export --to merged, then run convert_hf_to_gguf.py from a llama.cpp checkout",
            provider="local",
        )
    if kind not in GGUF_TYPES:
        raise InvalidArgumentError(f"GGUF type {kind!r}: use one of {', '.join(GGUF_TYPES)}")
    n_layers = int(config["num_hidden_layers"])
    n_head = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    hidden = int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // n_head)
    writer = gguf.GGUFWriter(str(target), "llama")
    writer.add_name(model_dir.name)
    writer.add_context_length(int(config.get("max_position_embeddings", 2048)))
    writer.add_embedding_length(hidden)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(config.get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_file_type(
        gguf.LlamaFileType.MOSTLY_F16 if kind == "f16" else gguf.LlamaFileType.ALL_F32
    )
    vocab_size = int(config["vocab_size"])
    writer.add_vocab_size(vocab_size)
    tokens, types = _tokens(model_dir, vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=vocab_size).add_to_gguf(writer)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layers)
    tensors: dict[str, Any] = {}
    for file in sorted(model_dir.glob("*.safetensors")):
        tensors.update(load_file(str(file)))
    for name, value in tensors.items():
        if name.endswith("rotary_emb.inv_freq"):
            continue
        data = value.astype(np.float32)
        if name.endswith("q_proj.weight"):
            data = permute(data, n_head, n_head)
        elif name.endswith("k_proj.weight"):
            data = permute(data, n_head, n_kv)
        mapped = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise InvalidArgumentError(f"GGUF export: no GGUF name for tensor {name}")
        if kind == "f16" and data.ndim > 1:
            data = data.astype(np.float16)
        writer.add_tensor(mapped, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


__all__ = ["GGUF_TYPES", "LLAMA_TYPES", "permute", "write_gguf"]
