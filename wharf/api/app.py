"""``create_app(config)``: the ASGI application, with its resources opened in one lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from wharf.api.middleware import RegistryHeaders
from wharf.api.responses import (
    not_found_handler,
    registry_error_handler,
    server_error_handler,
    storage_full_handler,
)
from wharf.api.routes import ROUTES
from wharf.config import Config
from wharf.errors import RegistryError
from wharf.health import HealthChecker, storage_check
from wharf.maintenance import maintenance_for
from wharf.registry.factory import driver_for, registry_for
from wharf.storage.driver import StorageDriver, StorageFull

__all__ = ["Settings", "create_app"]


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


def create_app(config: Config, *, driver: StorageDriver | None = None) -> ASGIApp:
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

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        maintenance = maintenance_for(config, app.state.registry)
        await health.start()
        await maintenance.start()
        try:
            yield
        finally:
            await maintenance.stop()
            await health.stop()

    routes: list[BaseRoute] = list(ROUTES)
    if config.http.prefix:
        routes = [Mount(config.http.prefix, routes=routes)]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            RegistryError: registry_error_handler,
            HTTPException: not_found_handler,
            StorageFull: storage_full_handler,
            Exception: server_error_handler,
        },
    )
    app.state.settings = Settings.from_config(config)
    app.state.registry = registry_for(config, driver)
    app.state.health = health
    app.state.config = config
    headers = [(name, value) for name, values in config.http.headers.items() for value in values]
    return RegistryHeaders(
        app, headers=headers, health=health, access_log=not config.log.accesslog.disabled
    )
