"""Setup: tokenizer, precision, base model (optionally quantized) and its LoRA adapter."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anytune_local.recipe import TrainingFailure

if TYPE_CHECKING:
    import torch
    from transformers import BitsAndBytesConfig, PreTrainedModel, PreTrainedTokenizerBase


def prepare_libraries(*, quantize: bool) -> None:
    """Quiet the libraries' progress bars and warnings (safe in any process)."""
    from transformers.utils import logging

    logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"peft\.")


def hide_bitsandbytes() -> None:
    """Keep bitsandbytes unloaded in a training process that does not quantize.

    peft imports bitsandbytes whenever it is installed (~4 s and a stray "kernels" line on
    CPU); a ``None`` entry in ``sys.modules`` makes it look absent until
    ``quantization_config`` removes the entry again. peft caches that answer for the rest of
    the process, so only ``recipe.train`` (training processes, which end with the job) calls
    this, never the CLI's or an application's process (``generate``).
    """
    if "bitsandbytes" not in sys.modules:
        sys.modules["bitsandbytes"] = None  # type: ignore[assignment]


def template_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``chat_template_kwargs`` option (a JSON object) as a dict."""
    raw = options.get("chat_template_kwargs") or ""
    if isinstance(raw, Mapping):
        return dict(raw)
    if not str(raw).strip():
        return {}
    try:
        value = json.loads(str(raw))
    except ValueError as exc:
        raise TrainingFailure(
            "invalid_options",
            f"chat_template_kwargs is not valid JSON ({exc}); pass an object such as "
            "'{\"enable_thinking\": false}'",
        ) from exc
    if not isinstance(value, dict):
        raise TrainingFailure(
            "invalid_options",
            'chat_template_kwargs must be a JSON object such as {"enable_thinking": false}',
        )
    return value


def generation_stops(model: str, tokenizer: Any) -> tuple[str, ...]:
    """The tokens the model's ``generation_config.json`` stops on (``eos_token_id``)."""
    path = Path(resolve_model_id(model))
    config = path / "generation_config.json"
    if not path.exists():  # a hub id: its cached copy, if any (never a download)
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model, "generation_config.json")
        except Exception:  # no hub library or a malformed id: no extra stop tokens
            cached = None
        if isinstance(cached, str):
            config = Path(cached)
    if not config.is_file() and is_adapter_dir(str(path)):
        try:
            base = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
            config = Path(base) / "generation_config.json"
        except (OSError, ValueError, KeyError, TypeError):
            return ()
    try:
        ids = json.loads(config.read_text(encoding="utf-8")).get("eos_token_id")
    except (OSError, ValueError, AttributeError):
        return ()
    ids = ids if isinstance(ids, list) else [ids]
    tokens = [tokenizer.convert_ids_to_tokens(int(i)) for i in ids if isinstance(i, int)]
    return tuple(str(t) for t in tokens if t)


def resolve_model_id(model: str) -> str:
    """An existing local path made absolute (saved adapters point at it), else the hub id."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


def is_adapter_dir(model: str) -> bool:
    return (Path(model) / "adapter_config.json").is_file()


def _cannot_load(model: str, exc: BaseException) -> TrainingFailure:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return TrainingFailure(
        "invalid_model",
        f"cannot load model {model}: {first_line}; pass a local directory or a hub id",
    )


def load_tokenizer(model: str, *, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The model's tokenizer, with a pad token (the end-of-sequence token when it has none)."""
    from transformers import AutoTokenizer

    model = resolve_model_id(model)
    has_tokenizer = (Path(model) / "tokenizer_config.json").is_file()
    if is_adapter_dir(model) and not has_tokenizer:  # an adapter saved without its tokenizer
        config = json.loads((Path(model) / "adapter_config.json").read_text())
        model = config["base_model_name_or_path"]
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError, ...
        raise _cannot_load(model, exc) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@dataclass(frozen=True)
class Precision:
    device: str
    """``"cuda"`` or ``"cpu"``."""
    bf16: bool

    @property
    def name(self) -> str:
        return "bf16" if self.bf16 else "fp32"

    @property
    def dtype(self) -> torch.dtype:
        import torch

        return torch.bfloat16 if self.bf16 else torch.float32


