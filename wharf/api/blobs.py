"""``/v2/<name>/blobs/<digest>``: HEAD, GET (with Range) and DELETE."""

from __future__ import annotations

import re
from dataclasses import dataclass

from wharf.api import params
from wharf.api.messages import Request, Response
from wharf.api.responses import StreamedBody
from wharf.errors import RangeInvalid
from wharf.registry.mediatypes import OCTET_STREAM
from wharf.storage.cache.base import BlobDescriptor

__all__ = ["delete_blob", "get_blob"]

# [0-9], not \d: \d also matches "١" and "１", which int() reads.
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
#: past the end of every blob (a blob's size fits in 63 bits)
_BEYOND = 1 << 63


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
    blob = await repo.blobs.stat(digest)
    headers = {
        "docker-content-digest": str(digest),
        "accept-ranges": "bytes",
        "etag": f'"{digest}"',
        "cache-control": "max-age=31536000",
    }
    size = blob.size
    byte_range = parse_range(request.headers.get("range"), size)
    if request.method == "HEAD":
        headers["content-length"] = str(size)
        return Response(status_code=200, headers=headers, media_type=OCTET_STREAM)
    if byte_range is None:
        return await _whole(request, blob, headers)
    return await _partial(request, blob, byte_range, headers)


async def _whole(request: Request, blob: BlobDescriptor, headers: dict[str, str]) -> Response:
    # Streamed through the app rather than granian's pathsend: reading the next chunk in a thread
    # while the last one is sent was as fast as pathsend or faster, for every storage driver alike.
    headers["content-length"] = str(blob.size)
    reader = await params.registry(request).blobs.open(blob.digest)
    return StreamedBody(reader, headers=headers, media_type=OCTET_STREAM)


async def _partial(
    request: Request, blob: BlobDescriptor, byte_range: ByteRange, headers: dict[str, str]
) -> Response:
    size = blob.size
    headers["content-range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
    headers["content-length"] = str(byte_range.length)
    reader = await params.registry(request).blobs.open(
        blob.digest, offset=byte_range.start, length=byte_range.length
    )
    return StreamedBody(reader, status_code=206, headers=headers, media_type=OCTET_STREAM)


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
        suffix = _position(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return ByteRange(max(size - suffix, 0), size - 1)
    start = _position(first)
    end = min(_position(last), size - 1) if last else size - 1
    if start >= size or (last and _position(last) < start):
        raise _unsatisfiable(header, size)
    return ByteRange(start, end)


def _position(digits: str) -> int:
    """A byte position; one too long for any blob is read as ``_BEYOND`` (``int()`` refuses
    strings of thousands of digits, and a client could send one)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 else _BEYOND


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
