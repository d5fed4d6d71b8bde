"""Benchmark: the overhead of a Ray job over the same job on the local provider.

Both arms train the tiny model the same few steps with the same recipe (the Ray job runs
``anytune_local.run_spec`` on a Ray head started here on 127.0.0.1; the local job runs the
local provider's worker). Measured from just before
``create_job`` is called, polling every 0.1 s: seconds to the first step event, and to the
final status. Arms alternate (local ray, ray local, ...).

    python benchmarks/ray_overhead.py [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import WORK_DIR, alternate, machine, pair_ratios, stat

OPTIONS: dict[str, Any] = {
    "max_steps": 4,
    "save_steps": 2,
    "logging_steps": 1,
    "lora_r": 4,
    "lora_alpha": 8,
}


def _measure(provider: Any, model: str, train: Path) -> dict[str, float]:
    from anytune.types import JobSpec

    file_id = provider.upload_file(train).id
    start = time.monotonic()
    job = provider.create_job(JobSpec(model=model, training_file=file_id, options=OPTIONS))
    first_step = None
    while True:
        if first_step is None and any(
            e.message.startswith("Step") for e in provider.list_events(job.id)
        ):
            first_step = time.monotonic() - start
        current = provider.get_job(job.id)
        if current.is_terminal:
            break
        time.sleep(0.1)
    if str(current.status) != "succeeded":
        raise RuntimeError(f"{job.id} ended {current.status}: {current.error}")
    return {"first_step": first_step or float("nan"), "whole_run": time.monotonic() - start}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    from anytune_local.provider import LocalProvider
    from anytune_local.recipe.tiny import make_tiny_model
    from anytune_ray.localhead import LocalHead
    from anytune_ray.provider import RayProvider

    from anytune.testing.data import write_chat_jsonl

    WORK_DIR.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="ray-overhead-", dir=WORK_DIR))
    model = str(make_tiny_model(scratch / "tiny"))
    train = write_chat_jsonl(scratch / "train.jsonl", 12)
    with LocalHead(num_cpus=2) as head:
        local = LocalProvider(home=scratch / "local")
        ray = RayProvider(
            address=head.address, storage=str(scratch / "storage"), home=scratch / "ray"
        )
        results = alternate(
            [
                ("local", lambda: _measure(local, model, train)),
                ("ray", lambda: _measure(ray, model, train)),
            ],
            args.pairs,
        )
        ray.close()
    report: dict[str, Any] = {"machine": machine(), "pairs": args.pairs, "options": OPTIONS}
    for key in ("first_step", "whole_run"):
        loc = [r[key] for r in results["local"]]
        ray_values = [r[key] for r in results["ray"]]
        diff = stat([b - a for a, b in zip(loc, ray_values, strict=True)])
        report[key] = {
            "local_s": stat(loc).fmt(2),
            "ray_s": stat(ray_values).fmt(2),
            "ray_minus_local_s": diff.fmt(2),
            "ray_over_local": pair_ratios(ray_values, loc).fmt(2, "x"),
        }
        print(
            f"{key}: local {stat(loc).fmt(2)} s, ray {stat(ray_values).fmt(2)} s, "
            f"ray - local {diff.fmt(2)} s, ray / local {pair_ratios(ray_values, loc).fmt(2, 'x')}"
        )
    (scratch / "ray_overhead.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"written: {scratch / 'ray_overhead.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
