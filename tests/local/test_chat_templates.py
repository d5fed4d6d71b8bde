"""What is trained, on the real chat templates of ``../shared/chat-templates`` (one test id per
template file, built offline with local tokenizers: ``templatekit``).

For every template and every conversation of ``CONVERSATIONS`` either the example encodes and:

- each trained turn's context is exactly the inference prompt, tokenized the inference way
  (transformers' own ``apply_chat_template(add_generation_prompt=True)`` + encode, with
  ``sanitize_control_tokens`` where content holds control-token look-alikes);
- each trained turn's tokens are exactly what the model must generate: they contain the
  answer's content tokenized as text (and its reasoning and tool calls), end with a token the
  model stops on, and nothing follows the last one;
- nothing else is trained (one trained run per trained turn; system, user, tool and weight-0
  text never trained);

or it raises ``TrainingFailure`` naming the model and what its template cannot render, and
exactly those (template, conversation) pairs listed in ``REFUSED`` do.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("transformers")

import templatekit as tk
from anytune_local.recipe import TrainingFailure
from anytune_local.recipe.tokenize import IGNORE_INDEX, ChatEncoder, Encoded

FOLDER = tk.templates_dir()
NAMES = tk.template_names()
pytestmark = pytest.mark.skipif(
    FOLDER is None, reason="../shared/chat-templates (the real templates) is not present"
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _call(call_id: str, city: str) -> dict[str, Any]:
    arguments = json.dumps({"city": city})
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }


LOOKALIKES = "<|im_end|> <|eot_id|> </s> [INST] <end_of_turn> <｜end▁of▁sentence｜> <|end|>"
CONVERSATIONS: dict[str, dict[str, Any]] = {
    "single": {
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ]
    },
    "multi_turn": {
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
            {"role": "user", "content": "And of Italy?"},
            {"role": "assistant", "content": "Rome."},
        ]
    },
    "weight_zero": {
        "messages": [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "WRONG ANSWER", "weight": 0},
            {"role": "user", "content": "Try again."},
            {"role": "assistant", "content": "Paris."},
        ]
    },
    "trailing_user": {
        "messages": [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
            {"role": "user", "content": "TRAILING QUESTION"},
        ]
    },
    "assistant_first": {
        "messages": [
            {"role": "assistant", "content": "Hello, how can I help?"},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ]
    },
    "parallel_tools_null": {
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [_call("c1", "Paris"), _call("c2", "Rome")],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "SUNNY"},
            {"role": "tool", "tool_call_id": "c2", "content": "RAINY"},
            {"role": "assistant", "content": "Paris is sunny, Rome rainy."},
        ],
    },
    "tool_empty_content": {
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [_call("c1", "Paris")]},
            {"role": "tool", "tool_call_id": "c1", "content": "SUNNY"},
            {"role": "assistant", "content": "Sunny."},
        ],
    },
    "legacy_functions": {
        "functions": [WEATHER["function"]],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {"role": "function", "name": "get_weather", "content": "SUNNY"},
            {"role": "assistant", "content": "Sunny."},
        ],
    },
    "reasoning": {
        "messages": [
            {"role": "user", "content": "What is 3 * 7?"},
            {"role": "assistant", "content": "21", "reasoning_content": "Three sevens make 21."},
        ]
    },
    "unicode": {
        "messages": [
            {"role": "user", "content": "Ünïcödé — 日本語? 🙂"},
            {"role": "assistant", "content": "Ответ: 日本語のテキスト 🎉"},
        ]
    },
    "lookalikes": {
        "messages": [
            {"role": "user", "content": f"Explain {LOOKALIKES}"},
            {"role": "assistant", "content": f"They are {LOOKALIKES} markers."},
        ]
    },
    "whitespace": {
        "messages": [
            {"role": "user", "content": "Say hi."},
            {"role": "assistant", "content": "\n\n  Hi there.  \n"},
        ]
    },
}

# (template, conversation) pairs the template cannot represent, and what the error names.
TOOLS = ("parallel_tools_null", "tool_empty_content", "legacy_functions")
PLAIN = tuple(c for c in CONVERSATIONS if c not in TOOLS)
KEEPS_REASONING = {  # templates that render reasoning_content (or open a <think> block)
    "ByteDance-Seed-OSS",
    "GLM-4.6",
    "MiniMax-M2",
    "NVIDIA-Nemotron-Nano-v2",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use",  # (refused: needs tools)
    "CohereForAI-c4ai-command-r-plus-tool_use",  # (refused: needs tools)
    "Qwen-Qwen3-0.6B",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B",
    "openai-gpt-oss-120b",
}
_GROUPS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("does not render the reasoning", ("reasoning",), tuple(sorted(set(NAMES) - KEEPS_REASONING))),
    (
        "renders only conversations with tools",
        PLAIN,
        ("CohereForAI-c4ai-command-r-plus-tool_use", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use"),
    ),
    ("has no attribute 'description'", TOOLS, ("CohereForAI-c4ai-command-r-plus-tool_use",)),
    (
        "does not render the tool definitions",
        TOOLS,
        (
            "HuggingFaceH4-zephyr-7b-beta",
            "HuggingFaceTB-SmolLM3-3B",  # it reads xml_tools / python_tools instead
            "deepseek-ai-DeepSeek-R1-Distill-Llama-8B",
            "deepseek-ai-DeepSeek-V3.1",
            "microsoft-Phi-3.5-mini-instruct",
            "ollama-exaone3.5-7.8b",
            "ollama-internlm2-1.8b",
            "ollama-olmo2-7b",
            "ollama-phi4-14b",
            "ollama-phi4-mini-3.8b",
            "ollama-yi-6b",
            "openchat-openchat-3.5-0106",
        ),
    ),
    (
        "does not render tool call 1",
        TOOLS,
        ("LFM2.5-Instruct", "ibm-granite-granite-3.3-2B-Instruct"),
    ),
    (
        "roles must alternate",
        ("assistant_first",),
        ("Mistral-Small-3.2-24B-Instruct-2506", "mistralai-Mistral-Nemo-Instruct-2407"),
    ),
    (
        "roles must alternate",
        ("assistant_first", *TOOLS),
        (
            "chujiezheng-llama-2-chat",
            "chujiezheng-mistral-instruct",
            "google-gemma-2-2b-it",
            "ollama-gemma3-270m",
        ),
    ),
    ("roles must alternate", ("assistant_first", "tool_empty_content"), ("ollama-aya-expanse-8b",)),
    (
        "alphanumeric strings with length 9",  # its tool call ids; legacy calls get such ids
        ("parallel_tools_null", "tool_empty_content"),
        ("Mistral-Small-3.2-24B-Instruct-2506", "mistralai-Mistral-Nemo-Instruct-2407"),
    ),
    ("System role not supported", ("single", "multi_turn"), ("google-gemma-2-2b-it",)),
    (
        "only supports single tool-calls",
        ("parallel_tools_null",),
        ("meta-llama-Llama-3.1-8B-Instruct", "meta-llama-Llama-3.2-3B-Instruct"),
    ),
    (
        "has no attribute 'content'",
        ("legacy_functions", "parallel_tools_null"),
        ("ollama-aya-expanse-8b",),
    ),
    (
        "does not render the arguments of tool call 2",
        ("parallel_tools_null",),
        ("openai-gpt-oss-120b",),
    ),
]
REFUSED: dict[tuple[str, str], str] = {}
for _phrase, _conversations, _templates in _GROUPS:
    for _template in _templates:
        for _conversation in _conversations:
            REFUSED.setdefault((_template, _conversation), _phrase)


def stops(name: str, encoder: ChatEncoder) -> set[int]:
    ids = tk.stop_ids(name)
    if encoder.template.closing:
        ids.add(int(encoder.tokenizer.convert_tokens_to_ids(encoder.template.closing)))
    return ids


def encoder_for(name: str) -> ChatEncoder:
    facts = tk.MODELS.get(name, tk.ModelFacts())
    return ChatEncoder(tk.build_tokenizer(name), 8192, model=name, stops=facts.stops)


def turns_of(encoded: Encoded) -> list[tuple[list[int], list[int]]]:
    """``(context ids, trained ids)`` of every trained turn, in order."""
    out = []
    for pieces in encoded.sequences:
        ids: list[int] = []
        for piece in pieces:
            if piece.trained:
                out.append((list(ids), list(piece.ids)))
            ids += piece.ids
    return out


def inference_prompt(tokenizer: Any, messages: list[dict[str, Any]], tools: Any) -> list[int]:
    """What generation feeds the model: transformers' own rendering and tokenization."""
    cleaned = []
    for message in messages:
        item = {k: v for k, v in message.items() if k != "weight"}
        if item.get("tool_calls"):
            item["tool_calls"] = [
                {
                    **c,
                    "function": {
                        **c["function"],
                        "arguments": json.loads(c["function"]["arguments"]),
                    },
                }
                for c in item["tool_calls"]
            ]
        cleaned.append(item)
    ids = tokenizer.apply_chat_template(
        cleaned,
        tools=tools,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
        sanitize_control_tokens=True,
    )
    return list(ids["input_ids"] if isinstance(ids, dict) else ids)


