"""The data commands through the real CLI group: validate, prepare, data render."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner, Result

from anytune import registry
from anytune.cli import cli
from anytune.errors import DatasetError
from anytune.provider import (
    Capabilities,
    DatasetRules,
    OptionSpec,
    Price,
    Provider,
    RenderedExample,
    Segment,
    TokenCounter,
)

HEAVY_MODULES = (
    "torch",
    "transformers",
    "openai",
    "tiktoken",
    "peft",
    "trl",
    "anytune_openai",
    "anytune_local",
)


class WordCounter(TokenCounter):
    exact = True
    description = "words (test counter)"

    def count(self, example: Mapping[str, Any]) -> int:
        return sum(len(str(m.get("content", "")).split()) for m in example["messages"])


class ContractProvider(Provider):
    """A test double of the provider *contract*: dataset rules and render_example only."""

    name = "contracttest"
    capabilities = Capabilities(render=True, methods=frozenset({"supervised"}))
    option_specs: ClassVar[Mapping[str, OptionSpec]] = {
        "max_length": OptionSpec(int, help="tokens kept")
    }
    instances: ClassVar[list[ContractProvider]] = []

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.closed = False
        ContractProvider.instances.append(self)

    def dataset_rules(
        self,
        model: str | None,
        *,
        method: str = "supervised",
        options: Mapping[str, Any] | None = None,
    ) -> DatasetRules:
        return DatasetRules(
            min_examples=2,
            max_tokens_per_example=6,
            token_counter=WordCounter(),
            price=Price(usd_per_million_tokens=25.0, as_of="2026-11-01", source="test"),
            methods=self.capabilities.methods,
            auto_epochs=lambda n: 3,
        )

    def render_example(
        self, example: Mapping[str, Any], *, model: str, line: int, options: Mapping[str, Any]
    ) -> RenderedExample:
        segments: list[Segment] = []
        for message in example["messages"]:
            if message["content"] == "explode":
                raise DatasetError(f"model {model} cannot render this example")
            segments.append(Segment(f"<|{message['role']}|>", False))
            trained = message["role"] == "assistant" and message.get("weight", 1) == 1
            segments.append(Segment(message["content"] + "<|end|>", trained))
        tokens = len(segments)
        limit = options.get("max_length")
        assert limit is None or isinstance(limit, int)  # coerced from the command line
        return RenderedExample(
            line=line,
            segments=segments,
            tokens=min(tokens, limit) if limit else tokens,
            trained_tokens=sum(1 for s in segments if s.trained),
            truncated=bool(limit and tokens > limit),
        )

    def close(self) -> None:
        self.closed = True

    def _stub(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    upload_file = get_file = submit_job = get_job = list_jobs = _stub
    list_events = list_checkpoints = cancel_job = _stub


class NoRenderProvider(ContractProvider):
    name = "norender"
    capabilities = Capabilities()

    render_example = Provider.render_example


@pytest.fixture(autouse=True)
def providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ANYTUNE_PROVIDER", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    registry.register("contracttest", ContractProvider)
    registry.register("norender", NoRenderProvider)
    ContractProvider.instances.clear()
    yield
    registry.unregister("contracttest")
    registry.unregister("norender")


def ex(question: str, answer: str, **assistant: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer, **assistant},
        ]
    }


def write(path: Path, *records: Any) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- validate ------------------------------------------------------------------------------


def test_validate_ok_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("a", "b"), ex("c", "d"))
    result = run("validate", str(path))
    assert result.exit_code == 0, result.output
    assert f"Training file {path}: 2 chat examples" in result.stdout
    assert "OK: the data is usable." in result.stdout


def test_validate_bad_file_exits_1_listing_problems(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("a", "b"), {"messages": []}, ex("c", "d", weight=5))
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert (
        f"{path}:2: messages is empty (add at least a user and an assistant message)"
        in result.stdout
    )
    assert f"{path}:3: messages[1].weight must be 0 or 1, got 5" in result.stdout
    assert "NOT USABLE: 2 errors" in result.stdout
    assert "Traceback" not in result.output


def test_validate_json(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("a", "b"), "{oops")
    result = run("validate", str(path), "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["error_count"] == 1
    assert data["errors"][0]["line"] == 2
    assert data["stats"]["train"]["examples"] == 2


def test_validate_with_provider_rules_and_cost(tmp_path: Path) -> None:
    train = write(
        tmp_path / "t.jsonl", ex("one two", "three"), ex("a b c d", "e f g"), ex("x", "y")
    )
    valid = write(tmp_path / "v.jsonl", ex("x", "y"))
    result = run(
        "validate",
        str(train),
        "--validation-file",
        str(valid),
        "-p",
        "contracttest",
        "-m",
        "m1",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["provider"] == "contracttest"
    assert data["stats"]["tokens"] == {
        "exact": True,
        "counter": "words (test counter)",
        "max_per_example": 6,
    }
    assert data["stats"]["train"]["truncated"] == 1
    assert data["stats"]["overlap"]["pairs"] == [[3, 1]]
    assert data["cost"]["epochs"] == 3
    assert data["cost"]["billed_tokens"] == (3 + 6 + 2) * 3
    assert data["cost"]["usd"] == pytest.approx(33 * 25.0 / 1e6)
    assert ContractProvider.instances[-1].closed
    human = run("validate", str(train), "-p", "contracttest", "-m", "m1", "--n-epochs", "2")
    assert (
        "= 22 billed tokens; about $0.00 at $25.00 per 1M tokens (price as of 2026-11-01, test)"
        in human.stdout
    )


def test_validate_provider_minimum_and_method(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("a", "b"))
    result = run("validate", str(path), "-p", "contracttest")
    assert result.exit_code == 1
    assert (
        f"{path}: 1 example, but contracttest needs at least 2 (add more examples)" in result.stdout
    )
    result = run("validate", str(path), "-p", "contracttest", "--method", "dpo")
    assert (
        "provider 'contracttest' does not support method 'dpo' (supported: supervised)"
        in result.stdout
    )


def test_validate_dpo_hint(tmp_path: Path) -> None:
    line = {
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "a"}],
        "non_preferred_output": [{"role": "assistant", "content": "b"}],
    }
    path = write(tmp_path / "p.jsonl", line)
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert f"{path}:1: line 1 is a DPO preference example; use --method dpo" in result.stdout
    assert run("validate", str(path), "--method", "dpo").exit_code == 0


def test_validate_usage_and_file_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("a", "b"))
    bad_epochs = run("validate", str(path), "--n-epochs", "zero")
    assert bad_epochs.exit_code == 2
    assert "'zero' is not a whole number or 'auto'" in bad_epochs.output
    missing = run("validate", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 1
    assert f"Error: {tmp_path / 'nope.jsonl'}: no such file" in missing.stderr


def test_validate_provider_not_installed_prints_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.KNOWN_DISTRIBUTIONS, "ghost", "anytune-ghost")
    path = write(tmp_path / "t.jsonl", ex("a", "b"))
    result = run("validate", str(path), "--provider", "ghost")
    assert result.exit_code == 1
    assert "provider 'ghost' is not installed" in result.stderr
    assert "pip install anytune-ghost" in result.stderr


# -- prepare -------------------------------------------------------------------------------


def test_prepare_then_validate(tmp_path: Path) -> None:
    source = tmp_path / "qa.csv"
    source.write_text("q,a\nhi,hello\nbye,see you\nhi,hello\n", encoding="utf-8")
    out = tmp_path / "train.jsonl"
    result = run(
        "prepare",
        str(source),
        "-o",
        str(out),
        "--input-field",
        "q",
        "--output-field",
        "a",
        "--system-prompt",
        "Be kind.",
    )
    assert result.exit_code == 0, result.output
    assert f"Wrote 2 examples to {out}." in result.stdout
    assert "dropped 1 duplicate;" in result.stdout
    assert run("validate", str(out)).exit_code == 0
    again = run("prepare", str(source), "-o", str(out), "--input-field", "q", "--output-field", "a")
    assert again.exit_code == 1
    assert f"{out} already exists" in again.stderr


def test_prepare_bad_records_exit_1_with_lines(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", {"input": "a", "output": "b"}, {"input": "a"})
    out = tmp_path / "o.jsonl"
    result = run("prepare", str(source), "-o", str(out))
    assert result.exit_code == 1
    assert (
        f"{source}:2: missing field 'output' (the assistant reply); this record has: input"
        in result.stderr
    )
    assert "fix them, or pass --skip-invalid" in result.stderr
    assert not out.exists()


def test_prepare_split_json(tmp_path: Path) -> None:
    source = write(
        tmp_path / "in.jsonl", *[{"input": f"q{i}", "output": f"a{i}"} for i in range(20)]
    )
    out = tmp_path / "o.jsonl"
    result = run(
        "prepare", str(source), "-o", str(out), "--validation-split", "0.1", "--seed", "1", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["written"], data["validation_written"]) == (18, 2)
    assert data["validation_output"] == str(tmp_path / "o.valid.jsonl")
    assert (
        run(
            "prepare",
            str(source),
            "-o",
            str(tmp_path / "x.jsonl"),
            "--validation-output",
            "v.jsonl",
        ).exit_code
        == 2
    )


# -- data render ---------------------------------------------------------------------------


def test_render_marks_trained_text_without_a_tty(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("hi", "hello"), ex("a", "b", weight=0), ex("c", "d"))
    result = run("data", "render", str(path), "-p", "contracttest", "-m", "tiny", "--limit", "2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Trained text is shown between [[TRAIN]] and [[/TRAIN]]." in out
    assert f"=== {path}:1  tokens 4, trained 1" in out
    assert "<|user|>hi<|end|><|assistant|>[[TRAIN]]hello<|end|>[[/TRAIN]]" in out
    assert "<|user|>a<|end|><|assistant|>b<|end|>" in out  # weight 0: not trained
    assert f"{path}:3" not in out


def test_render_color_and_options(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("hi", "hello"))
    result = run(
        "data",
        "render",
        str(path),
        "-p",
        "contracttest",
        "-m",
        "tiny",
        "--color",
        "--option",
        "max_length=3",
    )
    assert result.exit_code == 0, result.output
    assert "\x1b[" in result.stdout and "[[TRAIN]]" not in result.stdout
    assert "tokens 3, trained 1, TRUNCATED" in result.stdout
    bad = run(
        "data",
        "render",
        str(path),
        "-p",
        "contracttest",
        "-m",
        "tiny",
        "--option",
        "max_length=lots",
    )
    assert bad.exit_code == 2  # a usage mistake
    assert "max_length='lots'" in bad.stderr
    unknown = run(
        "data", "render", str(path), "-p", "contracttest", "-m", "tiny", "--option", "nope=1"
    )
    assert "unknown option(s) for provider 'contracttest': nope" in unknown.stderr


def test_render_json_and_bad_examples(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("hi", "hello"), "[broken", ex("explode", "x"))
    result = run("data", "render", str(path), "-p", "contracttest", "-m", "tiny", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [e["line"] for e in data["examples"]] == [1]
    assert data["examples"][0]["segments"][3] == {"text": "hello<|end|>", "trained": True}
    assert data["errors"][1] == f"{path}:3: model tiny cannot render this example"
    assert data["errors"][0].startswith(f"{path}:2: not valid JSON")


def test_render_unsupported_provider(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("hi", "hello"))
    result = run("data", "render", str(path), "-p", "norender", "-m", "x")
    assert result.exit_code == 1
    assert "provider 'norender' does not support render" in result.stderr
    assert run("data", "render", str(path), "-m", "x").exit_code == 2  # no provider
    ContractProvider.instances.clear()
    missing = run("data", "render", str(path) + ".nope", "-p", "contracttest", "-m", "x")
    assert missing.exit_code == 1
    assert f"Error: {path}.nope: no such file" in missing.stderr
    assert ContractProvider.instances == []  # failed before building the provider


# -- start-up cost -------------------------------------------------------------------------

PROBE = """
import json, sys
from anytune.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="anytune")
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("PROBE=" + json.dumps({{"exit": code, "heavy": heavy}}))
"""


def probe(*args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "ANYTUNE_PROVIDER"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY_MODULES), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE=")]
    assert lines, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(lines[-1][len("PROBE=") :])
    return result


def test_validate_imports_no_ml_or_vendor_library(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", *[ex(f"question {i}", f"answer {i}") for i in range(12)])
    assert probe("validate", str(path)) == {"exit": 0, "heavy": []}


def test_help_imports_no_ml_or_vendor_library() -> None:
    assert probe("--help") == {"exit": 0, "heavy": []}


# -- hostile lines -------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000  # json's parser recurses once per level


def test_a_100k_deep_line_is_one_bad_line_everywhere(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("a", "b"), DEEP, ex("c", "d"))
    validated = run("validate", str(path), "--json")
    assert validated.exit_code == 1
    report = json.loads(validated.stdout)
    assert [e["line"] for e in report["errors"]] == [2]
    assert "nested too deeply" in report["errors"][0]["message"]
    assert report["stats"]["train"]["counted_examples"] == 2  # went on to line 3

    rendered = run("data", "render", str(path), "-p", "contracttest", "-m", "tiny", "-n", "3")
    assert f"{path}:2: JSON nested too deeply" in rendered.stderr
    assert f"=== {path}:3" in rendered.stdout

    records = write(
        tmp_path / "r.jsonl", {"input": "q", "output": "a"}, DEEP, {"input": "q2", "output": "a2"}
    )
    prepared = run("prepare", str(records), "-o", str(tmp_path / "out.jsonl"), "--skip-invalid")
    assert prepared.exit_code == 0, prepared.output
    assert f"{records}:2" in prepared.stderr and "nested too deeply" in prepared.stderr

    created = run("create", "-p", "memory", "-m", "b", "-t", str(path))
    assert created.exit_code == 1
    assert f"{path}:2: JSON nested too deeply" in created.stderr
    assert "RecursionError" not in created.output and "unexpected" not in created.output


# -- wording and formats (issue 10, item 15) -----------------------------------------------


def test_counts_are_singular_when_one(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", ex("a", "b"), "not json")
    result = run("validate", str(path))
    assert "NOT USABLE: 1 error; fix it and run again." in result.stdout
    records = write(tmp_path / "r.jsonl", {"input": "q", "output": "a"})
    prepared = run("prepare", str(records), "-o", str(tmp_path / "o.jsonl"))
    assert f"Wrote 1 example to {tmp_path / 'o.jsonl'}." in prepared.stdout
    assert "Read 1 record; dropped 0 duplicates; skipped 0 bad records." in prepared.stdout


def test_estimate_label_says_what_it_adds_and_unpriced_tokens_are_not_billed(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "t.jsonl", ex("a", "b"), ex("c", "d"))
    text = run("validate", str(path), "-p", "memory", "--n-epochs", "1").stdout
    assert "+3 per message, +3 per example" in text
    assert "billed" not in text  # the memory provider has no price
    assert "x 1 epoch (" in text


def test_exact_is_never_said_twice() -> None:
    from anytune.dataset.report import FileStats, ValidationReport, _token_label

    report = ValidationReport(
        method="supervised",
        train=FileStats("t"),
        tokens_exact=True,
        token_counter="o200k_base (exact)",
    )
    assert _token_label(report) == "o200k_base (exact)"


def test_validate_on_a_csv_points_to_prepare(tmp_path: Path) -> None:
    for name in ("qa.csv", "qa.txt"):
        path = tmp_path / name
        path.write_text("input,output\nhi,hello\n")
        result = run("validate", str(path))
        assert result.exit_code == 1
        assert "looks like CSV, not JSONL" in result.stdout
        assert f"anytune prepare {path}" in result.stdout


def test_prepare_on_training_jsonl_says_there_is_nothing_to_convert(tmp_path: Path) -> None:
    path = write(tmp_path / "train.jsonl", ex("a", "b"))
    result = run("prepare", str(path), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 1
    assert "already chat training JSONL" in result.stderr
    assert "anytune validate" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_prepare_csv_with_another_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text("input;output\nWhat is 2+2?;4\n")
    out = tmp_path / "out.jsonl"
    result = run("prepare", str(path), "-o", str(out), "--delimiter", ";")
    assert result.exit_code == 0, result.output
    example = json.loads(out.read_text())
    assert example["messages"][-1] == {"role": "assistant", "content": "4"}


def test_validate_into_a_closed_pipe_keeps_its_exit_code(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(tmp_path / "t.jsonl", *(["not json"] * 2000))
    proc = subprocess.Popen(
        [sys.executable, "-m", "anytune.cli", "validate", str(path), "--max-problems", "2000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"Checked")
    proc.stdout.close()  # what `| head -1` does
    assert proc.wait(timeout=60) == 1
    assert b"Traceback" not in proc.stderr.read()


def test_validate_option_short_flags(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", ex("a", "b"), ex("c", "d"))
    valid = write(tmp_path / "v.jsonl", ex("e", "f"))
    result = run(
        "validate", str(train), "-v", str(valid), "-p", "memory", "-m", "m", "-o", "steps=5"
    )
    assert result.exit_code == 0, result.output
    assert f"Validation file {valid}" in result.stdout
    unknown = run("validate", str(train), "-p", "memory", "-m", "m", "-o", "stepz=5")
    assert unknown.exit_code == 2 and "stepz" in unknown.stderr
    # Options are checked as create checks them, and that depends on the model.
    no_model = run("validate", str(train), "-p", "memory", "-o", "steps=5")
    assert no_model.exit_code == 2 and "--model" in no_model.stderr
    no_provider = run("validate", str(train), "-o", "steps=5")
    assert no_provider.exit_code == 2
