"""Issue 9 on the openai side: a create that commits after the client's timeout is not
billed twice, concurrent uploads of the same content send it once (threads and processes),
and credentials in ``base_url`` are never stored, while every file under ANYTUNE_HOME is
private to the user."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from anytune_openai import DuplicateJobWarning, OpenAIProvider
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.testing import FakeOpenAIServer

from anytune import Client
from anytune.types import JobSpec

CREATE = "POST /v1/fine_tuning/jobs"
LOOKUP = "GET /v1/fine_tuning/jobs"
UPLOAD = "POST /v1/files"
MODEL = "gpt-4o-mini-2024-07-18"


def live(server: FakeOpenAIServer) -> list[dict[str, object]]:
    return [j for j in server.jobs() if j["status"] != "cancelled"]


def test_late_commit_after_a_timeout_makes_one_job(
    server: FakeOpenAIServer, provider: OpenAIProvider, train: Path
) -> None:
    """The issue's case: a 4 s server delay against timeout=1. The look-up keeps going
    (with backoff) until the late job shows up, so nothing is sent twice."""
    spec = JobSpec(model=MODEL, training_file=provider.upload_file(train).id)
    impatient = OpenAIProvider(api_key=KEY, base_url=server.url, timeout=1)
    server.fail_next(CREATE, delay=4)  # handled (committed) only after 4 s
    job = impatient.create_job(spec)
    assert [j["id"] for j in server.jobs()] == [job.id]  # one job created, no duplicate
    assert server.count(CREATE) == 1
    assert server.count(LOOKUP) >= 2  # looked more than once: the first look found nothing


def test_commit_later_than_the_look_up_window_is_cancelled_and_reported(
    server: FakeOpenAIServer, provider: OpenAIProvider, train: Path
) -> None:
    """Past the window the create is sent again; the first one landing afterwards is seen
    by the look-up after the re-send, cancelled, and reported."""
    spec = JobSpec(model=MODEL, training_file=provider.upload_file(train).id)
    impatient = OpenAIProvider(api_key=KEY, base_url=server.url, timeout=0.5, reconcile_seconds=1)
    server.fail_next(CREATE, until=CREATE)  # commits right after the re-send, however late
    with pytest.warns(DuplicateJobWarning) as caught:
        job = impatient.create_job(spec)
    created = server.jobs()
    assert len(created) == 2  # the duplicate really was created (and billed until cancelled)
    (kept,) = live(server)
    assert kept["id"] == job.id
    (warning,) = [w.message for w in caught if isinstance(w.message, DuplicateJobWarning)]
    assert warning.kept == job.id
    assert warning.cancelled == tuple(j["id"] for j in created if j["id"] != job.id)
    assert warning.not_cancelled == ()
    assert "anytune_request_id=" in str(warning) and warning.cancelled[0] in str(warning)


@pytest.mark.filterwarnings("ignore::anytune_openai.DuplicateJobWarning")
def test_racing_creates_with_one_request_id_keep_the_same_job(
    server: FakeOpenAIServer, provider: OpenAIProvider, train: Path
) -> None:
    """Two processes creating with the same caller-supplied id at once: both end up with the
    oldest job, and the other is cancelled (keeping "my own" would cancel both)."""
    spec = JobSpec(
        model=MODEL,
        training_file=provider.upload_file(train).id,
        metadata={"anytune_request_id": "shared-id-1"},
    )
    server.fail_next(CREATE, delay=0.5, times=2)  # both creates in flight together
    results: list[str] = []
    barrier = threading.Barrier(2)

    def create() -> None:
        client = OpenAIProvider(api_key=KEY, base_url=server.url, reconcile_seconds=1)
        barrier.wait()
        results.append(client.create_job(spec).id)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert server.count(CREATE) == 2 and len(server.jobs()) == 2
    (kept,) = live(server)
    assert results == [kept["id"], kept["id"]]


def test_eight_threads_uploading_the_same_file_upload_it_once(
    server: FakeOpenAIServer, train: Path
) -> None:
    server.fail_next(UPLOAD, delay=0.5, times=8)  # a slow upload: all eight overlap
    barrier = threading.Barrier(8)
    ids: list[str] = []

    def upload() -> None:
        provider = OpenAIProvider(api_key=KEY, base_url=server.url)
        barrier.wait()
        ids.append(provider.upload_file(train).id)

    threads = [threading.Thread(target=upload) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert server.count(UPLOAD) == 1
    assert len(ids) == 8 and len(set(ids)) == 1


UPLOADER = """
import sys, time
from pathlib import Path
from anytune_openai import OpenAIProvider
start = float(sys.argv[3])
while time.time() < start:
    time.sleep(0.01)
