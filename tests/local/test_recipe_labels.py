"""Loss masking, token by token: only assistant answers with weight != 0 (and their end-of-turn
token) are trained, for the tiny model's ChatML template and for templates without
``{% generation %}`` markers."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

from anytune_local.recipe import count_tokens_counter, render_example
from anytune_local.recipe.tokenize import IGNORE_INDEX, ChatEncoder

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
    {"role": "assistant", "content": "WRONG ANSWER", "weight": 0},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "TOOL SAYS SUNNY"},
    {"role": "assistant", "content": "Sunny."},
]

LLAMA3_TEMPLATE = (  # Meta Llama 3 instruct, as shipped (no generation markers, no tools)
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)
ZEPHYR_TEMPLATE = (  # HuggingFaceH4/zephyr-7b-beta, as shipped
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
    "{% endfor %}"
)


@pytest.fixture(scope="module")
def tiny(tiny_model: Path) -> Path:
    """The session's tiny random model (conftest)."""
    return tiny_model


def tokenizer_with(tiny: Path, template: str | None = None, specials: tuple[str, ...] = ()) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    if specials:
        tokenizer.add_special_tokens({"additional_special_tokens": list(specials)})
    if template is not None:
        tokenizer.chat_template = template
    return tokenizer


def runs(tokenizer: Any, ids: list[int], labels: list[int]) -> list[tuple[bool, str]]:
    """The token sequence as maximal runs of (trained, decoded text)."""
    out: list[tuple[bool, list[int]]] = []
    for token, label in zip(ids, labels, strict=True):
        trained = label != IGNORE_INDEX
        if trained:
            assert label == token  # a trained position predicts its own token
        if out and out[-1][0] == trained:
            out[-1][1].append(token)
        else:
            out.append((trained, [token]))
    return [(trained, tokenizer.decode(tokens)) for trained, tokens in out]


def test_chatml_labels_match_generation_markers_minus_weight_zero(tiny: Path) -> None:
    tokenizer = tokenizer_with(tiny)
    encoded = ChatEncoder(tokenizer, max_length=4096).encode(CONVERSATION, TOOLS)

    # Independent oracle: the template's {% generation %} mask, with the weight-0 turn removed.
    oracle = tokenizer.apply_chat_template(
        [{k: v for k, v in m.items() if k != "weight"} for m in CONVERSATION],
        tools=TOOLS,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    # The same ids, except the newline the template writes after the final <|im_end|>: the
    # model stops at <|im_end|>, so what follows it is neither trained nor computed.
    assert encoded.input_ids == list(oracle["input_ids"])[:-1]
    assert tokenizer.decode(oracle["input_ids"][-1:]) == "\n"
    mask = list(oracle["assistant_masks"])[:-1]
    first_turn_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    start = mask.index(1)
    end = encoded.input_ids.index(first_turn_end, start) + 1  # the weight-0 answer, EOT included
    mask[start:end] = [0] * (end - start)
    expected = [t if m else IGNORE_INDEX for t, m in zip(encoded.input_ids, mask, strict=True)]
    assert encoded.labels == expected

    trained = [
        text
        for is_trained, text in runs(tokenizer, encoded.input_ids, encoded.labels)
        if is_trained
    ]
    assert trained == [
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call><|im_end|>',
        "Sunny.<|im_end|>",
    ]


def test_system_user_tool_and_weight_zero_text_never_trained(tiny: Path) -> None:
    tokenizer = tokenizer_with(tiny)
    encoded = ChatEncoder(tokenizer, max_length=4096).encode(CONVERSATION, TOOLS)
    untrained = "".join(
        t for trained, t in runs(tokenizer, encoded.input_ids, encoded.labels) if not trained
    )
    for text in (
        "You are terse.",
        "Say hello.",
        "WRONG ANSWER",
        "Weather in Paris?",
        "TOOL SAYS SUNNY",
        "get_weather",
    ):
        assert text in untrained
    trained = "".join(
        t for is_trained, t in runs(tokenizer, encoded.input_ids, encoded.labels) if is_trained
    )
    for text in ("You are terse.", "Say hello.", "WRONG ANSWER", "TOOL SAYS SUNNY", "<|im_start|>"):
        assert text not in trained


def test_llama3_template_without_markers(tiny: Path) -> None:
    tokenizer = tokenizer_with(
        tiny,
        LLAMA3_TEMPLATE,
        ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
    )
    tokenizer.bos_token = "<|begin_of_text|>"
    messages = [m for m in CONVERSATION if m["role"] != "tool" and not m.get("tool_calls")]
    encoded = ChatEncoder(tokenizer, max_length=4096).encode(messages)
    assert runs(tokenizer, encoded.input_ids, encoded.labels) == [
        (
            False,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nSay hello.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nWRONG ANSWER<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
        ),
        (True, "Sunny.<|eot_id|>"),
    ]


def test_zephyr_template_ends_turns_with_eos(tiny: Path) -> None:
    # Zephyr closes every turn with eos_token (here <|im_end|>) and a newline between turns.
    tokenizer = tokenizer_with(tiny, ZEPHYR_TEMPLATE, ("<|user|>", "<|assistant|>", "<|system|>"))
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there"},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Goodbye", "weight": 0},
    ]
    encoded = ChatEncoder(tokenizer, max_length=4096).encode(messages)
    assert [t for trained, t in runs(tokenizer, encoded.input_ids, encoded.labels) if trained] == [
        "Hello there<|im_end|>"
    ]


