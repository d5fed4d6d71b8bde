"""The routes of the fake Fireworks server: datasets (create with a client-chosen id, upload
in one request or through a signed URL, validateUpload), supervised fine-tuning and DPO jobs
(create with a client-chosen id, get, list with page tokens, cancel) and a model's download
endpoint. JSON field names and shapes are those the fireworks-ai SDK 1.2 declares (its types
are generated from Fireworks' OpenAPI document): camelCase fields, ``accounts/A/KIND/ID``
names, ``JOB_STATE_*`` states, gRPC-gateway errors ``{"code", "message", "details"}``."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from anytune.testing.http import Answer, parse_form
from anytune_fireworks.testing import _shapes

# gRPC codes Fireworks answers with, by HTTP status.
GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 412: 9, 429: 8, 500: 13, 503: 14}
A = "/v1/accounts/{account}"
ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", A + "/datasets"),
    ("GET", A + "/datasets"),
    ("GET", A + "/datasets/{id}"),
    ("DELETE", A + "/datasets/{id}"),
    ("POST", A + "/datasets/{id}:upload"),
    ("POST", A + "/datasets/{id}:getUploadEndpoint"),
    ("POST", A + "/datasets/{id}:validateUpload"),
    ("PUT", "/_signed/datasets/{id}/{name}"),
    ("POST", A + "/supervisedFineTuningJobs"),
    ("GET", A + "/supervisedFineTuningJobs"),
    ("GET", A + "/supervisedFineTuningJobs/{id}"),
    ("POST", A + "/supervisedFineTuningJobs/{id}:cancel"),
    ("POST", A + "/dpoJobs"),
    ("GET", A + "/dpoJobs"),
    ("GET", A + "/dpoJobs/{id}"),
    ("POST", A + "/dpoJobs/{id}:cancel"),
    ("GET", A + "/models/{id}:getDownloadEndpoint"),
    ("GET", "/_signed/models/{id}/{name}"),
    ("GET", "/v1/accounts/-/trainingShapes/-/versions"),
)
_PATTERNS = [
    (m, re.compile("^" + re.sub(r"\\\{[a-z]+\\\}", "([^/:]+)", re.escape(t)) + "$"), t)
    for m, t in ROUTES
]
ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TERMINAL = ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")
LIFECYCLE = ("JOB_STATE_VALIDATING", "JOB_STATE_PENDING", "JOB_STATE_RUNNING")
ADAPTER_FILES = {
    "adapter_config.json": b'{"r": 8, "peft_type": "LORA"}',
    "adapter_model.safetensors": b"\x00" * 64,
}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _first(query: Mapping[str, list[str]], *names: str) -> str | None:
    for name in names:
        if query.get(name):
            return query[name][0]
    return None


class FakeAPI:
    def __init__(self, *, account: str, percent_per_poll: int = 25):
        self.lock = threading.RLock()
        self.account = account
        self.percent_per_poll = percent_per_poll
        self.root = ""
        self.datasets: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.fail_with: str | None = None
        self.training_shapes: list[dict[str, Any]] = [dict(s) for s in _shapes.DEFAULT_SHAPES]

    def route_of(self, method: str, path: str) -> str | None:
        for m, pattern, template in _PATTERNS:
            if m == method and pattern.match(path):
                return template
        return None

    @staticmethod
    def error(status: int, message: str, code: str = "") -> Answer:
        return status, {"code": GRPC.get(status, 2), "message": message, "details": []}, {}

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], body: bytes, headers: Any
    ) -> Answer:
        for m, pattern, template in _PATTERNS:
            found = pattern.match(path)
            if m != method or not found:
                continue
            args = list(found.groups())
            if template.startswith(A):
                if args[0] != self.account:
                    return self.error(403, f"permission denied on account {args[0]}")
                args = args[1:]
            name = re.sub(r"[^a-z]+", "_", template.replace(A, "").replace("{id}", "x").lower())
            handler = getattr(self, f"do_{method.lower()}{name.rstrip('_')}")
            with self.lock:
                result: Answer = handler(*args, query=query, body=body, headers=headers)
            return result
        return self.error(404, f"no route {method} {path}")

    def _name(self, kind: str, object_id: str) -> str:
        return f"accounts/{self.account}/{kind}/{object_id}"

    # -- training shapes -----------------------------------------------------------------
    def do_get_v_accounts_trainingshapes_versions(self, *, query: Any, **_: Any) -> Answer:
        found = _shapes.matching(self.training_shapes, _first(query, "filter") or "")
        if isinstance(found, str):
            return self.error(400, found)
        return self._page(found, "trainingShapeVersions", query)

    # -- datasets ------------------------------------------------------------------------
    def do_post_datasets(self, *, body: bytes, **_: Any) -> Answer:
        request = json.loads(body or b"{}")
        dataset_id = request.get("datasetId") or request.get("dataset_id") or ""
        if not ID.match(dataset_id):
            return self.error(400, f"invalid dataset id {dataset_id!r}")
        if dataset_id in self.datasets:
            return self.error(409, f"dataset {dataset_id} already exists")
        given = request.get("dataset") or {}
        record: dict[str, Any] = {
            "name": self._name("datasets", dataset_id),
            "displayName": given.get("displayName") or dataset_id,
            "createTime": now_iso(),
            "updateTime": now_iso(),
            "state": "UPLOADING",
            "exampleCount": given.get("exampleCount") or "0",
            "userUploaded": {},
            "format": "CHAT",
        }
        self.datasets[dataset_id] = record
        return 200, dict(record), {}

    def do_get_datasets(self, *, query: Any, **_: Any) -> Answer:
        items = sorted(self.datasets.values(), key=lambda d: d["createTime"], reverse=True)
        return self._page(items, "datasets", query)

    def _page(self, items: list[dict[str, Any]], key: str, query: Any) -> Answer:
        size = int(_first(query, "pageSize", "page_size") or 50)
        start = int(_first(query, "pageToken", "page_token") or 0)
        page = [dict(i) for i in items[start : start + size]]
        payload: dict[str, Any] = {key: page, "totalSize": len(items)}
        if start + size < len(items):
            payload["nextPageToken"] = str(start + size)
        return 200, payload, {}

    def _dataset(self, dataset_id: str) -> dict[str, Any] | None:
        return self.datasets.get(dataset_id)

    def do_get_datasets_x(self, dataset_id: str, **_: Any) -> Answer:
        record = self._dataset(dataset_id)
        if record is None:
            return self.error(404, f"dataset {dataset_id} not found")
        return 200, dict(record), {}

    def do_delete_datasets_x(self, dataset_id: str, **_: Any) -> Answer:
        if self.datasets.pop(dataset_id, None) is None:
            return self.error(404, f"dataset {dataset_id} not found")
        self.contents.pop(dataset_id, None)
        return 200, {}, {}

    def _fill(self, dataset_id: str, content: bytes) -> Answer | None:
        record = self.datasets[dataset_id]
        problem = _validate(content)
        if problem:
            return self.error(400, f"dataset {dataset_id}: {problem}")
        self.contents[dataset_id] = content
        record["state"] = "READY"
        record["updateTime"] = now_iso()
        return None

    def do_post_datasets_x_upload(
        self, dataset_id: str, *, body: bytes, headers: Any, **_: Any
    ) -> Answer:
        if dataset_id not in self.datasets:
            return self.error(404, f"dataset {dataset_id} not found")
        form = parse_form(body, headers.get("Content-Type", ""))
        if "file" not in form:
            return self.error(400, "missing file")
        refused = self._fill(dataset_id, form["file"])
        if refused:
            return refused
        return 200, {"id": dataset_id, "bytes": len(form["file"]), "object": "file"}, {}

    def do_post_datasets_x_getuploadendpoint(
        self, dataset_id: str, *, body: bytes, **_: Any
    ) -> Answer:
        if dataset_id not in self.datasets:
            return self.error(404, f"dataset {dataset_id} not found")
        sizes = json.loads(body or b"{}").get("filenameToSize") or {}
        urls = {n: f"{self.root}/_signed/datasets/{dataset_id}/{n}" for n in sizes}
        return 200, {"filenameToSignedUrls": urls}, {}

    def do_put_signed_datasets_x_name(
        self, dataset_id: str, name: str, *, body: bytes, **_: Any
    ) -> Answer:
        if dataset_id not in self.datasets:
            return 404, b"NoSuchKey", {}
        self.contents[dataset_id] = body
        return 200, b"", {}

    def do_post_datasets_x_validateupload(self, dataset_id: str, **_: Any) -> Answer:
        if dataset_id not in self.datasets or dataset_id not in self.contents:
            return self.error(412, f"dataset {dataset_id} has no uploaded file")
        refused = self._fill(dataset_id, self.contents[dataset_id])
        return refused or (200, {}, {})

    # -- jobs ----------------------------------------------------------------------------
    def _create_job(self, kind: str, job_id: str | None, request: dict[str, Any]) -> Answer:
        if not job_id or not ID.match(job_id):
            return self.error(400, f"invalid job id {job_id!r}")
        if job_id in self.jobs:
            return self.error(409, f"job {job_id} already exists")
        dataset = str(request.get("dataset") or "").rsplit("/", 1)[-1]
        if dataset not in self.datasets or self.datasets[dataset]["state"] != "READY":
            return self.error(400, f"dataset {request.get('dataset')} is not READY")
        job = {**request, "name": self._name(kind, job_id), "state": "JOB_STATE_CREATING",
               "createTime": now_iso(), "createdBy": "fake@example.com"}  # fmt: skip
        job["_kind"] = kind
        job["_percent"] = 0
        self._touch(job)
        self.jobs[job_id] = job
        return 200, _public(job), {}

    def do_post_supervisedfinetuningjobs(self, *, body: bytes, query: Any, **_: Any) -> Answer:
        job_id = _first(query, "supervisedFineTuningJobId", "supervised_fine_tuning_job_id")
        return self._create_job("supervisedFineTuningJobs", job_id, json.loads(body or b"{}"))

    def do_post_dpojobs(self, *, body: bytes, query: Any, **_: Any) -> Answer:
        job_id = _first(query, "dpoJobId", "dpo_job_id")
        return self._create_job("dpoJobs", job_id, json.loads(body or b"{}"))

    def _list_jobs(self, kind: str, key: str, query: Any) -> Answer:
        items = [j for j in self.jobs.values() if j["_kind"] == kind]
        items.sort(key=lambda j: j["createTime"], reverse=True)
        return self._page([_public(j) for j in items], key, query)

    def do_get_supervisedfinetuningjobs(self, *, query: Any, **_: Any) -> Answer:
        return self._list_jobs("supervisedFineTuningJobs", "supervisedFineTuningJobs", query)

    def do_get_dpojobs(self, *, query: Any, **_: Any) -> Answer:
        return self._list_jobs("dpoJobs", "dpoJobs", query)

    def _get_job(self, kind: str, job_id: str) -> Answer:
        job = self.jobs.get(job_id)
        if job is None or job["_kind"] != kind:
            return self.error(404, f"job {job_id} not found")
        self.tick(job)
        return 200, _public(job), {}

    def do_get_supervisedfinetuningjobs_x(self, job_id: str, **_: Any) -> Answer:
        return self._get_job("supervisedFineTuningJobs", job_id)

    def do_get_dpojobs_x(self, job_id: str, **_: Any) -> Answer:
        return self._get_job("dpoJobs", job_id)

    def _cancel(self, kind: str, job_id: str) -> Answer:
        job = self.jobs.get(job_id)
        if job is None or job["_kind"] != kind:
            return self.error(404, f"job {job_id} not found")
        if job["state"] in TERMINAL:
            return self.error(
                412, f"job {job_id} is in state {job['state']} and cannot be cancelled"
            )
        job["state"] = "JOB_STATE_CANCELLING"
        self._touch(job)
        return 200, {}, {}

    def do_post_supervisedfinetuningjobs_x_cancel(self, job_id: str, **_: Any) -> Answer:
        return self._cancel("supervisedFineTuningJobs", job_id)

    def do_post_dpojobs_x_cancel(self, job_id: str, **_: Any) -> Answer:
        return self._cancel("dpoJobs", job_id)

    # -- models --------------------------------------------------------------------------
    def _model_job(self, model_id: str) -> dict[str, Any] | None:
        for job in self.jobs.values():
            output = job.get("outputModel") or (job.get("trainingConfig") or {}).get("outputModel")
            if (
                str(output or "").rsplit("/", 1)[-1] == model_id
                and job["state"] == "JOB_STATE_COMPLETED"
            ):
                return job
        return None

    def do_get_models_x_getdownloadendpoint(self, model_id: str, **_: Any) -> Answer:
        if self._model_job(model_id) is None:
            return self.error(404, f"model {model_id} not found")
        urls = {n: f"{self.root}/_signed/models/{model_id}/{n}" for n in ADAPTER_FILES}
        return 200, {"filenameToSignedUrls": urls}, {}

    def do_get_signed_models_x_name(self, model_id: str, name: str, **_: Any) -> Answer:
        if self._model_job(model_id) is None or name not in ADAPTER_FILES:
            return 404, b"NoSuchKey", {}
        return 200, ADAPTER_FILES[name], {}

    # -- lifecycle -----------------------------------------------------------------------
    @staticmethod
    def _touch(job: dict[str, Any]) -> None:
        """SFT jobs carry updateTime and jobProgress; DPO jobs (DpoJob) have neither."""
        if job["_kind"] == "supervisedFineTuningJobs":
            job["updateTime"] = now_iso()
            if job["state"] in ("JOB_STATE_RUNNING", "JOB_STATE_COMPLETED", "JOB_STATE_FAILED"):
                job["jobProgress"] = {"percent": job["_percent"], "epoch": 0}

    def tick(self, job: dict[str, Any]) -> None:
        """CREATING -> VALIDATING -> PENDING -> RUNNING (percent grows) -> COMPLETED;
        CANCELLING -> CANCELLED; a scripted failure ends a running job FAILED."""
        state = job["state"]
        self._step(job, state)
        self._touch(job)

    def _step(self, job: dict[str, Any], state: str) -> None:
        if state == "JOB_STATE_CREATING":
            job["state"] = LIFECYCLE[0]
        elif state in LIFECYCLE[:-1]:
            job["state"] = LIFECYCLE[LIFECYCLE.index(state) + 1]
        elif state == "JOB_STATE_RUNNING":
            if self.fail_with is not None:
                job["state"] = "JOB_STATE_FAILED"
                job["status"] = {"code": "INTERNAL", "message": self.fail_with}
                job["completedTime"] = now_iso()
                return
            job["_percent"] = min(100, job["_percent"] + self.percent_per_poll)
            if job["_percent"] >= 100:
                job["state"] = "JOB_STATE_COMPLETED"
                job["status"] = {"code": "OK", "message": ""}
                job["completedTime"] = now_iso()
                output = f"accounts/{self.account}/models/{job['name'].rsplit('/', 1)[-1]}"
                if "trainingConfig" in job:
                    job["trainingConfig"]["outputModel"] = output
                else:
                    job["outputModel"] = output
        elif state == "JOB_STATE_CANCELLING":
            job["state"] = "JOB_STATE_CANCELLED"
            job["completedTime"] = now_iso()


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _validate(content: bytes) -> str | None:
    """The check Fireworks runs on an uploaded dataset (a subset: each line a JSON object
    with messages, or in the preference format)."""
    count = 0
    for number, raw in enumerate(content.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            return f"line {number} is not valid JSON"
        if not isinstance(line, dict) or not ("messages" in line or "input" in line):
            return f"line {number} has no messages"
        count += 1
    if count < 3:
        return f"a dataset needs at least 3 examples, got {count}"
    return None
