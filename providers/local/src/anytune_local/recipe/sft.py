"""The supervised recipe, top to bottom: data → setup → train → save.

One function per stage; ``train_sft`` reads as the whole run. Data comes first so that a bad
file fails in a second, before the model is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anytune_local.options import resolve_auto
from anytune_local.recipe import Reporter, TrainingFailure, TrainRequest, TrainResult
from anytune_local.recipe.data import ChatExample, read_chat_file
from anytune_local.recipe.runtime import (
    World,
    describe_resolved,
    last_checkpoint,
    out_of_memory_guard,
    save_outputs,
    total_steps,
    training_arguments,
)
from anytune_local.recipe.setup import (
    add_lora,
    choose_precision,
    describe_setup,
    generation_stops,
    load_base_model,
    load_tokenizer,
    prepare_libraries,
    template_kwargs,
)
from anytune_local.recipe.tokenize import IGNORE_INDEX, ChatEncoder

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass
class TokenizedSet:
    rows: list[dict[str, list[int]]]
    examples: int
    """Lines with something to train."""
    tokens: int
    trained_tokens: int
    truncated: int
    skipped: int
    """Examples left with nothing to train (every assistant weight 0, or truncated away)."""

    def summary(self, name: str, max_length: int) -> str:
        text = (
            f"{name}: {self.examples} examples, {self.tokens} tokens, {self.trained_tokens} trained"
        )
        if len(self.rows) != self.examples:
            text += (
                f"; {len(self.rows)} sequences (the chat template renders earlier turns "
                "differently, so some turns are trained in their own context)"
            )
        if self.truncated:
            text += f"; {self.truncated} truncated to max_length={max_length}"
        if self.skipped:
            text += f"; {self.skipped} skipped (nothing to train)"
        return text


def tokenize_examples(
    encoder: ChatEncoder, examples: list[ChatExample], path: Path
) -> TokenizedSet:
    """Training sequences for every example; ``file:line`` errors for ones that cannot render."""
    rows: list[dict[str, list[int]]] = []
    tokens = trained = truncated = skipped = used = 0
    for example in examples:
        try:
            encoded = encoder.encode(example.messages, example.tools, example.functions)
        except TrainingFailure as exc:
            raise TrainingFailure(exc.code, f"{path}:{example.line}: {exc.message}") from exc
        truncated += encoded.truncated
        kept = [
            row for row in encoded.rows if any(label != IGNORE_INDEX for label in row["labels"])
        ]
        if not kept:
            skipped += 1
            continue
        used += 1
        rows += kept
        tokens += sum(len(row["input_ids"]) for row in kept)
        trained += encoded.trained_tokens
    return TokenizedSet(rows, used, tokens, trained, truncated, skipped)


def make_encoder(
    request: TrainRequest, tokenizer: PreTrainedTokenizerBase, options: Mapping[str, Any]
) -> ChatEncoder:
    """The job's encoder: its max_length, chat template switches and stop tokens."""
    return ChatEncoder(
        tokenizer,
        int(options["max_length"]),
        model=request.base_model,
        template_kwargs=template_kwargs(options),
        stops=generation_stops(request.base_model, tokenizer),
    )


def prepare_data(
    request: TrainRequest, tokenizer: PreTrainedTokenizerBase, options: Mapping[str, Any]
) -> tuple[TokenizedSet, TokenizedSet | None]:
    encoder = make_encoder(request, tokenizer, options)
    train_set = tokenize_examples(encoder, read_chat_file(request.train_path), request.train_path)
    if not train_set.rows:
        raise TrainingFailure(
            "invalid_training_file",
            f"{request.train_path}: no example has an assistant message to train on "
            "(all have weight 0 or were truncated away)",
        )
    valid_set = None
    if request.valid_path is not None:
        valid_set = tokenize_examples(
            encoder, read_chat_file(request.valid_path), request.valid_path
        )
    return train_set, valid_set


