"""Secret connection settings (issue 15, items 5 and 8): a provider declares them
(``secret_connection_options``); the job index never records them and nothing the CLI prints
shows them, even a short one no key pattern recognises (Fireworks' account id); the scrubbing
and Retry-After rules are the core's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from anytune import registry, secrets
from anytune.cli import cli
from anytune.client import Client
from anytune.errors import NotFoundError
from anytune.index import JobIndex
from anytune.retry import parse_retry_after
from anytune.testing import InMemoryProvider, write_chat_jsonl
from anytune.types import FileObject

ACCOUNT = "acct-42"


class Secretive(InMemoryProvider):
    """Lists its account id among its connection options by mistake, and echoes it in an
    error message, as a vendor's error might."""

    name = "secretive"
    connection_options: ClassVar[tuple[str, ...]] = ("base_url", "account_id")
    secret_connection_options: ClassVar[tuple[str, ...]] = ("api_key", "account_id")
    secret_min_length: ClassVar[int] = 3

    def __init__(self, base_url: str = "http://x", account_id: str = "", api_key: str = ""):
        super().__init__()
        self.base_url = base_url
        self._account_id = account_id
        self._api_key = api_key

    def get_file(self, file_id: str) -> FileObject:
        if file_id == "file-missing":
            raise NotFoundError(f"no file {file_id} in accounts/{self._account_id}/datasets")
        return super().get_file(file_id)


@pytest.fixture(autouse=True)
def secretive(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    registry.register("secretive", Secretive)
    yield
    registry.unregister("secretive")
    secrets.forget_all()


def test_the_index_never_records_a_secret_setting(tmp_path: Path) -> None:
    index = JobIndex(tmp_path / "index.sqlite3")
    client = Client("secretive", index=index, account_id=ACCOUNT, api_key="key-123456")
    file_id = client.files.create(write_chat_jsonl(tmp_path / "t.jsonl")).id
    job = client.jobs.create(model="m", training_file=file_id)
    (recorded,) = index.lookup(job.id)
    assert dict(recorded.connection) == {"base_url": "http://x"}
    assert ACCOUNT not in (tmp_path / "index.sqlite3").read_bytes().decode("latin-1")


def test_the_cli_never_prints_a_secret_setting() -> None:
    result = CliRunner().invoke(
        cli, ["files", "delete", "file-missing", "-p", "secretive", "-P", f"account_id={ACCOUNT}"]
    )
    assert result.exit_code != 0
    assert "no file file-missing in accounts/***/datasets" in result.stderr
    assert ACCOUNT not in result.output


def test_provider_scrub_uses_the_declared_secrets() -> None:
    provider = Secretive(account_id=ACCOUNT, api_key="sk-abcdefghijklmnop")
    assert provider.secret_values() == ("sk-abcdefghijklmnop", ACCOUNT)
    text = provider.scrub(f"{ACCOUNT} sk-abcdefghijklmnop, masked sk-abcdefghij***")
    assert text == "*** ***, masked ***j***"


def test_scrub_takes_one_secret_or_several() -> None:
    assert secrets.scrub("a sk-123456 b", "sk-123456") == "a *** b"
    assert secrets.scrub("a sk-123456 b", ["sk-123456", None]) == "a *** b"
    assert secrets.scrub("abc", "abc") == "abc"  # too short by default: messages stay intact
    assert secrets.scrub("abc", "abc", minimum=3) == "***"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "Thu, 01 Jan 1970 00:00:00 GMT"}, 0.0),
        (None, None),
    ],
)
def test_parse_retry_after(headers: dict[str, Any] | None, seconds: float | None) -> None:
    assert parse_retry_after(headers) == seconds
