"""``create_app(config)``: the registry as one ASGI application.

``RegistryApp`` is the whole request path: it runs the lifespan (health checks
and maintenance start and stop with it), finds the handler in the URL table
(``wharf.api.routes``), turns whatever a handler raises into the OCI error
envelope (``wharf.api.responses.error_for``), adds ``Docker-Distribution-API-Version``
and the config's ``http.headers`` to every response, answers 503 while the
health checks fail, and writes one access-log line per request.

It is written out here instead of stacking Starlette's application, router and
middleware: those layers wrap every request and every ``send`` in several
coroutines, and were about a quarter of the CPU time of a small request.
Handlers take and return ``wharf.api.messages``' ``Request`` and ``Response``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import quote

from wharf.api import memory
from wharf.api.messages import Message, Receive, Request, Response, Scope, Send
from wharf.api.responses import API_VERSION_HEADER, error_for, error_response
from wharf.api.routes import Found, NoEndpoint, Route, find, matches_any, routes
from wharf.config import Config
from wharf.errors import Unavailable
from wharf.health import HealthChecker, storage_check
from wharf.log import access_line
from wharf.maintenance import maintenance_for
from wharf.registry.factory import driver_for, registry_for
from wharf.storage.driver import StorageDriver

__all__ = ["RegistryApp", "Settings", "create_app"]

_log = logging.getLogger("wharf.api")

Lifespan = Callable[[], contextlib.AbstractAsyncContextManager[None]]

#: a request or response body this big leaves freed 1 MiB blocks between live ones in
#: glibc's heap, which it does not give back by itself (``wharf.api.memory.trim``)
_TRIM_AFTER = 64 << 20
#: seconds from such a transfer's end to the trim: when the app returns, granian still holds the
#: last piece it sends, and a trim right then left about 2 MiB of a 1 GiB pull's blocks mapped
_TRIM_DELAY = 0.5


@dataclass(frozen=True, slots=True)
class Settings:
    """What request handlers need from the config, flattened once."""

    prefix: str
    host: str | None
    relative_urls: bool
    read_only: bool
    delete_enabled: bool
    catalog_max_entries: int

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        return cls(
            prefix=config.http.prefix,
            host=config.http.host.rstrip("/") if config.http.host else None,
            relative_urls=config.http.relativeurls,
            read_only=config.storage.maintenance.readonly.enabled,
            delete_enabled=config.storage.delete.enabled,
            catalog_max_entries=config.catalog.maxentries,
        )


def create_app(config: Config, *, driver: StorageDriver | None = None) -> RegistryApp:
    """The registry as an ASGI app. ``driver`` overrides the configured one (tests)."""
    driver = driver if driver is not None else driver_for(config)
    health = HealthChecker()
    checks = config.health.storagedriver
    if checks.enabled:
        health.register(
            f"storagedriver_{driver.name}",
            storage_check(driver),
            interval=checks.interval,
            threshold=checks.threshold,
        )
    registry = registry_for(config, driver)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        maintenance = maintenance_for(config, registry)
        await health.start()
        await maintenance.start()
        try:
            yield
        finally:
            await maintenance.stop()
            await health.stop()

    app = RegistryApp(
        routes(config.http.prefix),
        lifespan=lifespan,
        health=health,
        health_path=f"{config.http.prefix}/debug/health",  # served (and never gated) while unhealthy
        headers=[(name, value) for name, values in config.http.headers.items() for value in values],
        access_log=not config.log.accesslog.disabled,
    )
    app.state.settings = Settings.from_config(config)
    app.state.registry = registry
    app.state.health = health
    app.state.config = config
    return app


class RegistryApp:
    """The ASGI app; ``state`` is what handlers reach through ``request.app.state``."""

    def __init__(
        self,
        table: list[Route],
        *,
        lifespan: Lifespan,
        health: HealthChecker,
        health_path: str,
        headers: list[tuple[str, str]],
        access_log: bool,
    ) -> None:
        self.state = SimpleNamespace()
        self._routes = table
        self._health_path = health_path
        self._lifespan = lifespan
        self._health = health
        extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        self._headers = [(API_VERSION_HEADER[0].encode(), API_VERSION_HEADER[1].encode()), *extra]
        self._access_log = access_log
        self._trim_pending: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._run_lifespan(receive, send)
        # websockets are off in the server; nothing else is ASGI

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        scope["app"] = self
        body = _BodyWatch(receive) if _declares_body(scope) else None
        request = Request(scope, receive if body is None else body.receive)
        try:
            response = await self._respond(request)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error response
            response = error_for(request, exc)
            if body is not None and not body.complete:
                # A refused upload whose body was not all read: the server closes the connection
                # after this response rather than read the rest. Saying so keeps the client from
                # sending its next request on a connection that is about to go.
                response.raw_headers.append((b"connection", b"close"))
        response.raw_headers.extend(self._headers)
        sent = 0
        try:
            sent = await response.send(receive, send)
        except Exception:
            # Too late for an error response: the status line is out. The server drops
            # the connection, so the client sees a short body, not a complete wrong one.
            _log.exception("failed sending the response to %s %s", request.method, scope["path"])
            raise
        finally:
            if self._access_log:
                _log_request(scope, response.status_code, sent, started)
            if sent >= _TRIM_AFTER or (body is not None and body.received >= _TRIM_AFTER):
                self._trim_soon()

    def _trim_soon(self) -> None:
        """``memory.trim`` in a moment; once for transfers that end close together."""
        if self._trim_pending is None:
            self._trim_pending = asyncio.get_running_loop().call_later(_TRIM_DELAY, self._trim_now)

    def _trim_now(self) -> None:
        self._trim_pending = None
        memory.trim()

    async def _respond(self, request: Request) -> Response:
        scope = request.scope
        path: str = scope["path"]
        if not self._health.healthy and path != self._health_path:
            return error_response([Unavailable("health check failed: please see /debug/health")])
        try:
            found: Found = find(self._routes, scope["method"], path)
        except NoEndpoint:
            redirect = self._slash_redirect(scope)
            if redirect is None:
                raise
            return redirect
        scope["path_params"] = found.params
        return await found.handler(request)

    def _slash_redirect(self, scope: Scope) -> Response | None:
        """``/v2`` → ``/v2/`` (and the reverse), as distribution's router does: a 307 to the path
        (relative, which stays right behind a proxy) with the query kept."""
        path: str = scope["path"]
        if path == "/":
            return None
        other = path.rstrip("/") if path.endswith("/") else f"{path}/"
        if not matches_any(self._routes, other):
            return None
        query: bytes = scope.get("query_string", b"")
        location = quote(other) + (f"?{query.decode('latin-1')}" if query else "")
        return Response(status_code=307, headers={"location": location})

    async def _run_lifespan(self, receive: Receive, send: Send) -> None:
        """ASGI lifespan: start-up and shut-down of what runs beside the requests."""
        message = await receive()
        assert message["type"] == "lifespan.startup", message
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self._lifespan())
            except Exception as exc:
                _log.exception("start-up failed")
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown", message
            try:
                await stack.aclose()
            except Exception as exc:
                _log.exception("shut-down failed")
                await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                return
        await send({"type": "lifespan.shutdown.complete"})


class _BodyWatch:
    """Passes a request's messages on, counting the body's bytes and noting whether it arrived whole."""

    __slots__ = ("_receive", "complete", "received")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.complete = False
        self.received = 0

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
        return message


def _declares_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if (name == b"content-length" and value.strip() not in (b"0", b"")) or name == b"transfer-encoding":
            return True
    return False


def _log_request(scope: Scope, status: int, sent: int, started: float) -> None:
    client = scope.get("client")
    access_line(
        {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "bytes": sent,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "remote": f"{client[0]}:{client[1]}" if client else "-",
        }
    )
