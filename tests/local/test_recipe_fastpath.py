"""The training loop's two savings (``recipe.fastpath``) leave what is trained unchanged.

- ``FastDropout``: drops the fraction it says, scales the kept values so the mean is kept, is
  reproducible from the seed, and its gradient is the mask's.
- ``TrainedHead``: the loss and the LoRA gradients from logits at trained positions only are
  those of the model's own full forward (plain Llama, and Gemma 2 whose logits are soft-capped
  after the output layer); a model whose logits bypass its output module is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from anytune_local.recipe.fastpath import (  # noqa: E402
    FastDropout,
    TrainedHead,
    dropped_positions,
    trained_positions,
    trained_targets,
    use_fast_dropout,
)

IGNORE = -100


def test_fast_dropout_drops_p_and_keeps_the_mean() -> None:
    dropout = FastDropout(0.05).train()
    x = torch.ones(1000, 1000)
    y = dropout(x)
    dropped = float((y == 0).float().mean())
    assert abs(dropped - 0.05) < 0.001  # 1e6 draws: the std error is 2.2e-4
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / 0.95))
    assert abs(float(y.mean()) - 1.0) < 0.003


@pytest.mark.parametrize(
    ("p", "spare"), [(0.05, 6.0), (0.5, 6.0), (0.9, 6.0), (1e-4, 6.0), (0.05, -3.0)]
)
def test_dropped_positions_are_an_iid_bernoulli_mask(p: float, spare: float) -> None:
    """Increasing, in range, the right count, and no trace of position: each element is
    dropped with probability ``p`` whatever its place (first, last, a chunk boundary), and the
    gaps between drops have the geometric law's mean."""
    count, trials = 2000, 400
    hits = torch.zeros(count)
    total = pairs = 0
    for seed in range(trials):
        torch.manual_seed(seed)
        positions = dropped_positions(count, p, spare=spare)
        assert positions.dtype == torch.int64
        if positions.numel():
            assert int(positions[0]) >= 0 and int(positions[-1]) < count
            assert bool((positions[1:] > positions[:-1]).all())
        hits[positions] += 1
        total += positions.numel()
        pairs += int((positions[1:] - positions[:-1] == 1).sum())
    draws = count * trials
    sigma = (draws * p * (1 - p)) ** 0.5
    assert abs(total - draws * p) < 5 * sigma
    # every tenth of the positions is dropped at the same rate
    per_tenth = hits.view(10, -1).sum(1)
    tenth_sigma = (draws / 10 * p * (1 - p)) ** 0.5
    assert float((per_tenth - draws / 10 * p).abs().max()) < 5 * tenth_sigma
    pair_draws = (count - 1) * trials
    pair_sigma = (pair_draws * p * p * (1 - p * p)) ** 0.5
    assert abs(pairs - pair_draws * p * p) < 5 * pair_sigma + 2
    assert dropped_positions(0, p).numel() == 0


def test_dropped_positions_at_the_edges() -> None:
    assert dropped_positions(10, 0.0).numel() == 0
    assert torch.equal(dropped_positions(7, 1.0), torch.arange(7))
    torch.manual_seed(0)
    big = dropped_positions(3_000_000, 0.05)
    assert abs(big.numel() / 3e6 - 0.05) < 0.001
    assert bool((big[1:] > big[:-1]).all())


def test_fast_dropout_is_seeded_and_its_gradient_is_the_mask() -> None:
    dropout = FastDropout(0.3).train()
    x = torch.randn(64, 33, requires_grad=True)
    torch.manual_seed(7)
    first = dropout(x)
    torch.manual_seed(7)
    second = dropout(x)
    assert torch.equal(first, second)
    torch.manual_seed(8)
    assert not torch.equal(first, dropout(x))
    first.sum().backward()
    assert x.grad is not None
    expected = (first != 0).float() * dropout.scale
    assert dropout.scale == pytest.approx(1 / 0.7)
    assert torch.allclose(x.grad, expected)


