"""anytune eval on the local provider: a tiny adapter trained for real, batched generation,
reference loss as training defines its target."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from adapterkit import sentiment_lines, train_adapter, write_lines
from anytune_local.provider import LocalProvider
from click.testing import CliRunner

from anytune.cli import cli


@pytest.fixture(scope="module")
def adapter(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_adapter(tiny_model, tmp_path_factory.mktemp("eval-adapter"))


def test_batched_greedy_equals_one_at_a_time(adapter: Path, tmp_path: Path) -> None:
    provider = LocalProvider(home=tmp_path / "home")
    # prompts of different lengths: left padding must not change a greedy answer
    conversations = [line["messages"][:-1] for line in sentiment_lines(3, offset=200)]
    conversations[1][-1]["content"] = "Review: it was a long and very very lovely evening."
    batched = provider.generate_batch(str(adapter), conversations, max_new_tokens=4)
    single = [provider.generate(str(adapter), c, max_new_tokens=4) for c in conversations]
    assert batched == single
    sampled = provider.generate_batch(
        str(adapter), conversations, max_new_tokens=4, temperature=1.5
    )
    assert len(sampled) == 3


def test_reference_loss_lower_after_training(
    adapter: Path, tiny_model: Path, tmp_path: Path
) -> None:
    provider = LocalProvider(home=tmp_path / "home")
    examples = sentiment_lines(4, offset=300)
    tuned = provider.score(str(adapter), examples)
    base = provider.score(str(tiny_model), examples)
    assert all(math.isfinite(x) for x in tuned + base)
    assert sum(tuned) < sum(base)
    # only the last assistant message is scored: an earlier answer changes the context only
    two_turns = {"messages": [*examples[0]["messages"], *examples[1]["messages"][1:]]}
    assert provider.score(str(adapter), [two_turns])[0] != pytest.approx(tuned[0])


def test_cli_eval_local_with_baseline(adapter: Path, tiny_model: Path, tmp_path: Path) -> None:
    valid = write_lines(tmp_path / "valid.jsonl", sentiment_lines(8, offset=100))
    report = tmp_path / "eval.json"
    home = tmp_path / "home"
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            str(adapter),
            "-f",
            str(valid),
            "-b",
            str(tiny_model),
            "-p",
            "local",
            "-P",
            f"home={home}",
            "--max-tokens",
            "3",
            "--batch-size",
            "4",
            "-o",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["examples"] == 8
    assert data["tuned"]["reference_loss"] < data["baseline"]["reference_loss"]
    assert data["tuned"]["exact_match"] >= data["baseline"]["exact_match"]
