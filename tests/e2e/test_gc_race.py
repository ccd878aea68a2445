"""Pushes racing collections across processes: ``wharf serve`` (two worker processes) takes pushes
from several clients, images that share layers with images deleted just before, while
``wharf garbage-collect`` runs again and again from other processes. Afterwards every image whose
push succeeded pulls byte for byte, and the count of failed pushes is reported."""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests import race

if TYPE_CHECKING:
    from conftest import ServerFactory

pytestmark = [pytest.mark.e2e]

CLIENTS = 6
DURATION = 15.0


def lease_active(root: Path) -> bool:
    """Whether a collection's lease runs (``wharf.registry.fence``: nanoseconds in a mapped file)."""
    try:
        data = (root / "wharf/gc/lease").read_bytes()
    except FileNotFoundError:
        return False
    return len(data) >= 8 and struct.unpack("=q", data[:8])[0] > time.time_ns()


async def collect_again_and_again(config: Path, deadline: float) -> list[str]:
    """Run ``wharf garbage-collect`` back to back until ``deadline``; the outputs of the runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    outputs = []
    while time.monotonic() < deadline or not outputs:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wharf",
            "garbage-collect",
            "-q",
            str(config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()
        outputs.append(out.decode())
    return outputs


async def test_pushes_racing_collections_from_another_process_lose_nothing(
    server_factory: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHARF_WORKERS", "2")
    server = server_factory("wharf")
    deadline = time.monotonic() + DURATION
    collector = asyncio.ensure_future(collect_again_and_again(server.config_path, deadline))
    while not lease_active(server.root):  # a push before the first lease is the documented window
        assert not collector.done(), collector.result()
        await asyncio.sleep(0.02)
    log = race.RaceLog()
    names = [f"race/c{i}" for i in range(CLIENTS)]
    limits = httpx.Limits(max_connections=CLIENTS * 2)
    async with httpx.AsyncClient(base_url=server.url, timeout=60.0, limits=limits) as client:
        await asyncio.gather(
            *(
                race.client_loop(client, name, [n for n in names if n != name], deadline, log, seed=i)
                for i, name in enumerate(names)
            )
        )
        outputs = await collector
        problems = await race.verify(client, log)
    freed = sum("deleted 0 manifest(s) and 0 blob(s)" not in out for out in outputs)
    print(race.summary(log, len(outputs), "wharf serve --workers 2 + wharf garbage-collect"))
    print(f"{freed} of the collections deleted something")
    assert len(outputs) >= 3 and len(log.pushed) >= 20 and freed >= 1
    assert problems == []
    assert log.failures == []
