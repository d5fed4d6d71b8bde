"""OpenAI's dataset rules for ``anytune validate --provider openai``: minimum examples, token
limits per model, token counts (o200k_base offline or a labelled estimate), dated prices,
and OpenAI's "auto" epochs. Nothing here touches the network."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from anytune_openai import AzureOpenAIProvider, OpenAIProvider, catalog
from anytune_openai.testing import TEST_API_KEY as KEY
from anytune_openai.tokens import (
    OpenAIEstimateCounter,
    TiktokenCounter,
    auto_epochs,
    count_chat_tokens,
    encoding_cached,
    token_counter,
)

from anytune.testing import write_chat_jsonl

EXAMPLE = {
    "messages": [
        {"role": "system", "content": "Be brief.", "name": "sys"},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello!"},
    ]
}


def test_rules_for_known_models() -> None:
    rules = OpenAIProvider().dataset_rules("gpt-4o-mini-2024-07-18")
    assert rules.min_examples == 10
    assert rules.max_tokens_per_example == 65_536
    assert rules.price is not None
    assert rules.price.usd_per_million_tokens == 3.0 and rules.price.as_of == catalog.AS_OF
    assert rules.methods == frozenset({"supervised", "dpo"})
    assert rules.auto_epochs is not None and rules.auto_epochs(10) == 10
    nano = OpenAIProvider().dataset_rules("gpt-4.1-nano-2025-04-14")
    assert nano.max_tokens_per_example == 32_768
    assert nano.price is not None and nano.price.usd_per_million_tokens == 1.5
    # a fine-tuned model continues from its base
    assert catalog.lookup("ft:gpt-4.1-mini-2025-04-14:org:x:abc") == catalog.lookup("gpt-4.1-mini")


def test_unknown_model_has_no_limit_or_price_and_says_so() -> None:
    rules = OpenAIProvider().dataset_rules("my-model")
    assert rules.max_tokens_per_example is None and rules.price is None
    assert any("no token limit or price known for my-model" in note for note in rules.notes)


def test_azure_does_not_claim_openais_prices() -> None:
    rules = AzureOpenAIProvider().dataset_rules("gpt-4o-2024-08-06")
    assert rules.price is None and rules.max_tokens_per_example == 65_536


@pytest.mark.parametrize(
    ("examples", "epochs"),
    [(1, 25), (10, 10), (34, 3), (100, 3), (8_333, 3), (8_334, 2), (30_000, 1)],
)
def test_auto_epochs_follows_the_cookbook(examples: int, epochs: int) -> None:
    assert auto_epochs(examples) == epochs


def test_without_the_cached_encoding_counts_are_a_labelled_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty: nothing cached
    assert not encoding_cached("o200k_base")
    counter = token_counter()
    assert isinstance(counter, OpenAIEstimateCounter)
    assert counter.exact is False
    assert counter.description.startswith("estimate")
    assert "o200k_base is not in tiktoken's local cache" in counter.description
    assert counter.count(EXAMPLE) > 10
    rules = OpenAIProvider().dataset_rules("gpt-4o-mini-2024-07-18")
    assert rules.token_counter is not None and rules.token_counter.exact is False
    assert any("TIKTOKEN_CACHE_DIR" in note for note in rules.notes)
    assert list(tmp_path.iterdir()) == []  # nothing was downloaded into the cache


def test_a_corrupt_cached_encoding_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from anytune_openai.tokens import _ENCODINGS

    url, _ = _ENCODINGS["o200k_base"]
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"not an encoding")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert not encoding_cached("o200k_base")  # tiktoken would re-download it: we don't let it
    assert isinstance(token_counter(), OpenAIEstimateCounter)


def test_exact_counter_counts_like_the_cookbook_with_a_real_tiktoken_encoding() -> None:
    """o200k_base is not available offline here, so a real tiktoken Encoding with a tiny
    byte-level vocabulary stands in for it: one token per byte."""
    import tiktoken

    encoding = tiktoken.Encoding(
        name="bytes",
        pat_str=r"\S+|\s+",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={},
    )
    counter = TiktokenCounter("bytes", loaded=encoding)
    assert counter.exact is True
    # 3 messages x 3 + roles (6 + 4 + 9 bytes) + name (1 + 3) + contents (9 + 8 + 6) + priming
    assert counter.count(EXAMPLE) == 9 + 19 + 4 + 23 + 3
    assert count_chat_tokens(EXAMPLE, len) == counter.count(EXAMPLE)
    dpo = {
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go"}],
    }
    assert counter.count(dpo) == 3 + (3 + 4 + 2) + (3 + 9 + 5) + (3 + 9 + 2)
    tools = {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}],
            }
        ],
        "tools": [{"type": "function"}],
    }
    assert counter.count(tools) == (3 + 9) + (3 + 1 + 2) + len(json.dumps(tools["tools"])) + 3


def test_o200k_counts_when_the_encoding_is_cached() -> None:
    if not encoding_cached("o200k_base"):
        pytest.skip("o200k_base is not in tiktoken's local cache on this machine (not downloaded)")
    counter = token_counter()
    assert isinstance(counter, TiktokenCounter)
    hello = {"messages": [{"role": "user", "content": "Hello world"}]}
    assert counter.count(hello) == 3 + 1 + 2 + 3  # message, "user", "Hello world", priming


def test_validate_command_works_offline_without_a_key(tmp_path: Path) -> None:
    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    env = {"PATH": "", "HOME": str(tmp_path), "ANYTUNE_HOME": str(tmp_path / "home")}
    env["TIKTOKEN_CACHE_DIR"] = str(tmp_path / "empty-cache")
    code = (
        "import sys\n"
        "from anytune.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "finally:\n"
        "    print('openai imported:', 'openai' in sys.modules, file=sys.stderr)\n"
    )
    args = ["validate", str(train), "--provider", "openai", "--model", "gpt-4o-mini-2024-07-18"]
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "estimate" in out.lower()
    assert "openai imported: False" in result.stderr
    assert KEY not in out
