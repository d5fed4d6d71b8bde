"""Re-create a recorded job (``anytune rerun``): the same spec, optionally on a new base model
or another provider, linked to the original in the job index.

On the same provider the uploaded files are reused. On another provider they are uploaded
again from where they came from: the path the index recorded at upload (checked against the
recorded sha256, so a file edited since is not silently trained on), else the original
provider's own copy (``Provider.local_file``). Provider-specific options do not carry over to
another provider (they are named in the returned notes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from anytune.client import Client
from anytune.errors import ConflictError, NotFoundError
from anytune.index import IndexedJob, JobIndex
from anytune.types import Job, JobSpec


@dataclass(frozen=True)
class Rerun:
    job: Job
    parent: str
    notes: tuple[str, ...] = ()


def _source(entry: IndexedJob, file_id: str, index: JobIndex) -> Path:
    """Where to read ``file_id`` of ``entry``'s provider again."""
    path = index.unchanged_source(entry.provider, file_id)
    if path is not None:
        return path
    with Client(entry.provider, index=False, **dict(entry.connection)) as original:
        copy = original.provider.local_file(file_id)
    if copy is not None and copy.is_file():
        return copy
    recorded = index.file_source(entry.provider, file_id)
    where = f" ({recorded[0]} changed or was removed since)" if recorded else ""
    raise NotFoundError(
        f"no local copy of {entry.provider} file {file_id}{where}",
        hint="upload the file to the new provider (`anytune upload FILE -p P`) and create the "
        "job with `anytune create`",
    )


def rerun(
    job_id: str,
    *,
    model: str | None = None,
    provider: str | None = None,
    provider_options: dict[str, str] | None = None,
    index: JobIndex | None = None,
) -> Rerun:
    """Create a new job from ``job_id``'s recorded spec (``model``: a new base model)."""
    index = index or JobIndex()
    entry = index.find(job_id)
    if entry.spec is None:
        raise ConflictError(
            f"job {job_id} was recorded without its spec (created before anytune kept them, or "
            "outside anytune's client)",
            hint="create it again with `anytune create`",
        )
    spec = JobSpec.from_dict(entry.spec)
    target = provider or entry.provider
    same = target == entry.provider
    options = {**(dict(entry.connection) if same else {}), **(provider_options or {})}
    notes: list[str] = []
    with Client(target, index=index, **options) as client:
        if not same:
            files = {}
            for file_id in filter(None, (spec.training_file, spec.validation_file)):
                path = _source(entry, file_id, index)
                files[file_id] = client.files.create(path).id
                notes.append(f"uploaded {path} to {target} as {files[file_id]}")
            if spec.options:
                notes.append(
                    f"{entry.provider} options not carried over: {', '.join(spec.options)}"
                )
            spec = replace(
                spec,
                training_file=files[spec.training_file],
                validation_file=files.get(spec.validation_file or ""),
                options={},
            )
        if model:
            spec = replace(spec, model=model)
        job = client.jobs.create_from_spec(spec, parent=job_id)
    return Rerun(job, job_id, tuple(notes))


__all__ = ["Rerun", "rerun"]
