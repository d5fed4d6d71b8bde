"""The training comparison on a GPU, sized to finish in about five minutes: one command.

    python benchmarks/gpu_training.py [--out benchmarks/results/gpu]

The arms of ``training_throughput.py`` (TRL well configured, anytune local; bf16 for both
where the GPU has it: TRL's ``bf16`` and anytune's ``bf16=auto``; SDPA attention for both),
on a model big enough for a GPU to be busy (hidden 1024, 8 layers, vocabulary 32,768, untied
output layer, ~170M parameters) and 600 generated mixed-length chats, two pairs. Reported as
on CPU, with peak GPU memory. Without a CUDA device it reports SKIPPED.

Not run yet: no GPU was available where it was written. Targets are the CPU ones, so the
verdicts here are "not judged"; read the table.
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from dataclasses import replace

import common
import training_throughput as tt
from common import Result

NAME = "training-gpu"
TITLE = "1b. Local training speed on a GPU"
GPU = replace(
    tt.FULL, examples=600, vocab=tt.WIDE_VOCAB, hidden=1024, layers=8, pairs=2, defaults_runs=0
)
GPU_SMOKE = replace(tt.SMOKE, vocab=tt.WIDE_VOCAB, hidden=1024, layers=8)


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def run(smoke: bool) -> Result:
    if not _cuda():
        return common.skipped(NAME, TITLE, "no CUDA device")
    base_missing, cand_missing = tt._missing()
    if base_missing or cand_missing:
        missing = sorted(set(base_missing + cand_missing))
        return common.skipped(NAME, TITLE, f"{', '.join(missing)} not installed")
    result = Result(NAME, TITLE)
    env = common.bench_env()
    config = GPU_SMOKE if smoke else GPU
    _, meta, runs = tt._setup(result, "GPU", config, env, with_candidate=True)
    tt._judge(result, "GPU", runs, judged=False)
    result.notes.append(f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'all')}")
    meta = {k: v for k, v in meta.items() if k != "lengths"}
    result.data.update(config=config.__dict__, meta=meta, runs=runs)
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(common.BENCH_DIR))
    with suppress(KeyboardInterrupt):
        raise SystemExit(common.standalone(run))
