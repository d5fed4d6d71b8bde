"""A plain numpy forward pass of a ``llama`` GGUF file with llama.cpp's conventions (rotary
embedding on adjacent pairs, "normal" rope mode), to check an exported GGUF computes what
transformers computes, without llama.cpp (llama-cpp-python has no wheel; it builds from C++)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class GGUFLlama:
    def __init__(self, path: Path) -> None:
        import gguf

        reader = gguf.GGUFReader(path)
        self.t: dict[str, Any] = {
            t.name: np.asarray(t.data, dtype=np.float32).reshape(
                tuple(int(d) for d in reversed(t.shape))
            )
            for t in reader.tensors
        }

        def field(key: str) -> Any:
            f = reader.fields[key]
            return f.contents()

        self.layers = int(field("llama.block_count"))
        self.n_head = int(field("llama.attention.head_count"))
        self.n_kv = int(field("llama.attention.head_count_kv"))
        self.eps = float(field("llama.attention.layer_norm_rms_epsilon"))
        self.base = float(field("llama.rope.freq_base"))
        self.eos = int(field("tokenizer.ggml.eos_token_id"))

    def _norm(self, x: Any, w: Any) -> Any:
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.eps) * w

    def _rope(self, x: Any) -> Any:  # x: [T, heads, d]; pairs (0,1), (2,3), ...
        T, _, d = x.shape
        inv = self.base ** (-np.arange(0, d, 2) / d)
        angles = np.arange(T)[:, None] * inv[None, :]
        cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
        even, odd = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = even * cos - odd * sin
        out[..., 1::2] = even * sin + odd * cos
        return out

    def logits(self, ids: list[int]) -> Any:
        t = self.t
        x = t["token_embd.weight"][ids]
        T = len(ids)
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for i in range(self.layers):
            p = f"blk.{i}."
            h = self._norm(x, t[p + "attn_norm.weight"])
            q = (h @ t[p + "attn_q.weight"].T).reshape(T, self.n_head, -1)
            k = (h @ t[p + "attn_k.weight"].T).reshape(T, self.n_kv, -1)
            v = (h @ t[p + "attn_v.weight"].T).reshape(T, self.n_kv, -1)
            q, k = self._rope(q), self._rope(k)
            group = self.n_head // self.n_kv
            k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
            scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(q.shape[-1]) + mask
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attn = np.einsum("hts,shd->thd", scores, v).reshape(T, -1)
            x = x + attn @ t[p + "attn_output.weight"].T
            h = self._norm(x, t[p + "ffn_norm.weight"])
            gate = h @ t[p + "ffn_gate.weight"].T
            x = (
                x
                + ((gate / (1 + np.exp(-gate))) * (h @ t[p + "ffn_up.weight"].T))
                @ t[p + "ffn_down.weight"].T
            )
        x = self._norm(x, t["output_norm.weight"])
        return x @ t.get("output.weight", t["token_embd.weight"]).T

    def greedy(self, ids: list[int], new: int) -> list[int]:
        out = list(ids)
        for _ in range(new):
            token = int(self.logits(out)[-1].argmax())
            out.append(token)
            if token == self.eos:
                break
        return out[len(ids) :]
