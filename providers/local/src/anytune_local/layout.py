"""How many training processes a job runs when ``nproc_per_node`` is not given.

On a GPU: one, as before (``nproc_per_node`` asks for more). On the CPU, a small model trains
faster as one single-threaded process per core (data parallel, torchrun) than as one process
whose operations are split across the cores: its matrices are small, so PyTorch's threads
spend much of each step waiting for each other and for Python. Measured on the training
benchmark's model (4 layers, hidden 256; 256 of its chats, 1 epoch, 2 cores;
``python benchmarks/_training_worker.py candidate DIR --out RUN --epochs 1 [--option
nproc_per_node=1]``): one process with one thread trained 0.78× as fast as with two, while two
single-threaded processes, each with a balanced share of every batch
(``recipe.trainer.BalancedBatchSampler``), trained 1.31-1.44× as fast (loop 18.2-20.0 s
against 26.2 s). In the training benchmark (``benchmarks/results/training``) the same layout
gives the well-configured TRL script 1.12×. So the local provider runs one process per core
when all of these hold, and one otherwise:

- no GPU is visible (no ``/dev/nvidia*`` or ``/dev/kfd``, or ``CUDA_VISIBLE_DEVICES`` empty);
- supervised training, no quantization, ``distributed=ddp``;
- the base model's weights are at most ``MAX_WEIGHT_BYTES`` (256 MiB, ~64M fp32 parameters;
  larger ones keep their threads busy, and each process holds a copy) and every copy fits in
  half the available memory;
- the job is long enough to repay the second process's start (~2 s): at least
  ``MIN_WORK_BYTES`` of training data times epochs;
- the processes split ``batch_size`` (÷ ``gradient_accumulation_steps``) evenly: the count is
  the largest one that does, so the hyperparameters never change with the machine.

At most ``MAX_PROCESSES`` (8); above 2 cores this is not measured here. Light on purpose: the
supervisor runs it before any torch import.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_WEIGHT_BYTES = 256 * 2**20
MIN_WORK_BYTES = 256 * 2**10
MAX_PROCESSES = 8
PER_PROCESS_OVERHEAD = 512 * 2**20
"""Memory of one training process besides two copies of the weights (torch, activations)."""


@dataclass(frozen=True)
class Layout:
    processes: int
    why: str  # for the "Job started" event; empty when nothing was chosen automatically


def training_layout(request: Any) -> Layout:
    """The process count for ``request`` (a ``recipe.TrainRequest``), per the module doc."""
    explicit = request.options.get("nproc_per_node")
    if explicit is not None:
        return Layout(int(explicit), "")
    options = request.options
    if request.method != "supervised" or options.get("quantize", "none") != "none":
        return Layout(1, "")
    if options.get("distributed", "ddp") != "ddp" or gpu_visible():
        return Layout(1, "")
    weights = weight_bytes(str(request.base_model))
    if weights is None or weights > MAX_WEIGHT_BYTES:
        return Layout(1, "")
    count = min(MAX_PROCESSES, usable_cores())
    available = available_memory()
    if available is not None:
        count = min(count, int(available / 2 // (2 * weights + PER_PROCESS_OVERHEAD)))
    if count < 2:
        return Layout(1, "")
    examples, size = _examples_and_bytes(Path(request.train_path))
    from anytune_local.options import resolve_auto

    resolved = resolve_auto(examples, request.hyperparameters)
    epochs, batch = int(resolved["n_epochs"]), int(resolved["batch_size"])
    work = size * epochs
    max_steps = int(options.get("max_steps") or 0)
    if max_steps > 0 and examples:
        work = min(work, size * max_steps * batch // examples)
    if work < MIN_WORK_BYTES:
        return Layout(1, "")
    per_step = batch // max(1, int(options.get("gradient_accumulation_steps") or 1))
    count = splitting_count(per_step, count)
    if count < 2:
        return Layout(1, "")
    return Layout(count, "one per CPU core, a small model")


def splitting_count(per_step: int, most: int | None = None) -> int:
    """The largest process count, at most ``most`` (default: one per usable core, at most
    ``MAX_PROCESSES``), that splits ``per_step`` examples evenly."""
    count = min(MAX_PROCESSES, usable_cores()) if most is None else most
    while count > 1 and per_step % count:
        count -= 1
    return max(1, count)


def gpu_visible() -> bool:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def weight_bytes(model: str) -> int | None:
    """Bytes of the model's weight files: a local directory, or its snapshot in the Hugging
    Face cache; None where neither is found."""
    directory = Path(model).expanduser()
    if not directory.is_dir():
        directory = _cached_snapshot(model) or directory
    if not directory.is_dir():
        return None
    files = [p for pattern in ("*.safetensors", "*.bin", "*.pt") for p in directory.glob(pattern)]
    if not files:
        return None
    return sum(p.stat().st_size for p in files)  # cache snapshots are links: stat follows


def _cached_snapshot(model: str) -> Path | None:
    if model.count("/") != 1:
        return None
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.expanduser("~/.cache/huggingface"), "hub"
    )
    snapshots = Path(hub) / ("models--" + model.replace("/", "--")) / "snapshots"
    try:
        candidates = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime)
    except OSError:
        return None
    return candidates[-1] if candidates else None


def _examples_and_bytes(path: Path) -> tuple[int, int]:
    """Non-blank lines and size of a JSONL file, read in 1 MiB blocks (bounded memory)."""
    examples = 0
    size = 0
    pending = False  # the current line has a non-blank byte
    with path.open("rb") as handle:
        while block := handle.read(2**20):
            size += len(block)
            lines = block.split(b"\n")
            for index, line in enumerate(lines):
                if line.strip():
                    pending = True
                if index < len(lines) - 1:  # a newline ends this line
                    examples += pending
                    pending = False
    return examples + pending, size
