"""Pushes racing collections, in one process: several clients push images that share layers with
images deleted just before, while garbage collection runs again and again; afterwards every image
whose push succeeded pulls byte for byte. (The same across processes: tests/e2e/test_gc_race.py.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests import race
from tests.integration.conftest import config_for, lifespan
from tests.integration.test_gc import registry_of
from wharf.api.app import create_app
from wharf.config import parse_config
from wharf.registry.gc import GCProgress, collect

CLIENTS = 6
DURATION = 6.0


async def test_pushes_racing_collections_lose_nothing(driver_kind: str, tmp_path: Path) -> None:
    app = create_app(parse_config(config_for(driver_kind, tmp_path / "root")))
    log = race.RaceLog()
    runs = 0
    async with lifespan(app):
        registry = registry_of(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as client:
            deadline = time.monotonic() + DURATION
            started = asyncio.Event()

            def progress(_: GCProgress) -> None:
                started.set()

            async def collect_again_and_again() -> None:
                nonlocal runs
                while time.monotonic() < deadline:
                    await collect(registry, delete_untagged=runs % 2 == 1, progress=progress)
                    runs += 1
                    await asyncio.sleep(0.01)

            collector = asyncio.ensure_future(collect_again_and_again())
            await started.wait()  # a push before the first collection's lease is the documented window
            names = [f"race/c{i}" for i in range(CLIENTS)]
            await asyncio.gather(
                *(
                    race.client_loop(client, name, [n for n in names if n != name], deadline, log, seed=i)
                    for i, name in enumerate(names)
                )
            )
            await collector
            await collect(registry)
            problems = await race.verify(client, log)
    print(race.summary(log, runs, f"in-process, {driver_kind}"))
    assert runs >= 3 and len(log.pushed) >= 20
    assert problems == []
    assert log.failures == []
