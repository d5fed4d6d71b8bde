"""``/v1/files`` and ``/v1/uploads`` (large files in parts)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from anytune.serve.deps import Project, Svc, blocking, json_body
from anytune.serve.errors import APIError, invalid, not_found, unknown_arguments
from anytune.serve.jobrequest import positive_limit
from anytune.serve.service import MB, Service, check_purpose, copy_blobs, too_large
from anytune.serve.shapes import file_json, page, upload_json
from anytune.serve.state import UploadRow

router = APIRouter(prefix="/v1")
MAX_PART_BYTES = 64 * MB
UPLOAD_LIFETIME = 3600


async def _form_file(
    request: Request, field: str, allowed: set[str]
) -> tuple[UploadFile, dict[str, str]]:
    try:
        form = await request.form(max_files=1, max_fields=8)
    except APIError:
        raise  # the body is too large
    except Exception as exc:  # a malformed multipart body: the client's fault, not a 500
        raise invalid(f"Could not parse the multipart form: {exc}") from None
    # Nested fields arrive as ``name[key]`` (the SDK sends expires_after[anchor], ...).
    unknown = sorted({k for k in form if k.split("[", 1)[0] not in allowed | {field}})
    if unknown:
        raise unknown_arguments(unknown)
    upload = form.get(field)
    if not isinstance(upload, UploadFile):
        raise invalid(f"Missing required parameter: '{field}'.", param=field)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return upload, fields


@router.post("/files")
async def create_file(request: Request, owner: Project, svc: Svc) -> dict[str, Any]:
    upload, fields = await _form_file(request, "file", {"purpose", "expires_after"})
    purpose = check_purpose(fields.get("purpose"))
    name = upload.filename or "upload.jsonl"
    row = await blocking(svc.store_file, owner, name, purpose, upload.file)
    return file_json(row)


@router.get("/files")
async def list_files(request: Request, owner: Project, svc: Svc) -> dict[str, Any]:
    query = request.query_params
    limit = positive_limit(query.get("limit"), 10000, 10000)
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid("Invalid 'order': expected 'asc' or 'desc'.", param="order")
    rows = await blocking(
        svc.state.list_files,
        owner,
        purpose=query.get("purpose"),
        after=query.get("after"),
        limit=limit + 1,
        ascending=order == "asc",
    )
    return page([file_json(r) for r in rows[:limit]], len(rows) > limit, ids=True, empty_id="")


@router.get("/files/{file_id}")
async def retrieve_file(file_id: str, owner: Project, svc: Svc) -> dict[str, Any]:
    return file_json(await blocking(svc.file, owner, file_id))


@router.get("/files/{file_id}/content")
async def file_content(file_id: str, owner: Project, svc: Svc) -> FileResponse:
    row = await blocking(svc.file, owner, file_id)
    # The path is built from the id the server gave, checked against the project's files.
    return FileResponse(svc.state.blob(row.id), media_type="application/octet-stream")


@router.delete("/files/{file_id}")
async def delete_file(file_id: str, owner: Project, svc: Svc) -> dict[str, Any]:
    await blocking(svc.delete_file, owner, file_id)
    return {"id": file_id, "object": "file", "deleted": True}


# -- uploads -------------------------------------------------------------------------------
def _upload(svc: Service, owner: str, upload_id: str) -> UploadRow:
    row = svc.state.get_upload(owner, upload_id)
    if row is None:
        raise not_found(f"No such Upload object: {upload_id}", param="upload_id")
    return row


def _pending(row: UploadRow) -> None:
    if row.status != "pending":
        raise invalid(f"Upload {row.id} is {row.status}, not pending.", param="upload_id")
    if row.expires_at < time.time():
        raise invalid(f"Upload {row.id} has expired.", param="upload_id")


@router.post("/uploads")
async def create_upload(request: Request, owner: Project, svc: Svc) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    unknown = sorted(set(body) - {"filename", "purpose", "bytes", "mime_type", "expires_after"})
    if unknown:
        raise unknown_arguments(unknown)
    for name in ("filename", "purpose", "bytes", "mime_type"):
        if name not in body:
            raise invalid(f"Missing required parameter: '{name}'.", param=name)
    purpose = check_purpose(body["purpose"])
    size = body["bytes"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise invalid("Invalid 'bytes': expected a non-negative integer.", param="bytes")
    if size > svc.config.max_upload_bytes:
        raise too_large(svc.config.max_upload_bytes)
    if not isinstance(body["filename"], str) or not isinstance(body["mime_type"], str):
        raise invalid("Invalid 'filename' or 'mime_type': expected strings.")
    now = int(time.time())
    row = UploadRow(
        id=f"upload_{secrets.token_hex(12)}",
        project=owner,
        filename=body["filename"],
        purpose=purpose,
        bytes=size,
        mime_type=body["mime_type"],
        created_at=now,
        expires_at=now + UPLOAD_LIFETIME,
        status="pending",
        file_id=None,
    )
    await blocking(svc.state.add_upload, row)
    return upload_json(row, None)


@router.post("/uploads/{upload_id}/parts")
async def add_part(
    upload_id: str,
    request: Request,
    owner: Project,
    svc: Svc,
) -> dict[str, Any]:
    row = await blocking(_upload, svc, owner, upload_id)
    _pending(row)
    data, _ = await _form_file(request, "data", set())
    part_id = f"part_{secrets.token_hex(12)}"

    def save() -> int:
        size = 0
        with svc.state.blob(part_id).open("wb") as out:
            while chunk := data.file.read(MB):
                size += len(chunk)
                if size > MAX_PART_BYTES:
                    out.close()
                    svc.state.blob(part_id).unlink(missing_ok=True)
                    raise too_large(MAX_PART_BYTES)
                out.write(chunk)
        svc.state.add_part(part_id, upload_id, int(time.time()), size)
        return size

    await blocking(save)
    return {
        "id": part_id,
        "object": "upload.part",
        "created_at": int(time.time()),
        "upload_id": upload_id,
    }


@router.post("/uploads/{upload_id}/complete")
async def complete_upload(
    upload_id: str,
    request: Request,
    owner: Project,
    svc: Svc,
) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    unknown = sorted(set(body) - {"part_ids", "md5"})
    if unknown:
        raise unknown_arguments(unknown)
    part_ids = body.get("part_ids")
    if not isinstance(part_ids, list) or not all(isinstance(p, str) for p in part_ids):
        raise invalid(
            "Missing required parameter: 'part_ids' (a list of part ids).", param="part_ids"
        )

    def complete() -> dict[str, Any]:
        row = _upload(svc, owner, upload_id)
        _pending(row)
        known = svc.state.parts(upload_id)
        missing = [p for p in part_ids if p not in known]
        if missing:
            raise invalid(
                f"Unknown part id(s) for upload {upload_id}: {', '.join(missing)}", param="part_ids"
            )
        total = sum(known[p] for p in part_ids)
        if total != row.bytes:
            raise invalid(
                f"The parts hold {total} bytes, but the upload was created for {row.bytes}.",
                param="part_ids",
            )
        file_id = f"file-{secrets.token_hex(12)}"
        size, sha256 = copy_blobs([svc.state.blob(p) for p in part_ids], svc.state.blob(file_id))
        file = svc.register_blob(owner, file_id, row.filename, row.purpose, size, sha256)
        if not svc.state.finish_upload(upload_id, "completed", file.id):
            raise invalid(f"Upload {upload_id} is no longer pending.", param="upload_id")
        for part in svc.state.drop_parts(upload_id):
            svc.state.blob(part).unlink(missing_ok=True)
        return upload_json(_upload(svc, owner, upload_id), file)

    return await blocking(complete)


@router.post("/uploads/{upload_id}/cancel")
async def cancel_upload(upload_id: str, owner: Project, svc: Svc) -> dict[str, Any]:
    def cancel() -> dict[str, Any]:
        row = _upload(svc, owner, upload_id)
        _pending(row)
        svc.state.finish_upload(upload_id, "cancelled", None)
        for part in svc.state.drop_parts(upload_id):
            svc.state.blob(part).unlink(missing_ok=True)
        return upload_json(_upload(svc, owner, upload_id), None)

    return await blocking(cancel)
