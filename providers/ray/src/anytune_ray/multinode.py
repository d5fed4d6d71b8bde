"""A multi-node job (``-o num_nodes=M``): the Ray job's driver places one torchrun per node.

::

    python -m anytune_ray.multinode --nodes M --nproc-per-node W --num-cpus C --num-gpus G \
        [--memory B] [--placement-timeout S] -- python -m anytune_local.run_spec REQUEST \
        --result RESULT --events EVENTS ...

The command after ``--`` is the single-process training command the one-node path runs. The
driver (this module, the job's entrypoint, holding no resources itself) writes its own events
(where each node runs, why it failed) to the command's ``--events`` file, and:

1. reserves a placement group of M bundles ``{"CPU": C, "GPU": G}`` with ``STRICT_SPREAD``
   (one bundle per node); a group the cluster cannot place within ``--placement-timeout``
   seconds fails the job (``insufficient_resources`` in ``RESULT``, naming the resources it
   asked for) rather than queueing forever;
2. starts one ``NodeRunner`` actor in each bundle, picks a free port on node 0, and has every
   actor run ``python -m torch.distributed.run --nnodes M --node_rank i --nproc_per_node W
   --master_addr <node 0> --master_port <port> -m anytune_local.run_spec ...`` (rank 0 writes
   ``result.json`` and the events, as on one node);
3. waits for all; when a node fails, stops the others and exits 1 with that node's cause as
   its last log line (the line the client shows in the job's error).

Why torchrun per node rather than Ray Train's ``TorchTrainer``: the recipe, its DDP setup and
its result files are the local provider's, tested there under torchrun; ``TorchTrainer``
would set up the process group itself and run the recipe as a training function, a second
code path for the same training. Here Ray only places the nodes; torchrun does what it does
on one machine.

Stopping: each node's torchrun runs under ``anytune_ray.guard``, which leads its own process
group. Ray stops a job with SIGTERM to the driver (SIGKILL 3 s later); the driver's handler
has each actor SIGTERM its group, which the guard SIGKILLs ``guard.GRACE`` seconds later. If
the actor dies first (the driver killed, a raylet gone), the guard ends the group itself.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from anytune_ray.options import PLACEMENT_TIMEOUT

TAIL_LINES = 40
PEER_WINDOW = 5.0
"""Seconds the other nodes have to end on their own after one fails."""


def command(python: str, worker: Sequence[str], options: Mapping[str, Any]) -> list[str]:
    """The job's entrypoint for ``options`` (``num_nodes`` > 1): this module around
    ``worker``, the single-process training command's arguments after ``python``."""
    argv = [python, "-m", "anytune_ray.multinode", "--nodes", str(int(options["num_nodes"]))]
    argv += ["--nproc-per-node", str(int(options.get("num_workers") or 1))]
    argv += ["--num-cpus", str(float(options.get("num_cpus") or 0))]
    argv += ["--num-gpus", str(float(options.get("num_gpus") or 0))]
    argv += ["--memory", str(int(options.get("memory") or 0))]
    timeout = float(options.get("placement_timeout", PLACEMENT_TIMEOUT))
    argv += ["--placement-timeout", str(timeout)]
    return [*argv, "--", python, *worker]


def bundle(num_cpus: float, num_gpus: float, memory: int) -> dict[str, float]:
    """One node's share (Ray refuses zero amounts in a bundle)."""
    wanted = {"CPU": num_cpus, "GPU": num_gpus, "memory": float(memory)}
    return {k: v for k, v in wanted.items() if v > 0}


def torchrun(
    worker: Sequence[str], *, nodes: int, rank: int, per_node: int, addr: str, port: int
) -> list[str]:
    python, *rest = worker
    argv = [python, "-m", "torch.distributed.run", "--nnodes", str(nodes), "--node_rank", str(rank)]
    argv += ["--nproc_per_node", str(per_node), "--master_addr", addr, "--master_port", str(port)]
    return [*argv, *rest]


