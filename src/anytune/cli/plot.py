"""`anytune plot`: a job's loss curves as a picture (matplotlib: ``pip install anytune[plot]``,
imported by this command only)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from anytune.cli._common import emit, json_option, provider_option
from anytune.cli.jobs import on_job
from anytune.errors import ConfigurationError

if TYPE_CHECKING:
    from anytune.client import Client
    from anytune.evaluation.curves import Curves
    from anytune.types import Checkpoint


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigurationError(
            "anytune plot needs matplotlib, which is not installed",
            hint="pip install 'anytune[plot]'",
        ) from exc
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def job_curves(client: Client, job_id: str) -> tuple[Curves, Checkpoint | None]:
    """The job's curves, and its best checkpoint (where the provider keeps checkpoints)."""
    from anytune.evaluation.curves import best_checkpoint, curves

    found = curves(client.jobs.events(job_id))
    kept = client.jobs.checkpoints(job_id) if client.provider.capabilities.checkpoints else []
    return found, best_checkpoint(kept, found)


def summary(job_id: str, found: Curves, best: Checkpoint | None) -> list[str]:
    out = [f"{job_id}: {len(found.train)} training and {len(found.valid)} validation points"]
    if found.best_valid is not None:
        out.append(
            f"lowest validation loss {found.best_valid[1]:.4f} at step {found.best_valid[0]}"
        )
    if found.overfit_step is not None:
        out.append(
            f"overfitting from step {found.overfit_step}: validation loss rises while training "
            "loss falls (fewer epochs, more data, or the best checkpoint)"
        )
    if best is not None:
        out.append(f"best checkpoint: step {best.step} {best.fine_tuned_model_checkpoint}")
    return out


def _side(ax: Any, step: float) -> str:
    """Labels right of a mark in the left half of the plot, left of it in the right half."""
    low, high = ax.get_xlim()
    return "left" if step < (low + high) / 2 else "right"


def draw(found: Curves, best: Checkpoint | None, path: Path, title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if found.train:
        ax.plot(*zip(*found.train, strict=True), label="training loss", color="tab:blue", lw=1)
    if found.valid:
        ax.plot(*zip(*found.valid, strict=True), "o-", label="validation loss", color="tab:orange")
    if found.best_valid is not None:
        step, loss = found.best_valid
        ax.plot([step], [loss], "*", ms=14, color="tab:green", label=f"best validation ({step})")
    if found.overfit_step is not None:
        ax.axvline(found.overfit_step, color="tab:red", ls="--", lw=1)
        ax.annotate(
            f"overfitting from step {found.overfit_step} ",
            (found.overfit_step, 0.95),
            xycoords=("data", "axes fraction"),
            ha=_side(ax, found.overfit_step),
            color="tab:red",
        )
    if best is not None:
        ax.axvline(best.step, color="tab:green", ls=":", lw=1)
        ax.annotate(
            f" best checkpoint: step {best.step} ",
            (best.step, 0.5),
            xycoords=("data", "axes fraction"),
            ha=_side(ax, best.step),
            color="tab:green",
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


@click.command()
@click.argument("job_id")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default="curve.png",
    show_default=True,
    help="Picture to write (.png, .svg, .pdf).",
)
@click.option("--title", help="Title of the picture (default: the job id).")
@provider_option(required=False)
@json_option
def plot(
    job_id: str,
    output: Path,
    title: str | None,
    provider: str | None,
    provider_options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Draw JOB_ID's training and validation loss over steps, marking where overfitting starts
    and the checkpoint with the best validation loss."""
    _pyplot()  # the missing extra is said before anything is fetched
    found, best = on_job(job_id, provider, provider_options, lambda c: job_curves(c, job_id))
    if not found.train and not found.valid:
        raise ConfigurationError(
            f"job {job_id} has reported no losses yet", hint=f"`anytune events {job_id}`"
        )
    draw(found, best, output, title or job_id)
    data = {
        "output": str(output),
        "train": found.train,
        "valid": found.valid,
        "best_valid": found.best_valid,
        "overfit_step": found.overfit_step,
        "best_checkpoint": best.to_dict() if best else None,
    }
    emit(data, as_json, lambda: [*summary(job_id, found, best), f"wrote {output}"])
