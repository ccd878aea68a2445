"""Response helpers: the OCI error envelope, URLs, and the headers every endpoint shares."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from wharf.api.messages import Receive, Request, Response, Send
from wharf.errors import InsufficientStorage, RegistryError
from wharf.storage.driver import StorageFull

__all__ = [
    "API_VERSION_HEADER",
    "StreamedBody",
    "error_for",
    "error_response",
    "json_response",
    "url_for",
]

API_VERSION_HEADER = ("docker-distribution-api-version", "registry/2.0")
_log = logging.getLogger("wharf.api")


def error_response(errors: list[RegistryError], *, status: int | None = None) -> Response:
    """The OCI error envelope ``{"errors": [{"code", "message", "detail"}]}``."""
    body = json.dumps({"errors": [e.to_dict() for e in errors]}, default=str).encode()
    headers = {k: v for e in errors for k, v in e.headers.items()}
    return Response(
        body,
        status_code=status or errors[0].status,
        media_type="application/json; charset=utf-8",
        headers=headers,
    )


def error_for(request: Request, exc: Exception) -> Response:
    """The response to whatever a handler raised: the one place exceptions become responses.

    A ``RegistryError`` says its own code and status; running out of space is a
    507 (and logged: an operator must act); anything else is a bug, logged with
    its traceback and answered ``UNKNOWN`` 500 without internals.
    """
    if isinstance(exc, RegistryError):
        return error_response([exc])
    if isinstance(exc, StorageFull):
        _log.error("storage full serving %s %s: %s", request.method, request.path, exc)
        return error_response([InsufficientStorage(request.path)])
    _log.error("unhandled error serving %s %s", request.method, request.path, exc_info=exc)
    return error_response([RegistryError("internal server error")])


def json_response(
    content: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    media_type: str = "application/json",
) -> Response:
    body = json.dumps(content, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=media_type, headers=headers)


def url_for(request: Request, path: str) -> str:
    """An absolute URL for ``path`` (under ``http.prefix``), or a relative one with ``relativeurls``."""
    settings = request.app.state.settings
    full = f"{settings.prefix}{path}"
    if settings.relative_urls:
        return full
    if settings.host:
        return f"{settings.host}{full}"
    # As distribution does behind a proxy: the first X-Forwarded-Host (each proxy appends its own).
    forwarded_host = request.headers.get("x-forwarded-host", "").split(",", 1)[0].strip()
    host = forwarded_host or request.headers.get("host") or request.server_authority
    scheme = request.headers.get("x-forwarded-proto") or request.scheme
    return f"{scheme}://{host}{full}"


class StreamedBody(Response):
    """A response whose body is an async iterator's chunks (a blob's bytes), closed when sent.

    Its headers state the length: nothing is added for the empty ``body``.

    Starlette's ``StreamingResponse`` sends from a task group that it cancels when the
    client goes away (granian speaks ASGI 2.3, whose ``send`` does not fail on a closed
    connection). The cancelled frames then sat in reference cycles, each holding a
    1 MiB chunk, until Python's next full collection. Here the chunks are sent from the
    request's own task, and a watcher that only waits for ``http.disconnect`` is checked
    between chunks: nothing holding a chunk is ever cancelled.
    """

    __slots__ = ("_chunks",)

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        status_code: int = 200,
        headers: Mapping[str, str],
        media_type: str,
    ) -> None:
        super().__init__(status_code=status_code, headers=headers, media_type=media_type)
        self._chunks = chunks

    def _has_length(self) -> bool:
        return False

    async def send(self, receive: Receive, send: Send) -> int:
        """Send the response; returns the body bytes sent (fewer if the client went away)."""
        sent = 0
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await send(start)
            gone = asyncio.ensure_future(_disconnect(receive))
            try:
                async for chunk in self._chunks:
                    if gone.done():
                        return sent
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    sent += len(chunk)
            finally:
                gone.cancel()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return sent
        finally:
            close = getattr(self._chunks, "aclose", None)
            if close is not None:
                await close()  # the file, and a read in flight


async def _disconnect(receive: Receive) -> None:
    """Returns once the client has gone (a ``receive`` that fails says the same)."""
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception:  # noqa: BLE001 - the connection is unusable either way
        return