def test_qwen_template_with_tools_trains_only_answers(tiny: Path) -> None:
    try:
        template = (
            importlib.resources.files("trl") / "chat_templates" / "qwen2_5.jinja"
        ).read_text()
    except (FileNotFoundError, ModuleNotFoundError):
        pytest.skip("trl's copy of the Qwen2.5 template is not available")
    tokenizer = tokenizer_with(tiny, template)
    encoded = ChatEncoder(tokenizer, max_length=4096).encode(CONVERSATION, TOOLS)
    pieces = runs(tokenizer, encoded.input_ids, encoded.labels)
    assert [t for trained, t in pieces if trained] == [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>',
        "Sunny.<|im_end|>",
    ]
    assert "<tool_response>\nTOOL SAYS SUNNY\n</tool_response>" in "".join(t for _, t in pieces)


def test_template_that_rewrites_history_trains_each_turn_in_its_own_context(tiny: Path) -> None:
    # Marks the newest message: history renders differently from the newest turn. Such
    # templates used to be refused; each trained turn is now its own sequence.
    tokenizer = tokenizer_with(
        tiny,
        "{% for m in messages %}{% if loop.last %}LAST {% endif %}{{ m.content }}\n{% endfor %}",
    )
    messages = [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2"},
    ]
    encoded = ChatEncoder(tokenizer, max_length=4096).encode(messages)
    assert len(encoded.rows) == 2
    for row, (context, answer) in zip(
        encoded.rows, [("LAST Q1\n", "A1"), ("Q1\nA1\nLAST Q2\n", "A2")], strict=True
    ):
        pieces = runs(tokenizer, row["input_ids"], row["labels"])
        assert pieces[0] == (False, context)
        assert pieces[1][0] and pieces[1][1].startswith(answer) and len(pieces) == 2


def test_truncation_keeps_the_start_and_is_reported(tiny: Path) -> None:
    tokenizer = tokenizer_with(tiny)
    full = ChatEncoder(tokenizer, max_length=4096).encode(CONVERSATION, TOOLS)
    short = ChatEncoder(tokenizer, max_length=20).encode(CONVERSATION, TOOLS)
    assert not full.truncated and short.truncated
    assert short.input_ids == full.input_ids[:20] and short.labels == full.labels[:20]
    # Past max_length only a bounded amount of text is tokenized (memory stays bounded):
    # the count says "more than max_length" without being exact.
    assert 20 < short.total_tokens <= full.total_tokens == len(full.input_ids)


def test_render_example_segments_cover_the_text(tiny: Path) -> None:
    rendered = render_example(
        {"messages": CONVERSATION, "tools": TOOLS}, model=str(tiny), options={}, line=7
    )
    assert rendered.line == 7 and not rendered.truncated
    text = "".join(s.text for s in rendered.segments)
    assert text.startswith("<|im_start|>system\nYou are terse.")
    assert [s.text for s in rendered.segments if s.trained] == [
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call><|im_end|>',
        "Sunny.<|im_end|>",
    ]
    counter = count_tokens_counter(str(tiny))
    assert counter.exact
    assert counter.count({"messages": CONVERSATION, "tools": TOOLS}) == rendered.tokens
    assert 0 < rendered.trained_tokens < rendered.tokens

    truncated = render_example(
        {"messages": CONVERSATION, "tools": TOOLS},
        model=str(tiny),
        options={"max_length": 30},
        line=1,
    )
    assert truncated.truncated and truncated.trained_tokens == 0
    assert "".join(s.text for s in truncated.segments) == text  # the cut-off text shown untrained


def test_a_huge_message_is_cut_before_it_is_tokenized(tiny: Path) -> None:
    # issue 9 item 4: the whole string used to be tokenized before truncation (~20 GB of RAM
    # for a 100 MB message); now text past what max_length tokens can hold is never tokenized.
    encoder = ChatEncoder(tokenizer_with(tiny), max_length=64)
    huge = "word " * 400_000  # 2 MB, ~400k tokens
    encoded = encoder.encode(
        [{"role": "user", "content": huge}, {"role": "assistant", "content": huge}]
    )
    assert encoded.cut and encoded.truncated
    assert [len(row["input_ids"]) for row in encoded.rows] == [64]
    assert encoded.total_tokens < 3 * encoder.max_chars < 100_000
