"""The Hugging Face Trainer, taught two things: micro-batches and reporting.

``MicroBatchTrainer`` runs each batch from ``MicroBatchCollator`` as several forward/backward
passes whose losses are normalised by the trained tokens of the whole optimizer step (across
gradient-accumulation steps and processes), so the update is the one the whole batch would
give. ``ReporterCallback`` turns the Trainer's logs, saves and steps into reporter calls and
asks the reporter, every step, whether to pause or cancel.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from transformers import Trainer, TrainerCallback
from transformers.trainer_pt_utils import BatchRebalanceSampler

from anytune.types import Metrics
from anytune_local.recipe.batching import IGNORE_INDEX, balance, computed_tokens
from anytune_local.recipe.fastpath import TrainedHead, token_loss, trained_targets

if TYPE_CHECKING:
    import torch
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from anytune_local.recipe import Reporter


@dataclass
class TokenStats:
    """Tokens this process has trained on: real ones and computed ones (padding included)."""

    real: int = 0
    computed: int = 0

    @property
    def padding_fraction(self) -> float:
        return 1 - self.real / self.computed if self.computed else 0.0

    @staticmethod
    def file(checkpoint: Path, rank: int) -> Path:
        return checkpoint / f"anytune_tokens_rank{rank}.json"

    def save(self, checkpoint: Path, rank: int) -> None:
        """Kept with each checkpoint, so a resumed run counts the tokens before the pause."""
        data = {"real": self.real, "computed": self.computed}
        TokenStats.file(checkpoint, rank).write_text(json.dumps(data))

    @classmethod
    def resumed_from(cls, checkpoint: Path | None, rank: int) -> TokenStats:
        path = TokenStats.file(checkpoint, rank) if checkpoint else None
        if path is None or not path.is_file():
            return cls()
        data = json.loads(path.read_text())
        return cls(int(data["real"]), int(data["computed"]))

    def summed_over_processes(self) -> TokenStats:
        """The counts of all training processes together (every process must call this)."""
        import torch
        import torch.distributed as dist

        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        counts = torch.tensor([self.real, self.computed], dtype=torch.long, device=device)
        dist.all_reduce(counts)
        return TokenStats(int(counts[0]), int(counts[1]))


def _trained_tokens(micro_batch: dict[str, Any]) -> torch.Tensor:
    # Causal LM losses predict token t+1 from t: the first label of a row is never used.
    labels: torch.Tensor = micro_batch["labels"][..., 1:]
    return labels.ne(IGNORE_INDEX).sum()


def _selected_loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> Any:
    """The Trainer's ``compute_loss_func`` when the logits are those of trained positions."""
    return token_loss(outputs.logits, trained_targets(labels), num_items_in_batch)


class StopsAtMaxSteps(Trainer):
    """A Trainer that takes no step once ``max_steps`` is reached.

    The Trainer's loop checks for the end only after a step, so resuming from the final
    checkpoint (a worker killed while saving the adapter) trained one step past
    ``max_steps``. Handing it no batch ends the run where it stands; the weights are the
    checkpoint's. Mix in before any Trainer class (DPO's too).
    """

    def get_batch_samples(
        self, epoch_iterator: Iterator[Any], num_batches: int, device: torch.device
    ) -> tuple[list[Any], Any]:
        if 0 < self.state.max_steps <= self.state.global_step:
            self.control.should_training_stop = True
            return [], None
        batches, count = super().get_batch_samples(epoch_iterator, num_batches, device)
        return batches, count


class BalancedBatchSampler(BatchRebalanceSampler):
    """Each optimizer step's examples, shared among processes by work (``batching.balance``).

    Every process draws the same shuffled order (seeded by the epoch), so all of them know a
    step's ``batch_size`` examples without talking; each keeps the share that
    ``batching.balance`` gives its rank (and, with gradient accumulation, one share per
    accumulation step). Splitting a step's examples by position instead (the Trainer's
    default) left the slower of two processes with ~25% more tokens on mixed-length chats,
    so both waited for it. The step's examples are the same whatever the number of
    processes. The Trainer hands a ``BatchRebalanceSampler`` to the data loader as its batch
    sampler and does not shard it again; its tail handling is kept (the last, smaller batch
    is trained, topped up with repeats when it has fewer examples than shares).
    """

    def _assign(self, indices: list[int], lengths: list[int]) -> list[list[list[int]]]:
        shares = balance(lengths, self.dp_size * self.grad_accum)
        per_rank: list[list[list[int]]] = [[] for _ in range(self.dp_size)]
        for slot in range(self.grad_accum):
            for rank in range(self.dp_size):
                share = shares[slot * self.dp_size + rank]
                per_rank[rank].append([indices[i] for i in share])
        return per_rank


