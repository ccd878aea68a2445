"""``FilesystemDriver.lock`` (the ``Locker`` capability): one holder at a time, across open files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from wharf.storage.driver import FilesystemDriver, Locker, MemoryDriver, PathNotFound


async def test_the_filesystem_driver_is_a_locker_and_memory_is_not(tmp_path: Path) -> None:
    assert isinstance(FilesystemDriver(tmp_path), Locker)
    assert not isinstance(MemoryDriver(), Locker)


async def test_a_second_holder_waits_for_the_first(tmp_path: Path) -> None:
    # Two drivers on one root stand for two processes: flock excludes across open files.
    one, two = FilesystemDriver(tmp_path), FilesystemDriver(tmp_path)
    await one.put_content("/a/lock", b"")
    order: list[str] = []

    async def hold(driver: FilesystemDriver, name: str, seconds: float) -> None:
        async with driver.lock("/a/lock"):
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")

    first = asyncio.ensure_future(hold(one, "one", 0.1))
    await asyncio.sleep(0.02)
    await asyncio.wait_for(hold(two, "two", 0), timeout=5)
    await first
    assert order == ["one in", "one out", "two in", "two out"]


async def test_the_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)
    await driver.put_content("/a/lock", b"")
    with pytest.raises(RuntimeError):
        async with driver.lock("/a/lock"):
            raise RuntimeError("boom")
    async with asyncio.timeout(5), driver.lock("/a/lock"):
        pass


async def test_locking_a_missing_object_is_path_not_found(tmp_path: Path) -> None:
    with pytest.raises(PathNotFound):
        async with FilesystemDriver(tmp_path).lock("/no/such/object"):
            pass
