"""Together's published per-model figures as anytune applies them offline (issue 15): the
sequence limit per method, the LoRA price where Together published one (otherwise the estimate
says it is unavailable), the largest LoRA rank, the batch sizes and full training."""

from __future__ import annotations

from pathlib import Path

import pytest
from anytune_together import TogetherProvider, catalog, rules
from click.testing import CliRunner

from anytune.cli import cli
from anytune.errors import InvalidArgumentError
from anytune.spec import Hyperparameters
from anytune.testing import write_chat_jsonl
from anytune.types import JobSpec


def test_published_lora_prices_per_method_and_none_for_full_training() -> None:
    sft = rules.dataset_rules("Qwen/Qwen3.5-9B", "supervised")
    dpo = rules.dataset_rules("qwen/qwen3.5-9b", "dpo")
    assert sft.price is not None and sft.price.usd_per_million_tokens == 0.34
    assert dpo.price is not None and dpo.price.usd_per_million_tokens == 0.84
    assert sft.price.as_of == "2026-09-11" and sft.price.source == catalog.PRICES_SOURCE
    full = rules.dataset_rules("Qwen/Qwen3.5-9B", "supervised", {"lora": False})
    assert full.price is None
    assert any("cost estimate unavailable" in n and "full SFT" in n for n in full.notes)


def test_a_listed_model_without_a_published_price_has_no_estimate() -> None:
    listed = rules.dataset_rules("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "supervised")
    assert listed.price is None and listed.max_tokens_per_example == 131_072
    assert any("cost estimate unavailable" in n for n in listed.notes)
    unknown = rules.dataset_rules("Qwen/Qwen3-8B", "supervised")  # no longer in the table
    assert unknown.price is None and unknown.max_tokens_per_example is None


def test_sequence_limits_are_per_method() -> None:
    assert (
        rules.dataset_rules(
            "meta-llama/Llama-3.3-70B-Instruct-Reference", "supervised"
        ).max_tokens_per_example
        == 24_576
    )
    assert (
        rules.dataset_rules(
            "meta-llama/Llama-3.3-70B-Instruct-Reference", "dpo"
        ).max_tokens_per_example
        == 12_288
    )


def test_validate_says_the_estimate_is_unavailable(tmp_path: Path) -> None:
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    model = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    result = CliRunner().invoke(cli, ["validate", str(train), "-p", "together", "-m", model])
    assert result.exit_code == 0, result.output
    assert "cost estimate unavailable" in result.output and "about $" not in result.output
    priced = CliRunner().invoke(
        cli, ["validate", str(train), "-p", "together", "-m", "Qwen/Qwen3.5-9B"]
    )
    assert priced.exit_code == 0 and "at $0.34 per 1M tokens" in priced.output


def _spec(model: str, **changes: object) -> JobSpec:
    return JobSpec(model=model, training_file="file-x", **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_spec("deepseek-ai/DeepSeek-V3.1", options={"lora_r": 32}), "largest LoRA rank"),
        (_spec("Qwen/Qwen3.5-35B-A3B", options={"lora": False}), "no full fine-tuning"),
        (
            _spec(
                "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
                hyperparameters=Hyperparameters(batch_size=16),
            ),
            "batch_size",
        ),
        (
            _spec(
                "meta-llama/Llama-3.3-70B-Instruct-Reference",
                hyperparameters=Hyperparameters(batch_size=4),
            ),
            "batch_size",
        ),
    ],
)
def test_published_limits_are_checked_before_anything_is_sent(spec: JobSpec, message: str) -> None:
    provider = TogetherProvider(api_key="k" * 20, base_url="http://127.0.0.1:9")
    with pytest.raises(InvalidArgumentError, match=message):
        provider.validate_spec(spec, check_files=False)


def test_within_the_published_limits_is_accepted() -> None:
    provider = TogetherProvider(api_key="k" * 20, base_url="http://127.0.0.1:9")
    for spec in [
        _spec("deepseek-ai/DeepSeek-V3.1", options={"lora_r": 16}),
        _spec("Qwen/Qwen3.5-9B", options={"lora": False}),
        _spec(
            "meta-llama/Llama-3.3-70B-Instruct-Reference",
            hyperparameters=Hyperparameters(batch_size=32),
        ),
    ]:
        provider.validate_spec(spec, check_files=False)