def train_sft(request: TrainRequest, reporter: Reporter) -> TrainResult:
    """Fine-tune ``request.base_model`` with LoRA on a chat file (see the package docstring)."""
    options = request.options
    prepare_libraries(quantize=options["quantize"] != "none")
    from transformers import PrinterCallback, set_seed

    from anytune_local.recipe.batching import MicroBatchCollator
    from anytune_local.recipe.fastpath import TrainedHead
    from anytune_local.recipe.trainer import MicroBatchTrainer, ReporterCallback, TokenStats

    world = World.from_env()
    seed = options["seed"] if options["seed"] is not None else (request.seed or 0)

    # -- data ---------------------------------------------------------------------------
    tokenizer = load_tokenizer(request.base_model, trust_remote_code=options["trust_remote_code"])
    train_set, valid_set = prepare_data(request, tokenizer, options)
    max_length = int(options["max_length"])
    if world.is_main:
        level = "warn" if train_set.truncated or train_set.skipped else "info"
        reporter.event(train_set.summary("Training file", max_length), level=level)
        if valid_set is not None:
            reporter.event(valid_set.summary("Validation file", max_length))

    resolved = resolve_auto(
        len(train_set.rows),
        request.hyperparameters,
        processes=world.size,
        gradient_accumulation_steps=int(options["gradient_accumulation_steps"]),
    )
    if world.is_main:
        reporter.hyperparameters(resolved)

    # -- setup --------------------------------------------------------------------------
    precision = choose_precision(str(options["bf16"]))
    set_seed(seed)  # LoRA weights are initialised randomly
    base = load_base_model(request.base_model, options, precision, local_rank=world.local_rank)
    model = add_lora(base, options)
    trained_head = TrainedHead.attach(model)

    # -- train --------------------------------------------------------------------------
    stats = TokenStats.resumed_from(request.resume_from_checkpoint, world.rank)
    args = training_arguments(
        request,
        options,
        resolved,
        precision,
        world,
        seed=seed,
        has_validation=valid_set is not None,
        examples=len(train_set.rows),
    )
    callback = ReporterCallback(
        reporter,
        stats,
        is_main=world.is_main,
        world_size=world.size,
        rank=world.rank,
        evaluate_at_end=valid_set is not None,
    )
    collator = MicroBatchCollator(
        pad_token_id=int(tokenizer.pad_token_id),
        max_tokens=int(options["micro_batch_tokens"]),
        mode=str(options["batching"]),
    )
    trainer = MicroBatchTrainer(
        model=model,
        args=args,
        train_dataset=train_set.rows,
        eval_dataset=valid_set.rows if valid_set else None,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[callback],
        token_stats=stats,
        trained_head=trained_head,
    )
    trainer.remove_callback(PrinterCallback)  # progress goes to the reporter, not stdout
    if world.is_main:
        reporter.event(
            "Training started: "
            + describe_resolved(resolved, total_steps(len(train_set.rows), resolved, options))
            + f"; {describe_setup(model, precision, options)}, {world.size} process(es), "
            + (
                "output layer at trained positions only"
                if trained_head is not None
                else "output layer at every position (this model's logits are not its output"
                " layer's alone)"
            )
        )
    resume = str(request.resume_from_checkpoint) if request.resume_from_checkpoint else None
    with out_of_memory_guard():
        trainer.train(resume_from_checkpoint=resume)

    # -- save ---------------------------------------------------------------------------
    if world.size > 1:
        stats = stats.summed_over_processes()
    trained_tokens = stats.real
    checkpoint = last_checkpoint(request.checkpoint_dir)
    if callback.stopped is not None:
        if world.is_main:
            reporter.event(
                f"Training {'paused' if callback.stopped == 'pause' else 'cancelled'} "
                f"at step {trainer.state.global_step}"
            )
        return TrainResult(
            callback.stopped, trained_tokens, callback.last_train_loss, None, checkpoint
        )
    extra = {"trained_tokens": trained_tokens, "padding_fraction": round(stats.padding_fraction, 4)}
    save_outputs(trainer, request, options, resolved, world, seed=seed, extra=extra)
    if world.is_main:
        reporter.event(
            f"Training finished: {trainer.state.global_step} steps, {trained_tokens} tokens, "
            f"padding {stats.padding_fraction:.1%} of computed tokens"
        )
        reporter.event(f"Model saved to {request.output_dir}")
    return TrainResult(
        None, trained_tokens, callback.last_train_loss, request.output_dir, checkpoint
    )
