"""Run a model (a base model or a saved adapter directory): batched replies, streamed replies
(``streaming``), reference-answer scores."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from anytune_local.recipe.messages import conversation
from anytune_local.recipe.runtime import SPEC_FILE
from anytune_local.recipe.setup import (
    is_adapter_dir,
    load_tokenizer,
    prepare_libraries,
    resolve_model_id,
    template_kwargs,
)


def _trained_options(model_path: str) -> dict[str, Any]:
    """The options an adapter was trained with (empty for a plain model)."""
    spec = Path(model_path) / SPEC_FILE
    if not spec.is_file():
        return {}
    options = json.loads(spec.read_text()).get("options") or {}
    return dict(options) if isinstance(options, dict) else {}


def _trained_quantized(model_path: str) -> bool:
    return str(_trained_options(model_path).get("quantize", "none")) != "none"


@functools.lru_cache(maxsize=2)
def load_for_inference(model_path: str) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a model directory, adapter directory or hub id (cached).

    An adapter trained on a quantized base is loaded on a full-precision base here (fp32 on
    CPU, where bitsandbytes' 4-bit kernels are slow); on a GPU the base is quantized again.
    """
    import torch

    from anytune_local.recipe.setup import _cannot_load, quantization_config

    model_path = resolve_model_id(model_path)
    cuda = torch.cuda.is_available()
    quantized = cuda and _trained_quantized(model_path)
    prepare_libraries(quantize=quantized)
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if quantized:
        kwargs["quantization_config"] = quantization_config("4bit")
    elif cuda:
        kwargs["device_map"] = {"": 0}
    tokenizer = load_tokenizer(model_path)
    try:
        if is_adapter_dir(model_path):
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(model_path, **kwargs)
        else:
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    except Exception as exc:
        raise _cannot_load(model_path, exc) from exc
    model.eval()
    return model, tokenizer


@contextlib.contextmanager
def _bf16_autocast_if_needed(model: Any) -> Iterator[None]:
    # A model holding bf16 weights on CPU (e.g. a QLoRA adapter) needs autocast to generate.
    import torch

    device = next(model.parameters()).device
    dtypes = {p.dtype for p in model.parameters()}
    if device.type == "cpu" and torch.bfloat16 in dtypes and len(dtypes) > 1:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    else:
        yield


def _prompt_inputs(
    model: Any,
    tokenizer: Any,
    model_path: str,
    conversations: Sequence[Sequence[dict[str, Any]]],
    tools: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The conversations rendered for generation (left-padded), on the model's device."""
    # The prompt is rendered with the switches the adapter was trained with, as in training.
    switches = template_kwargs(_trained_options(resolve_model_id(model_path)))
    texts = [
        tokenizer.apply_chat_template(
            conversation(messages, tools).messages,
            tools=tools,
            tokenize=False,
            add_generation_prompt=True,
            **switches,
        )
        for messages in conversations
    ]
    tokenizer.padding_side = "left"
    inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    device = next(model.parameters()).device
    return {k: v.to(device) for k, v in inputs.items()}


def generate_batch(
    model_path: str,
    conversations: Sequence[Sequence[dict[str, Any]]],
    *,
    max_new_tokens: int = 128,
    tools: list[dict[str, Any]] | None = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
) -> list[str]:
    """Replies to several conversations at once (left-padded batch); greedy unless
    ``temperature`` > 0 (then sampled with ``temperature`` and ``top_p``)."""
    import torch

    model, tokenizer = load_for_inference(model_path)
    inputs = _prompt_inputs(model, tokenizer, model_path, conversations, tools)
    with torch.no_grad(), _bf16_autocast_if_needed(model):
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            **_sampling(temperature, top_p),
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def _sampling(temperature: float, top_p: float) -> dict[str, Any]:
    if temperature <= 0.0:
        return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    return {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": None}


def score(model_path: str, examples: Sequence[dict[str, Any]]) -> list[float]:
    """The mean loss (nats per token) of each example's last assistant message, computed on
    exactly what training would train for it: that answer through its stop token, in its
    inference-time context (``recipe.tokenize``), every other turn untrained. NaN when
    ``max_length`` truncation leaves no token of the answer."""
    import torch

    from anytune_local.recipe.tokenize import IGNORE_INDEX, encode_example, encoder_for

    model, _ = load_for_inference(model_path)
    model_id = resolve_model_id(model_path)
    encoder = encoder_for(model_id, _trained_options(model_id))
    device = next(model.parameters()).device
    losses: list[float] = []
    for example in examples:
        messages = [dict(m) for m in example["messages"]]
        last = max(i for i, m in enumerate(messages) if m.get("role") == "assistant")
        for i, message in enumerate(messages):
            if message.get("role") == "assistant":
                message["weight"] = 1 if i == last else 0
        encoded = encode_example(encoder, {**example, "messages": messages})
        total, count = 0.0, 0
        for row in encoded.rows:
            labels = torch.tensor([row["labels"][1:]], device=device)
            if not (labels != IGNORE_INDEX).any():
                continue
            ids = torch.tensor([row["input_ids"]], device=device)
            with torch.no_grad(), _bf16_autocast_if_needed(model):
                logits = model(input_ids=ids).logits[:, :-1].float()
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                labels.reshape(-1),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )
            total += float(loss)
            count += int((labels != IGNORE_INDEX).sum())
        losses.append(total / count if count else float("nan"))
    return losses


def generate(model_path: str, messages: list[dict[str, Any]], *, max_new_tokens: int = 128) -> str:
    """The greedy reply of ``model_path`` (model, adapter dir or hub id) to ``messages``."""
    return generate_batch(model_path, [messages], max_new_tokens=max_new_tokens)[0]
