"""Pure ASGI wrappers around the whole app, so they also see the 500s Starlette makes.

``RegistryHeaders`` adds ``Docker-Distribution-API-Version`` and the config's
``http.headers`` to every response, errors included, answers 503 while the
health checks fail, and writes one access-log line per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wharf.api.responses import API_VERSION_HEADER, error_response
from wharf.errors import Unavailable
from wharf.health import HealthChecker

__all__ = ["RegistryHeaders"]

_access = logging.getLogger("wharf.access")


class RegistryHeaders:
    def __init__(
        self,
        app: ASGIApp,
        *,
        headers: Iterable[tuple[str, str]],
        health: HealthChecker,
        access_log: bool,
    ) -> None:
        self.app = app
        extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        self.headers = [(API_VERSION_HEADER[0].encode(), API_VERSION_HEADER[1].encode()), *extra]
        self.health = health
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = {"status": 0, "bytes": 0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                message["headers"] = [*message.get("headers", ()), *self.headers]
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            if not self.health.healthy and scope["path"] != "/debug/health":
                detail = "health check failed: please see /debug/health"
                await error_response([Unavailable(detail)])(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            if self.access_log:
                self._log(scope, state, started)

    def _log(self, scope: Scope, state: dict[str, int], started: float) -> None:
        if not _access.isEnabledFor(logging.INFO):
            return
        client = scope.get("client")
        fields = {
            "method": scope["method"],
            "path": scope["path"],
            "status": state["status"],
            "bytes": state["bytes"],
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "remote": f"{client[0]}:{client[1]}" if client else "-",
        }
        # One line per request: ``makeRecord`` directly skips ``Logger.info``'s walk up the
        # stack for the caller's file and line, which access lines never print.
        record = _access.makeRecord(_access.name, logging.INFO, __file__, 0, "request", (), None)
        record.fields = fields
        _access.handle(record)
