"""Which of a job's checkpoints can be resumed from.

A checkpoint is usable when its directory is inside the job's ``checkpoints/``, has a
``checkpoint-<step>`` name, and every file the Trainer loads from it is whole: JSON files
parse, safetensors files are as long as their header says, and the torch files (optimizer,
scheduler, RNG state: zip archives) pass their CRC checks. That is checked without torch,
so that a damaged latest checkpoint (a disk that filled up while saving, a crash halfway)
is skipped for the newest intact one instead of failing the resumed job.
"""

from __future__ import annotations

import json
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from anytune_local.storage import CHECKPOINT_NAME
from anytune_local.store import Store

_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors")
_TORCH_SUFFIXES = (".pt", ".pth", ".bin")
OPTIMIZER_FILE = "optimizer.pt"


@dataclass(frozen=True)
class Choice:
    """The checkpoint to resume from (None: start over) and the ones skipped on the way."""

    step: int | None = None
    path: Path | None = None
    skipped: list[str] = field(default_factory=list)
    """``"checkpoint-4 (step 4): why"`` for each newer checkpoint that cannot be used."""

    @property
    def has_optimizer_state(self) -> bool:
        return self.path is not None and (self.path / OPTIMIZER_FILE).is_file()

    def describe(self) -> str:
        """ "from the checkpoint at step 2 (path); skipped ...", for events and messages."""
        if self.path is None:
            text = "from the start (no usable checkpoint)"
        else:
            text = f"from the checkpoint at step {self.step} ({self.path})"
            if not self.has_optimizer_state:
                text += (
                    "; it holds no optimizer state (save_optimizer_state=false), so the "
                    "optimizer starts afresh"
                )
        if self.skipped:
            text += "; skipped damaged " + "; ".join(self.skipped)
        return text


def problem(path: Path, *, within: Path) -> str | None:
    """Why the checkpoint at ``path`` cannot be resumed from, or None if it can."""
    try:
        resolved = path.resolve()
        resolved.relative_to(within.resolve())
    except (OSError, ValueError):
        return f"it is outside {within}"
    if not CHECKPOINT_NAME.fullmatch(path.name):
        return "its directory is not named checkpoint-<step>"
    if not path.is_dir():
        return "its directory no longer exists"
    if not any((path / name).is_file() for name in _WEIGHTS):
        return "it holds no adapter weights"
    if not (path / "trainer_state.json").is_file():
        return "trainer_state.json is missing"
    for file in sorted(path.iterdir()):
        if not file.is_file():
            continue
        why = _file_problem(file)
        if why:
            return f"{file.name} {why}"
    return None


def _file_problem(file: Path) -> str | None:
    try:
        if file.suffix == ".json":
            json.loads(file.read_text(encoding="utf-8"))
        elif file.suffix == ".safetensors":
            return _safetensors_problem(file)
        elif file.suffix in _TORCH_SUFFIXES:
            if not zipfile.is_zipfile(file):
                return "is not a complete torch file"
            with zipfile.ZipFile(file) as archive:
                if archive.testzip() is not None:
                    return "fails its checksum"
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        return f"cannot be read ({type(exc).__name__}: {exc})"
    return None


def _safetensors_problem(file: Path) -> str | None:
    size = file.stat().st_size
    with open(file, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return "is truncated"
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            return "is truncated"
        header = json.loads(fh.read(length))
    ends = [
        int(entry["data_offsets"][1])
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, dict)
    ]
    if 8 + length + max(ends, default=0) != size:
        return "is truncated"
    return None


def newest_usable(store: Store, job_id: str) -> Choice:
    """The newest recorded checkpoint that can be resumed from (see the module docstring)."""
    within = store.job_dir(job_id) / "checkpoints"
    skipped: list[str] = []
    for checkpoint in reversed(store.list_checkpoints(job_id)):
        path = Path(checkpoint.fine_tuned_model_checkpoint)
        if not path.exists():
            continue  # removed on purpose (save_total_limit, gc): nothing to report
        why = problem(path, within=within)
        if why is None:
            return Choice(checkpoint.step, path, skipped)
        skipped.append(f"{path.name} (step {checkpoint.step}): {why}")
    return Choice(None, None, skipped)
