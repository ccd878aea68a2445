"""The fence between writers and the garbage collector (``wharf.registry.fence``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from wharf.digest import Digest
from wharf.reference import RepositoryName
from wharf.registry import fence as fence_module
from wharf.registry import paths
from wharf.registry.fence import CollectionInterrupted, Fence, JournalEntry
from wharf.registry.locks import LocalLease, RWLock
from wharf.storage.driver import FilesystemDriver, MemoryDriver, StorageDriver

APP = RepositoryName("app")
D1 = Digest("sha256", "1" * 64)
D2 = Digest("sha256", "2" * 64)


@pytest.fixture(params=["inmemory", "filesystem"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    return MemoryDriver() if request.param == "inmemory" else FilesystemDriver(tmp_path / "root")


async def journal_names(driver: StorageDriver) -> list[str]:
    return await fence_module._Journal(driver).names()


async def test_writes_outside_a_collection_journal_nothing(driver: StorageDriver) -> None:
    fence = Fence(driver)
    async with fence.protect(APP, [D1], manifest=D2):
        pass
    async with fence.observe(APP, [D1]):
        pass
    assert await journal_names(driver) == []


async def test_writes_during_a_collection_are_journaled_and_read_back(driver: StorageDriver) -> None:
    fence = Fence(driver)
    async with fence.collection() as collection:
        async with fence.protect(APP, [D1], manifest=D2):
            pass
        async with fence.observe(APP, [D1]):
            pass
        entries = await collection.journal()
    assert [(e.repository, e.manifest, e.digests) for e in entries] == [(APP, D2, (D1,)), (APP, None, (D1,))]


async def test_the_lease_outlives_the_collection(driver: StorageDriver) -> None:
    fence = Fence(driver)
    async with fence.collection():
        pass
    async with fence.protect(APP, [D1]):
        pass
    assert len(await journal_names(driver)) == 1


async def test_a_writer_waits_while_the_collector_holds_the_fence(driver: StorageDriver) -> None:
    fence = Fence(driver)
    order: list[str] = []

    async def write() -> None:
        async with fence.protect(APP, [D1]):
            order.append("write")

    async with fence.collection() as collection:
        async with collection.exclusive():
            task = asyncio.ensure_future(write())
            await asyncio.sleep(0.05)
            order.append("sweep")
        await task
    assert order == ["sweep", "write"]


async def test_the_collector_waits_for_writers_inside_and_stops_new_ones(driver: StorageDriver) -> None:
    fence = Fence(driver)
    order: list[str] = []
    inside = asyncio.Event()
    leave = asyncio.Event()

    async def long_write() -> None:
        async with fence.protect(APP, [D1]):
            inside.set()
            await leave.wait()
            order.append("first write")

    async def late_write() -> None:
        async with fence.protect(APP, [D2]):
            order.append("late write")

    first = asyncio.ensure_future(long_write())
    await inside.wait()
    collecting = asyncio.ensure_future(_collect_once(fence, order))
    await asyncio.sleep(0.05)
    late = asyncio.ensure_future(late_write())  # arrives while the collector waits: goes after it
    await asyncio.sleep(0.05)
    leave.set()
    await asyncio.gather(first, collecting, late)
    assert order == ["first write", "drained", "late write"]


async def _collect_once(fence: Fence, order: list[str]) -> None:
    async with fence._exclusive():
        order.append("drained")


async def test_a_collector_that_outlived_its_lease_stops_deleting(driver: StorageDriver) -> None:
    fence = Fence(driver)
    async with fence.collection() as collection:
        fence._lease.extend(-1.0)  # as if the collector had stalled
        with pytest.raises(CollectionInterrupted):
            async with collection.exclusive():
                pass
        with pytest.raises(CollectionInterrupted):  # for good: renewing would hide the lapse
            async with collection.exclusive():
                pass


def test_the_heartbeat_does_not_revive_a_lease_that_ran_out() -> None:
    lease = LocalLease()
    lease.extend(fence_module.LEASE)
    renewal = fence_module._Renewal(lease)
    renewal.renew()
    assert lease.until() > time.time() and not renewal.lapsed
    lease.extend(-1.0)
    renewal.renew()
    assert renewal.lapsed and lease.until() < time.time()


async def test_old_journal_entries_are_pruned_and_ignored(driver: StorageDriver) -> None:
    old = f"{time.time_ns() - int((fence_module.JOURNAL_TTL + 60) * 1e9):020d}-0"
    await driver.put_content(paths.gc_journal_entry(old), JournalEntry(old, 0, APP, None, (D1,)).encode())
    fence = Fence(driver)
    async with fence.collection() as collection:
        assert await collection.journal() == []
    assert await journal_names(driver) == []


def test_journal_entries_round_trip_and_garbage_is_ignored() -> None:
    entry = JournalEntry("00000000001000000000-ab", 1.0, APP, D2, (D1, D2))
    assert JournalEntry.decode(entry.name, entry.encode()) == entry
    uses = JournalEntry("00000000001000000000-cd", 1.0, APP, None, (D1,))
    assert JournalEntry.decode(uses.name, uses.encode()) == uses
    assert JournalEntry.decode("x", b"manifest nonsense app") is None
    assert JournalEntry.decode("1-x", b"\xff") is None


async def test_the_rw_lock_lets_readers_share_and_a_waiting_writer_go_first() -> None:
    lock = RWLock()
    await lock.acquire_shared()
    await lock.acquire_shared()  # readers share
    writer = asyncio.ensure_future(lock.acquire_exclusive())
    await asyncio.sleep(0)
    reader = asyncio.ensure_future(lock.acquire_shared())
    await asyncio.sleep(0)
    assert not writer.done() and not reader.done()
    lock.release_shared()
    lock.release_shared()
    await writer
    assert not reader.done()
    lock.release_exclusive()
    await reader


async def test_a_cancelled_waiting_writer_lets_readers_in() -> None:
    lock = RWLock()
    await lock.acquire_shared()
    writer = asyncio.ensure_future(lock.acquire_exclusive())
    await asyncio.sleep(0)
    reader = asyncio.ensure_future(lock.acquire_shared())
    await asyncio.sleep(0)
    writer.cancel()
    await asyncio.wait_for(reader, 1)


async def _hops(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_collection_cancelled_at_any_point_ends_cancelled(driver: StorageDriver) -> None:
    """Wherever the cancellation finds the collector (its heartbeat's end, say), the run ends
    there: a run that swallowed it would carry on, and a server's shutdown would wait for it."""
    fence = Fence(driver)

    async def collect() -> None:
        async with fence.collection() as collection:
            async with collection.exclusive():
                await _hops(3)
            await _hops(3)

    for hops in range(1000):
        run = asyncio.ensure_future(collect())
        await _hops(hops)
        if not run.cancel():
            break  # the run ended before this point: every point before was tried
        await asyncio.wait([run], timeout=10)
        assert run.cancelled(), f"cancelled after {hops} hops, the run {'went on' if run.done() else 'hangs'}"
    else:
        pytest.fail("the collection never ended")
    assert hops > 5


# Across processes: the filesystem fence is flock, so another process's collector excludes our writers.

HOLD = """
import asyncio, sys, time
from wharf.registry.fence import Fence
from wharf.storage.driver import FilesystemDriver

async def main():
    fence = Fence(FilesystemDriver(sys.argv[1]))
    async with fence.collection() as collection:
        async with collection.exclusive():
            print("held", flush=True)
            time.sleep(float(sys.argv[2]))
asyncio.run(main())
"""


async def test_a_collector_in_another_process_holds_off_writers_here(tmp_path: Path) -> None:
    root = tmp_path / "root"
    command = [sys.executable, "-c", textwrap.dedent(HOLD), str(root), "1.0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None
        assert await asyncio.to_thread(holder.stdout.readline) == "held\n"
        fence = Fence(FilesystemDriver(root))
        started = time.monotonic()
        async with fence.protect(APP, [D1]):
            waited = time.monotonic() - started
        assert waited > 0.3
        assert len(await journal_names(FilesystemDriver(root))) == 1  # and it saw the other's lease


WRITE = """
import asyncio, sys
from wharf.reference import RepositoryName
from wharf.registry.fence import Fence
from wharf.storage.driver import FilesystemDriver

async def main():
    fence = Fence(FilesystemDriver(sys.argv[1]))
    async with fence.protect(RepositoryName("app")):
        print("held", flush=True)
        await asyncio.sleep(float(sys.argv[2]))
asyncio.run(main())
"""


async def test_a_collector_cancelled_while_another_process_writes_leaves_the_fence_free(
    tmp_path: Path,
) -> None:
    """Its thread gets the locks once the writer is done, after the collector is gone: it must
    let them go, or every writer of the host would wait for ever."""
    root = tmp_path / "root"
    fence = Fence(FilesystemDriver(root))
    command = [sys.executable, "-c", textwrap.dedent(WRITE), str(root), "0.5"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as writer:
        assert writer.stdout is not None
        assert await asyncio.to_thread(writer.stdout.readline) == "held\n"
        collecting = asyncio.ensure_future(_collect_once(fence, []))
        await asyncio.sleep(0.2)  # its thread waits in flock for the other process's writer
        collecting.cancel()
        await asyncio.wait([collecting], timeout=10)
        assert collecting.cancelled()
    async with asyncio.timeout(10):
        async with fence.protect(APP, [D1]):
            pass


async def test_writers_arriving_together_at_first_leave_the_fence_free(tmp_path: Path) -> None:
    """The first writers of a process open the lock files at once: none may keep a lock behind."""
    for attempt in range(5):
        fence = Fence(FilesystemDriver(tmp_path / f"root{attempt}"))

        async def write() -> None:
            async with fence.protect(APP, [D1]):
                await asyncio.sleep(0)

        await asyncio.gather(*(write() for _ in range(50)))
        async with asyncio.timeout(5):
            async with fence._exclusive():
                pass
