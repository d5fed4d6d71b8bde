"""Exactly what is trained on key real templates (Qwen2.5, Qwen3, QwQ, Llama 3.1, Phi-3.5,
GLM-4.6, gpt-oss, DeepSeek R1, Mistral Nemo), and the same refusals through ``anytune validate``
and ``anytune data render``. The generic checks over every template are in
``test_chat_templates.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

import templatekit as tk
from jobhelp import anytune_cli
from test_chat_templates import CONVERSATIONS, encoder_for, turns_of

pytestmark = pytest.mark.skipif(
    tk.templates_dir() is None, reason="../shared/chat-templates (the real templates) is absent"
)


def trained(name: str, label: str, **kwargs: Any) -> tuple[list[str], list[str], int]:
    """(trained texts, context texts, number of sequences) of one conversation."""
    encoder = encoder_for(name)
    if kwargs:
        encoder.template.kwargs.update(kwargs)
    example = CONVERSATIONS[label]
    encoded = encoder.encode(example["messages"], example.get("tools"), example.get("functions"))
    decode = encoder.tokenizer.decode
    turns = turns_of(encoded)
    return [decode(t) for _, t in turns], [decode(c) for c, _ in turns], len(encoded.sequences)


def test_chatml_multi_turn_is_one_sequence_trained_through_im_end() -> None:
    texts, contexts, sequences = trained("Qwen-Qwen2.5-7B-Instruct", "multi_turn")
    assert texts == ["Paris.<|im_end|>", "Rome.<|im_end|>"] and sequences == 1
    assert contexts[1].endswith(
        "Paris.<|im_end|>\n<|im_start|>user\nAnd of Italy?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_answer_starting_with_newlines_is_trained_from_its_first_character() -> None:
    # issue 8 item 7: the "\n\n" after ChatML's "assistant\n" used to straddle the boundary
    texts, contexts, _ = trained("Qwen-Qwen2.5-7B-Instruct", "whitespace")
    assert texts == ["\n\n  Hi there.  \n<|im_end|>"]
    assert contexts[0].endswith("<|im_start|>assistant\n")


def test_control_token_lookalikes_in_content_are_text() -> None:
    encoder = encoder_for("Qwen-Qwen2.5-7B-Instruct")
    example = CONVERSATIONS["lookalikes"]
    ((_, ids),) = turns_of(encoder.encode(example["messages"]))
    im_end = encoder.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert ids.count(im_end) == 1 and ids[-1] == im_end  # only the template's own


def test_assistant_first_trains_only_the_answer() -> None:
    # issue 8 item 1: BOS, default system prompt and header used to be trained
    texts, contexts, _ = trained("Qwen-Qwen2.5-7B-Instruct", "assistant_first")
    assert texts == ["Hello, how can I help?<|im_end|>", "Paris.<|im_end|>"]
    assert contexts[0] == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
        "assistant.<|im_end|>\n<|im_start|>assistant\n"
    )
    texts, contexts, _ = trained("meta-llama-Llama-3.1-8B-Instruct", "assistant_first")
    assert texts[0] == "Hello, how can I help?<|eot_id|>"
    assert contexts[0].startswith("<|begin_of_text|><|start_header_id|>system")


def test_llama3_trains_through_eot() -> None:
    texts, _, sequences = trained("meta-llama-Llama-3.1-8B-Instruct", "multi_turn")
    assert texts == ["Paris.<|eot_id|>", "Rome.<|eot_id|>"] and sequences == 1


def test_phi35_stops_at_end_and_never_trains_the_trailing_endoftext() -> None:
    # issue 8 item 5
    encoder = encoder_for("microsoft-Phi-3.5-mini-instruct")
    example = CONVERSATIONS["single"]
    encoded = encoder.encode(example["messages"])
    assert [encoder.tokenizer.decode(t) for _, t in turns_of(encoded)] == ["Paris.<|end|>"]
    endoftext = encoder.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert all(endoftext not in row["input_ids"] for row in encoded.rows)


def test_glm_answers_end_with_the_stop_token_the_template_never_writes() -> None:
    # issue 8 item 4: GLM-4.6 ends a turn only when the next header starts
    texts, _, _ = trained("GLM-4.6", "single")
    assert texts == ["\n<think></think>\nParis.<|endoftext|>"]


def test_qwen3_reasoning_and_enable_thinking() -> None:
    name = "Qwen-Qwen3-0.6B"
    # thinking on (default), no reasoning: the template's empty block is what it generates
    assert trained(name, "single")[0] == ["<think>\n\n</think>\n\nParis.<|im_end|>"]
    # enable_thinking=false: the empty block is in the prompt, not trained
    texts, contexts, _ = trained(name, "single", enable_thinking=False)
    assert texts == ["Paris.<|im_end|>"]
    assert contexts[0].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    # reasoning_content is trained as part of the answer
    texts, _, _ = trained(name, "reasoning")
    assert texts == ["<think>\nThree sevens make 21.\n</think>\n\n21<|im_end|>"]
    # history drops past reasoning: each turn is trained in its own inference context
    texts, contexts, sequences = trained(name, "multi_turn")
    assert sequences == 2 and "<think>" not in contexts[1]
    assert texts[1] == "<think>\n\n</think>\n\nRome.<|im_end|>"


def test_generation_prompts_that_open_a_think_block() -> None:
    # QwQ (this copy closes the block in the prompt unless enable_thinking is set)
    texts, contexts, _ = trained("Qwen-QwQ-32B", "single")
    assert texts == ["Paris.<|im_end|>"] and contexts[0].endswith("assistant\n<think>\n</think>")
    # DeepSeek R1 distills: the prompt opens <think>; the model closes it, then answers
    name = "deepseek-ai-DeepSeek-R1-Distill-Llama-8B"
    texts, contexts, _ = trained(name, "single")
    assert contexts[0].endswith("<｜Assistant｜><think>\n")
    assert texts == ["\n</think>\n\nParis.<｜end▁of▁sentence｜>"]
    texts, _, _ = trained(name, "reasoning")
    assert texts == ["Three sevens make 21.\n</think>\n\n21<｜end▁of▁sentence｜>"]


def test_gpt_oss_channels_and_reasoning() -> None:
    name = "openai-gpt-oss-120b"
    assert trained(name, "single")[0] == ["<|channel|>final<|message|>Paris.<|return|>"]
    assert trained(name, "reasoning")[0] == [
        "<|channel|>analysis<|message|>Three sevens make 21.<|end|><|start|>assistant"
        "<|channel|>final<|message|>21<|return|>"
    ]


def test_mistral_nemo_system_prompt_moves_to_the_last_user_turn() -> None:
    texts, contexts, sequences = trained("mistralai-Mistral-Nemo-Instruct-2407", "multi_turn")
    assert texts == ["Paris.</s>", "Rome.</s>"] and sequences == 2
    assert contexts[0].endswith("[INST]Be terse.\n\nCapital of France?[/INST]")
    assert contexts[1].endswith(
        "[INST]Capital of France?[/INST]Paris.</s>[INST]Be terse.\n\nAnd of Italy?[/INST]"
    )


def test_legacy_functions_train_exactly_like_tools() -> None:
    # issue 8 item 2: the call used to train as an empty answer
    encoder = encoder_for("Qwen-Qwen2.5-7B-Instruct")
    legacy = CONVERSATIONS["legacy_functions"]
    call = {
        "id": "call00001",
        "type": "function",
        "function": legacy["messages"][1]["function_call"],
    }
    modern = [
        legacy["messages"][0],
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call00001", "name": "get_weather", "content": "SUNNY"},
        legacy["messages"][3],
    ]
    tools = [{"type": "function", "function": legacy["functions"][0]}]
    old = encoder.encode(legacy["messages"], None, legacy["functions"])
    new = encoder.encode(modern, tools)
    assert old.rows == new.rows
    first = encoder.tokenizer.decode(turns_of(old)[0][1])
    assert (
        first
        == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>'
    )


def test_content_null_with_tool_calls_renders_on_templates_that_need_none() -> None:
    # issue 8 item 9: DeepSeek R1's template tests `content is none`; transformers drops None
    encoder = encoder_for("Qwen-Qwen2.5-7B-Instruct")
    example = CONVERSATIONS["parallel_tools_null"]
    texts = [
        encoder.tokenizer.decode(t)
        for _, t in turns_of(encoder.encode(example["messages"], example["tools"]))
    ]
    assert (
        texts[0].count("<tool_call>") == 2 and texts[1] == "Paris is sunny, Rome rainy.<|im_end|>"
    )


@pytest.fixture(scope="module")
def phi_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tk.save_model_dir(
        "microsoft-Phi-3.5-mini-instruct", tmp_path_factory.mktemp("phi") / "m"
    )


def test_validate_reports_what_the_template_cannot_render_at_its_line(
    phi_model: Path, tmp_path: Path
) -> None:
    path = tmp_path / "train.jsonl"
    lines = [
        CONVERSATIONS["single"],
        CONVERSATIONS["parallel_tools_null"],
        CONVERSATIONS["multi_turn"],
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = anytune_cli("validate", str(path), "-p", "local", "-m", str(phi_model))
    assert result.returncode != 0
    expected = f"{path}:2: model {phi_model}'s chat template does not render the tool definitions"
    assert expected in result.stdout + result.stderr, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_data_render_shows_each_turn_and_refuses_the_same_way(
    phi_model: Path, tmp_path: Path
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(CONVERSATIONS["multi_turn"]) + "\n")
    result = anytune_cli("data", "render", str(path), "-p", "local", "-m", str(phi_model))
    assert result.returncode == 0, result.stderr
    assert "[[TRAIN]]Paris.<|end|>[[/TRAIN]]" in result.stdout
    assert "<|endoftext|>" not in result.stdout
    path.write_text(json.dumps(CONVERSATIONS["parallel_tools_null"]) + "\n")
    result = anytune_cli("data", "render", str(path), "-p", "local", "-m", str(phi_model))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "chat template does not render the tool definitions" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "name", ["Qwen-Qwen3-0.6B", "mistralai-Mistral-Nemo-Instruct-2407", "GLM-4.6"]
)
def test_dpo_replies_train_exactly_what_supervised_training_would(name: str) -> None:
    encoder = encoder_for(name)
    prompt = CONVERSATIONS["multi_turn"]["messages"][:-1]
    chosen = {"role": "assistant", "content": "Rome."}
    rejected = {"role": "assistant", "content": "Paris, obviously."}
    prompt_ids, chosen_ids, rejected_ids = encoder.encode_preference(prompt, chosen, rejected)
    for reply, ids in ((chosen, chosen_ids), (rejected, rejected_ids)):
        history = [{**m, "weight": 0} if m["role"] == "assistant" else m for m in prompt]
        ((context, trained_ids),) = turns_of(encoder.encode([*history, reply]))
        assert (prompt_ids, ids) == (context, trained_ids)


class _Quiet:
    def event(self, message: str, *, level: str = "info", metrics: Any = None) -> None: ...

    def checkpoint(self, step: int, path: Path, metrics: dict[str, float]) -> None: ...

    def hyperparameters(self, resolved: dict[str, Any]) -> None: ...

    def should_stop(self) -> str | None:
        return None


def test_the_job_fails_the_same_way_before_loading_the_model(
    phi_model: Path, tmp_path: Path
) -> None:
    from anytune_local.recipe import TrainingFailure, TrainRequest, train

    path = tmp_path / "train.jsonl"
    lines = [CONVERSATIONS["single"], CONVERSATIONS["parallel_tools_null"]]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    request = TrainRequest(
        job_id="ftjob-template",
        base_model=str(phi_model),  # a tokenizer without weights: data comes first
        method="supervised",
        train_path=path,
        valid_path=None,
        output_dir=tmp_path / "out",
        checkpoint_dir=tmp_path / "checkpoints",
    )
    with pytest.raises(TrainingFailure) as info:
        train(request, _Quiet())
    assert info.value.code == "invalid_training_file"
    assert info.value.message.startswith(
        f"{path}:2: model {phi_model}'s chat template does not render the tool definitions"
    )


RUN_AND_REPORT_IMPORTS = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('CLI imported transformers:', 'transformers' in sys.modules,"
    " file=sys.stderr))\n"
    "from anytune.cli import main\n"
    "main(sys.argv[1:])\n"
)


def test_run_leaves_the_exact_check_to_the_job_which_fails_the_same_way(
    phi_model: Path, tmp_path: Path, local_home: Path
) -> None:
    """`run -p local` checks the format and estimates tokens; the job renders exactly before
    the model loads (`DatasetRules.job_counts_exactly`), so the CLI never loads transformers
    and the user still gets the validate message, a non-zero exit and no traceback."""
    import subprocess
    import sys

    path = tmp_path / "train.jsonl"
    lines = [CONVERSATIONS["single"], CONVERSATIONS["parallel_tools_null"]]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    argv = ["run", str(path), "-p", "local", "-m", str(phi_model), "--interval", "0.2"]
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT_IMPORTS, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    # The job names the file as uploaded (its name), not by where the store keeps it.
    expected = f"train.jsonl:2: model {phi_model}'s chat template does not render the tool"
    assert expected in output, output
    assert "/files/" not in output
    assert "Traceback" not in result.stderr
    assert "CLI imported transformers: False" in result.stderr, output
