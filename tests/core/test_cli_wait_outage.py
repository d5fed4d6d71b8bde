"""`anytune wait` against a real HTTP provider on 127.0.0.1 that goes down and comes back:
an outage is not the job's end (issue 9, item 6)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpmemory
import pytest
from click.testing import CliRunner, Result

from anytune.cli import cli
from anytune.testing import write_chat_jsonl
from anytune.types import JobSpec


@pytest.fixture
def server(tmp_path: Path) -> Iterator[httpmemory.ProviderServer]:
    httpmemory.register()
    srv = httpmemory.ProviderServer().start()
    yield srv
    srv.stop()
    httpmemory.unregister()


def paused_job(server: httpmemory.ProviderServer, tmp_path: Path) -> str:
    backend = server.backend
    file_id = backend.upload_file(write_chat_jsonl(tmp_path / "t.jsonl")).id
    job = backend.create_job(JobSpec(model="m", training_file=file_id, options={"steps": 2}))
    backend.pause_job(job.id)
    backend.get_job(job.id)  # the pause takes effect on the next read
    return job.id


def wait_cli(server: httpmemory.ProviderServer, job_id: str, *extra: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            "wait",
            job_id,
            "-p",
            httpmemory.NAME,
            "-P",
            f"base_url={server.url}",
            "--interval",
            "0.05",
            *extra,
        ],
        catch_exceptions=False,
    )


def test_wait_keeps_waiting_through_an_outage_and_says_it_is_retrying(
    server: httpmemory.ProviderServer, tmp_path: Path
) -> None:
    job_id = paused_job(server, tmp_path)

    def outage() -> None:
        time.sleep(0.3)
        server.stop()  # connections are now refused
        time.sleep(2.5)
        server.start()
        server.backend.resume_job(job_id)

    thread = threading.Thread(target=outage)
    thread.start()
    result = wait_cli(server, job_id)
    thread.join()
    assert result.exit_code == 0, result.output
    assert "provider unreachable" in result.stderr
    assert "retrying in" in result.stderr
    assert "the provider answers again" in result.stderr
    assert result.stdout.strip().startswith("ft:m:")  # the fine-tuned model, alone


def test_max_outage_stops_with_exit_75_and_says_the_job_keeps_running(
    server: httpmemory.ProviderServer, tmp_path: Path
) -> None:
    job_id = paused_job(server, tmp_path)
    threading.Timer(0.3, server.stop).start()
    started = time.monotonic()
    result = wait_cli(server, job_id, "--max-outage", "1")
    assert result.exit_code == 75, result.output
    assert time.monotonic() - started < 10
    assert "has not answered for" in result.stderr
    assert "the job keeps running" in result.stderr
    assert f"anytune wait {job_id}" in result.stderr
    assert f"anytune cancel {job_id}" in result.stderr
    assert "Traceback" not in result.output


def test_max_outage_json_error_on_stdout(server: httpmemory.ProviderServer, tmp_path: Path) -> None:
    import json

    job_id = paused_job(server, tmp_path)
    threading.Timer(0.3, server.stop).start()
    result = wait_cli(server, job_id, "--max-outage", "0.5", "--json")
    assert result.exit_code == 75
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "WaitStoppedError" and error["exit_code"] == 75
    assert error["job"]["status"] == "paused"


def test_timeout_during_an_outage_is_124_not_1(
    server: httpmemory.ProviderServer, tmp_path: Path
) -> None:
    job_id = paused_job(server, tmp_path)
    threading.Timer(0.2, server.stop).start()
    result = wait_cli(server, job_id, "--timeout", "1.5")
    assert result.exit_code == 124, result.output
    assert "has not answered for" in result.stderr
    assert f"anytune wait {job_id}" in result.stderr


def test_provider_settings_apply_to_recorded_jobs_without_p(
    server: httpmemory.ProviderServer, tmp_path: Path
) -> None:
    from anytune.index import JobIndex

    job_id = paused_job(server, tmp_path)
    # recorded with a backend that is gone: -P must override what the index says
    JobIndex().record(job_id, httpmemory.NAME, connection={"base_url": "http://127.0.0.1:9"})
    dead = CliRunner().invoke(cli, ["status", job_id], catch_exceptions=False)
    assert dead.exit_code == 1 and "127.0.0.1:9" in dead.stderr
    live = CliRunner().invoke(
        cli, ["status", job_id, "-P", f"base_url={server.url}", "--json"], catch_exceptions=False
    )
    assert live.exit_code == 0, live.output
    assert '"status": "paused"' in live.stdout


def test_connection_settings_from_the_environment_are_recorded(
    server: httpmemory.ProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anytune import Client
    from anytune.index import JobIndex

    monkeypatch.setenv(httpmemory.URL_ENV, server.url)
    client = Client(httpmemory.NAME)
    file_id = client.files.create(write_chat_jsonl(tmp_path / "t.jsonl")).id
    job = client.jobs.create(model="m", training_file=file_id)
    (entry,) = JobIndex().lookup(job.id)
    assert entry.connection == {"base_url": server.url}


def test_job_reads_default_to_short_timeouts_and_p_settings_win(
    server: httpmemory.ProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools
    import socket

    from anytune.index import JobIndex

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)  # accepts connections, never answers: a hung server
    url = f"http://127.0.0.1:{hung.getsockname()[1]}"
    job_id = paused_job(server, tmp_path)
    JobIndex().record(job_id, httpmemory.NAME, connection={"base_url": url})
    seen: list[dict[str, object]] = []
    original = httpmemory.HttpMemoryProvider.__init__

    @functools.wraps(original)  # keeps the signature the CLI reads the settings from
    def spy(self: httpmemory.HttpMemoryProvider, **kwargs: object) -> None:
        original(self, **kwargs)  # type: ignore[arg-type]
        seen.append(dict(self.settings))

    monkeypatch.setattr(httpmemory.HttpMemoryProvider, "__init__", spy)
    started = time.monotonic()
    result = CliRunner().invoke(
        cli, ["status", job_id, "-P", "timeout=0.3", "-P", "max_retries=0"], catch_exceptions=False
    )
    hung.close()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert time.monotonic() - started < 5  # -P applied without -p
    assert seen[-1] == {"timeout": "0.3", "max_retries": "0"}
    CliRunner().invoke(cli, ["status", job_id, "-P", f"base_url={server.url}"])
    assert seen[-1] == {"timeout": "10", "max_retries": "1"}  # the read defaults
    CliRunner().invoke(cli, ["cancel", job_id, "-P", f"base_url={server.url}"])
    assert seen[-1] == {"timeout": None, "max_retries": None}  # a write: the provider's own