def test_fast_dropout_is_the_identity_in_eval_and_at_zero() -> None:
    x = torch.randn(8, 8)
    assert torch.equal(FastDropout(0.5).eval()(x), x)
    assert torch.equal(FastDropout(0.0).train()(x), x)


def _lora(model_dir: Path, dropout: float = 0.0, **load: Any) -> Any:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, **load)
    config = LoraConfig(
        task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=dropout, target_modules="all-linear"
    )
    model = get_peft_model(base, config)
    # LoRA's B starts at zero, which would make every gradient but B's vanish: move it.
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            parameter.data.normal_(0, 0.02)
    return model


def test_use_fast_dropout_replaces_every_lora_dropout(tiny_model: Path) -> None:
    model = _lora(tiny_model, dropout=0.05)
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts
    assert use_fast_dropout(model) == len(dropouts)
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    assert use_fast_dropout(_lora(tiny_model, dropout=0.0)) == 0  # nn.Identity stays


def _batch(vocab: int) -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, vocab, (3, 20), generator=generator)
    labels = ids.clone()
    labels[0, :12] = IGNORE
    labels[1, :5] = IGNORE
    labels[1, 9:14] = IGNORE  # two trained spans
    labels[2, :17] = IGNORE
    return ids, labels


def _loss_and_grads(model: Any, compute: Any) -> tuple[float, dict[str, Any]]:
    model.zero_grad()
    loss = compute()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return float(loss.detach()), grads


def _check_same_training(model: Any) -> None:
    ids, labels = _batch(int(model.config.vocab_size))
    count = int((labels[:, 1:] != IGNORE).sum())
    full_loss, full_grads = _loss_and_grads(
        model, lambda: model(input_ids=ids, labels=labels, num_items_in_batch=count).loss
    )
    head = TrainedHead.attach(model)
    assert head is not None
    model.train()
    batch = {"input_ids": ids, "labels": labels}
    kept_loss, kept_grads = _loss_and_grads(model, lambda: head.loss(model, batch, count))
    assert kept_loss == pytest.approx(full_loss, rel=1e-5)
    assert full_grads.keys() == kept_grads.keys()
    for name, grad in full_grads.items():
        assert torch.allclose(kept_grads[name], grad, rtol=1e-4, atol=1e-6), name
    # Outside select() the model is untouched: full logits again.
    assert model(input_ids=ids).logits.shape[:2] == ids.shape


def test_trained_head_trains_what_the_full_forward_trains(tiny_model: Path) -> None:
    _check_same_training(_lora(tiny_model))


def test_trained_head_keeps_gemma2_soft_capping(tmp_path: Path) -> None:
    from transformers import Gemma2Config, Gemma2ForCausalLM

    config = Gemma2Config(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        final_logit_softcapping=2.0,  # small, so that capping changes the loss a lot
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    Gemma2ForCausalLM(config).save_pretrained(tmp_path / "gemma2")
    model = _lora(tmp_path / "gemma2", attn_implementation="eager")
    _check_same_training(model)


class _LogitsBypassHead(torch.nn.Module):
    """A model whose logits are computed with its head's weight but not by calling it."""

    def __init__(self) -> None:
        super().__init__()
        self.config = type("Config", (), {"vocab_size": 50})()
        self.embed = torch.nn.Embedding(50, 16)
        self.lm_head = torch.nn.Linear(16, 50, bias=False)

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.lm_head

    def forward(self, input_ids: Any) -> Any:
        hidden = self.embed(input_ids)
        logits = torch.nn.functional.linear(hidden, self.lm_head.weight)
        return type("Output", (), {"logits": logits})()


def test_a_model_whose_logits_bypass_the_head_is_refused() -> None:
    assert TrainedHead.attach(_LogitsBypassHead()) is None


def test_positions_and_targets_line_up() -> None:
    labels = torch.tensor([[IGNORE, IGNORE, 5, 6, IGNORE], [IGNORE, 7, IGNORE, IGNORE, 8]])
    mask = trained_positions(labels)
    assert mask.tolist() == [
        [False, True, True, False, False],
        [True, False, False, True, False],
    ]
    assert trained_targets(labels).tolist() == [5, 6, 7, 8]
