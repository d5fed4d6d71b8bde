"""anytune eval's provider-agnostic logic, on the memory provider with a generating model."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from anytune import Client, registry
from anytune.cli import cli
from anytune.errors import DatasetError, UnsupportedOperationError
from anytune.evaluation import evaluate, exact_match, normalize, token_f1
from anytune.provider import Capabilities
from anytune.testing import InMemoryProvider

SYSTEM = {"role": "system", "content": "Answer with the capital."}


class Oracle(InMemoryProvider):
    """A memory provider whose fine-tuned models know the answers and whose base models
    answer one word; it records every batch it is asked for."""

    name: ClassVar[str] = "evalmemory"
    capabilities: ClassVar[Capabilities] = Capabilities(
        generate=True, score=True, methods=frozenset({"supervised"})
    )
    answers: ClassVar[dict[str, str]] = {}
    batches: ClassVar[list[tuple[str, int, float]]] = []

    def generate(
        self,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        *,
        max_new_tokens: int = 128,
        options: Mapping[str, Any] | None = None,
    ) -> str:
        question = str(list(messages)[-1]["content"])
        if model.startswith("ft:"):
            return self.answers.get(question, "?")
        return "Paris"

    def generate_batch(self, model: str, conversations: Any, **settings: Any) -> list[str]:
        self.batches.append((model, len(conversations), settings["temperature"]))
        return [self.generate(model, c) for c in conversations]

    def score(self, model: str, examples: Any, *, options: Any = None) -> list[float]:
        return [0.5 if model.startswith("ft:") else 2.0 for _ in examples]


@pytest.fixture(autouse=True)
def oracle() -> Iterator[None]:
    registry.register(Oracle.name, Oracle)
    Oracle.batches.clear()
    Oracle.answers.clear()
    yield
    registry.unregister(Oracle.name)


def line(question: str, answer: str) -> str:
    messages = [
        SYSTEM,
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]
    return json.dumps({"messages": messages})


QUESTIONS = {"France?": "Paris", "Italy?": "Rome", "Spain?": "Madrid", "Peru?": "Lima"}


def write(path: Path, pairs: Mapping[str, str]) -> Path:
    path.write_text("".join(line(q, a) + "\n" for q, a in pairs.items()))
    return path


def finished_job(client: Client, tmp_path: Path) -> str:
    train = write(tmp_path / "train.jsonl", {"Japan?": "Tokyo", "Chile?": "Santiago"})
    file = client.files.create(train)
    job = client.jobs.create(model="base-model", training_file=file.id)
    return client.jobs.wait(job.id).id


def test_metrics_normalise_case_punctuation_articles() -> None:
    assert normalize("  The  Positive. ") == "positive"
    assert exact_match("Positive.", "positive") == 1.0
    assert exact_match("negative", "positive") == 0.0
    assert token_f1("the red big house", "a big red car") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0


def test_tuned_vs_baseline_side_by_side(tmp_path: Path) -> None:
    client = Client(Oracle(), index=False)
    job_id = finished_job(client, tmp_path)
    Oracle.answers.update({"France?": "Paris", "Italy?": "rome.", "Spain?": "Madrid"})
    valid = write(tmp_path / "valid.jsonl", QUESTIONS)
    report = client.models.evaluate(
        job_id, valid, baseline="base-model", training_file=tmp_path / "train.jsonl", batch_size=3
    )
    assert report.tuned.model.startswith("ft:")
    assert report.tuned.exact == [1.0, 1.0, 1.0, 0.0]
    assert report.baseline is not None and report.baseline.exact == [1.0, 0.0, 0.0, 0.0]
    assert report.tuned.reference_loss == 0.5 and report.baseline.reference_loss == 2.0
    improved, regressed = report.differences()
    assert [report.lines[i] for i in improved] == [2, 3] and regressed == []
    # batches of at most 3, greedy
    tuned = report.tuned.model
    expected = [(tuned, 3, 0.0), (tuned, 1, 0.0), ("base-model", 3, 0.0), ("base-model", 1, 0.0)]
    assert Oracle.batches == expected
    data = report.to_dict()
    assert data["improved_lines"] == [2, 3] and data["tuned"]["exact_match"] == 0.75
    assert data["per_example"][1]["baseline"]["generation"] == "Paris"
    markdown = report.markdown()
    assert "## Improved (2)" in markdown and "| 3 | Spain? | Madrid | Madrid | Paris |" in markdown


def test_overlap_with_training_file_is_refused_then_warned(tmp_path: Path) -> None:
    client = Client(Oracle(), index=False)
    job_id = finished_job(client, tmp_path)
    valid = write(tmp_path / "valid.jsonl", {"France?": "Paris", "Japan?": "Tokyo"})
    train = tmp_path / "train.jsonl"
    with pytest.raises(DatasetError, match="contaminated: 1 evaluation example") as err:
        evaluate(client.provider, job_id, valid, training_file=train)
    assert "--allow-overlap" in str(err.value.hint)
    report = evaluate(client.provider, job_id, valid, training_file=train, allow_overlap=True)
    assert any("valid.jsonl:2 = " in w for w in report.warnings)


def test_no_training_file_is_said(tmp_path: Path) -> None:
    client = Client(Oracle(), index=False)
    valid = write(tmp_path / "valid.jsonl", QUESTIONS)
    report = client.models.evaluate("ft:x", valid)
    assert any("not checked for overlap" in w for w in report.warnings)


def test_bad_lines_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}]
    bad.write_text(
        json.dumps({"messages": messages})
        + "\n"
        + json.dumps({"messages": [*messages, {"role": "user", "content": "x"}]})
        + "\n"
    )
    with pytest.raises(DatasetError) as err:
        evaluate(Oracle(), "ft:x", bad)
    assert err.value.problems[0].startswith(f"{bad}:2: ")


def test_provider_without_generate_is_refused(tmp_path: Path) -> None:
    valid = write(tmp_path / "valid.jsonl", QUESTIONS)
    with pytest.raises(UnsupportedOperationError, match="cannot generate"):
        evaluate(InMemoryProvider(), "m", valid)


def test_default_generate_batch_refuses_sampling() -> None:
    class Plain(InMemoryProvider):
        def generate(self, model: str, messages: Any, **kwargs: Any) -> str:
            return "x"

    assert Plain().generate_batch("m", [[{"role": "user", "content": "a"}]] * 2) == ["x", "x"]
    with pytest.raises(UnsupportedOperationError, match="sampling"):
        Plain().generate_batch("m", [[]], temperature=0.7)


def test_cli_eval_writes_markdown_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    train = write(tmp_path / "train.jsonl", {"Japan?": "Tokyo"})
    runner = CliRunner()
    out = runner.invoke(cli, ["run", str(train), "-p", Oracle.name, "--model", "base"])
    assert out.exit_code == 0, out.output
    job_id = next(x for x in out.output.splitlines() if x.startswith("ftjob-") and " " not in x)
    Oracle.answers.update(QUESTIONS)
    valid = write(tmp_path / "valid.jsonl", QUESTIONS)
    report = tmp_path / "out" / "eval.md"
    result = runner.invoke(
        cli,
        [
            "eval",
            job_id,
            "-f",
            str(valid),
            "-b",
            "base",
            "-o",
            str(report),
            "--train-file",
            str(train),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "exact match 1.000" in result.output and "3 improved, 0 regressed" in result.output
    assert json.loads(report.with_suffix(".json").read_text())["baseline"]["exact_match"] == 0.25
    assert "| tuned |" in report.read_text()
    contaminated = runner.invoke(
        cli, ["eval", job_id, "-f", str(train), "--train-file", str(train)]
    )
    assert contaminated.exit_code != 0 and "contaminated" in contaminated.output
    assert "Traceback" not in contaminated.output


def test_missing_file_is_named(tmp_path: Path) -> None:
    from anytune.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no such file"):
        evaluate(Oracle(), "ft:x", tmp_path / "missing.jsonl")
