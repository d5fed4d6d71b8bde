"""One arm of the training benchmark, in a fresh process (so memory and RSS are its own).

    python benchmarks/_training_worker.py prepare   DIR --examples N
    python benchmarks/_training_worker.py baseline  DIR --out RUN --epochs E --batch-size B
    python benchmarks/_training_worker.py tuned     DIR --out RUN --epochs E --batch-size B [--processes N]
    python benchmarks/_training_worker.py candidate DIR --out RUN --epochs E --batch-size B

``baseline`` is TRL with its defaults, ``tuned`` TRL well configured (both in ``trl_sft.py``;
``--processes N`` runs it under torchrun), ``candidate`` anytune's local recipe in the process
layout a job with these inputs gets (``anytune_local.layout``: under torchrun where that is
more than one process). Under torchrun, rank 0 reports; the other ranks' CPU time, peak RSS
and counted tokens are added to its figures.

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
        """Setup / train / save seconds: until the recipe's "Training started" event, from it
        to the last step's event, and after it (checkpoint, adapter, result)."""
        began = next(
            (e["at"] for e in self.events if e["message"].startswith("Training started")), None
        )
        steps = [e["at"] for e in self.events if e.get("step") is not None]
        if began is None or not steps:
            return None
        return {"setup": began - start, "train": steps[-1] - began, "save": end - steps[-1]}

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


def _candidate_processes(args: argparse.Namespace) -> int:
    """The processes a job with these inputs runs (``anytune_local.layout``), unless the
    ablation gives ``nproc_per_node``."""
    from anytune_local.layout import training_layout
    from anytune_local.options import OPTION_SPECS

    from anytune.types import Hyperparameters

    options = {name: spec.default for name, spec in OPTION_SPECS.items()}
    options.update({k: json.loads(v) for k, _, v in (o.partition("=") for o in args.option)})
    request = argparse.Namespace(
        options=options,
        method="supervised",
        base_model=str(args.data / "model"),
        train_path=args.data / "train.jsonl",
        hyperparameters=Hyperparameters(n_epochs=args.epochs, batch_size=args.batch_size),
    )
    return training_layout(request).processes


SUMMED = {
    "candidate": ("cpu_s", "peak_rss_mb", "computed_tokens", "collator_real_tokens"),
    "tuned": ("cpu_s", "peak_rss_mb", "computed_tokens", "real_tokens"),
}
"""What each process of a torchrun arm counts for itself (the recipe's ``real_tokens`` is
already the sum over processes; TRL's collator counts its own process's batches)."""


def _launch_ranks(processes: int, argv: list[str], out: Path, summed: tuple[str, ...]) -> int:
    """Run this arm under torchrun (the candidate as the job's worker does, with the same
    environment; TRL with one thread per process, torchrun's own default) and fold the other
    ranks' counts, CPU time and peak RSS into rank 0's result."""
    import subprocess

    from anytune_local import processes as anytune_processes
    from anytune_local.worker import training_env

    env = training_env(processes)  # OMP_NUM_THREADS=1 per process, as a job has
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1"]
    launcher += ["--nproc_per_node", str(processes), "--master_addr", "127.0.0.1"]
    launcher += ["--master_port", str(anytune_processes.free_port())]
    code = subprocess.call([*launcher, str(Path(__file__).resolve()), *argv], env=env)
    if code:
        return code
    result_path = out / "result.json"
    report = json.loads(result_path.read_text())
    for rank in range(1, processes):
        other = json.loads((out / f"rank-{rank}.json").read_text())
        for key in summed:
            if report.get(key) is not None and other.get(key) is not None:
                report[key] += other[key]
    report["processes"] = processes
    report["peak_rss_note"] = "sum of the processes' peaks"
    result_path.write_text(json.dumps(report))
    return 0


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["prepare", "baseline", "tuned", "candidate"])
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrain-steps", type=int, default=150)
    parser.add_argument(
        "--processes", type=int, default=1, help="tuned: run TRL under torchrun, N processes"
    )
    parser.add_argument("--vocab", type=int, default=0, help="prepare: the model's vocabulary")
    parser.add_argument("--hidden", type=int, default=0, help="prepare: the model's hidden size")
    parser.add_argument("--layers", type=int, default=0, help="prepare: the model's layers")
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
            args.data,
            examples=args.examples,
            seed=args.seed,
            pretrain_steps=args.pretrain_steps,
            vocab=args.vocab or None,
            hidden=args.hidden or None,
            layers=args.layers or None,
        )
        meta["initial_loss"] = final_loss(args.data / "model", None, args.data / "train.jsonl")
        (args.data / "meta.json").write_text(json.dumps(meta))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.role in ("candidate", "tuned") and "WORLD_SIZE" not in os.environ:
        processes = _candidate_processes(args) if args.role == "candidate" else args.processes
        if processes > 1:
            own = argv if argv is not None else sys.argv[1:]
            return _launch_ranks(processes, own, args.out, SUMMED[args.role])
    _import_stack()
    if args.role in ("baseline", "tuned"):
        from trl_sft import train as train_trl

        report = train_trl(
            args.data,
            args.out,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            defaults=args.role == "baseline",
        )
    else:
        options = {k: json.loads(v) for k, _, v in (o.partition("=") for o in args.option)}
        report = run_candidate(
            args.data, args.out, args.epochs, args.batch_size, args.lr, args.seed, options
        )
    report["peak_rss_mb"] = _peak_rss_mb()
    report["peak_gpu_mb"] = _gpu_peak_mb()
    report["threads"] = __import__("torch").get_num_threads()
    rank = int(os.environ.get("RANK", "0"))
    if rank > 0:  # rank 0 reports for the run; the others add what they counted
        summed = {key: report.get(key) for key in SUMMED[args.role]}
        (args.out / f"rank-{rank}.json").write_text(json.dumps(summed))
        return 0
    report["final_loss"] = final_loss(
        args.data / "model", Path(report["adapter"]), args.data / "train.jsonl"
    )
    (args.out / "result.json").write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
