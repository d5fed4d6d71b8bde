"""Benchmark: the overhead of a Ray job over the same job on the local provider.

Both arms train the tiny model the same few steps with the same recipe (the Ray job runs
``anytune_local.run_spec`` on a Ray head started here on 127.0.0.1; the local job runs the
local provider's worker). Measured from just before
``create_job`` is called, polling every 0.1 s: seconds to the first step event, and to the
final status. Arms alternate (local ray, ray local, ...). With s3fs and moto installed, a third
arm runs the Ray job on object storage (``s3://``, a moto server on 127.0.0.1): the cost of
staging to the node's disk and syncing back.

    python benchmarks/ray_overhead.py [--pairs 3]

Writes benchmarks/results/ray/results.json and results.md.
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

from common import BENCH_DIR, WORK_DIR, alternate, machine, pair_ratios, stat

OUT = BENCH_DIR / "results" / "ray"

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
    bucket = _s3_bucket()
    with LocalHead(num_cpus=2) as head:
        local = LocalProvider(home=scratch / "local")
        ray = RayProvider(
            address=head.address, storage=str(scratch / "storage"), home=scratch / "ray"
        )
        arms = [
            ("local", lambda: _measure(local, model, train)),
            ("ray", lambda: _measure(ray, model, train)),
        ]
        if bucket:
            ray_s3 = RayProvider(address=head.address, storage=bucket, home=scratch / "ray-s3")
            arms.append(("ray_s3", lambda: _measure(ray_s3, model, train)))
        results = alternate(arms, args.pairs)
        ray.close()
    report: dict[str, Any] = {
        "machine": machine(),
        "pairs": args.pairs,
        "options": OPTIONS,
        "command": "python benchmarks/ray_overhead.py --pairs " + str(args.pairs),
    }
    lines = [
        "# Ray job overhead over the same job on the local provider",
        "",
        f"`{report['command']}`; tiny model, {OPTIONS['max_steps']} steps, head on the same "
        f"machine ({_describe(report['machine'])}); seconds from create_job, polled every 0.1 "
        "s, median [min-max]; differences and ratios pair by pair.",
        "",
        "| arm | submission to first step (s) | whole run (s) | first step - local (s) | "
        "whole run - local (s) | whole run / local |",
        "|---|---|---|---|---|---|",
    ]
    loc = {key: [r[key] for r in results["local"]] for key in ("first_step", "whole_run")}
    lines.append(
        f"| local | {stat(loc['first_step']).fmt(2)} | {stat(loc['whole_run']).fmt(2)} | | | |"
    )
    for arm in [name for name, _ in arms if name != "local"]:
        values = {key: [r[key] for r in results[arm]] for key in ("first_step", "whole_run")}
        entry: dict[str, Any] = {}
        for key in ("first_step", "whole_run"):
            diff = stat([b - a for a, b in zip(loc[key], values[key], strict=True)])
            entry[key] = {
                "local_s": stat(loc[key]).fmt(2),
                "arm_s": stat(values[key]).fmt(2),
                "minus_local_s": diff.fmt(2),
                "over_local": pair_ratios(values[key], loc[key]).fmt(2, "x"),
            }
        report[arm] = entry
        lines.append(
            f"| {arm} | {entry['first_step']['arm_s']} | {entry['whole_run']['arm_s']} | "
            f"{entry['first_step']['minus_local_s']} | {entry['whole_run']['minus_local_s']} | "
            f"{entry['whole_run']['over_local']} |"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _describe(info: dict[str, Any]) -> str:
    return (
        f"{info['cpu']}, {info['cores']} cores, GPU: {', '.join(info['gpus']) or 'none'}, "
        f"load average {info['load_average'][0]} at start"
    )


def _s3_bucket() -> str | None:
    """``s3://BUCKET/bench`` on a moto server on 127.0.0.1, its endpoint in the environment
    before the head starts (so jobs see it as a node sees its credentials); None without
    s3fs or moto."""
    try:
        import s3fs
        from moto.server import ThreadedMotoServer
    except ImportError:
        return None
    import logging
    import os
    import socket

    import fsspec.config

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False).start()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_DEFAULT_REGION="us-east-1",
        FSSPEC_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}",
    )
    fsspec.config.set_conf_env(fsspec.config.conf)
    s3fs.S3FileSystem().mkdir("anytune-bench")
    return "s3://anytune-bench/bench"


if __name__ == "__main__":
    sys.exit(main())
