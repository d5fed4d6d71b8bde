"""make_tiny_model: an offline, deterministic chat model that the Auto classes load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from anytune_local.recipe.tiny import make_tiny_model


def test_tiny_model_loads_offline_and_chats(tmp_path: Path) -> None:
    path = make_tiny_model(tmp_path / "tiny", seed=1)
    code = f"""
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained({str(path)!r})
model = AutoModelForCausalLM.from_pretrained({str(path)!r})
ids = tok.apply_chat_template([{{"role": "user", "content": "héllo 👋"}}], add_generation_prompt=True,
                              return_tensors="pt", return_dict=True)["input_ids"]
out = model.generate(ids, max_new_tokens=3, do_sample=False)
assert tok.is_fast and tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
assert tok.decode(ids[0]) == "<|im_start|>user\\nhéllo 👋<|im_end|>\\n<|im_start|>assistant\\n"
print(sum(p.numel() for p in model.parameters()), out.shape[1] > ids.shape[1])
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    parameters, generated = done.stdout.split()
    assert int(parameters) < 1_000_000 and generated == "True"


def test_same_seed_same_files(tmp_path: Path) -> None:
    a = make_tiny_model(tmp_path / "a", seed=3)
    b = make_tiny_model(tmp_path / "b", seed=3)
    c = make_tiny_model(tmp_path / "c", seed=4)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_corpus_shapes_the_tokenizer(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    text = "supercalifragilistic expialidocious " * 3
    plain = AutoTokenizer.from_pretrained(make_tiny_model(tmp_path / "plain"))
    fitted = AutoTokenizer.from_pretrained(make_tiny_model(tmp_path / "fit", corpus=[text] * 20))
    assert len(fitted(text)["input_ids"]) < len(plain(text)["input_ids"])
    assert fitted.decode(fitted(text)["input_ids"]) == text  # byte-level: lossless
