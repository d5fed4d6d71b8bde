"""anytune plot and checkpoints --best: curves from any provider's events, the overfitting
point, the best checkpoint; matplotlib only for plot."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from anytune import registry
from anytune.cli import cli
from anytune.evaluation.curves import best_checkpoint, curves
from anytune.testing import InMemoryProvider
from anytune.types import Checkpoint, Event, Metrics

TRAIN = [2.0, 1.6, 1.3, 1.1, 0.9, 0.7, 0.5, 0.4, 0.3, 0.2]
VALID = {2: 1.7, 4: 1.2, 6: 1.05, 8: 1.3, 10: 1.6}  # lowest at 6, rising from 8


def scripted_events() -> list[Event]:
    events = [Event(id="e0", created_at=0, level="info", message="Training started")]
    for step, loss in enumerate(TRAIN, start=1):
        m = Metrics(step=step, total_steps=10, train_loss=loss, valid_loss=VALID.get(step))
        events.append(Event(id=f"e{step}", created_at=step, level="info", message="", metrics=m))
    return events


def scripted_checkpoints(job_id: str, with_loss: bool) -> list[Checkpoint]:
    return [
        Checkpoint(
            id=f"ckpt-{s}",
            job_id=job_id,
            step=s,
            created_at=s,
            fine_tuned_model_checkpoint=f"ft:model:ckpt-{s}",
            metrics={"valid_loss": VALID[s]} if with_loss else {},
        )
        for s in (4, 6, 8, 10)
    ]


class Scripted(InMemoryProvider):
    """A memory provider whose jobs report an overfitting run."""

    name: ClassVar[str] = "curvememory"

    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        self.get_job(job_id)
        return scripted_events()

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        return scripted_checkpoints(job_id, with_loss=True)


@pytest.fixture(autouse=True)
def scripted() -> Iterator[None]:
    registry.register(Scripted.name, Scripted)
    yield
    registry.unregister(Scripted.name)


def test_overfitting_point_and_best_valid() -> None:
    found = curves(reversed(scripted_events()))
    assert found.train[0] == (1, 2.0) and len(found.train) == 10
    assert found.best_valid == (6, 1.05)
    assert found.overfit_step == 8
    # flat noise after the minimum is not overfitting
    flat = [
        Event(
            id=str(s),
            created_at=s,
            level="info",
            message="",
            metrics=Metrics(step=s, train_loss=1.0 / s, valid_loss=1.0 + (0.01 if s == 3 else 0)),
        )
        for s in (1, 2, 3)
    ]
    assert curves(flat).overfit_step is None


def test_best_checkpoint_by_metrics_or_nearest_step() -> None:
    found = curves(scripted_events())
    assert best_checkpoint(scripted_checkpoints("j", True)) is not None
    assert best_checkpoint(scripted_checkpoints("j", True)).step == 6  # type: ignore[union-attr]
    # a provider whose checkpoints carry no loss: the first saved at or after the best step
    ranked = best_checkpoint(scripted_checkpoints("j", False), found)
    assert ranked is not None and ranked.step == 6
    assert best_checkpoint([], found) is None


def job(tmp_path: Path) -> str:
    train = tmp_path / "t.jsonl"
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    train.write_text(json.dumps({"messages": messages}) + "\n")
    out = CliRunner().invoke(cli, ["run", str(train), "-p", Scripted.name, "--model", "m"])
    assert out.exit_code == 0, out.output
    return next(x for x in out.output.splitlines() if x.startswith("ftjob-") and " " not in x)


def test_cli_plot_writes_a_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    job_id = job(tmp_path)
    png = tmp_path / "curve.png"
    result = CliRunner().invoke(cli, ["plot", job_id, "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "overfitting from step 8" in result.output
    assert "best checkpoint: step 6 ft:model:ckpt-6" in result.output
    as_json = CliRunner().invoke(cli, ["plot", job_id, "-o", str(png), "--json"])
    assert json.loads(as_json.output)["overfit_step"] == 8


def test_cli_checkpoints_best(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYTUNE_HOME", str(tmp_path / "home"))
    job_id = job(tmp_path)
    result = CliRunner().invoke(cli, ["checkpoints", job_id, "--best", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["fine_tuned_model_checkpoint"] == "ft:model:ckpt-6"


def test_plot_without_matplotlib_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from anytune.cli import main\n"
        "main(['plot', 'ftjob-1', '-p', 'memory'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "pip install 'anytune[plot]'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["eval", "plot", "export", "rerun", "checkpoints"])
def test_new_commands_start_without_heavy_imports(command: str) -> None:
    code = (
        "import sys\nfrom anytune.cli import main\n"
        f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('torch', 'transformers', 'openai', 'matplotlib', 'gguf', 'numpy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