class MicroBatchTrainer(StopsAtMaxSteps):
    """A Trainer whose batches are lists of micro-batches (see ``recipe.batching``).

    With ``trained_head`` (``recipe.fastpath``), the output layer and the loss are computed
    at the trained positions only; the Trainer's own ``compute_loss`` still owns the loss
    normalisation and its scaling across processes (through ``compute_loss_func``).
    """

    def __init__(
        self,
        *args: Any,
        token_stats: TokenStats,
        trained_head: TrainedHead | None = None,
        **kwargs: Any,
    ):
        if trained_head is not None:
            kwargs["compute_loss_func"] = _selected_loss
        super().__init__(*args, **kwargs)
        self.token_stats = token_stats
        self.trained_head = trained_head
        model: Any = self.model
        self._parameter_count = int(sum(p.numel() for p in model.parameters()))

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        if self.trained_head is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        with self.trained_head.select(inputs["labels"]):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def _get_train_sampler(self, train_dataset: Any = None) -> BalancedBatchSampler:
        dataset = self.train_dataset if train_dataset is None else train_dataset
        args = self.args
        shares = args.world_size * args.gradient_accumulation_steps
        return BalancedBatchSampler(
            [len(row["input_ids"]) for row in cast("Any", dataset)],
            effective_batch_size=args.per_device_train_batch_size * shares,
            dp_size=args.world_size,
            grad_accum=args.gradient_accumulation_steps,
            shuffle=True,
            seed=args.data_seed if args.data_seed is not None else args.seed,
            rank=args.process_index,
            drop_last=False,
        )

    def get_batch_samples(
        self, epoch_iterator: Iterator[Any], num_batches: int, device: torch.device
    ) -> tuple[list[Any], Any]:
        import torch

        batches, _ = super().get_batch_samples(epoch_iterator, num_batches, device)
        if not batches:
            return batches, None
        count = sum(
            (_trained_tokens(mb) for batch in batches for mb in batch["micro_batches"]),
            torch.zeros((), dtype=torch.long),
        ).to(device)
        if self.args.world_size > 1:
            count = self.accelerator.gather(count.reshape(1)).sum()
        # average_tokens_across_devices (the default) scales each process's loss back up by
        # the number of processes in compute_loss, matching DDP's gradient averaging.
        return batches, count

    def training_step(
        self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None
    ) -> torch.Tensor:
        import torch

        model.train()
        micro_batches = inputs["micro_batches"]
        total = torch.zeros((), device=self.args.device)
        for index, micro in enumerate(micro_batches):
            micro = self._prepare_inputs(micro)
            last = index == len(micro_batches) - 1
            # Gradients are all-reduced once, after the last micro-batch of the step.
            sync = (
                contextlib.nullcontext
                if last or self.args.world_size == 1
                else functools.partial(self.accelerator.no_sync, model=model)
            )
            with sync(), self.compute_loss_context_manager():
                loss = cast(
                    "torch.Tensor",
                    self.compute_loss(model, micro, num_items_in_batch=num_items_in_batch),
                )
                self.accelerator.backward(loss)
            total += loss.detach()
        self.token_stats.real += int(inputs["real_tokens"])
        self.token_stats.computed += computed_tokens(inputs)
        return total

    def floating_point_ops(self, inputs: dict[str, Any]) -> int:
        # 6 × parameters × tokens, the Trainer's estimate, over the computed tokens.
        return 6 * self._parameter_count * computed_tokens(inputs)

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """The validation loss: mean over every trained token of the validation file."""
        import torch

        dataloader = self.get_eval_dataloader(eval_dataset)
        model: Any = self.model
        was_training = model.training
        model.eval()
        sums = torch.zeros(2, dtype=torch.float64, device=self.args.device)
        with torch.no_grad():
            for batch in dataloader:
                for micro in batch["micro_batches"]:
                    micro = self._prepare_inputs(micro)
                    count = _trained_tokens(micro)
                    if int(count) == 0:
                        continue
                    with self.autocast_smart_context_manager():
                        if self.trained_head is not None:
                            loss = self.trained_head.loss(model, micro)
                        else:
                            loss = model(**micro).loss
                    sums[0] += loss.double() * count
                    sums[1] += count
        if self.args.world_size > 1:
            sums = self.accelerator.gather(sums.reshape(1, 2)).sum(0)
        model.train(was_training)
        mean = float(sums[0] / sums[1]) if float(sums[1]) > 0 else math.nan
        metrics = {f"{metric_key_prefix}_loss": mean}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(
            self.args, self.state, self.control, metrics
        )
        return metrics


