"""Two savings in the training loop that leave what is trained unchanged.

**The output layer at trained positions only.** A causal LM's loss needs the logits only where
a label is trained (on chat data ~15-30% of the tokens: the assistant's replies); the other
positions' logits are thrown away, yet computing them (``hidden × vocabulary``) is a large
share of the work and, on real vocabularies, most of the activation memory. ``TrainedHead``
puts a forward pre-hook on the model's output layer that keeps only the hidden states of
trained positions, so the forward still goes through the model (and DDP's wrapper) unchanged
and anything the model applies to its logits afterwards (Gemma's soft-capping, Cohere's and
Granite's scaling) still applies. The loss is the same sum of cross-entropies over the same
tokens, divided by the same count. Whether a model computes its logits that way is checked
once, on a short input, against the model's own full forward; a model that does not (its
logits bypass the output module, or get reshaped) trains the ordinary way.

**A cheaper dropout mask on CPU.** PEFT's ``lora_dropout`` draws one Bernoulli per input
element for each adapted layer, which on CPU costs ~4 ns an element (measured: 17% of a
training step of the benchmark's model). ``FastDropout`` draws only where the drops are: the
gaps between dropped elements of an iid Bernoulli(``p``) mask are geometric, so one uniform
draw per *dropped* element (5% of them at ``p=0.05``) gives the positions, in order, exactly
(``dropped_positions``). The mask is kept as those flat positions: applying it is a copy
and an ``index_fill_`` of zeros, and its backward fills the same positions of the gradient in
place; the kept values are scaled by ``1 / (1 - p)``, as ``nn.Dropout`` does. Seeded by
torch's generator, so ``set_seed`` still makes runs repeatable. On other devices it is
``torch.nn.functional.dropout``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from anytune_local.recipe.batching import IGNORE_INDEX


def dropped_positions(count: int, p: float, *, spare: float = 6.0) -> torch.Tensor:
    """The flat positions (int64, increasing) that an iid Bernoulli(``p``) mask over
    ``count`` elements drops, drawn from the gaps between drops, which are geometric:
    ``floor(log(U) / log(1 - p))`` kept elements before each drop, ``U`` uniform on (0, 1].

    Gaps are drawn in chunks of the expected count plus ``spare`` standard deviations, and
    drawn again from the last drop on the rare time a chunk falls short of the end."""
    if p <= 0 or count == 0:
        return torch.empty(0, dtype=torch.int64)
    if p >= 1:
        return torch.arange(count, dtype=torch.int64)
    log_keep = math.log1p(-p)
    dtype = torch.float32 if p >= 1e-3 else torch.float64  # gaps stay exact integers
    chunks: list[torch.Tensor] = []
    last = -1  # the last drop so far
    while True:
        expected = (count - 1 - last) * p
        draws = max(1, int(expected * (1 + spare / math.sqrt(expected + 1)) + 16))
        # 1 - U is uniform on (0, 1]: log1p(-U) is finite.
        gaps = torch.rand(draws, dtype=dtype).neg_().log1p_().div_(log_keep).floor_()
        positions = gaps.to(torch.int64).add_(1).cumsum_(0).add_(last)
        if int(positions[-1]) >= count:
            cut = int(torch.searchsorted(positions, count))
            chunks.append(positions[:cut])
            break
        chunks.append(positions)
        last = int(positions[-1])
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks)


def zero_at(x: torch.Tensor, positions: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """A new contiguous ``x · scale`` with zeros at the flat ``positions``."""
    if not x.is_contiguous():
        out = x.contiguous() if scale == 1.0 else x.contiguous().mul_(scale)
    else:
        out = x.clone() if scale == 1.0 else x.mul(scale)
    out.view(-1).index_fill_(0, positions, 0.0)
    return out


class FastDropout(nn.Module):
    """``nn.Dropout(p)`` with its mask drawn where the drops are on CPU (see the module doc)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)
        self.scale = 1.0 / (1.0 - self.p) if self.p < 1 else 0.0

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def draw(self, x: torch.Tensor) -> tuple[torch.Tensor | None, float]:
        """The flat positions of ``x`` to drop (CPU) and the scale of what is kept;
        ``(None, 1.0)`` when nothing is dropped (eval mode, ``p`` = 0)."""
        if not self.training or self.p == 0:
            return None, 1.0
        return dropped_positions(x.numel(), self.p), self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return nn.functional.dropout(x, self.p, training=True)
        dropped, scale = self.draw(x)
        out: torch.Tensor = _ZeroAt.apply(x, dropped, scale)  # type: ignore[no-untyped-call]
        return out