def choose_precision(option: str) -> Precision:
    """bf16 on a CUDA GPU that supports it (``option="auto"``), fp32 otherwise."""
    import torch

    cuda = torch.cuda.is_available()
    supported = cuda and torch.cuda.is_bf16_supported()
    if option == "true" and not supported:
        raise TrainingFailure(
            "invalid_options",
            "bf16=true needs a CUDA GPU with bf16 support; this machine has none "
            "(use bf16=auto, which trains in fp32 here)",
        )
    bf16 = supported if option == "auto" else option == "true"
    return Precision(device="cuda" if cuda else "cpu", bf16=bf16)


def quantization_config(kind: str) -> BitsAndBytesConfig:
    """The seed's QLoRA recipe (4bit: NF4, double quantization, bf16 compute) or 8-bit.

    Imports bitsandbytes, and only here: it is slow to import and optional.
    """
    import torch

    if "bitsandbytes" in sys.modules and sys.modules["bitsandbytes"] is None:
        del sys.modules["bitsandbytes"]  # undo prepare_libraries(quantize=False)
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:
        raise TrainingFailure(
            "quantization_unavailable",
            f"quantize={kind} needs bitsandbytes, which cannot be imported ({exc}); "
            "install it with: pip install 'anytune-local[qlora]'",
        ) from exc
    from transformers import BitsAndBytesConfig

    if kind == "4bit":
        return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    return BitsAndBytesConfig(load_in_8bit=True)  # type: ignore[no-untyped-call]


def load_base_model(
    model: str, options: Mapping[str, Any], precision: Precision, *, local_rank: int = 0
) -> PreTrainedModel:
    """The base model in the training dtype, quantized when ``options["quantize"]`` asks."""
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {
        "dtype": precision.dtype,
        "trust_remote_code": bool(options.get("trust_remote_code")),
    }
    quantize = options.get("quantize", "none")
    if quantize != "none":
        kwargs["quantization_config"] = quantization_config(quantize)
        if precision.device == "cuda":
            kwargs["device_map"] = {"": local_rank}
    try:
        base = AutoModelForCausalLM.from_pretrained(resolve_model_id(model), **kwargs)
    except TrainingFailure:
        raise
    except Exception as exc:
        if quantize != "none" and Path(resolve_model_id(model)).exists():
            raise TrainingFailure(
                "quantization_unavailable",
                f"cannot load {model} with quantize={quantize} on {precision.device}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
                "; use quantize=none",
            ) from exc
        raise _cannot_load(model, exc) from exc
    base.config.use_cache = False
    return base


def describe_setup(model: Any, precision: Precision, options: Mapping[str, Any]) -> str:
    """One line for the "training started" event: device, precision, quantization, LoRA size."""
    quantized = sum(type(m).__name__ in ("Linear4bit", "Linear8bitLt") for m in model.modules())
    text = f"device {precision.device}, {precision.name}"
    if quantized:
        text += f", {quantized} layers quantized to {options['quantize']} with bitsandbytes"
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return text + f", {trainable:,} trainable parameters"


def add_lora(base: PreTrainedModel, options: Mapping[str, Any]) -> Any:
    """Wrap ``base`` with a LoRA adapter from the options (a ``peft.PeftModel``), its dropout
    ``recipe.fastpath.FastDropout``, its layers' forward ``recipe.fusedlora``'s."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if options.get("quantize", "none") != "none":
        base = prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
            base, use_gradient_checkpointing=bool(options.get("activation_checkpointing"))
        )
    targets = list(options["target_modules"])
    config = LoraConfig(
        r=int(options["lora_r"]),
        lora_alpha=int(options["lora_alpha"]),
        lora_dropout=float(options["lora_dropout"]),
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        modules_to_save=list(options["modules_to_save"]) or None,
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(base, config)
    except ValueError as exc:
        raise TrainingFailure("invalid_options", f"cannot add LoRA adapters: {exc}") from exc
    from anytune_local.recipe.fastpath import use_fast_dropout
    from anytune_local.recipe.fusedlora import use_fused_lora

    use_fast_dropout(model)  # the same dropout, its mask drawn 5× faster on CPU
    use_fused_lora(model)  # the same LoRA branch, in fewer passes over the activations
    return model
