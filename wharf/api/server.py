"""Serving the app: the one place that knows the server stack (granian, ASGI, uvloop).

granian was chosen for blob throughput and request rate (see the README). One
worker runs in this very process (granian's embedded server): no supervising
parent, so about half the memory of a process pair. Several workers run under
granian's process manager: each worker process builds its own app from the same
config, which the parent passes through ``WHARF_CONFIG`` because granian imports
the app by name.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import TypedDict

import uvloop
from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.server import Server
from granian.server.embed import Server as EmbeddedServer

from wharf.api import memory
from wharf.api.app import create_app
from wharf.api.messages import ASGIApp
from wharf.config import Config, load_config
from wharf.log import SERVER_LOGGER, configure_logging

__all__ = ["ServeError", "app_factory", "serve"]

_CONFIG_ENV = "WHARF_CONFIG"
#: slow or idle clients lose their connection after this long without sending headers (ms)
_HEADER_TIMEOUT_MS = 30_000
#: hyper's read buffer per connection: it bounds the header bytes of one request (431 beyond it,
#: like Go's 1 MB default that distribution serves with) and sizes the body pieces an upload
#: arrives in. At 64 KiB a 1 GiB push arrived in 16,000 pieces and ran at half the speed it
#: reaches with 1 MiB (about 1,000 pieces).
_READ_BUFFER_BYTES = 1 << 20
_BACKLOG = 2048


class ServeError(Exception):
    """The server could not start (the address is taken, say)."""


def app_factory() -> ASGIApp:
    """Build the app in a worker process from the config the parent named."""
    path = os.environ.get(_CONFIG_ENV) or None
    config = load_config(path, os.environ)
    _configure_logging(config)
    memory.configure(os.environ)  # a spawned worker starts afresh; a forked one inherits the parent's
    return create_app(config)


def serve(config: Config, *, config_path: str | None, workers: int = 1) -> None:
    """Run the registry until interrupted (SIGINT or SIGTERM)."""
    if config.storage.inmemory is not None:
        workers = 1  # each worker would have its own, separate memory
    _check_address_free(config)
    try:
        if workers == 1:
            _serve_here(config)
        else:
            _serve_workers(config, config_path=config_path, workers=workers)
    except (OSError, RuntimeError) as exc:
        reason = str(exc).split("\n", 1)[0]  # granian appends a Rust backtrace
        raise ServeError(f"cannot serve on {config.http.addr}: {reason}") from exc


def _check_address_free(config: Config) -> None:
    """Refuse an address another server listens on.

    granian binds with ``SO_REUSEPORT`` (its workers share the port), which would
    let a second registry on the same port start and take half of the first one's
    connections. A probe bound without it fails if anything listens there.
    """
    host, port = config.http.bind_host, config.http.bind_port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ServeError(f"cannot serve on {config.http.addr}: {exc}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
        try:
            probe.bind(address)
        except OSError as exc:
            raise ServeError(f"cannot serve on {config.http.addr}: {exc.strerror or exc}") from exc


class _Options(TypedDict):
    """What both ways of serving pass granian."""

    address: str
    port: int
    interface: Interfaces
    http: HTTPModes
    websockets: bool
    backlog: int
    http1_settings: HTTP1Settings
    log_enabled: bool
    log_access: bool


def _options(config: Config) -> _Options:
    return _Options(
        address=config.http.bind_host,
        port=config.http.bind_port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        backlog=_BACKLOG,
        http1_settings=HTTP1Settings(
            header_read_timeout=_HEADER_TIMEOUT_MS, max_buffer_size=_READ_BUFFER_BYTES
        ),
        log_enabled=True,
        log_access=False,  # wharf's own access log (wharf.api.app), in distribution's format
    )


def _serve_here(config: Config) -> None:
    """One worker, in this process, on a uvloop event loop."""
    memory.configure(os.environ)
    server = EmbeddedServer(create_app(config), **_options(config))
    # granian configured its logging while building the server: put ours back on top.
    _configure_logging(config)
    logging.getLogger(SERVER_LOGGER).addFilter(_not_experimental)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.stop)
        await server.serve()
        if server.interrupt_children:  # the worker ended on its own: a failed start-up, a crash
            raise RuntimeError("the server stopped unexpectedly (see the log above)")

    uvloop.run(run())


def _configure_logging(config: Config) -> None:
    """The serving process's logging: lines written in batches, records without a process id.

    A line per request is the access log; each ``os.getpid`` that ``logging`` makes
    for a record, and each write, is a system call, and both showed in the profile
    of small requests. wharf's lines never print the process (``logProcesses`` is
    logging's documented switch for it).
    """
    logging.logProcesses = False
    configure_logging(config.log, batched=True)


def _not_experimental(record: logging.LogRecord) -> bool:
    # granian warns that its embedded server is experimental at every start; wharf's tests
    # (clients, workers, shutdown) are what vouch for it here, and the warning would alarm users.
    return record.getMessage() != "Embedded server is experimental!"


def _serve_workers(config: Config, *, config_path: str | None, workers: int) -> None:
    """Several worker processes under granian's process manager."""
    if config_path is not None:
        os.environ[_CONFIG_ENV] = os.path.abspath(config_path)
    else:
        os.environ.pop(_CONFIG_ENV, None)
    server = Server(
        "wharf.api.server:app_factory",
        factory=True,
        workers=workers,
        loop=Loops.uvloop,
        respawn_failed_workers=True,
        **_options(config),
    )
    # Not batched here: the workers are forked from this process, and a batch gathered
    # before the fork would be written by each of them too. This process logs little.
    configure_logging(config.log)
    server.serve()