print(OpenAIProvider(api_key=sys.argv[2], base_url=sys.argv[1]).upload_file(Path(sys.argv[4])).id)
"""


def test_processes_uploading_the_same_file_upload_it_once(
    server: FakeOpenAIServer, train: Path, anytune_home: Path
) -> None:

    server.fail_next(UPLOAD, delay=1.0, times=4)
    start = time.time() + 4  # every process imported and waiting before any uploads
    env = {**os.environ, "ANYTUNE_HOME": str(anytune_home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", UPLOADER, server.url, KEY, str(start), str(train)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    ids = {out.strip() for out, _ in outputs}
    assert server.count(UPLOAD) == 1
    assert len(ids) == 1


SECRET = "hunter2-pass-9876"


def test_credentials_in_base_url_are_used_but_never_stored_or_shown(
    train: Path, anytune_home: Path
) -> None:
    with FakeOpenAIServer(api_key=None) as open_server:  # userinfo turns into Basic auth
        url = open_server.url.replace("http://", f"http://bob:{SECRET}@")
        client = Client("openai", api_key=KEY, base_url=url)
        uploaded = client.files.create(train)
        job = client.jobs.create(model=MODEL, training_file=uploaded.id)
        provider = client.provider
        assert isinstance(provider, OpenAIProvider)
        assert SECRET not in provider.base_url and SECRET not in repr(provider)
        assert provider.base_url == open_server.url
        assert open_server.requests[0].headers.get("host")  # the requests did go there
        assert job.id in [j["id"] for j in open_server.jobs()]
    stored = [p for p in anytune_home.rglob("*") if p.is_file()]
    assert any(p.name == "openai-files.sqlite3" for p in stored)
    for path in stored:
        data = path.read_bytes()
        assert SECRET.encode() not in data, path
        assert b"bob:" not in data, path


def test_connection_errors_do_not_show_url_credentials(anytune_home: Path) -> None:
    provider = OpenAIProvider(
        api_key=KEY, base_url=f"http://bob:{SECRET}@127.0.0.1:9/v1", max_retries=0, timeout=2
    )
    with pytest.raises(Exception) as info:
        provider.list_jobs()
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.__cause__)


def test_files_under_anytune_home_are_private(
    provider: OpenAIProvider, train: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "fresh" / "home"  # does not exist yet: the provider creates it
    monkeypatch.setenv("ANYTUNE_HOME", str(home))
    old = os.umask(0o022)  # the usual umask, which would give 0644 / 0755
    try:
        OpenAIProvider(api_key=KEY, base_url=provider.base_url).upload_file(train)
    finally:
        os.umask(old)
    entries = [home, *home.rglob("*")]
    assert any(p.name.endswith(".lock") for p in entries)
    assert any(p.name == "openai-files.sqlite3" for p in entries)
    for path in entries:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_an_existing_world_readable_cache_is_tightened(
    provider: OpenAIProvider, train: Path, anytune_home: Path
) -> None:
    cache = anytune_home / "openai-files.sqlite3"
    cache.touch(mode=0o644)
    os.chmod(cache, 0o644)
    provider.upload_file(train)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_cli_create_reports_the_cancelled_duplicate_and_exits_0(
    server: FakeOpenAIServer, train: Path, anytune_home: Path
) -> None:
    """The CLI shows the warning as one line (and used to loop forever showing it)."""
    server.fail_next(CREATE, until=CREATE)
    env = {
        **os.environ,
        "ANYTUNE_HOME": str(anytune_home),
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": server.url,
    }
    args = ["create", "-p", "openai", "-m", MODEL, "-t", str(train)]
    settings = ["-P", "timeout=0.5", "-P", "reconcile_seconds=1"]
    done = subprocess.run(
        [sys.executable, "-m", "anytune.cli", *args, *settings],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    (kept,) = live(server)
    assert done.stdout.strip() == kept["id"]
    (warning,) = [line for line in done.stderr.splitlines() if line.startswith("Warning:")]
    assert "took effect 2 times" in warning and kept["id"] in warning
    assert "cancelled the duplicate" in warning
    assert KEY not in done.stdout + done.stderr


def test_a_failing_duplicate_check_does_not_fail_a_created_job() -> None:
    """After an ambiguous failure and a re-send that answered, look-ups that keep failing
    leave the created job returned (it exists and bills), not an error."""
    from anytune_openai._create import CreateOnce

    from anytune.errors import ProviderConnectionError, ServiceUnavailableError
    from anytune.types import Job

    created = Job(
        id="ftjob-b",
        provider="openai",
        model=MODEL,
        status="queued",
        created_at=1,
        training_file="file-1",
    )
    sends: list[int] = []
    lookups: list[int] = []

    def send() -> Job:
        sends.append(1)
        if len(sends) == 1:
            raise ProviderConnectionError("timed out")
        return created

    def lookup() -> list[Job]:
        lookups.append(1)
        if len(sends) == 2:  # after the re-send: the list endpoint is down
            raise ServiceUnavailableError("503")
        return []

    once = CreateOnce(
        provider="openai",
        request_id="r",
        send=send,
        lookup=lookup,
        cancel=lambda job_id: created,
        attempts=3,
        window=0.2,
        user_request_id=False,
        sleep=time.sleep,
    )
    assert once.run() is created
    assert len(sends) == 2 and len(lookups) >= 2


def test_secret_query_parameters_in_base_url_are_not_kept_either() -> None:
    provider = OpenAIProvider(api_key=KEY, base_url=f"https://proxy.example/v1?api-key={SECRET}")
    assert SECRET not in provider.base_url and SECRET not in repr(provider)
    assert SECRET not in provider._account()
    assert provider._errors.scrub(f"echo {SECRET}") == "echo ***"
