"""Micro-batches: little padding on mixed lengths, and the same loss and gradients as the
padded batch they replace."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from anytune_local.recipe.batching import (
    MicroBatchCollator,
    pad_batch,
    padding_stats,
    plan_micro_batches,
)
from anytune_local.recipe.tiny import make_tiny_model


def mixed_lengths(n: int = 200, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(30, 800) for _ in range(n)]


def test_plan_uses_every_example_once_and_respects_the_token_budget() -> None:
    lengths = mixed_lengths(64)
    groups = plan_micro_batches(lengths, max_tokens=1024)
    assert sorted(i for g in groups for i in g) == list(range(64))
    for group in groups:
        longest = max(lengths[i] for i in group)
        assert len(group) == 1 or len(group) * longest <= 1024


def test_same_lengths_make_one_micro_batch() -> None:
    assert plan_micro_batches([40] * 8, max_tokens=4096) == [list(range(8))]


def test_default_padding_is_at_most_two_percent_on_mixed_lengths() -> None:
    lengths = mixed_lengths()
    computed, real = padding_stats(lengths, batch_size=8, epochs=3)
    assert real == sum(lengths) * 3
    assert 1 - real / computed <= 0.02
    padded, _ = padding_stats(lengths, batch_size=8, mode="pad", epochs=3)
    assert padded / real > 1.5  # what padding to the longest costs on the same batches


def test_collator_counts_real_tokens_and_pads_right() -> None:
    features = [
        {"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},
        {"input_ids": [8, 9], "labels": [-100, 9]},
    ]
    batch = MicroBatchCollator(pad_token_id=0, max_tokens=4096, mode="pad")(features)
    assert batch["real_tokens"] == 5
    (micro,) = batch["micro_batches"]
    assert micro["input_ids"].tolist() == [[5, 6, 7], [8, 9, 0]]
    assert micro["labels"].tolist() == [[-100, 6, 7], [-100, 9, -100]]


def test_micro_batches_give_the_padded_batch_loss_and_gradients(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(make_tiny_model(tmp_path / "tiny"))
    rng = random.Random(1)
    features = []
    for length in (12, 40, 41, 90, 7, 60):
        ids = [rng.randrange(3, 200) for _ in range(length)]
        labels = [t if i > length // 2 else -100 for i, t in enumerate(ids)]
        features.append({"input_ids": ids, "labels": labels})

    def loss_and_grads(
        batches: list[dict[str, torch.Tensor]], mask: torch.Tensor | None
    ) -> tuple[float, list[torch.Tensor]]:
        model.zero_grad()
        items = sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches)
        total = 0.0
        for b in batches:
            extra = {} if mask is None else {"attention_mask": mask}
            loss = model(**b, **extra, num_items_in_batch=items).loss
            loss.backward()
            total += float(loss.detach())
        return total, [p.grad.clone() for p in model.parameters() if p.grad is not None]

    padded = pad_batch(features, 0)
    longest = padded["input_ids"].shape[1]
    mask = torch.tensor(
        [[1] * len(f["input_ids"]) + [0] * (longest - len(f["input_ids"])) for f in features]
    )
    padded_loss, padded_grads = loss_and_grads([padded], mask)
    collated = MicroBatchCollator(pad_token_id=0, max_tokens=128)(features)
    assert len(collated["micro_batches"]) > 1
    micro_loss, micro_grads = loss_and_grads(collated["micro_batches"], None)
    assert micro_loss == pytest.approx(padded_loss, rel=1e-5)
    for a, b in zip(padded_grads, micro_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_balance_shares_work_evenly_and_uses_every_example_once() -> None:
    from anytune_local.recipe.batching import balance

    lengths = mixed_lengths(8, seed=3)
    for groups in (1, 2, 4):
        shares = balance(lengths, groups)
        assert sorted(i for share in shares for i in share) == list(range(8))
        loads = [sum(lengths[i] for i in share) for share in shares]
        assert loads == sorted(loads, reverse=True)  # heaviest first
        assert loads[0] - loads[-1] <= max(lengths)  # the greedy rule's bound
    assert balance([5], 2) == [[0], []]


def test_balanced_sampler_gives_each_process_its_share_of_the_same_steps() -> None:
    """Every process sees the step's examples (the single process's batch), keeps a share
    of near-equal work, and together they train each example once an epoch; a different
    epoch is another order, the same epoch the same one."""
    from anytune_local.recipe.trainer import BalancedBatchSampler

    lengths = mixed_lengths(45, seed=1)  # 45 = 5 full batches of 8 and a tail of 5

    def batches(world: int, rank: int, accumulation: int = 1, epoch: int = 0) -> list[list[int]]:
        sampler = BalancedBatchSampler(
            lengths,
            effective_batch_size=8,
            dp_size=world,
            grad_accum=accumulation,
            seed=0,
            rank=rank,
            drop_last=False,
        )
        sampler.set_epoch(epoch)
        return list(sampler)

    single = batches(1, 0)
    assert len(single) == 6 and sorted(i for b in single for i in b) == list(range(45))
    for accumulation in (1, 2):
        per_rank = [batches(2, rank, accumulation) for rank in range(2)]
        assert len(per_rank[0]) == len(per_rank[1]) == 6 * accumulation
        for step, whole in enumerate(single):
            parts = [
                b for rank in range(2) for b in per_rank[rank][step * accumulation :][:accumulation]
            ]
            assert sorted(i for part in parts for i in part) == sorted(whole)
            if step < 5:  # a full batch: the two shares' tokens differ by less than one example
                loads = [
                    sum(
                        lengths[i]
                        for b in per_rank[r][step * accumulation :][:accumulation]
                        for i in b
                    )
                    for r in range(2)
                ]
                assert abs(loads[0] - loads[1]) <= max(lengths[i] for i in whole)
    assert batches(1, 0, epoch=1) != single
    assert batches(1, 0) == single
