"""What every recipe shares: the process world, Trainer arguments, OOM handling, saving."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anytune_local.recipe import TrainingFailure, TrainRequest

if TYPE_CHECKING:
    from transformers import Trainer, TrainingArguments

    from anytune_local.recipe.setup import Precision

SPEC_FILE = "anytune_spec.json"


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (torchrun sets the variables)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> World:
        return cls(
            rank=int(os.environ.get("RANK", "0")),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            size=int(os.environ.get("WORLD_SIZE", "1")),
        )


def total_steps(examples: int, resolved: dict[str, Any], options: Mapping[str, Any]) -> int:
    if int(options.get("max_steps") or 0) > 0:
        return int(options["max_steps"])
    return math.ceil(examples / int(resolved["batch_size"])) * int(resolved["n_epochs"])


def training_arguments(
    request: TrainRequest,
    options: Mapping[str, Any],
    resolved: dict[str, Any],
    precision: Precision,
    world: World,
    *,
    seed: int,
    has_validation: bool,
    examples: int,
    config_class: type[TrainingArguments] | None = None,
    **extra: Any,
) -> TrainingArguments:
    """Trainer arguments for the resolved hyperparameters and the options."""
    from transformers import TrainingArguments

    accumulation = int(options["gradient_accumulation_steps"])
    batch_size = int(resolved["batch_size"])
    if accumulation < 1 or batch_size % (world.size * accumulation):
        raise TrainingFailure(
            "invalid_options",
            f"batch_size {batch_size} must be a multiple of processes ({world.size}) × "
            f"gradient_accumulation_steps ({accumulation})",
        )
    steps = total_steps(examples, resolved, options)
    logging_steps = int(options["logging_steps"]) or max(1, steps // 100)
    eval_steps = int(options["eval_steps"]) or max(1, steps // 10)
    save_steps = int(options["save_steps"])
    kwargs: dict[str, Any] = {
        "output_dir": str(request.checkpoint_dir),
        "per_device_train_batch_size": batch_size // (world.size * accumulation),
        "per_device_eval_batch_size": max(8, batch_size // world.size),
        "gradient_accumulation_steps": accumulation,
        "num_train_epochs": int(resolved["n_epochs"]),
        "max_steps": int(options["max_steps"]) or -1,
        "learning_rate": float(resolved["learning_rate"]),
        "lr_scheduler_type": str(options["lr_scheduler"]),
        "warmup_steps": float(options["warmup_ratio"]),
        "weight_decay": float(options["weight_decay"]),
        "max_grad_norm": float(options["max_grad_norm"]),
        "logging_strategy": "steps",
        "logging_steps": logging_steps,
        "eval_strategy": "steps" if has_validation else "no",
        "eval_steps": eval_steps if has_validation else None,
        "save_strategy": "steps" if save_steps else "epoch",
        "save_steps": save_steps or 500,
        # Retention: the Trainer removes the oldest checkpoints beyond the limit (the store
        # forgets them when the next one is recorded).
        "save_total_limit": int(options.get("save_total_limit") or 0) or None,
        # Without optimizer/scheduler/RNG state a checkpoint is ~3x smaller; a resume from
        # it starts the optimizer afresh (the worker says so).
        "save_only_model": not bool(options.get("save_optimizer_state", True)),
        "report_to": "none",
        "disable_tqdm": True,
        "log_level": "warning",
        "use_cpu": precision.device == "cpu",
        "bf16": precision.bf16,
        "activation_checkpointing": bool(options["activation_checkpointing"]),
        "seed": seed,
        "data_seed": seed,
        "remove_unused_columns": False,
        "dataloader_num_workers": 0,
        "ddp_find_unused_parameters": False,
        # DDP otherwise broadcasts every buffer from rank 0 before each forward: a wait for
        # the slowest process per micro-batch (8% of a step, measured) for buffers that never
        # change here (rotary frequencies; no batch norm in a causal LM).
        "ddp_broadcast_buffers": False,
    }
    if world.size > 1:
        kwargs["ddp_backend"] = "nccl" if precision.device == "cuda" else "gloo"
        if options["distributed"] == "fsdp":
            kwargs["fsdp"] = "full_shard auto_wrap"
            kwargs["fsdp_config"] = {"use_orig_params": True}
    kwargs.update(extra)
    return (config_class or TrainingArguments)(**kwargs)


def describe_resolved(resolved: dict[str, Any], steps: int) -> str:
    text = (
        f"{resolved['n_epochs']} epoch(s), batch size {resolved['batch_size']}, "
        f"learning rate {resolved['learning_rate']:g}, {steps} steps"
    )
    if "beta" in resolved:
        text += f", beta {resolved['beta']:g}"
    return text


@contextlib.contextmanager
def out_of_memory_guard() -> Iterator[None]:
    """Turn an out-of-memory error into a failure that says what to change."""
    import torch

    advice = (
        "lower batch_size, max_length or micro_batch_tokens, set "
        "activation_checkpointing=true, or quantize=4bit"
    )
    try:
        yield
    except torch.OutOfMemoryError as exc:
        raise TrainingFailure("out_of_memory", f"the GPU ran out of memory; {advice}") from exc
    except RuntimeError as exc:
        text = str(exc).lower()
        if "out of memory" in text or "can't allocate memory" in text:
            raise TrainingFailure("out_of_memory", f"out of memory ({exc}); {advice}") from exc
        raise


def last_checkpoint(directory: Path) -> Path | None:
    """The ``checkpoint-<step>`` directory with the highest step, if any."""
    if not directory.is_dir():
        return None
    found = [
        (int(path.name.split("-", 1)[1]), path)
        for path in directory.glob("checkpoint-*")
        if path.name.split("-", 1)[1].isdigit()
    ]
    return max(found)[1] if found else None


def save_outputs(
    trainer: Trainer,
    request: TrainRequest,
    options: Mapping[str, Any],
    resolved: dict[str, Any],
    world: World,
    *,
    seed: int,
    extra: dict[str, Any],
) -> None:
    """Adapter + tokenizer + ``anytune_spec.json`` to the output dir; merged model if asked."""
    request.output_dir.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(request.output_dir))  # every process: FSDP gathers the weights
    if not world.is_main:
        return
    spec = {
        "job_id": request.job_id,
        "base_model": request.base_model,
        "method": request.method,
        "train_path": str(request.train_path),
        "valid_path": str(request.valid_path) if request.valid_path else None,
        "hyperparameters": resolved,
        "options": dict(options),
        "seed": seed,
        **extra,
    }
    (request.output_dir / SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    if options.get("merge"):
        merge_adapter(request.output_dir, request.output_dir / "merged")


def merge_adapter(adapter_dir: Path, target: Path) -> Path:
    """Base model with the adapter folded in, saved as a plain model (full precision base)."""
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    from anytune_local.recipe.setup import prepare_libraries

    prepare_libraries(quantize=False)  # no progress bars or library deprecation warnings
    model = AutoPeftModelForCausalLM.from_pretrained(str(adapter_dir), dtype=torch.float32)
    merged = model.merge_and_unload()
    merged.save_pretrained(str(target))
    AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(str(target))
    return target
