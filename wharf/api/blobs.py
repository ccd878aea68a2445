"""``/v2/<name>/blobs/<digest>``: HEAD, GET (with Range) and DELETE."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from wharf.api import params
from wharf.errors import RangeInvalid
from wharf.registry.blobs import BlobHandle
from wharf.registry.mediatypes import OCTET_STREAM

__all__ = ["delete_blob", "get_blob"]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


async def get_blob(request: Request) -> Response:
    repo = params.repository(request)
    digest = params.digest_param(request.path_params["digest"])
    blob = await repo.blobs.handle(digest)
    headers = {
        "docker-content-digest": str(digest),
        "accept-ranges": "bytes",
        "etag": f'"{digest}"',
        "cache-control": "max-age=31536000",
    }
    size = blob.descriptor.size
    byte_range = parse_range(request.headers.get("range"), size)
    if request.method == "HEAD":
        headers["content-length"] = str(size)
        return Response(status_code=200, headers=headers, media_type=OCTET_STREAM)
    if byte_range is None:
        return await _whole(request, blob, headers)
    return await _partial(request, blob, byte_range, headers)


async def _whole(request: Request, blob: BlobHandle, headers: dict[str, str]) -> Response:
    if blob.local_path is not None:
        # sendfile / the server's pathsend: the bytes never pass through Python.
        return _WholeFile(blob.local_path, headers=headers, media_type=OCTET_STREAM)
    headers["content-length"] = str(blob.descriptor.size)
    reader = await params.registry(request).blobs.open(blob.descriptor.digest)
    return StreamingResponse(reader, headers=headers, media_type=OCTET_STREAM)


class _WholeFile(FileResponse):
    """The whole file, whatever ``Range`` says: ``parse_range`` has already chosen to ignore it.

    Starlette's ``FileResponse`` would otherwise answer the ranges wharf ignores
    (several ranges, malformed ones) itself, so the filesystem driver would
    serve them differently from every other driver.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"range", b"if-range")]
        await super().__call__({**scope, "headers": headers}, receive, send)


async def _partial(
    request: Request, blob: BlobHandle, byte_range: ByteRange, headers: dict[str, str]
) -> Response:
    size = blob.descriptor.size
    headers["content-range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
    headers["content-length"] = str(byte_range.length)
    reader = await params.registry(request).blobs.open(blob.descriptor.digest, offset=byte_range.start)
    return StreamingResponse(
        _limit(reader, byte_range.length), status_code=206, headers=headers, media_type=OCTET_STREAM
    )


async def _limit(reader: AsyncIterator[bytes], length: int) -> AsyncIterator[bytes]:
    remaining = length
    try:
        async for chunk in reader:
            if len(chunk) >= remaining:
                yield chunk[:remaining]
                return
            remaining -= len(chunk)
            yield chunk
    finally:
        close = getattr(reader, "aclose", None)
        if close is not None:
            await close()


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """One ``Range: bytes=`` range; None serves the whole blob.

    Several ranges at once are answered with the whole blob, as RFC 9110 allows
    (``A server MAY ignore the Range header field``); a range that cannot be
    satisfied is a 416 with ``Content-Range: bytes */size``.
    """
    if header is None or "," in header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or (not match[1] and not match[2]):
        return None  # not a byte range we understand: ignore it, like other servers
    first, last = match[1], match[2]
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return ByteRange(max(size - suffix, 0), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(header, size)
    return ByteRange(start, end)


def _unsatisfiable(header: str, size: int) -> RangeInvalid:
    return RangeInvalid(
        f"range {header[:100]!r} is outside the blob's {size} bytes",
        headers={"content-range": f"bytes */{size}"},
    )


async def delete_blob(request: Request) -> Response:
    params.require_delete(request)
    repo = params.repository(request)
    digest = params.digest_param(request.path_params["digest"])
    await repo.blobs.unlink(digest)
    return Response(status_code=202, headers={"docker-content-digest": str(digest), "content-length": "0"})
