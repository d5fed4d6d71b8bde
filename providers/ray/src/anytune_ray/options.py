"""The Ray provider's options: the local recipe's (same names, same defaults, same checks)
plus where the job runs on the cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from anytune_local.options import OPTION_SPECS as LOCAL_OPTION_SPECS
from anytune_local.options import check_ranges, local_options

from anytune.errors import InvalidArgumentError
from anytune.options import ProviderOptions
from anytune.provider import OptionSpec

NAME = "ray"
PLACEMENT_TIMEOUT = 300.0

RAY_OPTION_SPECS: dict[str, OptionSpec] = {
    "num_workers": OptionSpec(
        int, 1, "training processes per node, started by torchrun inside the job (one per GPU)"
    ),
    "num_nodes": OptionSpec(
        int, 1, "nodes the job trains on (one torchrun each, placed one per node by Ray)"
    ),
    "num_cpus": OptionSpec(float, 1.0, "CPUs the job reserves on each node"),
    "num_gpus": OptionSpec(
        float, 0.0, "GPUs the job reserves on each node (num_workers uses them)"
    ),
    "memory": OptionSpec(int, 0, "bytes of memory the job reserves on each node (0: none)"),
    "placement_timeout": OptionSpec(
        float,
        PLACEMENT_TIMEOUT,
        "seconds a multi-node job waits for its nodes before it fails (an autoscaler may be "
        "adding them)",
    ),
    "install": OptionSpec(
        bool,
        False,
        "runtime_env installs this client's anytune-local version on the cluster (else the "
        "cluster's Python must have it)",
    ),
    "python": OptionSpec(str, "python", "the Python executable on the cluster's nodes"),
}

# nproc_per_node is the local scheduler's name for num_workers.
OPTION_SPECS: dict[str, OptionSpec] = {
    **{k: v for k, v in LOCAL_OPTION_SPECS.items() if k != "nproc_per_node"},
    **RAY_OPTION_SPECS,
}


def check_options(options: Mapping[str, Any]) -> None:
    """The local recipe's ranges, then the cluster's resources."""
    check_ranges({k: v for k, v in options.items() if k in LOCAL_OPTION_SPECS})
    for name in ("num_workers", "num_nodes"):
        if int(options.get(name) or 0) < 1:
            raise InvalidArgumentError(f"option {name} must be >= 1", provider=NAME)
    for name in ("num_cpus", "num_gpus", "memory", "placement_timeout"):
        if float(options.get(name) or 0) < 0:
            raise InvalidArgumentError(f"option {name} must be >= 0", provider=NAME)
    nodes = int(options.get("num_nodes") or 1)
    if nodes > 1 and float(options.get("num_cpus") or 0) + float(options.get("num_gpus") or 0) <= 0:
        raise InvalidArgumentError(
            f"num_nodes={nodes} places one bundle of num_cpus CPUs and num_gpus GPUs on each "
            "node: set num_cpus or num_gpus above 0",
            provider=NAME,
        )


def recipe_options(options: Mapping[str, Any]) -> ProviderOptions:
    """What the recipe reads (``nproc_per_node`` is how it learns the process count)."""
    recipe = {k: v for k, v in options.items() if k in LOCAL_OPTION_SPECS}
    recipe["nproc_per_node"] = int(options.get("num_workers") or 1)
    return local_options(recipe)
