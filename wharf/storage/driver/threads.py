"""``Threads``: where a driver's blocking calls run, off the event loop.

Worker threads that take calls from one queue, and asyncio's bridge to their
futures. anyio's ``to_thread.run_sync``, used before, did the same with more
bookkeeping per call: measured on issue 5's machine, about 150 µs of CPU per call
from 16 concurrent tasks against 90 µs with a plain pool, and a small upload
makes about ten such calls.

A call that has started is always waited for: cancelling the caller takes effect
once the call returns (anyio's rule too). A caller that went on while its write
still ran would clean up under it, or close a descriptor a read still uses. A
call cancelled before a thread took it never runs.

Fewer calls run at once than ``max_threads`` allows while they keep the process
busy: ``busy``, one per CPU it may run on (at least two). Each system call a worker makes lets
go of the interpreter lock and takes it back, and with tens of threads doing short
file operations from the page cache, taking it back was most of the work: the
kernel switching and waking threads (issue 5: 5,000 tag pushes over 32
connections spent two thirds of wharf's CPU in the kernel; with two threads, a
fifth less CPU per push and a fifth more pushes a second). More threads help when
the running calls wait on something instead, a slow disk or a network filesystem:
while calls queue, each ``patience`` seconds in which none finished, or the
process used less than half a CPU, adds half as many threads again, up to
``max_threads``. Once no call waits, a second after the last growth, the pool
goes back to ``busy`` threads.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

__all__ = ["Threads"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

#: how often the pool looks whether calls that wait would go faster with more threads (s)
PATIENCE = 0.01
#: how long after its last growth a pool waits before it goes back to ``busy`` threads (s)
_SETTLE = 1.0
#: CPUs the process uses, below which calls that wait are taken to wait on I/O, not on the CPU
_IDLE_CPU = 0.5
#: how long a thread beyond the pool's size waits for a call before it ends (s)
_IDLE_EXIT = 5.0


class Threads:
    """At most ``max_threads`` calls at once, and ``busy`` while they keep the process busy."""

    def __init__(
        self, max_threads: int, *, name: str, busy: int | None = None, patience: float = PATIENCE
    ) -> None:
        self._most = max_threads
        self._busy = min(max_threads, busy if busy is not None else max(2, _cores()))
        self._patience = patience
        self._pool = _Pool(name=name, size=self._busy)
        self._unfinished = 0  # calls submitted and not finished
        self._finished = 0  # calls finished so far
        self._grown_at = 0.0
        self._watching: asyncio.AbstractEventLoop | None = None  # where the patience timer runs

    @property
    def workers(self) -> int:
        """How many calls may run at once now."""
        return self._pool.size

    async def run(self, func: Callable[[*_Ts], _T], *args: *_Ts) -> _T:
        """``func(*args)`` in a worker thread; its result, or what it raised."""
        call: Future[_T] = Future()
        self._pool.submit(_Call(call, func, args))
        self._unfinished += 1
        if self._unfinished > self._pool.size:
            self._watch()
        result = asyncio.wrap_future(call)
        try:
            return await asyncio.shield(result)
        except asyncio.CancelledError:
            if call.cancel():  # still queued: it will not run
                raise
            await _outlast(result)
            raise
        except BaseException:
            # Both futures hold the exception, whose traceback holds this frame: a cycle that
            # would keep the call's arguments (a piece of an upload, say) until a full collection.
            del call, result
            raise
        finally:
            self._unfinished -= 1
            self._finished += 1
            if self._unfinished <= self._busy < self._pool.size:
                self._settle()

    def _watch(self) -> None:
        """While calls queue, look every ``patience`` seconds whether more threads would help."""
        loop = asyncio.get_running_loop()
        if self._watching is not loop:  # not yet, or on a loop that has ended since
            self._watching = loop
            loop.call_later(self._patience, self._check, _Progress.now(self._finished))

    def _check(self, then: _Progress) -> None:
        self._watching = None
        size = self._pool.size
        if self._unfinished <= size:
            return  # nothing waits
        if size < self._most and then.stalled(self._finished):
            self._pool.resize(min(self._most, size + max(1, size // 2)))
            self._grown_at = time.monotonic()
        self._watch()

    def _settle(self) -> None:
        """Back to ``busy`` threads once no call has waited for a while."""
        if time.monotonic() - self._grown_at >= _SETTLE:
            self._pool.resize(self._busy)


@dataclass(frozen=True, slots=True)
class _Progress:
    """Where the process stood when calls were seen waiting."""

    at: float
    cpu: float
    finished: int

    @classmethod
    def now(cls, finished: int) -> _Progress:
        return cls(time.monotonic(), time.process_time(), finished)

    def stalled(self, finished: int) -> bool:
        """Whether, since then, no call finished or the process hardly used a CPU: the calls
        running wait on something (a slow disk, a network filesystem), and more would help."""
        if finished == self.finished:
            return True
        elapsed = time.monotonic() - self.at
        return elapsed > 0 and (time.process_time() - self.cpu) / elapsed < _IDLE_CPU


@dataclass(frozen=True, slots=True)
class _Call:
    """One call for a worker thread, and the future that gets its outcome."""

    future: Future[Any]
    func: Callable[..., Any]
    args: tuple[Any, ...]

    def run(self) -> None:
        future = self.future
        if not future.set_running_or_notify_cancel():
            return  # cancelled while it waited
        try:
            result = self.func(*self.args)
        except BaseException as exc:  # noqa: BLE001 - the caller gets it, whatever it is
            future.set_exception(exc)
            # The exception's traceback holds this frame: without this, the frame would hold
            # the call, its arguments (a piece of an upload, say) and, through the future, the
            # exception, a cycle only a full garbage collection frees.
            del self, future, exc
        else:
            future.set_result(result)


class _Pool:
    """Worker threads that take calls from one queue: up to ``size`` of them, started as calls
    come; beyond a lowered size, a thread ends after its call.

    ``concurrent.futures.ThreadPoolExecutor`` cannot change its size, and it starts a thread
    for a call only when no thread has been idle since (so a raised size would not start any).
    """

    def __init__(self, *, name: str, size: int) -> None:
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._size = size
        self._threads = 0
        # The threads hold only a weak reference: once the pool is gone, they end.
        weakref.finalize(self, self._calls.put, None)

    @property
    def size(self) -> int:
        return self._size

    def submit(self, call: _Call) -> None:
        if self._threads < self._size:
            self._start(1)  # first: a call no thread would ever run is not queued
        self._calls.put(call)

    def resize(self, size: int) -> None:
        self._size = size
        self._start(self._calls.qsize())

    def _start(self, wanted: int) -> None:
        """Start up to ``wanted`` threads within the size; the system refusing one (its thread
        limit) is an error only when no thread is left to run calls."""
        with self._lock:
            count = max(min(wanted, self._size - self._threads), 0)
            self._threads += count
        for started in range(count):
            try:
                threading.Thread(
                    target=_work, args=(self._calls, weakref.ref(self)), name=self._name, daemon=True
                ).start()
            except RuntimeError:
                with self._lock:
                    self._threads -= count - started
                    none = self._threads == 0
                if none:
                    raise
                return

    def _leaving(self) -> bool:
        """Whether the thread asking is one too many for the size, and so ends (counted out)."""
        with self._lock:
            if self._threads <= self._size:
                return False
            self._threads -= 1
            return True


def _work(calls: queue.SimpleQueue[_Call | None], pool: weakref.ref[_Pool]) -> None:
    while True:
        try:
            call = calls.get(timeout=_IDLE_EXIT)
        except queue.Empty:
            call = None
        else:
            if call is None:  # the pool is gone
                calls.put(None)  # for the next thread
                return
            call.run()
            del call
        owner = pool()
        if owner is None or owner._leaving():  # noqa: SLF001 - its own pool
            return
        del owner


def _cores() -> int:
    """The CPUs this process may run on (a container's cpuset, ``taskset``), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


async def _outlast(result: asyncio.Future[Any]) -> None:
    """Wait until ``result`` is done, whatever else is cancelled meanwhile."""
    while not result.done():
        try:
            await asyncio.shield(result)
        except asyncio.CancelledError:
            continue
        except Exception:  # noqa: BLE001 - the caller was cancelled: that is what it raises
            return
    if not result.cancelled():
        result.exception()  # retrieved, so asyncio does not log it as never retrieved
