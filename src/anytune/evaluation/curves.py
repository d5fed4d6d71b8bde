"""Loss curves from a job's events, for any provider: where validation loss starts rising
while training loss still falls (overfitting), and the checkpoint with the best validation
loss. No plotting library here (``anytune plot`` draws them with matplotlib)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from anytune.types import Checkpoint, Event

RISE = 0.02
"""Validation loss this much (relative) above its minimum counts as rising, so noise on a
flat curve is not called overfitting."""
VALID_KEYS = ("full_valid_loss", "valid_loss")
"""Checkpoint metrics holding a validation loss, best first (OpenAI reports both; the full
one is over the whole validation file)."""


@dataclass(frozen=True)
class Curves:
    train: list[tuple[int, float]]
    """(step, training loss), in step order."""
    valid: list[tuple[int, float]]
    best_valid: tuple[int, float] | None = None
    """The step with the lowest validation loss, and that loss."""
    overfit_step: int | None = None
    """The first step after ``best_valid`` where validation loss is ``RISE`` above its
    minimum while training loss is below what it was there."""


def _dedupe(points: Iterable[tuple[int, float]]) -> list[tuple[int, float]]:
    latest = dict(points)  # a resumed job may report a step twice: the later value wins
    return sorted(latest.items())


def _loss_at(points: Sequence[tuple[int, float]], step: int) -> float | None:
    """The latest loss at or before ``step``."""
    found = [loss for s, loss in points if s <= step]
    return found[-1] if found else None


def curves(events: Iterable[Event]) -> Curves:
    """The training and validation curves of a job's events (any order)."""
    train: list[tuple[int, float]] = []
    valid: list[tuple[int, float]] = []
    for event in events:
        m = event.metrics
        if m is None or m.step is None:
            continue
        if m.train_loss is not None:
            train.append((m.step, m.train_loss))
        if m.valid_loss is not None:
            valid.append((m.step, m.valid_loss))
    train, valid = _dedupe(train), _dedupe(valid)
    if not valid:
        return Curves(train, valid)
    best = min(valid, key=lambda p: (p[1], p[0]))
    train_at_best = _loss_at(train, best[0])
    overfit = None
    for step, loss in valid:
        if step <= best[0] or loss <= best[1] * (1 + RISE):
            continue
        now = _loss_at(train, step)
        if train_at_best is None or (now is not None and now < train_at_best):
            overfit = step
            break
    return Curves(train, valid, best, overfit)


def valid_loss(metrics: Mapping[str, float]) -> float | None:
    for key in VALID_KEYS:
        if isinstance(metrics.get(key), (int, float)):
            return float(metrics[key])
    return None


def best_checkpoint(
    checkpoints: Sequence[Checkpoint], found: Curves | None = None
) -> Checkpoint | None:
    """The checkpoint with the lowest validation loss in its metrics; without such metrics,
    the one saved at or soonest after the best validation step of ``found``."""
    scored = [(loss, c.step, c) for c in checkpoints if (loss := valid_loss(c.metrics)) is not None]
    if scored:
        return min(scored, key=lambda t: (t[0], t[1]))[2]
    if found is None or found.best_valid is None or not checkpoints:
        return None
    after = [c for c in checkpoints if c.step >= found.best_valid[0]]
    return min(after, key=lambda c: c.step) if after else None


__all__ = ["RISE", "Curves", "best_checkpoint", "curves", "valid_loss"]
