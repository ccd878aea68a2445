"""The URL table, and nothing else (cf. distribution's ``registry/api/v2/routes.go``).

``{name:path}`` takes a repository name with its slashes; the fixed words
after it (``blobs``, ``manifests``, ``tags``, ``referrers``) anchor the match.
The upload routes come before the blob routes so ``blobs/uploads/`` is never
read as a blob digest. Each path is one route whose handler picks by method,
so a 405 names every method the path allows in its ``Allow`` header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wharf.api import blobs, listings, manifests, system, uploads

Handler = Callable[[Request], Awaitable[Response]]

NAME = "/v2/{name:path}"


def route(path: str, **handlers: Handler) -> Route:
    """One path served by a handler per method: ``route(path, GET=..., PUT=...)`` (GET serves HEAD too)."""
    table = {method: handler for method, handler in handlers.items()}
    if "GET" in table:
        table.setdefault("HEAD", table["GET"])

    async def dispatch(request: Request) -> Response:
        return await table[request.method](request)

    return Route(path, dispatch, methods=list(table), name=path)


ROUTES = [
    route("/v2/", GET=system.api_version),
    route("/v2/_catalog", GET=listings.catalog),
    route(f"{NAME}/tags/list", GET=listings.list_tags),
    route(f"{NAME}/referrers/{{digest}}", GET=listings.list_referrers),
    route(
        f"{NAME}/manifests/{{reference}}",
        GET=manifests.get_manifest,
        PUT=manifests.put_manifest,
        DELETE=manifests.delete_manifest,
    ),
    route(f"{NAME}/blobs/uploads/", POST=uploads.start_upload),
    route(
        f"{NAME}/blobs/uploads/{{uuid}}",
        GET=uploads.upload_status,
        PATCH=uploads.patch_upload,
        PUT=uploads.finish_upload,
        DELETE=uploads.cancel_upload,
    ),
    route(f"{NAME}/blobs/{{digest}}", GET=blobs.get_blob, DELETE=blobs.delete_blob),
    route("/debug/health", GET=system.health),
]
