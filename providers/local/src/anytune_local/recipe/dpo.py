"""The preference recipe: DPO with a LoRA adapter, on OpenAI's preference format.

Each line ``{"input": {"messages": [...], "tools": [...]}, "preferred_output": [assistant],
"non_preferred_output": [assistant]}`` is tokenized by ``recipe.tokenize`` (the inference
prompt, then each reply through its stop token: the same definition as supervised training)
and handed to TRL already tokenized. The reference model is the
base model itself (the adapter switched off), so no second copy is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from anytune_local.options import resolve_auto
from anytune_local.recipe import Reporter, TrainingFailure, TrainRequest, TrainResult
from anytune_local.recipe.data import PreferenceExample, read_preference_file
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
    load_base_model,
    load_tokenizer,
    prepare_libraries,
)
from anytune_local.recipe.sft import make_encoder
from anytune_local.recipe.tokenize import ChatEncoder


def to_trl_rows(
    encoder: ChatEncoder, examples: list[PreferenceExample], path: Path
) -> list[dict[str, Any]]:
    """Preference examples as TRL's tokenized rows: ``prompt_ids`` (the inference prompt) and
    ``chosen_ids`` / ``rejected_ids`` (each reply through its stop token), made by the same
    encoder as supervised training, so both replies train exactly what SFT would."""
    rows = []
    for example in examples:
        try:
            prompt, chosen, rejected = encoder.encode_preference(
                example.messages, example.chosen, example.rejected, example.tools, example.functions
            )
        except TrainingFailure as exc:
            raise TrainingFailure(exc.code, f"{path}:{example.line}: {exc.message}") from exc
        rows.append({"prompt_ids": prompt, "chosen_ids": chosen, "rejected_ids": rejected})
    return rows


def _trainer_class() -> Any:
    from trl.trainer.dpo_trainer import DPOTrainer

    from anytune_local.recipe.trainer import StopsAtMaxSteps

    class PretokenizedDPOTrainer(StopsAtMaxSteps, DPOTrainer):
        """TRL's DPO on rows the recipe tokenized itself (TRL would render them again)."""

        def _prepare_dataset(
            self, dataset: Any, processing_class: Any, args: Any, name: str
        ) -> Any:
            if args.max_length is not None and args.truncation_mode == "keep_start":
                # as TRL does: a prompt that fills max_length leaves nothing to learn
                dataset = dataset.filter(lambda row: len(row["prompt_ids"]) < args.max_length)
            return dataset

    return PretokenizedDPOTrainer


def train_dpo(request: TrainRequest, reporter: Reporter) -> TrainResult:
    """Preference-tune ``request.base_model`` with DPO (``beta`` from the hyperparameters)."""
    options = request.options
    prepare_libraries(quantize=options["quantize"] != "none")
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar
    from transformers import PrinterCallback, set_seed
    from trl.trainer.dpo_config import DPOConfig

    from anytune_local.recipe.trainer import ReporterCallback

    disable_progress_bar()
    world = World.from_env()
    seed = options["seed"] if options["seed"] is not None else (request.seed or 0)

    # -- data ---------------------------------------------------------------------------
    train_examples = read_preference_file(request.train_path)
    valid_examples = read_preference_file(request.valid_path) if request.valid_path else None
    if world.is_main:
        reporter.event(f"Training file: {len(train_examples)} preference pairs")
    resolved = resolve_auto(
        len(train_examples),
        request.hyperparameters,
        processes=world.size,
        gradient_accumulation_steps=int(options["gradient_accumulation_steps"]),
        method="dpo",
    )
    if world.is_main:
        reporter.hyperparameters(resolved)

    tokenizer = load_tokenizer(request.base_model, trust_remote_code=options["trust_remote_code"])
    encoder = make_encoder(request, tokenizer, options)
    train_rows = to_trl_rows(encoder, train_examples, request.train_path)
    valid_rows = (
        to_trl_rows(encoder, valid_examples, Path(str(request.valid_path)))
        if valid_examples
        else None
    )

    # -- setup --------------------------------------------------------------------------
    precision = choose_precision(str(options["bf16"]))
    set_seed(seed)
    base = load_base_model(request.base_model, options, precision, local_rank=world.local_rank)
    model = add_lora(base, options)

    # -- train --------------------------------------------------------------------------
    args = training_arguments(
        request,
        options,
        resolved,
        precision,
        world,
        seed=seed,
        has_validation=valid_examples is not None,
        examples=len(train_examples),
        config_class=DPOConfig,
        beta=float(resolved["beta"]),
        max_length=int(options["max_length"]),
    )
    callback = ReporterCallback(
        reporter,
        None,
        is_main=world.is_main,
        world_size=world.size,
        evaluate_at_end=valid_examples is not None,
    )
    trainer = _trainer_class()(
        model=model,
        args=cast(DPOConfig, args),
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(valid_rows) if valid_rows else None,
        processing_class=tokenizer,
        callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)
    if world.is_main:
        steps = total_steps(len(train_examples), resolved, options)
        reporter.event(
            f"Training started (DPO): {describe_resolved(resolved, steps)}; "
            f"{describe_setup(model, precision, options)}, {world.size} process(es)"
        )
    resume = str(request.resume_from_checkpoint) if request.resume_from_checkpoint else None
    with out_of_memory_guard():
        trainer.train(resume_from_checkpoint=resume)

    # -- save ---------------------------------------------------------------------------
    pair_tokens = 0
    rows: Any = trainer.train_dataset
    for row in rows:  # both sequences repeat the prompt
        pair_tokens += (
            2 * len(row["prompt_ids"]) + len(row["chosen_ids"]) + len(row["rejected_ids"])
        )
    trained_tokens = int(pair_tokens * trainer.state.epoch) if trainer.state.epoch else 0
    checkpoint = last_checkpoint(Path(request.checkpoint_dir))
    if callback.stopped is not None:
        if world.is_main:
            reporter.event(
                f"Training stopped ({callback.stopped}) at step {trainer.state.global_step}"
            )
        return TrainResult(
            callback.stopped, trained_tokens, callback.last_train_loss, None, checkpoint
        )
    save_outputs(
        trainer,
        request,
        options,
        resolved,
        world,
        seed=seed,
        extra={"trained_tokens": trained_tokens},
    )
    if world.is_main:
        reporter.event(f"Training finished: {trainer.state.global_step} steps")
        reporter.event(f"Model saved to {request.output_dir}")
    return TrainResult(
        None, trained_tokens, callback.last_train_loss, request.output_dir, checkpoint
    )
