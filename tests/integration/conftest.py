"""Integration tests: the real app in-process, over httpx's ASGI transport.

``app_factory`` builds an app from config overrides; ``client`` talks to an
app on the in-memory driver (or on the filesystem driver, see ``driver_kind``):
one suite runs against every storage driver.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from wharf.api.app import create_app
from wharf.api.messages import ASGIApp, Message
from wharf.config import parse_config
from wharf.registry.factory import driver_for
from wharf.storage.driver import StorageDriver

ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run the app's ASGI lifespan (startup before the test, shutdown after)."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        # Bounded, so a shutdown that hangs fails its test instead of the whole run.
        stopped = await asyncio.wait_for(outbox.get(), timeout=60)
        assert stopped["type"] == "lifespan.shutdown.complete", stopped
        await task


def config_for(kind: str, root: Path, **overrides: Any) -> dict[str, Any]:
    storage: dict[str, Any] = {"delete": {"enabled": True}, "cache": {"blobdescriptor": "inmemory"}}
    if kind == "filesystem":
        storage["filesystem"] = {"rootdirectory": str(root)}
    else:
        storage["inmemory"] = {}
    raw: dict[str, Any] = {"version": "0.1", "storage": storage, "log": {"accesslog": {"disabled": True}}}
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return raw


@pytest.fixture(params=["inmemory", "filesystem"])
def driver_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client_factory(driver_kind: str, tmp_path: Path) -> AsyncIterator[ClientFactory]:
    """``await client_factory(**{"storage.delete.enabled": False})`` → a client on a fresh app.

    ``driver=`` serves that driver instead of a new one (two apps on one storage, fakes);
    ``base_url=`` is where the client sends its relative URLs (an ``http.prefix``).
    """
    stack = contextlib.AsyncExitStack()

    async def make(
        *, driver: StorageDriver | None = None, base_url: str = "http://registry.test", **overrides: Any
    ) -> httpx.AsyncClient:
        config = parse_config(config_for(driver_kind, tmp_path / "root", **overrides))
        app = create_app(config, driver=driver)
        await stack.enter_async_context(lifespan(app))
        transport = httpx.ASGITransport(app=app)
        return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url=base_url))

    async with stack:
        yield make


@pytest.fixture
async def client(client_factory: ClientFactory) -> httpx.AsyncClient:
    return await client_factory()


@pytest.fixture
def storage(driver_kind: str, tmp_path: Path) -> StorageDriver:
    """A driver on the same storage ``client_factory`` uses, to share between apps or inspect."""
    return driver_for(parse_config(config_for(driver_kind, tmp_path / "root")))
