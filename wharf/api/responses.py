"""Response helpers: the OCI error envelope, URLs, and the headers every endpoint shares."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wharf.errors import InsufficientStorage, RegistryError
from wharf.storage.driver import StorageFull

__all__ = [
    "API_VERSION_HEADER",
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
        _log.error("storage full serving %s %s: %s", request.method, request.url.path, exc)
        return error_response([InsufficientStorage(str(request.url.path))])
    _log.error("unhandled error serving %s %s", request.method, request.url.path, exc_info=exc)
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
    host = forwarded_host or request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    scheme = request.headers.get("x-forwarded-proto") or request.url.scheme
    return f"{scheme}://{host}{full}"
