"""anytune export: each target's limits checked before writing, merged where needed (and
why), the serving commands; merged logits == base + adapter; the GGUF read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from adapterkit import train_adapter
from anytune_local.export import export_adapter
from anytune_local.export.gguf_file import permute
from anytune_local.export.ollama import NotExpressible, check, derive, render
from anytune_local.recipe.chat import ChatTemplate
from click.testing import CliRunner
from templatekit import build_tokenizer

from anytune.cli import cli
from anytune.errors import ConflictError, InvalidArgumentError


@pytest.fixture(scope="module")
def lora(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LoRA on linear layers only: what vLLM and Ollama take as an adapter."""
    return train_adapter(tiny_model, tmp_path_factory.mktemp("lora"), export_profile="vllm")


@pytest.fixture(scope="module")
def full_embeddings(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sentiment example's adapter: embeddings and lm_head trained in full."""
    root = tmp_path_factory.mktemp("mts")
    return train_adapter(tiny_model, root, modules_to_save=["embed_tokens", "lm_head"])


def test_vllm_serves_a_plain_lora_adapter(lora: Path, tmp_path: Path) -> None:
    result = export_adapter(lora, "vllm", tmp_path / "out", name="sentiment")
    (command,) = result.commands
    base = json.loads((lora / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert command == (
        f"vllm serve {base} --enable-lora --lora-modules "
        f"sentiment={tmp_path / 'out' / 'adapter'} --max-lora-rank 8"
    )
    assert not result.merged and "adapter/adapter_model.safetensors" in result.files
    assert (tmp_path / "out" / "serve.sh").read_text().endswith(f"exec {command}\n")


def test_vllm_merges_what_it_cannot_load_and_says_why(
    full_embeddings: Path, lora: Path, tmp_path: Path
) -> None:
    result = export_adapter(full_embeddings, "vllm", tmp_path / "a", name="s")
    assert result.merged and "modules_to_save (embed_tokens, lm_head" in result.notes[0]
    assert result.commands == (f"vllm serve {tmp_path / 'a' / 'merged'} --served-model-name s",)
    ranked = export_adapter(lora, "vllm", tmp_path / "b", max_lora_rank=1)
    assert ranked.merged and "rank 4 is above --max-lora-rank 1" in ranked.notes[0]
    with pytest.raises(InvalidArgumentError, match="not a value vLLM accepts"):
        export_adapter(lora, "vllm", tmp_path / "c", max_lora_rank=7)


def test_merged_logits_equal_base_plus_adapter(full_embeddings: Path, tmp_path: Path) -> None:
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    export_adapter(full_embeddings, "merged", tmp_path / "m")
    ids = torch.tensor([[5, 17, 30, 2, 9, 44]])
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    adapter = AutoPeftModelForCausalLM.from_pretrained(str(full_embeddings))
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapter(ids).logits, rtol=1e-4, atol=1e-4)
    assert (tmp_path / "m" / "generation_config.json").is_file()


def test_ollama_modelfile_from_the_models_own_template(lora: Path, tmp_path: Path) -> None:
    result = export_adapter(lora, "ollama", tmp_path / "o", name="sentiment")
    text = (tmp_path / "o" / "Modelfile").read_text()
    lines = text.splitlines()
    base = json.loads((lora / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert lines[:2] == [f"FROM {base}", "ADAPTER ./adapter"]
    assert '{{ "<|im_start|>assistant\\n" }}' in text  # the generation prompt, quoted
    assert 'PARAMETER stop "<|im_end|>"' in lines
    assert result.commands[0].endswith("ollama create sentiment -f Modelfile")


def test_ollama_merges_full_embeddings(full_embeddings: Path, tmp_path: Path) -> None:
    result = export_adapter(full_embeddings, "ollama", tmp_path / "o")
    assert (tmp_path / "o" / "Modelfile").read_text().startswith("FROM ./merged\nTEMPLATE ")
    assert result.merged and "Ollama cannot load adapters with modules_to_save" in result.notes[0]


@pytest.mark.parametrize(
    "name",
    [
        "Qwen-Qwen2.5-7B-Instruct",
        "meta-llama-Llama-3.1-8B-Instruct",
        "HuggingFaceH4-zephyr-7b-beta",
        "ibm-granite-granite-3.3-2B-Instruct",
        "chujiezheng-mistral-instruct",
    ],
)
def test_template_pieces_reproduce_real_templates(name: str) -> None:
    template = ChatTemplate(build_tokenizer(name), model=name)

    def hf(messages: list[dict[str, str]], gen: bool) -> str:
        return template.render(messages, None, gen=gen)

    pieces = derive(hf)
    check(pieces, hf)  # the four check conversations
    other = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c d"},
    ]
    assert render(pieces, other, True) == hf(other, True)


@pytest.mark.parametrize("name", ["google-gemma-2-2b-it", "chujiezheng-llama-2-chat"])
def test_templates_that_do_not_fit_ollama_are_refused(name: str) -> None:
    template = ChatTemplate(build_tokenizer(name), model=name)
    with pytest.raises(NotExpressible):
        hf = lambda m, g: template.render(m, None, gen=g)  # noqa: E731
        check(derive(hf), hf)


def test_gguf_read_back_equals_the_merged_model(full_embeddings: Path, tmp_path: Path) -> None:
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    result = export_adapter(full_embeddings, "gguf", tmp_path / "g", name="s", gguf_type="f32")
    assert result.files == ("s.f32.gguf",)
    export_adapter(full_embeddings, "merged", tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    weights = load_file(str(tmp_path / "m" / "model.safetensors"))
    reader = gguf.GGUFReader(tmp_path / "g" / "s.f32.gguf")
    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    n_head, n_kv = config["num_attention_heads"], config["num_key_value_heads"]
    expected = {
        "token_embd.weight": weights["model.embed_tokens.weight"],
        "output.weight": weights["lm_head.weight"],
        "output_norm.weight": weights["model.norm.weight"],
        "blk.1.attn_q.weight": permute(
            weights["model.layers.1.self_attn.q_proj.weight"], n_head, n_head
        ),
        "blk.1.attn_k.weight": permute(
            weights["model.layers.1.self_attn.k_proj.weight"], n_head, n_kv
        ),
        "blk.0.ffn_down.weight": weights["model.layers.0.mlp.down_proj.weight"],
    }
    for name, value in expected.items():
        np.testing.assert_array_equal(tensors[name].reshape(value.shape), value)
    assert len(tensors) == 3 + 9 * config["num_hidden_layers"]

    def field(key: str) -> object:
        f = reader.fields[key]
        return f.contents() if hasattr(f, "contents") else f.parts[f.data[0]]

    assert field("llama.block_count") == config["num_hidden_layers"]
    saved = json.loads((tmp_path / "m" / "tokenizer_config.json").read_text())
    template = saved.get("chat_template") or (tmp_path / "m" / "chat_template.jinja").read_text()
    assert field("tokenizer.chat_template") == template
    assert len(field("tokenizer.ggml.tokens")) == config["vocab_size"]  # type: ignore[arg-type]


def test_cli_export(lora: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "v"
    result = runner.invoke(cli, ["export", str(lora), str(out), "--to", "vllm", "--name", "s"])
    assert result.exit_code == 0, result.output
    assert "--enable-lora --lora-modules s=" in result.output
    again = runner.invoke(cli, ["export", str(lora), str(out), "--to", "vllm"])
    assert again.exit_code != 0 and "--force" in again.output and "Traceback" not in again.output
    forced = runner.invoke(
        cli, ["export", str(lora), str(out), "--to", "peft", "--force", "--json"]
    )
    assert json.loads(forced.output)["files"][0] == "adapter_config.json"
    with pytest.raises(ConflictError):
        export_adapter(lora, "peft", out)
    other = runner.invoke(cli, ["export", "m", str(tmp_path / "x"), "--to", "vllm", "-p", "memory"])
    assert other.exit_code != 0 and "does not support exporting" in other.output


def test_export_profile_vllm_refuses_what_vllm_cannot_load(
    tiny_model: Path, tmp_path: Path
) -> None:
    from anytune_local.provider import LocalProvider

    from anytune.types import JobSpec

    provider = LocalProvider(home=tmp_path / "home")
    spec = JobSpec(
        model=str(tiny_model),
        training_file="file-x",
        options={"export_profile": "vllm", "modules_to_save": ["lm_head"], "lora_r": 128},
    )
    with pytest.raises(
        InvalidArgumentError, match=r"modules_to_save must be empty.*lora_r must be at most 64"
    ):
        provider.validate_spec(spec, check_files=False)
    ok = JobSpec(model=str(tiny_model), training_file="file-x", options={"export_profile": "vllm"})
    assert provider.validate_spec(ok, check_files=False).options["export_profile"] == "vllm"
    shown = CliRunner().invoke(cli, ["providers", "local"])
    assert "export_profile" in shown.output


def test_gguf_greedy_tokens_equal_transformers(full_embeddings: Path, tmp_path: Path) -> None:
    import torch
    from ggufforward import GGUFLlama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    export_adapter(full_embeddings, "gguf", tmp_path / "g", name="s", gguf_type="f32")
    export_adapter(full_embeddings, "merged", tmp_path / "m")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "m")
    gguf_model = GGUFLlama(tmp_path / "g" / "s.f32.gguf")
    for review in ("it was great.", "it was awful.", "Review 7: boring and poor"):
        messages = [
            {"role": "system", "content": "Answer positive or negative."},
            {"role": "user", "content": review},
        ]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            expected_logits = model(torch.tensor([ids])).logits[0].numpy()
            out = model.generate(
                torch.tensor([ids]),
                max_new_tokens=4,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        np_logits = gguf_model.logits(ids)
        assert abs(np_logits - expected_logits).max() < 1e-3
        assert gguf_model.greedy(ids, 4) == out[0, len(ids) :].tolist()


def test_gguf_without_the_package_names_the_extra(
    lora: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from anytune.errors import ConfigurationError

    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(ConfigurationError, match="needs the gguf package") as err:
        export_adapter(lora, "gguf", tmp_path / "g")
    assert err.value.hint == "pip install 'anytune-local[gguf]'"
    assert not (tmp_path / "g" / "merged").exists()