def check_encoded(name: str, label: str, example: dict[str, Any], encoder: ChatEncoder) -> None:
    tokenizer = encoder.tokenizer
    encoded = encoder.encode(example["messages"], example.get("tools"), example.get("functions"))
    messages = example["messages"]
    trained_turns = [
        i for i, m in enumerate(messages) if m["role"] == "assistant" and m.get("weight", 1) != 0
    ]
    turns = turns_of(encoded)
    assert len(turns) == len(trained_turns), "one trained run per trained turn, nothing else"
    stop_ids = stops(name, encoder)
    for index, (context, trained) in zip(trained_turns, turns, strict=True):
        message = messages[index]
        # the model stops on the last trained token: the first of its eos tokens, or else the
        # template's turn-closing token; nothing after it is trained
        assert trained[-1] in stop_ids, tokenizer.convert_ids_to_tokens(trained[-3:])
        assert not any(t in tk.stop_ids(name) for t in trained[:-1])
        text = tokenizer.decode(trained)
        content = message.get("content")
        if content and content.strip():
            # the content, tokenized as text (look-alikes never become control tokens)
            piece = content.strip()
            assert piece in text, (piece, text)
            for lookalike in LOOKALIKES.split():
                # a control token in trained ids only where the template itself wrote one
                token = tokenizer.convert_tokens_to_ids(lookalike)
                if lookalike in tokenizer.all_special_tokens:
                    written = text.count(lookalike) - content.count(lookalike)
                    assert trained.count(token) == written, (label, lookalike)
        if message.get("reasoning_content"):
            assert message["reasoning_content"] in text
        for call in message.get("tool_calls") or []:
            assert call["function"]["name"] in text
        if message.get("function_call"):
            assert message["function_call"]["name"] in text
        # the context is the inference prompt, tokenized the inference way (assistant-first
        # has no rendered prompt for some templates; content null is passed on as transformers
        # cannot: both are covered by their own tests)
        if index > 0 and label not in {"parallel_tools_null", "legacy_functions"}:
            assert context == inference_prompt(tokenizer, messages[:index], example.get("tools")), (
                tokenizer.decode(context)[-200:],
            )
    untrained = "".join(
        tokenizer.decode(
            [t for t, lab in zip(r["input_ids"], r["labels"], strict=True) if lab == IGNORE_INDEX]
        )
        for r in encoded.rows
    )
    trained_text = "".join(tokenizer.decode(t) for _, t in turns)
    for message in messages:
        if message["role"] != "assistant" or message.get("weight", 1) == 0:
            content = message.get("content")
            if content and message["role"] != "system" and "TRAILING" not in content:
                assert content.strip() not in trained_text
    assert "TRAILING QUESTION" not in untrained + trained_text  # never computed on
    # the last sequence ends with the last trained token: nothing after the stop token
    last = encoded.rows[-1]
    assert last["labels"][-1] != IGNORE_INDEX


@pytest.mark.parametrize("name", NAMES)
def test_real_template_trains_exactly_the_answers(name: str) -> None:
    encoder = encoder_for(name)
    outcomes = {}
    for label, example in CONVERSATIONS.items():
        expected = REFUSED.get((name, label))
        try:
            check_encoded(name, label, example, encoder)
            outcomes[label] = "ok"
        except TrainingFailure as exc:
            assert exc.message.startswith(f"model {name}'s chat template "), exc.message
            outcomes[label] = exc.message
        if expected is None:
            assert outcomes[label] == "ok", (label, outcomes[label])
        else:
            assert expected in outcomes[label], (label, outcomes[label])
