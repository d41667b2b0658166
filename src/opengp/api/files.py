"""Sending a job's files, whichever FileStore keeps them (``runtime/storage.py``).

One answer for every face that sends a file (``directories/arcgisjobs/...``, OGC raw
results): the media type from the file's name, ``nosniff`` and a ``sandbox`` CSP (a tool's
HTML or SVG must not run scripts as this server: it would carry the user's session), and
``Accept-Ranges``. A local file goes out as Starlette's FileResponse; an object is streamed
from the store in 64 KiB chunks, with its length, ETag and Last-Modified, and a single byte
range is passed on to the store (``206``). There are no redirects to presigned URLs: the
URL and the access checks stay the server's.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from email.utils import formatdate
from mimetypes import guess_type
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from ..runtime.storage import FileStore, StoredFile

SANDBOX = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


async def open_job_file(request: Request, files: FileStore, service_part: str, job_id: str,
                        rest: str) -> StoredFile | None:
    """The file ``<service_part>/<job_id>/<rest>`` for this request (HEAD: headers only; a
    ``Range`` without ``If-Range`` is handed to the store), or None when there is none."""
    head = request.method == "HEAD"
    wanted = request.headers.get("range") if "if-range" not in request.headers else None
    if not files.remote:
        return files.open(service_part, job_id, rest)       # a few stat calls
    return await run_in_threadpool(files.open, service_part, job_id, rest, head=head, byte_range=wanted)


def file_response(stored: StoredFile) -> Response:
    """The file as a response, with the headers every face sends (module docstring)."""
    if stored.path is not None:
        return FileResponse(stored.path, headers=SANDBOX)
    headers = {**SANDBOX, "Accept-Ranges": "bytes", "Content-Length": str(stored.size)}
    if stored.etag:
        headers["ETag"] = stored.etag
    if stored.modified is not None:
        headers["Last-Modified"] = formatdate(stored.modified, usegmt=True)
    if stored.content_range:
        headers["Content-Range"] = stored.content_range
    media_type = guess_type(stored.name)[0] or "application/octet-stream"
    status = 206 if stored.content_range else 200
    if stored.chunks is None:       # HEAD
        stored.close()
        return Response(b"", status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(_stream(stored), status_code=status, headers=headers, media_type=media_type)


async def read_all(stored: StoredFile) -> bytes:
    """The whole file (OGC multipart results)."""
    if stored.path is not None:
        return await run_in_threadpool(stored.path.read_bytes)
    return b"".join([chunk async for chunk in _stream(stored)])


async def _stream(stored: StoredFile) -> AsyncIterator[bytes]:
    chunks: Any = stored.chunks
    try:
        while (chunk := await run_in_threadpool(next, chunks, None)) is not None:
            yield chunk
    finally:
        stored.close()
