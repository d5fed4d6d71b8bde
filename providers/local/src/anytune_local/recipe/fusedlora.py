"""The LoRA branch of each adapted linear layer as one autograd function on CPU: the same
function of the same parameters, with fewer passes over the activations.

PEFT computes ``base(x) + lora_B(lora_A(dropout(x))) · scaling``: on the CPU every piece is
its own pass over a ``tokens × features`` tensor (the dropout's mask and scale, the scaling,
the sum) in the forward, and again in the backward, besides the small matrix products. Here:

- the dropout's ``1/(1-p)`` and the LoRA ``scaling`` become the ``alpha`` of one in-place
  ``addmm`` that adds ``B · (A · masked x)`` to the base layer's output (the sum happens
  inside the product), and in the backward the base layer's input gradient is added to the
  LoRA one the same way;
- the dropout is one copy with zeros filled in at the dropped positions (drawn by
  ``FastDropout.draw``, the same draw as ``FastDropout``), and in the backward the same
  positions of the LoRA input gradient are zeroed in place; nothing else touches a
  full-size tensor.

Forward and gradients are those of PEFT's own path up to float rounding (tested against it,
dropout included, on the same mask). It is used only where PEFT's path would be the plain one:
one active adapter, not merged, no DoRA or other variant, no LoRA bias, no ``adapter_names``,
dropout ``FastDropout`` or none, a frozen ``nn.Linear`` base layer of the adapter's dtype, on
the CPU. Anything else (a GPU, merged weights, a second
adapter, generation with mixed adapters) runs PEFT's forward unchanged.
"""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import nn

from anytune_local.recipe.fastpath import FastDropout, zero_at


class _LoraLinear(torch.autograd.Function):
    """``x @ Wᵀ + bias + alpha · (x₀ @ Aᵀ) @ Bᵀ`` for a frozen ``W``, where ``x₀`` is ``x``
    with zeros at the flat positions ``dropped``;
    saves the masked input and the rank-r activations (what PEFT's two LoRA layers save) and
    the weights."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        a: torch.Tensor,
        b: torch.Tensor,
        dropped: torch.Tensor | None,
        alpha: float,
    ) -> torch.Tensor:
        features = x.shape[-1]
        flat = x.reshape(-1, features)
        out = flat @ weight.t() if bias is None else torch.addmm(bias, flat, weight.t())
        kept = flat if dropped is None else zero_at(flat, dropped)
        low = kept @ a.t()
        out.addmm_(low, b.t(), alpha=alpha)  # the sum inside the product
        ctx.save_for_backward(kept, low, weight, a, b, dropped)
        ctx.alpha = alpha
        ctx.x_shape = x.shape
        return out.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        kept, low, weight, a, b, dropped = ctx.saved_tensors
        alpha = ctx.alpha
        flat = grad.reshape(-1, weight.shape[0])
        needs: tuple[bool, ...] = ctx.needs_input_grad
        need_x, need_a, need_b = needs[0], needs[3], needs[4]
        grad_b = torch.mm(flat.t(), low).mul_(alpha) if need_b else None
        grad_low = torch.mm(flat, b).mul_(alpha) if (need_a or need_x) else None
        grad_a = torch.mm(grad_low.t(), kept) if need_a and grad_low is not None else None
        grad_x = None
        if need_x and grad_low is not None:
            lora = torch.mm(grad_low, a)
            if dropped is not None:
                lora.view(-1).index_fill_(0, dropped, 0.0)
            # The base layer's input gradient, added to the LoRA one inside the product.
            grad_x = torch.addmm(lora, flat, weight).view(ctx.x_shape)
        return grad_x, None, None, grad_a, grad_b, None, None


def _plain_adapter(module: Any) -> str | None:
    """The one adapter PEFT would apply the plain way, or None."""
    if module.disable_adapters or module.merged:
        return None
    active = [name for name in module.active_adapters if name in module.lora_A]
    if len(active) != 1:
        return None
    name: str = active[0]
    if name in getattr(module, "lora_variant", {}):
        return None
    if getattr(module.lora_B[name], "bias", None) is not None:
        return None
    if getattr(module, "fan_in_fan_out", False):
        return None
    dropout = module.lora_dropout[name]
    if not isinstance(dropout, (FastDropout, nn.Identity)):
        return None
    base = module.base_layer
    if type(base) is not nn.Linear or base.weight.requires_grad:
        return None  # a trained or wrapped base layer: its own forward and backward
    if base.bias is not None and base.bias.requires_grad:
        return None
    return name


def _forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    name = _plain_adapter(self) if not args and not kwargs and x.device.type == "cpu" else None
    if name is None:
        return type(self).forward(self, x, *args, **kwargs)  # type: ignore[no-any-return]
    base = self.base_layer
    a = self.lora_A[name].weight
    b = self.lora_B[name].weight
    if x.dtype != a.dtype or base.weight.dtype != a.dtype:
        return type(self).forward(self, x)  # type: ignore[no-any-return]
    dropout = self.lora_dropout[name]
    dropped, scale = (None, 1.0)
    if isinstance(dropout, FastDropout):
        dropped, scale = dropout.draw(x)
    out: torch.Tensor = _LoraLinear.apply(  # type: ignore[no-untyped-call]
        x, base.weight, base.bias, a, b, dropped, float(self.scaling[name]) * scale
    )
    return out


def use_fused_lora(model: nn.Module) -> int:
    """Give every PEFT ``lora.Linear`` in ``model`` the fused forward; returns how many."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    count = 0
    for module in model.modules():
        if type(module) is LoraLinear:
            module.forward = types.MethodType(_forward, module)  # type: ignore[method-assign]
            count += 1
    return count
