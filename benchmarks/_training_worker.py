"""One arm of the training benchmark, in a fresh process (so memory and RSS are its own).

    python benchmarks/_training_worker.py prepare   DIR --examples N
    python benchmarks/_training_worker.py baseline  DIR --out RUN --epochs E --batch-size B
    python benchmarks/_training_worker.py candidate DIR --out RUN --epochs E --batch-size B

Each training role writes RUN/result.json: wall time of the run (model load, tokenization,
training, saving; Python imports excluded, the same for both), real and computed tokens, the
run's peak RSS and GPU memory, the trainer's own losses, and the final loss measured the same
way for both (``final_loss``: mean cross-entropy per trained token over the training set,
after training, fp32, eval mode).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}


def _import_stack() -> None:
    """Import the training stack before the clock starts, the same for both arms."""
    import datasets  # noqa: F401
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _gpu_peak_mb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return float(torch.cuda.max_memory_allocated()) / 1024**2


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- final loss


def final_loss(model_dir: Path, adapter_dir: Path | None, data: Path) -> float:
    """Mean cross-entropy per trained (assistant) token over ``data``, fp32, eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir)
    model.eval()
    rows = []
    for record in _records(data):
        encoded: Any = tokenizer.apply_chat_template(
            record["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids, mask = list(encoded["input_ids"]), list(encoded["assistant_masks"])
        rows.append((ids, [t if m else -100 for t, m in zip(ids, mask, strict=True)]))
    rows.sort(key=lambda r: len(r[0]))
    total, count = 0.0, 0
    pad = tokenizer.pad_token_id
    with torch.no_grad():
        start = 0
        while start < len(rows):
            end = start + 1
            while end < len(rows) and (end - start + 1) * len(rows[end][0]) <= 8192:
                end += 1
            group = rows[start:end]
            start = end
            width = len(group[-1][0])
            batch = torch.tensor([r[0] + [pad] * (width - len(r[0])) for r in group])
            labels = torch.tensor([r[1] + [-100] * (width - len(r[1])) for r in group])
            logits = model(input_ids=batch).logits[:, :-1].float()
            target = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), target.reshape(-1), reduction="sum"
            )
            total += float(loss)
            count += int((target != -100).sum())
    return total / max(1, count)


# --------------------------------------------------------------------------- baseline


class CountingCollator:
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


def run_baseline(
    data_dir: Path, out: Path, epochs: int, batch_size: int, lr: float, seed: int
) -> dict[str, Any]:
    """The seed-style script: TRL SFTTrainer with its defaults and a LoRA config."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    start, cpu = time.perf_counter(), time.process_time()
    model_dir = data_dir / "model"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    dataset = Dataset.from_list(_records(data_dir / "train.jsonl"))
    config = SFTConfig(
        output_dir=str(out / "trainer"),
        use_cpu=not torch.cuda.is_available(),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        # Departures from TRL's defaults, so that both arms optimise the same thing: the same
        # learning rate as the candidate (TRL's 2e-5 would barely move a LoRA in a short run),
        # and loss on the assistant tokens only (what anytune trains on, as OpenAI does).
        learning_rate=lr,
        assistant_only_loss=True,
        seed=seed,
        report_to="none",
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA),  # type: ignore[arg-type]
    )
    counter = CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
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
        "real_tokens": counter.real,
        "computed_tokens": counter.computed,
        "computed_tokens_source": "counted in the data collator",
        "trainer_final_loss": losses[-1][1] if losses else None,
        "trainer_mean_loss": output.training_loss,
        "losses": losses,
        "precision": "bf16 autocast" if config.bf16 else "fp32",
        "activation_checkpointing": bool(config.gradient_checkpointing),
        "adapter": str(out / "adapter"),
    }


# --------------------------------------------------------------------------- candidate


class Reporter:
    """The recipe's reporter: keeps metrics events and the resolved hyperparameters."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.resolved: dict[str, Any] = {}

    def event(self, message: str, *, level: str = "info", metrics: Any = None) -> None:
        entry: dict[str, Any] = {"message": message, "at": time.perf_counter()}
        if metrics is not None:
            entry["step"] = getattr(metrics, "step", None)
            entry["loss"] = getattr(metrics, "train_loss", None)
        self.events.append(entry)

    def checkpoint(self, step: int, path: Path, metrics: dict[str, float]) -> None:
        pass

    def phases(self, start: float, end: float) -> dict[str, float] | None:
        """Setup / train / save seconds, from the recipe's "Training started" and "Training
        finished" events."""
        began = next(
            (e["at"] for e in self.events if e["message"].startswith("Training started")), None
        )
        ended = next(
            (e["at"] for e in self.events if e["message"].startswith("Training finished")), None
        )
        if began is None or ended is None:
            return None
        return {"setup": began - start, "train": ended - began, "save": end - ended}

    def hyperparameters(self, resolved: dict[str, Any]) -> None:
        self.resolved = dict(resolved)

    def should_stop(self) -> str | None:
        return None


