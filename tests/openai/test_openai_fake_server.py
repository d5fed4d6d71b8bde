"""Issue 10 item 3: the shipped fake OpenAI server (``python -m anytune_openai.testing``):
a paused job in time mode is answered at once (it used to spin forever at high CPU), jobs
advance with time rather than one step per request, and run standalone it accepts any key
unless one is set, and says which in its banner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from anytune_openai import OpenAIProvider
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.testing import FakeOpenAIServer

from anytune.types import JobSpec

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def timed() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=KEY, advance="time", tick_seconds=0.1) as fake:
        yield fake


def test_a_paused_job_in_time_mode_is_answered_and_stays_put(
    timed: FakeOpenAIServer, train: Path
) -> None:
    provider = OpenAIProvider(api_key=KEY, base_url=timed.url, timeout=3, max_retries=0)
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(train).id))
    provider.pause_job(job.id)
    time.sleep(0.5)  # several ticks' worth while paused
    started = time.monotonic()
    assert provider.get_job(job.id).status == "paused"  # before: no answer, CPU at 100 %
    assert time.monotonic() - started < 2
    events = len(timed.api.jobs[job.id].events)
    time.sleep(0.3)
    provider.list_events(job.id)
    assert len(timed.api.jobs[job.id].events) == events  # paused time does not count
    provider.resume_job(job.id)
    time.sleep(1.5)
    assert provider.get_job(job.id).status == "succeeded"


def test_time_mode_advances_with_time_not_per_request(timed: FakeOpenAIServer, train: Path) -> None:
    provider = OpenAIProvider(api_key=KEY, base_url=timed.url)
    job = provider.create_job(JobSpec(model=MODEL, training_file=provider.upload_file(train).id))
    time.sleep(1.5)  # 15 ticks; a job takes 9 (validate, queue, 6 steps, finish)
    assert provider.get_job(job.id).status == "succeeded"  # in one request
    assert timed.count("GET /v1/fine_tuning/jobs/{id}") == 1


def test_tick_seconds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tick_seconds"):
        FakeOpenAIServer(advance="time", tick_seconds=0)


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "anytune_openai.testing", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(2))
    return proc, banner


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    return err


def test_standalone_accepts_any_key_and_prints_one() -> None:
    proc, banner = _start()
    try:
        assert banner["OPENAI_BASE_URL"].startswith("http://127.0.0.1:")
        assert banner["OPENAI_API_KEY"]
        for key in (banner["OPENAI_API_KEY"], "sk-whatever-1234"):
            client = openai.OpenAI(api_key=key, base_url=banner["OPENAI_BASE_URL"], max_retries=0)
            assert client.fine_tuning.jobs.list().data == []
    finally:
        err = _stop(proc)
    assert "any key" in err
    assert "GET /v1/fine_tuning/jobs" in err  # the request counts on exit


def test_standalone_with_a_key_accepts_only_that_key() -> None:
    proc, banner = _start("--api-key", "sk-only-this-one")
    try:
        assert banner["OPENAI_API_KEY"] == "sk-only-this-one"
        url = banner["OPENAI_BASE_URL"]
        ok = openai.OpenAI(api_key="sk-only-this-one", base_url=url, max_retries=0)
        assert ok.fine_tuning.jobs.list().data == []
        wrong = openai.OpenAI(api_key="sk-another-key-00", base_url=url, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.fine_tuning.jobs.list()
    finally:
        _stop(proc)


def test_help_describes_the_key_truthfully() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "anytune_openai.testing", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0
    assert "default: any key" in done.stdout


@pytest.mark.parametrize(
    "fields",
    [
        {"seed": -1},
        {"suffix": "x" * 65},
        {"metadata": {"k" * 65: "v"}},
        {"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 60}}}},
        {"method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 3}}}},
    ],
    ids=["seed", "suffix", "metadata", "n_epochs", "beta"],
)
def test_the_fake_refuses_what_openai_refuses(
    server: FakeOpenAIServer, train: Path, fields: dict[str, object]
) -> None:
    """Sent raw through the SDK (the provider would refuse these before sending)."""
    client = openai.OpenAI(api_key=KEY, base_url=server.url, max_retries=0)
    uploaded = client.files.create(file=train.open("rb"), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(model=MODEL, training_file=uploaded.id, **fields)  # type: ignore[arg-type]
    assert server.jobs() == []
