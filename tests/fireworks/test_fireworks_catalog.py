"""Fireworks' published figures as anytune applies them offline (issue 15): the SFT price per
size bracket where the source publishes one, no estimate (and a note saying so) for DPO or an
unpriced bracket, and the context check for a model whose context is known."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from anytune_fireworks import FireworksProvider, catalog, rules
from click.testing import CliRunner

from anytune.cli import cli
from anytune.errors import InvalidArgumentError
from anytune.testing import write_chat_jsonl
from anytune.types import JobSpec


def test_sft_price_per_bracket_from_the_source() -> None:
    small = rules.dataset_rules("llama-v3p1-8b-instruct", "supervised")
    large = rules.dataset_rules("accounts/fireworks/models/llama-v3p3-70b-instruct", "supervised")
    assert small.price is not None and small.price.usd_per_million_tokens == 0.50
    assert large.price is not None and large.price.usd_per_million_tokens == 3.00
    assert small.price.source == "https://fireworks.ai/pricing"


@pytest.mark.parametrize(
    ("model", "method"), [("llama-v3p1-8b-instruct", "dpo"), ("deepseek-v3", "supervised")]
)
def test_no_published_price_means_no_estimate(model: str, method: str) -> None:
    found = rules.dataset_rules(model, method)
    assert found.price is None
    assert any("cost estimate unavailable" in note for note in found.notes)


def test_no_context_is_claimed_without_a_source(tmp_path: Path) -> None:
    found = rules.dataset_rules("qwen3-8b", "supervised")
    assert found.max_tokens_per_example is None
    assert any("no per-example token limit checked" in note for note in found.notes)
    assert (
        rules.dataset_rules("qwen3-8b", "supervised", {"max_length": 4096}).max_tokens_per_example
        == 4096
    )
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    result = CliRunner().invoke(
        cli, ["validate", str(train), "-p", "fireworks", "-m", "qwen3-8b", "--method", "dpo"]
    )
    assert "cost estimate unavailable" in result.output and "about $" not in result.output


def test_a_known_context_is_checked_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Once a context is verified it goes in the table; the check then applies offline.
    table = tuple(
        replace(m, max_context=32_768) if m.name == "qwen3-8b" else m for m in catalog.MODELS
    )
    monkeypatch.setattr(catalog, "MODELS", table)
    assert rules.dataset_rules("qwen3-8b", "supervised").max_tokens_per_example == 32_768
    provider = FireworksProvider(api_key="k" * 20, account_id="acct", base_url="http://127.0.0.1:9")
    spec = JobSpec(model="qwen3-8b", training_file="ds", options={"max_length": 40_000})
    with pytest.raises(InvalidArgumentError, match="context of 32768"):
        provider.validate_spec(spec, check_files=False)
