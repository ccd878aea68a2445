"""wharf.storage.driver.threads: blocking calls in worker threads, waited for even when cancelled."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from wharf.storage.driver.threads import Threads


async def _until(predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_a_call_runs_off_the_event_loop_and_returns_its_result() -> None:
    threads = Threads(2, name="test")
    assert await threads.run(threading.get_ident) != threading.get_ident()
    assert await threads.run(pow, 2, 10) == 1024


async def test_what_a_call_raises_reaches_the_caller() -> None:
    threads = Threads(2, name="test")
    with pytest.raises(ZeroDivisionError):
        await threads.run(divmod, 1, 0)


async def test_a_cancelled_caller_waits_for_the_call_it_started() -> None:
    threads = Threads(2, name="test")
    release, finished = threading.Event(), threading.Event()
    started = threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(5)
        finished.set()

    task = asyncio.ensure_future(threads.run(blocking))
    await _until(started.is_set)
    task.cancel()
    await asyncio.sleep(0.05)
    task.cancel()  # a second cancel while it waits changes nothing
    await asyncio.sleep(0.05)
    assert not task.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set()


async def test_a_call_cancelled_while_queued_never_runs() -> None:
    threads = Threads(1, name="test")
    release, ran = threading.Event(), threading.Event()
    busy = asyncio.ensure_future(threads.run(release.wait, 5))
    queued = asyncio.ensure_future(threads.run(ran.set))
    await asyncio.sleep(0.05)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    release.set()
    assert await busy is True
    assert await threads.run(ran.is_set) is False


async def test_a_cancelled_caller_of_a_failing_call_is_told_it_was_cancelled() -> None:
    threads = Threads(1, name="test")
    release = threading.Event()

    def failing() -> None:
        release.wait(5)
        raise OSError("disk gone")

    task = asyncio.ensure_future(threads.run(failing))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0.05)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_calls_beyond_the_limit_wait_for_a_thread() -> None:
    threads = Threads(2, name="test")
    inside = 0
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        threading.Event().wait(0.02)
        with lock:
            inside -= 1

    await asyncio.gather(*(threads.run(work) for _ in range(8)))
    assert most == 2
