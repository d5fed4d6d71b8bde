"""The TRL scripts the training benchmark compares anytune with, runnable on their own.

    python benchmarks/trl_sft.py DATA_DIR OUT [--defaults] [--epochs 1 --batch-size 8 --lr 1e-3]

``DATA_DIR`` holds ``model/`` and ``train.jsonl`` (``_training_data.prepare`` writes them);
``OUT/result.json`` gets the run's figures. Two configurations of TRL's ``SFTTrainer`` with
LoRA r16/α32/dropout 0.05 on every linear layer, both computing the loss on the assistant
tokens only (what anytune trains on, as OpenAI does) at the same learning rate, epochs and
examples per optimizer step as anytune:

- **well configured** (the default here): what a careful user writes for CPU training. fp32
  on CPU (bf16 autocast is emulated and slower without AVX-512 BF16 / AMX; on a GPU with bf16
  it is bf16, as anytune's ``bf16=auto``), no activation
  checkpointing (a small model's activations fit), ``train_sampling_strategy=
  "group_by_length"`` (batches of similar lengths, so padding to the longest pads little), no
  pinned memory, no checkpoint saving mid-run, and anytune's warmup (3% of the steps) so that
  the schedules are the same. Packing is left off: TRL packs with ``padding_free``, which keeps
  examples apart only under flash attention (not available on CPU), so on CPU it would let
  examples attend to each other and train something else.
- ``--defaults``: TRL's defaults but for the loss and learning rate (activation checkpointing,
  bf16 where TRL turns it on, random batches padded to their longest).

As a whole process (``python benchmarks/trl_sft.py ...``) this is the "TRL script" arm of the
end-to-end comparison; ``_training_worker.py`` calls ``train`` in its own process for the
training-loop comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}
WARMUP = 0.03
"""anytune's default ``warmup_ratio``: the same schedule for both."""


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class _Counting:
    """Wraps TRL's collator and counts what each batch computes: every position of the padded
    batch, and the real (attention-mask) tokens among them."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.real = 0
        self.computed = 0

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.inner(features)
        ids = batch["input_ids"]
        self.computed += int(ids.numel())
        mask = batch.get("attention_mask")
        self.real += int(mask.sum()) if mask is not None else int(ids.numel())
        return batch


def train(
    data_dir: Path,
    out: Path,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    defaults: bool = False,
) -> dict[str, Any]:
    """One TRL run; the figures ``_training_worker.py`` reports (see its docstring)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    start, cpu = time.perf_counter(), time.process_time()
    model_dir = data_dir / "model"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    dataset = Dataset.from_list(_records(data_dir / "train.jsonl"))
    common: dict[str, Any] = {
        "output_dir": str(out / "trainer"),
        "use_cpu": not torch.cuda.is_available(),
        "num_train_epochs": epochs,
        # Under torchrun (``--processes``), each process takes its part of every batch.
        "per_device_train_batch_size": batch_size // int(os.environ.get("WORLD_SIZE", "1")),
        "learning_rate": lr,
        "assistant_only_loss": True,
        "seed": seed,
        "report_to": "none",
    }
    if defaults:
        config = SFTConfig(**common)
    else:
        gpu_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        config = SFTConfig(
            **common,
            bf16=gpu_bf16,  # on a GPU that has it, as anytune's bf16=auto does
            gradient_checkpointing=False,
            train_sampling_strategy="group_by_length",
            warmup_steps=WARMUP,
            dataloader_pin_memory=False,
            save_strategy="no",
        )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA),  # type: ignore[arg-type]
    )
    counter = _Counting(trainer.data_collator)
    trainer.data_collator = counter
    steps: dict[str, float] = {}

    class StepTimes(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            steps.setdefault("first_step_at", time.time())

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            steps["last_step_at"] = time.time()

    trainer.add_callback(StepTimes())
    setup_done = time.perf_counter()
    output = trainer.train()
    train_done = time.perf_counter()
    trainer.save_model(str(out / "adapter"))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "phases_s": {
            "setup": setup_done - start,
            "train": train_done - setup_done,
            "save": start + wall - train_done,
        },
        **steps,
        "real_tokens": counter.real,
        "computed_tokens": counter.computed,
        "computed_tokens_source": "counted in the data collator",
        "trainer_final_loss": losses[-1][1] if losses else None,
        "trainer_mean_loss": output.training_loss,
        "losses": losses,
        "precision": "bf16 autocast" if config.bf16 else "fp32",
        "activation_checkpointing": bool(config.gradient_checkpointing),
        "sampling": str(config.train_sampling_strategy),
        "adapter": str(out / "adapter"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--defaults", action="store_true", help="TRL's defaults")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = train(
        args.data,
        args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        defaults=args.defaults,
    )
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (args.out / "result.json").write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