class ReporterCallback(TrainerCallback):
    """Reports metrics and checkpoints; stops training when the reporter asks."""

    def __init__(
        self,
        reporter: Reporter,
        stats: TokenStats | None,
        *,
        is_main: bool,
        world_size: int,
        rank: int = 0,
        evaluate_at_end: bool,
    ):
        self.reporter = reporter
        self.stats = stats
        self.is_main = is_main
        self.rank = rank
        self.world_size = world_size
        self.evaluate_at_end = evaluate_at_end
        self.stopped: str | None = None
        self.last_train_loss: float | None = None
        self.last_valid_loss: float | None = None
        self._train_loss_step = 0
        self._valid_loss_step = 0
        self._last_time = time.monotonic()
        self._last_real = 0
        self._start_step = 0

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> None:
        self._last_time = time.monotonic()
        self._last_real = self.stats.real if self.stats else 0
        self._start_step = state.global_step

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> None:
        if state.global_step >= state.max_steps:  # always report the end of training
            control.should_log = True
            control.should_evaluate = control.should_evaluate or self.evaluate_at_end
        decision = self._stop_decision()
        if decision == "cancel":
            self.stopped = "cancel"
            control.should_training_stop = True
        elif decision == "pause":
            self.stopped = "pause"
            control.should_save = True
            control.should_training_stop = True

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> None:
        # Stopping ends the epoch early; its end-of-epoch save must not happen (a cancelled run
        # keeps nothing, a paused one already saved at its step). A run resumed at its last
        # step trains nothing, and re-saving that step would list its checkpoint twice.
        if self.stopped is not None or state.global_step == self._start_step:
            control.should_save = False

    def _stop_decision(self) -> str | None:
        decision = self.reporter.should_stop() if self.is_main else None
        if self.world_size > 1:  # every process must stop at the same step
            import torch.distributed as dist

            box = [decision]
            dist.broadcast_object_list(box, src=0)
            decision = box[0]
        return decision

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **_: Any,
    ) -> None:
        if not logs:
            return
        total = state.max_steps
        if "eval_loss" in logs:
            self.last_valid_loss = float(logs["eval_loss"])
            self._valid_loss_step = state.global_step
            if self.is_main:
                self.reporter.event(
                    f"Step {state.global_step}/{total}: validation loss {self.last_valid_loss:.4f}",
                    metrics=Metrics(
                        step=state.global_step,
                        total_steps=total,
                        epoch=state.epoch,
                        valid_loss=self.last_valid_loss,
                    ),
                )
            return
        if "loss" not in logs:
            return  # the end-of-training summary
        tokens_per_second = None
        if self.stats is not None:
            now = time.monotonic()
            elapsed = max(now - self._last_time, 1e-9)
            # Each process counts its own tokens; all get equal shares of every batch.
            real = (self.stats.real - self._last_real) * self.world_size
            tokens_per_second = round(real / elapsed, 1)
            self._last_time, self._last_real = now, self.stats.real
        self.last_train_loss = float(logs["loss"])
        self._train_loss_step = state.global_step
        if self.is_main:
            self.reporter.event(
                f"Step {state.global_step}/{total}: training loss {self.last_train_loss:.4f}",
                metrics=Metrics(
                    step=state.global_step,
                    total_steps=total,
                    epoch=state.epoch,
                    train_loss=self.last_train_loss,
                    learning_rate=float(logs.get("learning_rate", 0.0)),
                    tokens_per_second=tokens_per_second,
                ),
            )

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any
    ) -> None:
        path = Path(str(args.output_dir)) / f"checkpoint-{state.global_step}"
        if self.stats is not None and path.is_dir():
            self.stats.save(path, self.rank)
        if not self.is_main:
            return
        # Each loss with the step it was measured at; a validation loss from an earlier step
        # is left out rather than shown as this checkpoint's.
        metrics: dict[str, float] = {}
        if self.last_train_loss is not None:
            metrics["train_loss"] = self.last_train_loss
            metrics["train_loss_step"] = float(self._train_loss_step)
        if self.last_valid_loss is not None and self._valid_loss_step == state.global_step:
            metrics["valid_loss"] = self.last_valid_loss
            metrics["valid_loss_step"] = float(self._valid_loss_step)
        self.reporter.checkpoint(state.global_step, path, metrics)
