"""The promise of anytune: the same training JSONL and the same command on every provider.
One file goes through `anytune run` on together, fireworks and openai (their fake servers,
through the vendors' real SDKs) and on local (a tiny model really trained, two steps)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from anytune_fireworks.testing import TEST_ACCOUNT, FakeFireworksServer
from anytune_fireworks.testing import TEST_API_KEY as FIREWORKS_KEY
from anytune_openai.testing import TEST_API_KEY as OPENAI_KEY
from anytune_openai.testing import FakeOpenAIServer
from anytune_together.testing import TEST_API_KEY as TOGETHER_KEY
from anytune_together.testing import FakeTogetherServer

from anytune.testing import write_chat_jsonl

pytestmark = pytest.mark.slow  # trains a real (tiny) model


def test_one_file_four_providers(tmp_path: Path, anytune_home: Path) -> None:
    from anytune_local.recipe.tiny import make_tiny_model

    train = write_chat_jsonl(tmp_path / "train.jsonl", 12)
    before = train.read_bytes()
    tiny = make_tiny_model(tmp_path / "tiny")
    secrets = [TOGETHER_KEY, FIREWORKS_KEY, TEST_ACCOUNT, OPENAI_KEY]
    with (
        FakeTogetherServer() as together,
        FakeFireworksServer() as fireworks,
        FakeOpenAIServer(api_key=OPENAI_KEY) as openai,
    ):
        env = {
            **{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))},
            "HOME": str(tmp_path),
            "ANYTUNE_HOME": str(anytune_home),
            "TOGETHER_API_KEY": TOGETHER_KEY,
            "TOGETHER_BASE_URL": together.url,
            "FIREWORKS_API_KEY": FIREWORKS_KEY,
            "FIREWORKS_ACCOUNT_ID": TEST_ACCOUNT,
            "FIREWORKS_BASE_URL": fireworks.url,
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE_URL": openai.url,
            "TIKTOKEN_CACHE_DIR": str(tmp_path / "no-encodings"),
        }
        runs = {
            "together": ["-m", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"],
            "fireworks": ["-m", "llama-v3p1-8b-instruct"],
            "openai": ["-m", "gpt-4o-mini-2024-07-18"],
            "local": ["-m", str(tiny), "-o", "max_steps=2", "-o", "lora_r=4", "--interval", "0.5"],
        }
        models: dict[str, str] = {}
        for provider, extra in runs.items():
            result = subprocess.run(
                [sys.executable, "-m", "anytune.cli", "run", str(train), "-p", provider,
                 "--interval", "0", *extra],
                capture_output=True, text=True, env=env, timeout=300,
            )  # fmt: skip
            assert result.returncode == 0, f"{provider}: {result.stdout}\n{result.stderr}"
            lines = result.stdout.strip().splitlines()
            assert len(lines) >= 2, f"{provider}: {result.stdout}"  # job id first, model last
            models[provider] = lines[-1]
            for secret in secrets:
                assert secret not in result.stdout + result.stderr, provider
        assert len(together.jobs()) == len(fireworks.jobs()) == len(openai.jobs()) == 1
    assert models["together"] == together.jobs()[0]["model_output_name"]
    # Fireworks names the model after the job unless -o output_model=... says otherwise.
    assert models["fireworks"] == fireworks.jobs()[0]["outputModel"].rsplit("/", 1)[-1]
    assert models["openai"] == openai.jobs()[0]["fine_tuned_model"]
    assert Path(models["local"], "adapter_config.json").is_file()
    assert train.read_bytes() == before  # nothing rewrote the user's file