class NodeRunner:
    """One node's part (a Ray actor, threaded so ``stop`` runs while ``run`` waits)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._stopped = False

    def where(self) -> dict[str, Any]:
        import ray

        context = ray.get_runtime_context()
        return {
            "ip": ray.util.get_node_ip_address(),  # type: ignore[no-untyped-call]
            "node": context.get_node_id(),
            "pid": os.getpid(),
        }

    def free_port(self) -> int:
        with socket.socket() as sock:
            sock.bind(("", 0))
            return int(sock.getsockname()[1])

    def run(self, argv: list[str]) -> dict[str, Any]:
        """Run ``argv`` under the guard; its output goes on to Ray's log, its last lines and
        exit status come back."""
        guard = [sys.executable, "-m", "anytune_ray.guard", "--parent", str(os.getpid())]
        process = subprocess.Popen(
            [*guard, "--", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self._process = process
        if self._stopped:  # stop() came before the process existed
            self.stop()
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            tail.append(line.rstrip())
        return {"status": process.wait(), "tail": list(tail), "pid": process.pid}

    def stop(self) -> None:
        self._stopped = True
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)


def cause(status: int, tail: Sequence[str]) -> str:
    """Why a node's torchrun ended badly: its exit status, and the first failure torchrun
    reports (``rank : 1``, ``exitcode : -9``, ``traceback : Signal 9 ...``) or else its last
    error line."""
    how = (
        f"killed by {signal.Signals(-status).name}"
        if status < 0
        else f"exited with status {status}"
    )
    report = {}
    for line in tail:
        name, colon, value = line.strip().partition(":")
        if colon and name.strip() in ("rank", "exitcode", "traceback") and name not in report:
            report[name.strip()] = value.strip()
    if "exitcode" in report:
        detail = " ".join(", ".join(f"{k} {v}" for k, v in report.items()).split())
    else:
        errors = [line.strip() for line in tail if "Error" in line or "error" in line]
        detail = errors[-1] if errors else ""
    return f"torchrun {how}" + (f" ({detail[:300]})" if detail else "")


class Driver:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        events, result = _flag(args.worker, "--events"), _flag(args.worker, "--result")
        self.events = Path(events) if events else None
        self.result = Path(result) if result else None
        self.runners: list[Any] = []
        self.stopping = False

    def event(self, message: str, level: str = "info") -> None:
        """An event line in the run's events (``run_spec``'s format), and on the log."""
        print(f"anytune_ray.multinode: {message}", flush=True)
        if self.events is None:
            return
        line = {"kind": "event", "created_at": int(time.time()), "level": level, "message": message}
        with self.events.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, sort_keys=True) + "\n")

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def stop_all(self) -> None:
        import ray

        refs = [runner.stop.remote() for runner in self.runners]
        with contextlib.suppress(Exception):
            ray.wait(refs, num_returns=len(refs), timeout=2.0)

    def main(self) -> int:
        import ray
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        args = self.args
        ray.init(log_to_driver=True)
        for signum in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which sets its own
            signal.signal(signum, self.on_signal)
        share = bundle(args.num_cpus, args.num_gpus, args.memory)
        if not share:
            empty = "each node's bundle is empty: set num_cpus or num_gpus above 0"
            return self.fail(empty, code="invalid_options")
        group = placement_group([share] * args.nodes, strategy="STRICT_SPREAD")
        ready = group.ready()
        deadline = time.monotonic() + args.placement_timeout
        while not ray.wait([ready], timeout=1.0)[0]:
            if self.stopping:
                return 143
            if time.monotonic() > deadline:
                remove_placement_group(group)
                nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
                alive = sum(1 for node in nodes if node.get("Alive"))
                return self.fail(
                    code="insufficient_resources",
                    message=f"the cluster could not place {args.nodes} nodes with {share} each "
                    f"(STRICT_SPREAD: one per node) within {args.placement_timeout:g} s; it has "
                    f"{alive} alive node(s). Ask for fewer (-o num_nodes), smaller nodes "
                    "(-o num_cpus / num_gpus / memory), or a longer -o placement_timeout while "
                    "an autoscaler adds nodes",
                )
        actor = ray.remote(NodeRunner)
        for index in range(args.nodes):
            strategy = PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=index)
            options: dict[str, Any] = {"num_cpus": args.num_cpus, "num_gpus": args.num_gpus}
            if args.memory:
                options["memory"] = args.memory
            runner = actor.options(max_concurrency=4, scheduling_strategy=strategy, **options)
            self.runners.append(runner.remote())
        places = ray.get([runner.where.remote() for runner in self.runners])
        addr = places[0]["ip"]
        port = ray.get(self.runners[0].free_port.remote())
        waiting = {}
        for index, (runner, place) in enumerate(zip(self.runners, places, strict=True)):
            argv = torchrun(
                args.worker,
                nodes=args.nodes,
                rank=index,
                per_node=args.nproc_per_node,
                addr=addr,
                port=port,
            )
            self.event(
                f"Node {index} of {args.nodes} (Ray node {place['node']}, {place['ip']}): "
                f"torchrun --node_rank {index}, {args.nproc_per_node} process(es), "
                f"master {addr}:{port}."
            )
            waiting[runner.run.remote(argv)] = index
        return self.wait(waiting, places)

    def wait(self, waiting: dict[Any, int], places: list[dict[str, Any]]) -> int:
        """Until every node ends. After a first failure the others get ``PEER_WINDOW``
        seconds to end on their own (a dead peer breaks their collectives), then are
        stopped; the cause is a failed node with a rank that wrote no result (it died:
        the others' errors are the consequence), else the first failed node."""
        import ray

        failed: list[tuple[int, str]] = []
        until = float("inf")
        while waiting and time.monotonic() < until:
            if self.stopping:
                self.stop_all()
                return 143
            done, _ = ray.wait(list(waiting), num_returns=1, timeout=0.5)
            for ref in done:
                index = waiting.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # the actor died: its node or raylet is gone
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    failed.append((index, f"lost ({first[:300]})"))
                else:
                    if outcome["status"] != 0:
                        failed.append((index, cause(outcome["status"], outcome["tail"])))
                if failed:
                    until = min(until, time.monotonic() + PEER_WINDOW)
        if not failed:
            return 0
        died = [(index, why) for index, why in failed if self.silent_ranks(index)]
        index, why = (died or failed)[0]
        message = f"node {index} of {self.args.nodes} ({places[index]['ip']}): {why}"
        silent = self.silent_ranks(index)
        if silent and self.result is not None:
            # The client reads a rank's failure from result-rank<N>.json (as the local worker
            # does); this rank could not write its own.
            hint = f"`anytune resume {self.job_id()}` continues from the newest checkpoint"
            outcome = {"ok": False, "code": "worker_died", "message": f"{message}; {hint}"}
            _write_json(self.result.with_name(f"result-rank{silent[0]}.json"), outcome)
        return self.fail(message, stop=bool(waiting))

    def ranks(self, index: int) -> range:
        per_node = self.args.nproc_per_node
        return range(index * per_node, (index + 1) * per_node)

    def silent_ranks(self, index: int) -> list[int]:
        """Node ``index``'s ranks without a result file (rank 0 always writes one, the
        others when they fail)."""
        if self.result is None:
            return []
        names = {0: self.result.name}
        return [
            rank
            for rank in self.ranks(index)
            if not self.result.with_name(names.get(rank, f"result-rank{rank}.json")).exists()
        ]

    def job_id(self) -> str:
        request = self.args.worker[3] if len(self.args.worker) > 3 else ""
        with contextlib.suppress(OSError, ValueError, TypeError):
            return str(json.loads(Path(request).read_text(encoding="utf-8"))["job_id"])
        return "JOB"

    def fail(self, message: str, *, stop: bool = False, code: str | None = None) -> int:
        """End the job as failed: the event, and the cause as the log's last line. With
        ``code``, the failure is the job's outcome (``RESULT``) unless a rank wrote one."""
        import ray

        if code and self.result is not None and not self.result.exists():
            _write_json(self.result, {"ok": False, "code": code, "message": message})
        if stop:
            self.stop_all()
        # The actors' output reaches this log asynchronously: stop it first, so the cause is
        # the log's last line (the one the client shows when no result says more).
        with contextlib.suppress(Exception):
            ray.shutdown()
        self.event(f"Multi-node training failed: {message}.", "error")
        print(f"Error: multi-node training failed: {message}", file=sys.stderr, flush=True)
        return 1


def _write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m anytune_ray.multinode")
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--nproc-per-node", type=int, default=1)
    parser.add_argument("--num-cpus", type=float, default=1.0)
    parser.add_argument("--num-gpus", type=float, default=0.0)
    parser.add_argument("--memory", type=int, default=0)
    parser.add_argument("--placement-timeout", type=float, default=PLACEMENT_TIMEOUT)
    parser.add_argument("worker", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    args.worker = _after_dashes(args.worker)
    if not args.worker:
        parser.error("the training command goes after --")
    return Driver(args).main()


def _flag(argv: Sequence[str], name: str) -> str | None:
    """The value after ``name`` in ``argv`` (the training command's own flags)."""
    for index, value in enumerate(argv[:-1]):
        if value == name:
            return argv[index + 1]
    return None


def _after_dashes(rest: list[str]) -> list[str]:
    return rest[1:] if rest[:1] == ["--"] else rest


if __name__ == "__main__":
    sys.exit(main())
