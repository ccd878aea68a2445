"""Turning request parts into the domain's value types, once, at the edge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from wharf.api.messages import ClientDisconnect, Request
from wharf.digest import ALGORITHMS, Digest
from wharf.errors import (
    BlobUploadInvalid,
    DigestInvalid,
    ManifestInvalid,
    ManifestTooLarge,
    PaginationInvalid,
    RegistryError,
    SizeInvalid,
    Unsupported,
)
from wharf.reference import Reference, RepositoryName
from wharf.registry.namespace import Registry, Repository

__all__ = [
    "BODY_IDLE_TIMEOUT",
    "Page",
    "body_stream",
    "content_length",
    "digest_algorithm",
    "digest_param",
    "page",
    "read_limited",
    "registry",
    "repository",
    "require_delete",
    "require_writable",
]


#: seconds a request body may send nothing before the client is dropped (see ``body_stream``)
BODY_IDLE_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Page:
    n: int | None
    last: str | None


def registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


def repository(request: Request) -> Repository:
    return registry(request).repository(RepositoryName.parse(request.path_params["name"]))


def reference(request: Request) -> Reference:
    return Reference.parse(request.path_params["reference"])


def digest_param(text: str | None, *, what: str = "digest") -> Digest:
    if not text:
        raise DigestInvalid(f"the {what} parameter is required")
    return Digest.parse(text)


def digest_algorithm(request: Request) -> str:
    """``?digest-algorithm=`` of an upload POST (end-4c), sha256 when absent; 400 for one wharf lacks."""
    text = request.query_params.get("digest-algorithm")
    if text is None:
        return "sha256"
    if text not in ALGORITHMS:
        raise DigestInvalid(
            f"unsupported digest algorithm {text[:40]!r}", message="unsupported digest algorithm"
        )
    return text


def require_writable(request: Request) -> None:
    if request.app.state.settings.read_only:
        raise Unsupported("the registry is in read-only mode", message="the registry is read-only")


def require_delete(request: Request) -> None:
    require_writable(request)
    if not request.app.state.settings.delete_enabled:
        raise Unsupported("deletes are disabled (storage.delete.enabled)", message="deletes are disabled")


def content_length(request: Request) -> int | None:
    text = request.headers.get("content-length")
    if text is None:
        return None
    if not _is_decimal(text) or len(text) > 18:
        raise SizeInvalid(f"invalid Content-Length {text[:40]!r}")
    return int(text)


async def body_stream(
    request: Request, *, error: type[RegistryError] = BlobUploadInvalid
) -> AsyncIterator[bytes]:
    """The request body as it arrives; a client that goes away or stalls mid-body gets ``error``.

    A client that sends nothing for ``BODY_IDLE_TIMEOUT`` seconds is dropped: the
    server bounds how long it waits for headers, not for a body, and a stalled
    upload would otherwise hold its session (and its lock) for ever.
    """
    chunks = request.stream()
    watch = _IdleWatch(BODY_IDLE_TIMEOUT)
    try:
        while True:
            watch.waiting = True
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except ClientDisconnect:
                raise error("the client disconnected before sending the whole body") from None
            except asyncio.CancelledError:
                if not watch.fired or watch.task is None:
                    raise
                watch.task.uncancel()
                raise error(f"the client sent nothing for {BODY_IDLE_TIMEOUT:g} s") from None
            finally:
                watch.waiting = False
            watch.pieces += 1
            if chunk:
                yield chunk
    finally:
        watch.close()
        await chunks.aclose()


class _IdleWatch:
    """Cancels the current task if it waits on the body for ``timeout`` seconds in a row.

    One timer per request, not one ``asyncio.timeout`` per body piece: a 1 GiB
    push arrives in tens of thousands of pieces, and a timeout per piece cost
    more than hashing them. A piece counts as progress; only the wait counts.
    """

    def __init__(self, timeout: float) -> None:
        self.task = asyncio.current_task()
        self.timeout = timeout
        self.waiting = False
        self.fired = False
        self.pieces = 0
        self._seen = 0
        self._loop = asyncio.get_running_loop()
        self._idle_since = self._loop.time()
        self._handle = self._loop.call_later(timeout / 4, self._check)

    def _check(self) -> None:
        now = self._loop.time()
        if not self.waiting or self.pieces != self._seen:
            self._idle_since = now
            self._seen = self.pieces
        elif now - self._idle_since >= self.timeout and self.task is not None:
            self.fired = True
            self.task.cancel()
            return
        self._handle = self._loop.call_later(self.timeout / 4, self._check)

    def close(self) -> None:
        self._handle.cancel()


async def read_limited(request: Request, *, limit: int) -> bytes:
    """The whole body, refusing (413) anything over ``limit`` without buffering more than that."""
    length = content_length(request)
    if length is not None and length > limit:
        raise ManifestTooLarge(f"manifest of {length} bytes exceeds the {limit}-byte limit")
    body = bytearray()
    async for chunk in body_stream(request, error=ManifestInvalid):
        if len(body) + len(chunk) > limit:
            raise ManifestTooLarge(f"manifest exceeds the {limit}-byte limit")
        body += chunk
    return bytes(body)


def page(request: Request, *, maximum: int | None = None) -> Page:
    """``n`` and ``last`` of a paginated listing; ``n`` over ``maximum`` is clamped to it."""
    text = request.query_params.get("n")
    n: int | None = None
    if text is not None and text != "":
        if not _is_decimal(text) or len(text) > 12:
            raise PaginationInvalid({"n": text[:40]})
        n = int(text)
    if maximum is not None:
        n = maximum if n is None else min(n, maximum)
    return Page(n=n, last=request.query_params.get("last") or None)


def _is_decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes ``²`` and ``١``, which ``int`` then refuses or reads."""
    return text.isascii() and text.isdigit()