class _ZeroAt(torch.autograd.Function):
    """``x · scale`` with zeros at the dropped positions, keeping only the positions for the
    backward (which zeroes the same ones of the gradient)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, dropped: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(dropped)
        ctx.scale = scale
        ctx.shape = x.shape
        return zero_at(x, dropped, scale)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (dropped,) = ctx.saved_tensors
        return zero_at(grad, dropped, ctx.scale).view(ctx.shape), None, None


def use_fast_dropout(model: nn.Module) -> int:
    """Replace the LoRA layers' ``nn.Dropout`` modules by ``FastDropout``; returns how many."""
    replaced = 0
    for module in model.modules():
        table = getattr(module, "lora_dropout", None)
        if not isinstance(table, nn.ModuleDict):
            continue
        for name, dropout in list(table.items()):
            if type(dropout) is nn.Dropout:
                table[name] = FastDropout(dropout.p)
                replaced += 1
    return replaced


def trained_positions(labels: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` bool: the positions whose logits predict a trained label (the next one)."""
    mask = torch.zeros(labels.shape, dtype=torch.bool, device=labels.device)
    mask[..., :-1] = labels[..., 1:] != IGNORE_INDEX
    return mask


def trained_targets(labels: torch.Tensor) -> torch.Tensor:
    """The trained labels, in the order ``hidden[trained_positions(labels)]`` gives them."""
    shifted = labels[..., 1:]
    return shifted[shifted != IGNORE_INDEX]


class TrainedHead:
    """A forward pre-hook on the output layer: hidden states of trained positions only.

    Only active inside ``select(labels)``; outside it (generation, saving, a fallback) the
    model is untouched.
    """

    def __init__(self, head: nn.Module):
        self._mask: torch.Tensor | None = None
        self._handle = head.register_forward_pre_hook(self._keep_trained)

    def _keep_trained(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if self._mask is None or not args:
            return None
        hidden = args[0]
        if hidden.shape[:-1] != self._mask.shape:  # not the call this mask was made for
            return None
        return (hidden[self._mask], *args[1:])

    @contextlib.contextmanager
    def select(self, labels: torch.Tensor) -> Iterator[None]:
        self._mask = trained_positions(labels)
        try:
            yield
        finally:
            self._mask = None

    def remove(self) -> None:
        self._handle.remove()

    def loss(
        self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None
    ) -> torch.Tensor:
        """Summed cross-entropy of the trained tokens ÷ ``num_items_in_batch`` (or their count),
        as transformers' causal-LM loss computes it, from logits at trained positions only."""
        labels = inputs["labels"]
        forward = {k: v for k, v in inputs.items() if k != "labels"}
        with self.select(labels):
            logits = model(**forward).logits
        return token_loss(logits, trained_targets(labels), num_items_in_batch)

    @classmethod
    def attach(cls, model: Any) -> TrainedHead | None:
        """The hook on ``model``'s output layer if the model's own forward agrees with it on a
        short input (logits equal at the trained positions); ``None`` where it does not."""
        get_head = getattr(model, "get_output_embeddings", None)
        head = get_head() if callable(get_head) else None
        if not isinstance(head, nn.Module):
            return None
        hook = cls(head)
        if hook._agrees_with(model):
            return hook
        hook.remove()
        return None

    def _agrees_with(self, model: Any) -> bool:
        config = getattr(model, "config", None)
        vocab = int(getattr(config, "vocab_size", 0) or 0)
        if vocab <= 0:
            return False
        device = next(model.parameters()).device
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(0, vocab, (2, 12), generator=generator).to(device)
        labels = ids.clone()
        labels[0, :7] = IGNORE_INDEX
        labels[1, 3:9] = IGNORE_INDEX
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                full = model(input_ids=ids).logits
                with self.select(labels):
                    kept = model(input_ids=ids).logits
        except Exception:  # the model does not take a selected hidden state: not for it
            return False
        finally:
            model.train(was_training)
        expected = full[trained_positions(labels)]
        if kept.shape != expected.shape:
            return False
        return bool(torch.allclose(kept.float(), expected.float(), rtol=1e-3, atol=1e-4))


def token_loss(
    logits: torch.Tensor, targets: torch.Tensor, num_items_in_batch: Any = None
) -> torch.Tensor:
    """Cross-entropy summed over ``targets`` (fp32 logits), ÷ ``num_items_in_batch`` or the
    number of targets: transformers' ``ForCausalLMLoss`` on pre-selected positions."""
    total = nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum"
    )
    if num_items_in_batch is None:
        return total / max(1, targets.numel())
    if isinstance(num_items_in_batch, torch.Tensor):
        num_items_in_batch = num_items_in_batch.to(total.device)
    loss: torch.Tensor = total / num_items_in_batch
    return loss
