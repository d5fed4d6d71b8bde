"""Reading request bodies byte-exactly: Content-Length or chunked, and multipart/form-data."""

from __future__ import annotations

from typing import IO, Any


def read_body(stream: IO[bytes], headers: Any) -> bytes:
    """The request body, whether sent with Content-Length or chunked."""
    length = headers.get("Content-Length")
    if length is not None:
        return stream.read(int(length))
    if "chunked" not in (headers.get("Transfer-Encoding") or "").lower():
        return b""
    chunks: list[bytes] = []
    while True:
        size_line = stream.readline().split(b";")[0].strip()
        size = int(size_line or b"0", 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        chunks.append(stream.read(size))
        stream.readline()


def _param(header: str, name: str) -> str | None:
    for piece in header.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        if key.lower() == name:
            return value.strip().strip('"')
    return None


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """``{field name: (filename or None, bytes)}`` of a multipart/form-data body."""
    boundary = _param(content_type, "boundary")
    if not boundary:
        raise ValueError("multipart body without a boundary")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        part = part.removeprefix(b"\r\n")
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        content = content.removesuffix(b"\r\n")
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-disposition":
                disposition = value.strip()
        field_name = _param(disposition, "name")
        if field_name:
            fields[field_name] = (_param(disposition, "filename"), content)
    return fields
