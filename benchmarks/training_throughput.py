"""Benchmark 1: local training throughput, anytune's local recipe against the seed-style script.

Baseline: TRL ``SFTTrainer`` with its defaults (padding to the longest in each batch, bf16 and
activation checkpointing where TRL puts them, ``use_cpu`` on a CPU machine) and LoRA r=16,
alpha=32, dropout 0.05 on every linear layer. Candidate: ``anytune_local.recipe.train`` (the
call a local job makes) with the provider's default options. Both get the same tiny model, the
same generated mixed-length chat data (30–800 tokens), the same epochs, examples per optimizer
step and learning rate.

Each run is a fresh process (``_training_worker.py``), baseline and candidate alternating;
ratios are taken pair by pair. Reported per arm: real (non-padding) tokens per second, wall
time, CPU time, peak RSS (and GPU memory on a GPU), the fraction of computed tokens that were
padding, and the final loss (measured identically for both after training).

Targets (CPU): real tokens/s ≥ 2.5× the baseline's, final loss within 5%, padding ≤ 2%.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
from common import Result, Target

NAME = "training"
TITLE = "1. Local training throughput"
WORKER = common.BENCH_DIR / "_training_worker.py"
DATA_VERSION = 3
"""Bump when the generated data or model changes, to rebuild the cache in benchmarks/.work."""

SPEEDUP_TARGET = 2.5
LOSS_TOLERANCE = 0.05
PADDING_TARGET = 0.02


@dataclass(frozen=True)
class Config:
    examples: int
    epochs: int
    batch_size: int
    learning_rate: float
    pairs: int
    pretrain_steps: int
    seed: int = 0

    def describe(self) -> str:
        return (
            f"{self.examples} examples, {self.epochs} epoch(s), {self.batch_size} examples per"
            f" optimizer step, learning rate {self.learning_rate:g}, {self.pairs} pair(s)"
        )


# 256 examples: anytune's "auto" batch size is 8 there, which is also TRL's default
# per-device batch size, so both arms are at their defaults for examples per step. Learning
# rate 1e-3 for both (anytune's learning_rate_multiplier=5): at the defaults (2e-4 / 2e-5) the
# loss moves so little in one epoch that any two trainers would end "within 5%".
FULL = Config(examples=256, epochs=1, batch_size=8, learning_rate=1e-3, pairs=3, pretrain_steps=80)
SMOKE = Config(examples=16, epochs=1, batch_size=8, learning_rate=1e-3, pairs=1, pretrain_steps=0)


def _missing() -> tuple[list[str], list[str]]:
    """Modules missing for the baseline, and for the candidate."""
    stack = common.missing_modules("torch", "transformers", "trl", "peft", "datasets")
    builder = common.missing_modules("anytune_local", "anytune_local.recipe.tiny")
    recipe = common.missing_modules("anytune_local.recipe.sft", "anytune_local.options")
    return stack + builder, stack + builder + recipe


def prepare(config: Config, env: dict[str, str]) -> tuple[Path, dict[str, Any]]:
    """The model and data for ``config``, built once and cached in benchmarks/.work/."""
    key = f"training-v{DATA_VERSION}-n{config.examples}-s{config.seed}-p{config.pretrain_steps}"
    data_dir = common.WORK_DIR / key
    meta_path = data_dir / "meta.json"
    if not meta_path.exists():
        shutil.rmtree(data_dir, ignore_errors=True)
        argv = [sys.executable, str(WORKER), "prepare", str(data_dir)]
        argv += ["--examples", str(config.examples), "--seed", str(config.seed)]
        argv += ["--pretrain-steps", str(config.pretrain_steps)]
        common.run_process(argv, env=env, timeout=900).check()
    return data_dir, json.loads(meta_path.read_text())


def _train(role: str, data_dir: Path, config: Config, env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"anytune-bench-{role}-") as tmp:
        out = Path(tmp)
        argv = [sys.executable, str(WORKER), role, str(data_dir), "--out", str(out)]
        argv += ["--epochs", str(config.epochs), "--batch-size", str(config.batch_size)]
        argv += ["--lr", str(config.learning_rate), "--seed", str(config.seed)]
        process = common.run_process(argv, env=env, timeout=1800).check()
        report: dict[str, Any] = json.loads((out / "result.json").read_text())
    report["process_wall_s"] = process.wall_s
    report["process_peak_rss_mb"] = process.max_rss_mb
    report["real_tokens_per_s"] = report["real_tokens"] / report["wall_s"]
    computed = report.get("computed_tokens")
    report["padding_fraction"] = 1 - report["real_tokens"] / computed if computed else None
    phases = report.get("phases_s") or {}
    if "train" in phases:
        report["train_loop_s"] = phases["train"]
        report["computed_tokens_per_train_s"] = (computed or 0) / phases["train"] or None
    print(
        f"   {role}: {report['wall_s']:.1f} s, {report['real_tokens_per_s']:.0f} real tokens/s,"
        f" final loss {report['final_loss']:.4f}",
        file=sys.stderr,
        flush=True,
    )
    return report


def _values(runs: list[dict[str, Any]], key: str) -> list[float] | None:
    values = [r.get(key) for r in runs]
    if any(v is None for v in values):
        return None
    return [float(v) for v in values if v is not None]


def _row(
    label: str,
    key: str,
    base: list[dict[str, Any]],
    cand: list[dict[str, Any]],
    digits: int = 3,
    percent: bool = False,
) -> tuple[str, str, str, str]:
    b, c = _values(base, key), _values(cand, key)
    if b is None and c is None:
        return (label, "n/a", "n/a", "")
    cells = [
        (common.stat(v).fmt_percent() if percent else common.stat(v).fmt(digits)) if v else "n/a"
        for v in (b, c)
    ]
    ratio = common.pair_ratios(c, b).fmt(3, "×") if b and c else ""
    return (label, cells[0], cells[1], ratio)


def _judge(
    result: Result, base: list[dict[str, Any]], cand: list[dict[str, Any]], smoke: bool
) -> None:
    on_cpu = all(r.get("peak_gpu_mb") is None for r in base + cand)
    speedup = common.pair_ratios(
        [r["real_tokens_per_s"] for r in cand], [r["real_tokens_per_s"] for r in base]
    )
    loss_ratio = common.pair_ratios(
        [r["final_loss"] for r in cand], [r["final_loss"] for r in base]
    )
    padding = _values(cand, "padding_fraction")
    judged = not smoke and on_cpu

    met = speedup.median >= SPEEDUP_TARGET if judged else None
    note = ""
    if met is False:
        note = (
            f"{speedup.median:.2f}× is {SPEEDUP_TARGET / speedup.median:.2f}× short of the"
            " target; see the notes for where the time goes."
        )
    result.targets.append(
        Target(
            "real tokens/s, candidate ÷ baseline",
            f"≥ {SPEEDUP_TARGET}× (CPU)",
            speedup.fmt(3, "×"),
            met,
            note,
        )
    )
    met = abs(loss_ratio.median - 1) <= LOSS_TOLERANCE if judged else None
    result.targets.append(
        Target(
            "final loss, candidate ÷ baseline",
            f"within ±{LOSS_TOLERANCE:.0%}",
            loss_ratio.fmt(4, "×"),
            met,
        )
    )
    if padding is not None:
        pad = common.stat(padding)
        met = pad.median <= PADDING_TARGET if judged else None
        result.targets.append(
            Target(
                "candidate padding, share of computed tokens",
                f"≤ {PADDING_TARGET:.0%}",
                f"{pad.median:.2%}",
                met,
            )
        )
    computed = common.pair_ratios(
        [r["computed_tokens"] or 0 for r in base], [r["computed_tokens"] or 0 for r in cand]
    )
    if computed.median:
        per_token = speedup.median / computed.median
        result.notes.append(
            f"Where the {speedup.median:.2f}× comes from: {computed.median:.2f}× fewer computed"
            f" tokens (padding) times {per_token:.2f}× faster per computed token (the baseline's"
            " activation checkpointing, bf16 autocast and attention mask against the"
            " candidate's fp32 micro-batches; whole run, setup and saving included)."
        )
    result.data["speedup"] = speedup.to_dict()
    result.data["final_loss_ratio"] = loss_ratio.to_dict()


def end_to_end(data_dir: Path, config: Config, env: dict[str, str]) -> dict[str, Any] | None:
    """One whole ``anytune run -p local`` job as a process: validate, upload, the worker
    process, training and waiting (default poll interval), Python imports included."""
    anytune = common.anytune_executable()
    if anytune is None or common.missing_modules("anytune_local.provider"):
        return None
    from anytune_local.options import BASE_LEARNING_RATE

    with tempfile.TemporaryDirectory(prefix="anytune-bench-e2e-") as home:
        argv = [anytune, "run", str(data_dir / "train.jsonl"), "-m", str(data_dir / "model")]
        argv += ["-p", "local", "--n-epochs", str(config.epochs)]
        argv += ["--batch-size", str(config.batch_size), "--seed", str(config.seed)]
        argv += ["--lr-multiplier", f"{config.learning_rate / BASE_LEARNING_RATE:g}", "--json"]
        try:
            process = common.run_process(argv, env={**env, "ANYTUNE_HOME": home}, timeout=900)
            process.check()
            # --json prints the created job, then the finished one: one object per line.
            job = json.loads(process.stdout.strip().splitlines()[-1])
        except (RuntimeError, TimeoutError, ValueError, IndexError) as exc:
            return {"error": str(exc)[-300:]}
    tokens = int(job.get("trained_tokens") or 0)
    print(f"   anytune run -p local: {process.wall_s:.1f} s", file=sys.stderr, flush=True)
    return {"wall_s": process.wall_s, "trained_tokens": tokens, "status": job.get("status")}


def run(smoke: bool) -> Result:
    """Build (or reuse) the model and data, then alternate baseline and candidate runs."""
    result = Result(NAME, TITLE)
    config = SMOKE if smoke else FULL
    base_missing, cand_missing = _missing()
    if base_missing:
        return common.skipped(NAME, TITLE, f"{', '.join(base_missing)} not installed")
    # Idle OpenMP threads sleep instead of spinning: with torch's default (spin), any other
    # load on the machine makes every arm many times slower (measured: 9× on 2 busy cores).
    env = common.bench_env(OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    load_before = os.getloadavg()
    data_dir, meta = prepare(config, env)
    arms = [("baseline", lambda: _train("baseline", data_dir, config, env))]
    if cand_missing:
        result.status = "skipped"
        result.reason = f"candidate: {', '.join(cand_missing)} not installed"
    else:
        arms.append(("candidate", lambda: _train("candidate", data_dir, config, env)))
    runs = common.alternate(arms, config.pairs)
    base, cand = runs["baseline"], runs.get("candidate", [])
    job = None if cand_missing else end_to_end(data_dir, config, env)
    load_after = os.getloadavg()
    rows = [
        _row("real tokens / s", "real_tokens_per_s", base, cand, 4),
        _row("wall time of the run (s)", "wall_s", base, cand),
        _row("  of which the training loop (s)", "train_loop_s", base, cand),
        _row("CPU time of the run (s)", "cpu_s", base, cand),
        _row("peak RSS (MB)", "peak_rss_mb", base, cand),
        _row("peak GPU memory (MB)", "peak_gpu_mb", base, cand),
        _row("real tokens", "real_tokens", base, cand, 6),
        _row("computed tokens (padding included)", "computed_tokens", base, cand, 6),
        _row("padding, share of computed tokens", "padding_fraction", base, cand, percent=True),
        _row("computed tokens / s of training loop", "computed_tokens_per_train_s", base, cand, 4),
        _row("final loss (same measurement for both)", "final_loss", base, cand, 4),
        _row("trainer's last logged loss", "trainer_final_loss", base, cand, 4),
    ]
    if job is not None:
        measured = (
            f"ERROR: {job['error']}"
            if "error" in job
            else f"{job['wall_s']:.1f} s, {job['trained_tokens'] / job['wall_s']:,.0f} real tokens/s"
        )
        label = "end to end: `anytune run -p local` (1 run, whole process)"
        rows.append((label, "", measured, ""))
    result.table(
        (
            "metric",
            "baseline (TRL defaults)",
            "candidate (anytune local)",
            "candidate ÷ baseline, pair by pair",
        ),
        rows,
    )
    first_base = base[0]
    first_cand = cand[0] if cand else {}
    result.notes += [
        f"Setup: {config.describe()}; tiny Llama (hidden {meta['model']['hidden_size']},"
        f" {meta['model']['layers']} layers, vocabulary {meta['model']['vocab_size']}) "
        + (
            f"pretrained for {meta['pretrain_steps']} full-parameter steps (loss "
            f"{meta['pretrain_loss'][0]:.2f} → {meta['pretrain_loss'][1]:.2f}) so that LoRA has a"
            " base that knows the vocabulary"
            if meta.get("pretrain_loss")
            else "with random weights"
        )
        + f"; data: {meta['examples']} generated chats of {meta['min']}–{meta['max']} tokens"
        f" (mean {meta['mean']:.0f}); loss before training {meta['initial_loss']:.3f}.",
        f"Baseline: {first_base.get('precision')}, activation checkpointing"
        f" {'on' if first_base.get('activation_checkpointing') else 'off'}, pad to the longest in"
        " each batch. Departures from the defaults, the same for both arms so that the losses"
        " are comparable: learning rate, and (baseline) loss on the assistant tokens only, which"
        " is what anytune trains on."
        + (f" Candidate resolved: {first_cand.get('resolved')}." if first_cand else ""),
        "Wall time of the run: model load, tokenization, training and saving the adapter, timed"
        " inside each worker process (Python imports excluded, the same for both). Real tokens/s"
        " = real tokens trained ÷ that wall time. Final loss: mean cross-entropy per trained"
        " token over the whole training set after training (fp32, eval mode), computed by the"
        " same code for both.",
        f"torch threads per run: {first_base.get('threads')}, OMP_WAIT_POLICY="
        f"{env['OMP_WAIT_POLICY']} for both arms; load average before/after:"
        f" {load_before[0]:.2f} / {load_after[0]:.2f} (on a {os.cpu_count()}-core machine; other"
        " load inflates wall time, CPU time less so).",
    ]
    if cand:
        _judge(result, base, cand, smoke)
    result.data.update(
        config=config.__dict__,
        meta={k: v for k, v in meta.items() if k != "lengths"},
        baseline=base,
        candidate=cand,
        load_average=[load_before, load_after],
        end_to_end=job,
    )
    return result


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        raise SystemExit(common.standalone(run))
