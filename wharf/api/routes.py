"""The URL table, and the matcher that finds a request's handler in it (cf. distribution's
``registry/api/v2/routes.go``).

``{name}`` takes a repository name with its slashes; the fixed words after it
(``blobs``, ``manifests``, ``tags``, ``referrers``) anchor the match. Other
``{params}`` are one path segment. The upload routes come before the blob routes
so ``blobs/uploads/`` is never read as a blob digest. Each path is one route
whose handlers are picked by method, so a 405 names every method the path allows
in its ``Allow`` header.

The matcher is a loop over compiled patterns rather than a framework's router:
it runs on every request, and Starlette's routing and middleware layers were
about a quarter of the CPU time of a small request in the profile.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from wharf.api import blobs, listings, manifests, system, uploads
from wharf.api.messages import Request, Response
from wharf.errors import Unsupported

__all__ = ["Found", "MethodNotAllowed", "NoEndpoint", "Route", "find", "matches_any", "routes"]

Handler = Callable[[Request], Awaitable[Response]]

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Route:
    """One path template and the handler of each method it serves."""

    template: str
    pattern: re.Pattern[str]
    handlers: Mapping[str, Handler]
    #: a piece of text every path the pattern matches contains: a scan in C rules most routes
    #: out before their pattern runs (``{name}`` patterns backtrack over the whole path)
    literal: str

    @property
    def allow(self) -> str:
        return ", ".join(self.handlers)


@dataclass(frozen=True, slots=True)
class Found:
    """What serves a request: its handler and the parameters taken from its path."""

    handler: Handler
    params: dict[str, str]


class NoEndpoint(Unsupported):
    status = 404


class MethodNotAllowed(Unsupported):
    """405 with the ``Allow`` header HTTP requires."""


def _route(prefix: str, template: str, **handlers: Handler) -> Route:
    """``_route("", "/v2/{name}/tags/list", GET=...)``: GET serves HEAD too."""
    table = dict(handlers)
    if "GET" in table:
        table.setdefault("HEAD", table["GET"])
    return Route(template, _compile(prefix, template), table, _longest_literal(template))


def _compile(prefix: str, template: str) -> re.Pattern[str]:
    # ``name`` may hold slashes (and, as with Starlette's ``path``, be empty: the
    # name check then answers NAME_INVALID); every other parameter is one segment.
    parts: list[str] = [re.escape(prefix)]
    end = 0
    for param in _PARAM.finditer(template):
        parts.append(re.escape(template[end : param.start()]))
        key = param[1]
        parts.append(f"(?P<{key}>.*)" if key == "name" else f"(?P<{key}>[^/]+)")
        end = param.end()
    parts.append(re.escape(template[end:]))
    return re.compile("".join(parts))


def _longest_literal(template: str) -> str:
    return max(_PARAM.split(template)[::2], key=len)


def find(routes: list[Route], method: str, path: str) -> Found:
    """The handler for ``method`` on ``path``, or a ``RegistryError``: 404 for a path no route
    serves, 405 (with ``Allow``) for a method the path's route does not serve."""
    allowed: Route | None = None
    for candidate in routes:
        if candidate.literal not in path:
            continue
        match = candidate.pattern.fullmatch(path)
        if match is None:
            continue
        handler = candidate.handlers.get(method)
        if handler is not None:
            return Found(handler, match.groupdict())
        allowed = allowed or candidate
    if allowed is not None:
        raise MethodNotAllowed(f"{method} is not allowed on {path}", headers={"allow": allowed.allow})
    raise NoEndpoint(f"no endpoint at {path}", message="unknown endpoint")


def matches_any(routes: list[Route], path: str) -> bool:
    return any(candidate.literal in path and candidate.pattern.fullmatch(path) for candidate in routes)


def routes(prefix: str = "") -> list[Route]:
    """The table, served under ``prefix`` (``http.prefix``: "" or "/path")."""
    return [
        _route(prefix, "/v2/", GET=system.api_version),
        _route(prefix, "/v2/_catalog", GET=listings.catalog),
        _route(prefix, "/v2/{name}/tags/list", GET=listings.list_tags),
        _route(prefix, "/v2/{name}/referrers/{digest}", GET=listings.list_referrers),
        _route(
            prefix,
            "/v2/{name}/manifests/{reference}",
            GET=manifests.get_manifest,
            PUT=manifests.put_manifest,
            DELETE=manifests.delete_manifest,
        ),
        _route(prefix, "/v2/{name}/blobs/uploads/", POST=uploads.start_upload),
        _route(
            prefix,
            "/v2/{name}/blobs/uploads/{uuid}",
            GET=uploads.upload_status,
            PATCH=uploads.patch_upload,
            PUT=uploads.finish_upload,
            DELETE=uploads.cancel_upload,
        ),
        _route(prefix, "/v2/{name}/blobs/{digest}", GET=blobs.get_blob, DELETE=blobs.delete_blob),
        _route(prefix, "/debug/health", GET=system.health),
    ]
