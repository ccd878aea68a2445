"""Serving the app: the one place that knows the server stack (granian, ASGI, uvloop).

granian was chosen for blob throughput and request rate (see the README). Each
worker process builds its own app from the same config; the parent passes the
config path through ``WHARF_CONFIG`` because granian imports the app by name.
"""

from __future__ import annotations

import os

from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.server import Server
from starlette.types import ASGIApp

from wharf.api.app import create_app
from wharf.config import Config, load_config
from wharf.log import configure_logging

__all__ = ["ServeError", "app_factory", "serve"]

_CONFIG_ENV = "WHARF_CONFIG"
#: slow or idle clients lose their connection after this long without sending headers (ms)
_HEADER_TIMEOUT_MS = 30_000
#: hyper's read buffer per connection: it bounds the header bytes of one request (431 beyond it,
#: like Go's 1 MB default that distribution serves with) and sizes the body pieces an upload
#: arrives in. At 64 KiB a 1 GiB push arrived in 16,000 pieces and ran at half the speed it
#: reaches with 1 MiB (about 1,000 pieces).
_READ_BUFFER_BYTES = 1 << 20


class ServeError(Exception):
    """The server could not start (the address is taken, say)."""


def app_factory() -> ASGIApp:
    """Build the app in a worker process from the config the parent named."""
    path = os.environ.get(_CONFIG_ENV) or None
    config = load_config(path, os.environ)
    configure_logging(config.log)
    return create_app(config)


def serve(config: Config, *, config_path: str | None, workers: int = 1) -> None:
    """Run the registry until interrupted."""
    if config_path is not None:
        os.environ[_CONFIG_ENV] = os.path.abspath(config_path)
    else:
        os.environ.pop(_CONFIG_ENV, None)
    if config.storage.inmemory is not None:
        workers = 1  # each worker would have its own, separate memory
    server = Server(
        "wharf.api.server:app_factory",
        address=config.http.bind_host,
        port=config.http.bind_port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        backlog=2048,
        http1_settings=HTTP1Settings(
            header_read_timeout=_HEADER_TIMEOUT_MS, max_buffer_size=_READ_BUFFER_BYTES
        ),
        log_enabled=True,
        log_access=False,
        respawn_failed_workers=True,
    )
    # granian configured its logging while building the server: put ours back on top.
    configure_logging(config.log)
    try:
        server.serve()
    except (OSError, RuntimeError) as exc:
        reason = str(exc).split("\n", 1)[0]  # granian appends a Rust backtrace
        raise ServeError(f"cannot serve on {config.http.addr}: {reason}") from exc
