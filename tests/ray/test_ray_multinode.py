"""Multi-node jobs (``-o num_nodes``) on a real two-node Ray cluster on this host: the head
(``LocalHead``, 1 CPU) and a second raylet (``LocalNode``, 1 CPU), each node one bundle of a
STRICT_SPREAD placement group running its own torchrun. Two nodes train as one process does;
a cancel leaves no training process on either node; a node that fails stops the other and
fails the job with its cause; more nodes than the cluster has fail the job clearly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST_OPTIONS, stop_live_jobs, until

from anytune.errors import InvalidArgumentError
from anytune.polling import wait
from anytune.types import Hyperparameters, Job, JobSpec, JobStatus

pytestmark = pytest.mark.slow

TWO_NODES = {"num_nodes": 2, "num_workers": 1, "num_cpus": 1}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A head and a second node, 1 CPU each, for this module (its own cluster: the
    session's head has no second node)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("ray is not installed: pip install 'ray[default]' (requirements-dev.txt)")
    from anytune_ray.localhead import LocalHead, LocalNode

    with LocalHead(num_cpus=1) as head, LocalNode(head, num_cpus=1):
        yield head


@pytest.fixture
def provider(cluster: Any, tmp_path: Path, anytune_home: Path) -> Iterator[Any]:
    from anytune_ray.provider import RayProvider

    provider = RayProvider(address=cluster.address, storage=str(tmp_path / "storage"))
    yield provider
    stop_live_jobs(provider)


def _processes(marker: str) -> dict[int, str]:
    """Every live process on this host whose command line names ``marker`` (a job id: the
    driver, each node's guard and torchrun, and the training processes)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in line:
            found[int(entry.name)] = line
    return found


def _training(marker: str) -> dict[int, int]:
    """The training processes (``run_spec`` under torchrun) of ``marker``'s job: pid -> RANK."""
    ranks = {}
    for pid, line in _processes(marker).items():
        if "anytune_local.run_spec" not in line or "torch.distributed.run" in line:
            continue
        if "anytune_ray.multinode" in line:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        rank = [v.split(b"=", 1)[1] for v in environ if v.startswith(b"RANK=")]
        if rank:
            ranks[pid] = int(rank[0])
    return ranks


def _none_left(marker: str, timeout: float = 45.0) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while (left := _processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def _started(provider: Any, job_id: str) -> bool:
    return any(e.message.startswith("Step") for e in provider.list_events(job_id))


def _job(provider: Any, model: Path, file_id: str, batch: int = 2, **options: Any) -> Job:
    spec = JobSpec(
        model=str(model),
        training_file=file_id,
        options={**FAST_OPTIONS, "lora_dropout": 0.0, **options},
        seed=7,
        hyperparameters=Hyperparameters(batch_size=batch),
    )
    job: Job = provider.create_job(spec)
    return job


def _final(provider: Any, job_id: str) -> tuple[float, int]:
    final = wait(provider, job_id, interval=0.5, timeout=300)
    assert final.status == JobStatus.SUCCEEDED, final.error
    steps = [e for e in provider.list_events(job_id) if e.message.startswith("Step")]
    assert [e.metrics.step for e in steps if e.metrics] == [1, 2, 3, 4]
    loss = steps[-1].metrics.train_loss if steps[-1].metrics else None
    assert loss is not None and final.trained_tokens
    return float(loss), final.trained_tokens


def test_two_nodes_train_as_one_process_does(
    provider: Any, tiny_model: Path, train_file: Path
) -> None:
    file_id = provider.upload_file(train_file).id
    two = _job(provider, tiny_model, file_id, **TWO_NODES)
    two_loss, two_tokens = _final(provider, two.id)
    messages = [e.message for e in provider.list_events(two.id)]
    placed = [m for m in messages if m.startswith("Node ")]
    assert [m.split(" (")[0] for m in placed] == ["Node 0 of 2", "Node 1 of 2"], messages
    ray_nodes = {m.split("Ray node ")[1].split(",")[0] for m in placed}
    assert len(ray_nodes) == 2  # one bundle per node (STRICT_SPREAD)
    assert any(m.startswith("Training started") and "2 process(es)" in m for m in messages)
    (ray_job,) = [
        j for j in provider.rest.list() if (j.get("metadata") or {}).get("anytune_job") == two.id
    ]
    assert "anytune_ray.multinode" in ray_job["entrypoint"]
    assert "--nodes 2" in ray_job["entrypoint"]
    # The driver holds nothing: both CPUs are the nodes' bundles.
    assert not ray_job.get("entrypoint_num_cpus")

    one = _job(provider, tiny_model, file_id, num_cpus=1)
    one_loss, one_tokens = _final(provider, one.id)
    # Each step's batch of 2 is split 1 + 1 over the nodes; the recipe divides each rank's
    # summed token loss by the token count gathered from all ranks, and DDP averages the
    # gradients, so loss and updates are the one process's up to float32 summation order
    # (measured: 8e-8 relative at step 4). 1e-4 leaves room for other reduction orders and
    # is still far below what one step changes the loss by (~5e-3 relative here).
    assert two_loss == pytest.approx(one_loss, rel=1e-4), (one_loss, two_loss)
    assert two_tokens == one_tokens


def test_cancel_leaves_no_training_process_on_any_node(
    provider: Any, tiny_model: Path, train_file: Path
) -> None:
    file_id = provider.upload_file(train_file).id
    job = _job(provider, tiny_model, file_id, **TWO_NODES, max_steps=100_000)
    until(provider, job.id, lambda j: _started(provider, j.id))
    assert sorted(_training(job.id).values()) == [0, 1]  # a rank on each node
    lines = _processes(job.id).values()
    assert any("--node_rank 0" in line for line in lines)
    assert any("--node_rank 1" in line for line in lines)

    provider.cancel_job(job.id)
    final = until(provider, job.id, lambda j: j.is_terminal, timeout=60)
    assert final.status == JobStatus.CANCELLED
    assert _none_left(job.id) == {}
    # The stop reached the recipe (the driver's SIGTERM, passed to each node's group): rank 0
    # stopped at a step's end and wrote its result, rather than being killed mid-step.
    result = Path(provider.storage.path("jobs", job.id, "runs", "0", "result.json"))
    assert json.loads(result.read_text())["stopped"] == "cancel"


def test_a_failed_node_stops_the_other_and_fails_the_job(
    provider: Any, tiny_model: Path, train_file: Path
) -> None:
    file_id = provider.upload_file(train_file).id
    job = _job(provider, tiny_model, file_id, **TWO_NODES, max_steps=100_000)
    until(provider, job.id, lambda j: _started(provider, j.id))
    (rank1,) = [pid for pid, rank in _training(job.id).items() if rank == 1]
    os.kill(rank1, signal.SIGKILL)  # node 1's training process dies
    final = until(provider, job.id, lambda j: j.is_terminal, timeout=90)
    assert final.status == JobStatus.FAILED and final.error is not None
    assert final.error.code == "worker_died"
    assert "node 1 of 2" in final.error.message and "torchrun exited" in final.error.message
    assert "anytune resume" in final.error.message
    print(final.error.message)
    assert _none_left(job.id) == {}  # node 0, waiting on its peer, was stopped


def test_more_nodes_than_the_cluster_has_fail_clearly(
    provider: Any, tiny_model: Path, train_file: Path
) -> None:
    file_id = provider.upload_file(train_file).id
    options = {**TWO_NODES, "num_nodes": 3, "placement_timeout": 3}
    job = _job(provider, tiny_model, file_id, batch=3, **options)
    final = until(provider, job.id, lambda j: j.is_terminal, timeout=90)
    assert final.status == JobStatus.FAILED and final.error is not None
    assert final.error.code == "insufficient_resources"
    message = final.error.message
    assert "could not place 3 nodes with {'CPU': 1.0} each" in message, message
    assert "2 alive node(s)" in message and "num_nodes" in message
    assert provider.list_events(job.id)[-1].message == f"Job failed: {message}"


def test_num_nodes_is_checked(tmp_path: Path, anytune_home: Path, train_file: Path) -> None:
    from anytune_ray.provider import RayProvider

    provider = RayProvider(address="http://127.0.0.1:9", storage=str(tmp_path / "storage"))
    file_id = provider.upload_file(train_file).id

    def check(batch: int | str, **options: Any) -> None:
        provider.validate_spec(
            JobSpec(
                model="m",
                training_file=file_id,
                options=options,
                hyperparameters=Hyperparameters(batch_size=batch),
            )
        )

    with pytest.raises(InvalidArgumentError, match="num_nodes must be >= 1"):
        check("auto", num_nodes=0)
    with pytest.raises(InvalidArgumentError, match="set num_cpus or num_gpus above 0"):
        check("auto", num_nodes=2, num_cpus=0)
    with pytest.raises(InvalidArgumentError, match="num_workers x num_nodes=4"):
        check(6, num_nodes=2, num_workers=2)
    check(8, num_nodes=2, num_workers=2)
    provider.close()


# -- the guard each node's torchrun runs under (real processes, no Ray) ----------------------
STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "if len(sys.argv) > 1:\n"
    "    subprocess.Popen([sys.executable, '-c', sys.argv[1]])\n"
    "time.sleep(600)\n"
)
"""A command that ignores SIGTERM and starts a child that does too: only SIGKILL to the whole
group ends both."""


def _group(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


@pytest.fixture
def groups() -> Iterator[list[int]]:
    """Process groups a test started, SIGKILLed at its end whatever happened."""
    started: list[int] = []
    yield started
    for pgid in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def _gone(pgid: int, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_guard_ends_its_group_when_its_parent_dies(groups: list[int]) -> None:
    # The parent (the actor's stand-in) starts the guard in a new session, says its pid, waits.
    parent_code = (
        "import os, subprocess, sys, time\n"
        "guard = subprocess.Popen([sys.executable, '-m', 'anytune_ray.guard', '--parent',\n"
        "    str(os.getpid()), '--grace', '1', '--', sys.executable, '-c', sys.argv[1],\n"
        "    sys.argv[1]], start_new_session=True)\n"
        "print(guard.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code, STUBBORN],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    groups.append(parent.pid)
    assert parent.stdout is not None
    guard = int(parent.stdout.readline())
    groups.append(guard)
    deadline = time.monotonic() + 20
    while len(_group(guard)) < 3 and time.monotonic() < deadline:  # guard, command, its child
        time.sleep(0.2)
    assert len(_group(guard)) == 3
    parent.kill()  # the actor dies without stopping anything
    parent.wait()
    assert _gone(guard) == []


def test_guard_sigkills_what_ignores_sigterm_after_the_grace(groups: list[int]) -> None:
    argv = [sys.executable, "-m", "anytune_ray.guard", "--parent", str(os.getpid())]
    argv += ["--grace", "1", "--", sys.executable, "-c", STUBBORN, STUBBORN]
    guard = subprocess.Popen(argv, start_new_session=True)
    groups.append(guard.pid)
    deadline = time.monotonic() + 20
    while len(_group(guard.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(guard.pid, signal.SIGTERM)  # what NodeRunner.stop does
    assert guard.wait(timeout=20) == -signal.SIGKILL
    assert _gone(guard.pid) == []


def test_a_killed_guard_still_stops_its_command(tmp_path: Path, groups: list[int]) -> None:
    stopped = tmp_path / "stopped"
    code = (
        "import pathlib, signal, sys, time\n"
        "def on_term(*_):\n"
        f"    pathlib.Path({str(stopped)!r}).write_text('SIGTERM')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, on_term)\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    argv = [sys.executable, "-m", "anytune_ray.guard", "--parent", str(os.getpid())]
    guard = subprocess.Popen(
        [*argv, "--", sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    groups.append(guard.pid)
    assert guard.stdout is not None and guard.stdout.readline().strip() == "ready"
    guard.kill()  # as Ray kills a dying worker's children
    guard.wait()
    deadline = time.monotonic() + 20
    while not stopped.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stopped.read_text() == "SIGTERM"
