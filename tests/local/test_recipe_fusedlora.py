"""``recipe.fusedlora``: the fused LoRA branch computes what PEFT's forward computes, with the
same gradients for every LoRA parameter and for the input, dropout included (the same mask
from the same seed); where PEFT's plain path would not apply (merged weights, adapters
disabled, a second active adapter, a keyword PEFT reads), PEFT's own forward runs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from anytune_local.recipe.fastpath import use_fast_dropout  # noqa: E402
from anytune_local.recipe.fusedlora import _plain_adapter, use_fused_lora  # noqa: E402


def _pair(model_dir: Path, dropout: float) -> tuple[Any, Any]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(
        task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=dropout, target_modules="all-linear"
    )
    peft_model = get_peft_model(base, config)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero: move it so every gradient is exercised
            parameter.data.normal_(0, 0.02)
    use_fast_dropout(peft_model)
    fused = copy.deepcopy(peft_model)
    layers = sum(1 for name, _ in fused.named_modules() if name.endswith("q_proj"))
    assert layers and use_fused_lora(fused) == 7 * layers  # q k v o gate up down
    return peft_model.train(), fused.train()


def _grads(model: Any, ids: Any, seed: int) -> tuple[float, dict[str, Any], Any]:
    torch.manual_seed(seed)
    embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    loss = model(inputs_embeds=embeds, labels=ids).loss
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    return float(loss.detach()), grads, embeds.grad.clone()


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_loss_and_gradients_are_peft_s(tiny_model: Path, dropout: float) -> None:
    reference, fused = _pair(tiny_model, dropout)
    ids = torch.randint(3, 200, (3, 17))
    loss, grads, input_grad = _grads(reference, ids, seed=7)
    fused_loss, fused_grads, fused_input_grad = _grads(fused, ids, seed=7)
    assert fused_loss == pytest.approx(loss, rel=1e-6)
    assert grads.keys() == fused_grads.keys() and any("lora_A" in k for k in grads)
    for name, grad in grads.items():
        torch.testing.assert_close(fused_grads[name], grad, rtol=1e-4, atol=1e-7, msg=name)
    torch.testing.assert_close(fused_input_grad, input_grad, rtol=1e-4, atol=1e-7)
    if dropout:  # another seed, another mask: the dropout really is applied
        assert _grads(fused, ids, seed=8)[0] != pytest.approx(fused_loss, rel=1e-6)


def test_peft_s_own_forward_runs_where_the_plain_path_would_not(tiny_model: Path) -> None:
    reference, fused = _pair(tiny_model, 0.05)
    reference.eval()
    fused.eval()
    ids = torch.randint(3, 200, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(fused(input_ids=ids).logits, reference(input_ids=ids).logits)
        with fused.disable_adapter(), reference.disable_adapter():
            torch.testing.assert_close(fused(input_ids=ids).logits, reference(input_ids=ids).logits)
    layer = next(m for n, m in fused.named_modules() if n.endswith("q_proj"))
    assert _plain_adapter(layer) == "default"
    layer.merge()
    assert _plain_adapter(layer) is None
    layer.unmerge()
    fused.add_adapter("second", copy.deepcopy(fused.peft_config["default"]))
    fused.base_model.set_adapter(["default", "second"])
    assert _plain_adapter(layer) is None