def _count_candidate_batches() -> dict[str, int] | None:
    """Count computed tokens in the recipe's collator, if it has the one we know."""
    try:
        from anytune_local.recipe import batching
    except ImportError:
        return None
    collator = getattr(batching, "MicroBatchCollator", None)
    computed = getattr(batching, "computed_tokens", None)
    if collator is None or computed is None:
        return None
    counts = {"real": 0, "computed": 0, "calls": 0}
    original = collator.__call__

    def counting(self: Any, features: list[dict[str, Any]]) -> Any:
        batch = original(self, features)
        counts["calls"] += 1
        counts["computed"] += int(computed(batch))
        counts["real"] += int(batch.get("real_tokens", 0))
        return batch

    collator.__call__ = counting
    return counts


def run_candidate(
    data_dir: Path,
    out: Path,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    options: dict[str, Any],
) -> dict[str, Any]:
    """anytune's local recipe with its defaults, through the call a job makes."""
    from anytune_local.options import BASE_LEARNING_RATE
    from anytune_local.recipe import TrainRequest, train

    counts = _count_candidate_batches()
    reporter = Reporter()
    request = TrainRequest(
        job_id="benchmark",
        base_model=str(data_dir / "model"),
        method="supervised",
        train_path=data_dir / "train.jsonl",
        valid_path=None,
        output_dir=out / "adapter",
        checkpoint_dir=out / "checkpoints",
        hyperparameters={
            "n_epochs": epochs,
            "batch_size": batch_size,
            "learning_rate_multiplier": lr / BASE_LEARNING_RATE,
        },
        options=options,
        seed=seed,
    )
    start, cpu = time.perf_counter(), time.process_time()
    result = train(request, reporter)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    losses = [(e["step"], e["loss"]) for e in reporter.events if e.get("loss") is not None]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "phases_s": reporter.phases(start, start + wall),
        "real_tokens": result.trained_tokens,
        "computed_tokens": counts["computed"] if counts and counts["calls"] else None,
        "computed_tokens_source": (
            "counted in the recipe's MicroBatchCollator"
            if counts and counts["calls"]
            else "not exposed by the recipe"
        ),
        "collator_real_tokens": counts["real"] if counts else None,
        "trainer_final_loss": result.final_train_loss,
        "losses": losses,
        "resolved": reporter.resolved,
        "adapter": str(result.output_dir),
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["prepare", "baseline", "candidate"])
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrain-steps", type=int, default=150)
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="candidate: a recipe option instead of its default (ablations), e.g. lora_dropout=0",
    )
    args = parser.parse_args(argv)
    if args.role == "prepare":
        from _training_data import prepare

        meta = prepare(
            args.data, examples=args.examples, seed=args.seed, pretrain_steps=args.pretrain_steps
        )
        meta["initial_loss"] = final_loss(args.data / "model", None, args.data / "train.jsonl")
        (args.data / "meta.json").write_text(json.dumps(meta))
        return 0
    _import_stack()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.role == "baseline":
        report = run_baseline(args.data, args.out, args.epochs, args.batch_size, args.lr, args.seed)
    else:
        options = {k: json.loads(v) for k, _, v in (o.partition("=") for o in args.option)}
        report = run_candidate(
            args.data, args.out, args.epochs, args.batch_size, args.lr, args.seed, options
        )
    report["peak_rss_mb"] = _peak_rss_mb()
    report["peak_gpu_mb"] = _gpu_peak_mb()
    report["threads"] = __import__("torch").get_num_threads()
    report["final_loss"] = final_loss(
        args.data / "model", Path(report["adapter"]), args.data / "train.jsonl"
    )
    (args.out / "result.json").write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
