"""``Request`` and ``Response``: what handlers read and return, over ASGI's scope and messages.

wharf's own rather than Starlette's: handlers read a request's method, path,
headers, query and body, and answer with bytes and headers (or a blob's stream,
``wharf.api.responses.StreamedBody``). Starlette's request and response modules
brought in ``http.client``, ``email`` and ``http.cookies`` for cookies, forms and
files wharf never serves: about 1.7 MiB of a server that idles at 40 (issue 5's
memory target).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "ASGIApp",
    "ClientDisconnect",
    "Headers",
    "Message",
    "QueryParams",
    "Receive",
    "Request",
    "Response",
    "Scope",
    "Send",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the scheme's port, left out of an authority as browsers and Go's ``url`` do
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ClientDisconnect(Exception):
    """The client went away before it had sent the whole request body."""


class Headers(Mapping[str, str]):
    """A request's headers by name, any case; the first of a repeated header, as Starlette's ``get``."""

    __slots__ = ("_first",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        first: dict[str, str] = {}
        for name, value in raw:  # ASGI servers send names in lower case
            first.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        self._first = first

    def __getitem__(self, name: str) -> str:
        return self._first[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)


class QueryParams(Mapping[str, str]):
    """The query string's parameters, decoded; the last of a repeated one (``getlist`` has them all)."""

    __slots__ = ("_items", "_last")

    def __init__(self, query_string: bytes | str) -> None:
        text = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
        self._items = parse_qsl(text, keep_blank_values=True)
        self._last = dict(self._items)

    def __getitem__(self, name: str) -> str:
        return self._last[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._last)

    def __len__(self) -> int:
        return len(self._last)

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self._items if key == name]


class Request:
    """One HTTP request: its scope, read lazily, and its body as a stream."""

    __slots__ = ("_consumed", "_headers", "_query", "_receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._consumed = False

    @property
    def app(self) -> Any:
        """The application serving the request (its ``state`` holds what handlers share)."""
        return self.scope["app"]

    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    @property
    def path(self) -> str:
        path: str = self.scope["path"]
        return path

    @property
    def path_params(self) -> dict[str, str]:
        params: dict[str, str] = self.scope.get("path_params", {})
        return params

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.scope["headers"])
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        if self._query is None:
            self._query = QueryParams(self.scope.get("query_string", b""))
        return self._query

    @property
    def scheme(self) -> str:
        scheme: str = self.scope.get("scheme", "http")
        return scheme

    @property
    def server_authority(self) -> str:
        """``host[:port]`` of the address the request came in on (for a request without ``Host``)."""
        server = self.scope.get("server")
        if not server:
            return "localhost"
        host, port = server
        host = f"[{host}]" if ":" in host else host
        return host if port is None or _DEFAULT_PORTS.get(self.scheme) == port else f"{host}:{port}"

    async def stream(self) -> AsyncGenerator[bytes, None]:
        """The body's pieces as they arrive (none empty); ``ClientDisconnect`` if the client goes first."""
        if self._consumed:
            raise RuntimeError("the request body has been read already")
        self._consumed = True
        while True:
            message = await self._receive()
            kind = message["type"]
            if kind == "http.request":
                body: bytes = message.get("body", b"")
                if body:
                    yield body
                if not message.get("more_body", False):
                    return
            elif kind == "http.disconnect":
                raise ClientDisconnect()


class Response:
    """A status, headers and a body of bytes, sent in two ASGI messages.

    ``content-length`` is added unless given (or the status has no body), and
    ``content-type`` from ``media_type`` unless given.
    """

    __slots__ = ("body", "raw_headers", "status_code")

    def __init__(
        self,
        content: bytes = b"",
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = content
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        names = {name for name, _ in raw}
        if b"content-length" not in names and self._has_length():
            raw.append((b"content-length", str(len(content)).encode("latin-1")))
        if media_type is not None and b"content-type" not in names:
            raw.append((b"content-type", media_type.encode("latin-1")))
        self.raw_headers = raw

    def _has_length(self) -> bool:
        return not (self.status_code < 200 or self.status_code in (204, 304))

    async def send(self, receive: Receive, send: Send) -> int:
        """Send the response; returns the body bytes sent."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})
        return len(self.body)
