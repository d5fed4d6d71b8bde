"""``--provider ray``: the local provider's recipe as Ray jobs, through the dashboard's Job
Submission REST API (httpx only: ``anytune status`` imports neither Ray nor torch).

One anytune job is one or more Ray submissions (``<job>-r<n>``: ``resume`` makes the next);
its record is in storage (``jobs/<job>/job.json``, see ``records``), so every machine pointed
at the same cluster and storage lists, reads, follows, cancels and resumes it. Each submission
runs ``python -m anytune_local.run_spec`` (torchrun with ``num_workers`` processes when more than
one) on a node with the job's resources; files, events, checkpoints and the adapter live in
``storage`` (see ``anytune_ray.storage``).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from anytune import config
from anytune.errors import ConfigurationError, ConflictError, InvalidArgumentError, NotFoundError
from anytune.provider import Capabilities, ProgressCallback, Provider
from anytune.spec import ValidatedSpec
from anytune.types import Checkpoint, Event, FileObject, Job
from anytune_ray import runs
from anytune_ray.events import read_events
from anytune_ray.options import OPTION_SPECS, check_options
from anytune_ray.records import JobRow, Records, from_record
from anytune_ray.rest import RayJobs
from anytune_ray.storage import Storage


class RayProvider(Provider):
    name = "ray"
    capabilities = Capabilities(
        pause_resume=True,
        checkpoints=True,
        methods=frozenset({"supervised", "dpo"}),
        file_management=True,
    )
    option_specs = OPTION_SPECS
    default_poll_interval = 5.0
    connection_options = ("address", "storage")
    secret_connection_options = ("headers",)

    def __init__(
        self,
        address: str | None = None,
        storage: str | None = None,
        headers: str | Mapping[str, str] | None = None,
        home: str | Path | None = None,
        timeout: float | str | None = None,
    ) -> None:
        address = address or os.environ.get("RAY_ADDRESS")
        if not address:
            raise ConfigurationError(
                "the Ray provider needs the cluster's dashboard address",
                hint="set RAY_ADDRESS=http://HEAD:8265 or pass -P address=http://HEAD:8265",
                provider=self.name,
            )
        storage = storage or os.environ.get("ANYTUNE_RAY_STORAGE")
        if not storage:
            raise ConfigurationError(
                "the Ray provider needs storage every node can read",
                hint="pass -P storage=/shared/path (or s3://bucket/prefix), or set "
                "ANYTUNE_RAY_STORAGE",
                provider=self.name,
            )
        self.address = address.rstrip("/")
        self.storage = Storage(storage)
        self._headers = _headers(
            headers if headers is not None else os.environ.get("RAY_JOB_HEADERS")
        )
        self.rest = RayJobs(
            self.address,
            headers=self._headers,
            timeout=float(timeout) if timeout is not None else 30.0,
        )
        self.records = Records(Path(home) if home else config.home() / "ray")

    def __repr__(self) -> str:
        return f"RayProvider(address={self.address!r}, storage={self.storage.uri!r})"

    def secret_values(self) -> tuple[str, ...]:
        """The auth header values: scrubbed from messages, never stored."""
        return tuple(v for v in self._headers.values() if v)

    def close(self) -> None:
        self.rest.close()

    # -- files ----------------------------------------------------------------------------
    def upload_file(
        self, path: Path, *, purpose: str = "fine-tune", progress: ProgressCallback | None = None
    ) -> FileObject:
        return self.storage.upload(Path(path), purpose=purpose, progress=progress)

    def get_file(self, file_id: str) -> FileObject:
        return self.storage.get_file(file_id)

    def list_files(self, *, purpose: str | None = None, limit: int = 100) -> list[FileObject]:
        found = [f for f in self.storage.list_files() if purpose is None or f.purpose == purpose]
        return found[:limit]

    def delete_file(self, file_id: str) -> None:
        self.storage.delete_file(file_id)

    # -- jobs -----------------------------------------------------------------------------
    def check_spec(self, spec: ValidatedSpec) -> None:
        check_options(spec.options)
        if self.storage.process_local:
            raise ConfigurationError(
                f"storage {self.storage.uri} lives in this process only: no Ray node can read it",
                hint="use -P storage=/shared/path (mounted on every node), s3://BUCKET/PREFIX "
                "or gs://BUCKET/PREFIX",
                provider=self.name,
            )
        nodes = int(spec.options.get("num_nodes") or 1)
        if nodes > 1 and not self.storage.local:
            raise ConfigurationError(
                f"num_nodes={nodes} needs storage every node mounts ({self.storage.uri} is "
                "staged to one node's disk)",
                hint="use -P storage=/shared/path mounted on every node, or num_nodes=1",
                provider=self.name,
            )
        workers = int(spec.options.get("num_workers") or 1) * nodes
        accumulation = int(spec.options.get("gradient_accumulation_steps") or 1)
        batch = spec.hyperparameters.batch_size
        if isinstance(batch, int) and batch % (workers * accumulation):
            raise InvalidArgumentError(
                f"batch_size={batch} does not split evenly over num_workers x num_nodes="
                f"{workers} x gradient_accumulation_steps={accumulation}",
                hint=f"use a multiple of {workers * accumulation}, or batch_size=auto",
                provider=self.name,
            )

    def check_files(self, spec: ValidatedSpec) -> None:
        for file_id in (spec.training_file, spec.validation_file):
            if file_id:
                self.storage.get_file(file_id)

    def submit_job(self, spec: ValidatedSpec) -> Job:
        return self.submit_request(spec, secrets.token_hex(12))

    def submit_request(self, spec: ValidatedSpec, request_id: str) -> Job:
        """Create the job for ``request_id`` (client-generated): calling this again with the
        same id, after an answer was lost, finds the same job and the same Ray submission."""
        job_id = f"ftjob-ray-{request_id}"
        stored = spec.to_dict()
        model = spec.model
        if model.startswith((".", "/", "~")) or Path(model).is_dir():
            stored["base_model"] = str(Path(model).expanduser().resolve())
        # Secrets are the connection's, not the spec's: scrubbed anyway, as nothing stored
        # (here, in storage, on the cluster) may hold one.
        spec_text = self.scrub(json.dumps(stored))
        self.records.insert(job_id, address=self.address, storage=self.storage.uri, spec=spec_text)
        row = self.records.get(job_id)
        assert row is not None
        record = self.storage.path("jobs", job_id, "job.json")
        if self.storage.read_json(record) is None:
            self.storage.write_json(record, row.to_record())
        runs.start(self, row, 0, resume_from=None)
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> Job:
        return runs.to_job(self, self._row(job_id))

    def list_jobs(self, *, limit: int = 20) -> list[Job]:
        """This machine's jobs and every job on the cluster whose record is in this storage
        (made from any machine), newest first."""
        infos = self.rest.list()
        rows = {row.id: row for row in self.records.recent(self.address, limit)}
        on_cluster = {str((i.get("metadata") or {}).get("anytune_job") or "") for i in infos}
        for job_id in sorted(on_cluster - set(rows) - {""}):
            try:
                rows[job_id] = self._row(job_id)
            except NotFoundError:
                continue  # another storage's job
        newest = sorted(rows.values(), key=lambda r: r.created_at, reverse=True)[:limit]
        by_submission = {str(i.get("submission_id")): i for i in infos}
        found = []
        for row in newest:
            row = self._synced(row)
            found.append(runs.to_job(self, row, info=by_submission.get(row.submission_id())))
        return found

    def list_events(self, job_id: str, *, after: str | None = None) -> list[Event]:
        row = self._row(job_id)
        return read_events(self.storage, job_id, row.runs, after)

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        return runs.checkpoints(self, self._row(job_id))

    def cancel_job(self, job_id: str) -> Job:
        job = self.get_job(job_id)
        if job.is_terminal or str(job.status) == "paused":
            raise ConflictError(
                f"job {job_id} is {job.status}; only queued or running jobs can be cancelled",
                provider=self.name,
            )
        row = self._row(job_id)
        try:
            self.rest.stop(row.submission_id())
        except NotFoundError:
            # Still being submitted (``runs._submitting``), maybe from another machine: the
            # run reads its control file when it starts, and stops at once as cancelled.
            self.storage.write_text(f"{runs.run_dir(self, job_id, row.run)}/control", "cancel\n")
        return self.get_job(job_id)

    def pause_job(self, job_id: str) -> Job:
        return runs.pause(self, self._row(job_id))

    def resume_job(self, job_id: str) -> Job:
        return runs.resume(self, self._row(job_id))

    def download(self, job_id: str, directory: Path) -> Path:
        """Copy a succeeded job's PEFT adapter from storage to ``directory`` (new or empty)."""
        job = self.get_job(job_id)
        if str(job.status) != "succeeded" or not job.fine_tuned_model:
            raise ConflictError(
                f"job {job_id} is {job.status}; only a succeeded job has an adapter to download",
                provider=self.name,
            )
        self.storage.download_dir(runs.adapter_path(self, job_id), Path(directory))
        return Path(directory)

    # -- helpers --------------------------------------------------------------------------
    def _row(self, job_id: str) -> JobRow:
        """The job's record: this machine's, else the one in storage (a job made on another
        machine), with as many runs as storage shows (another machine may have resumed it)."""
        row = self.records.get(job_id)
        if row is None or row.address != self.address:
            data = None
            if job_id.startswith("ftjob-ray-") and "/" not in job_id:
                data = self.storage.read_json(self.storage.path("jobs", job_id, "job.json"))
            row = from_record(data, job_id=job_id, address=self.address, runs=0)
        if row is None:
            raise NotFoundError(
                f"no Ray job {job_id!r} in {self.storage.uri}",
                hint="a job made on another machine is found with the same -P storage (and "
                "address) it was created with",
                provider=self.name,
            )
        return self._synced(row)

    def _synced(self, row: JobRow) -> JobRow:
        runs = self.storage.run_count(row.id)
        if runs <= row.runs:
            return row
        self.records.note_runs(row.id, runs)
        return replace(row, runs=runs)

    def entrypoint(self, argv: list[str]) -> str:
        return shlex.join(argv)


def _headers(value: str | Mapping[str, str] | None) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ConfigurationError(
            "the Ray auth headers are not a JSON object",
            hint='pass -P headers=\'{"Authorization": "Bearer ..."}\' (or RAY_JOB_HEADERS)',
            provider="ray",
        )
    return {str(k): str(v) for k, v in data.items()}
