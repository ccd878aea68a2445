"""wharf.storage.driver.threads: blocking calls in worker threads, waited for even when cancelled;
as many threads as keep the process busy, more while calls wait on something."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import weakref
from collections.abc import Callable

import pytest

from wharf.storage.driver import threads as threads_module
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


class _Concurrency:
    """Counts how many calls of ``work`` run at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self._lock = threading.Lock()

    def work(self, wait: Callable[[], object]) -> None:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        try:
            wait()
        finally:
            with self._lock:
                self.inside -= 1


def _threads_named(name: str) -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == name)


async def test_while_calls_keep_finishing_only_busy_ones_run_at_once() -> None:
    threads = Threads(8, name="test-busy", busy=2, patience=60)
    count = _Concurrency()
    await asyncio.gather(*(threads.run(count.work, lambda: time.sleep(0.01)) for _ in range(12)))
    assert count.most == 2
    assert threads.workers == 2
    assert _threads_named("test-busy") == 2


async def test_calls_that_wait_on_something_get_more_threads_up_to_max_threads() -> None:
    threads = Threads(3, name="test-grow", busy=1, patience=0.01)
    count = _Concurrency()
    together = threading.Barrier(3, timeout=5)  # passes only with three calls running at once
    await asyncio.gather(*(threads.run(count.work, together.wait) for _ in range(6)))
    assert count.most == 3
    assert threads.workers == 3


async def test_a_grown_pool_goes_back_to_busy_threads_once_nothing_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(threads_module, "_SETTLE", 0.0)
    monkeypatch.setattr(threads_module, "_IDLE_EXIT", 0.05)
    threads = Threads(4, name="test-settle", busy=1, patience=0.01)
    together = threading.Barrier(4, timeout=5)
    await asyncio.gather(*(threads.run(together.wait) for _ in range(4)))
    assert await threads.run(pow, 2, 3) == 8  # finishes with nothing waiting: back to one thread
    assert threads.workers == 1
    await _until(lambda: _threads_named("test-settle") == 1)  # the others end, idle


async def test_the_threads_end_with_their_pool() -> None:
    threads = Threads(2, name="test-end", busy=2)
    await asyncio.gather(*(threads.run(time.sleep, 0.01) for _ in range(2)))
    assert _threads_named("test-end") == 2
    del threads
    gc.collect()
    # at once, not after the idle threads' own timeout
    await _until(lambda: _threads_named("test-end") == 0, timeout=threads_module._IDLE_EXIT / 2)


async def test_a_thread_the_system_refuses_fails_the_call_when_no_thread_runs_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads = Threads(2, name="test-refused", busy=2)

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    ran: list[int] = []
    with monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", refuse)
        with pytest.raises(RuntimeError, match="can't start new thread"):
            await threads.run(ran.append, 1)
    await threads.run(ran.append, 2)
    assert ran == [2]  # the refused call was never queued, so it did not run behind the caller's back
    with monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", refuse)
        assert await threads.run(pow, 2, 4) == 16  # one thread runs calls: the refusal is no error


async def test_a_failed_call_leaves_no_cycle_holding_its_arguments() -> None:
    threads = Threads(1, name="test-cycle")

    class Piece:
        pass

    def fail(piece: Piece) -> None:
        raise OSError(28, "No space left on device")

    piece = Piece()
    gone = weakref.ref(piece)
    gc.disable()
    try:
        with pytest.raises(OSError):
            await threads.run(fail, piece)
        del piece
        await _until(lambda: gone() is None, timeout=1)  # freed by reference counting alone
    finally:
        gc.enable()


def test_busy_defaults_to_the_cpus_this_process_may_run_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert Threads(100, name="test-cores").workers == 3
    assert Threads(2, name="test-cores").workers == 2  # never more than max_threads
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert Threads(100, name="test-cores").workers == 2  # at least two
