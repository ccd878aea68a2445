"""The locks and the lease ``wharf.registry.fence`` is built from.

- ``RWLock``: a readers-writer lock for the tasks of one event loop, where a
  waiting writer stops new readers (the collector is never starved).
- ``FileLocks``: the same between the processes of one host, with ``flock``
  on files in the store; ``NoProcessLock`` where the store is private to one
  process. Both also provide the lock that lets one collection run at a time.
- ``SharedLease``: a time in a file every process maps, read with a memory
  load; ``LocalLease`` in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import mmap
import os
import struct
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import anyio
import anyio.to_thread

__all__ = [
    "FileLocks",
    "Held",
    "Lease",
    "LocalLease",
    "NoProcessLock",
    "ProcessLock",
    "RWLock",
    "SharedLease",
]

_NS = 1_000_000_000

_A = TypeVar("_A")
_T = TypeVar("_T")


# --------------------------------------------------------------------------- in-process lock


class RWLock:
    """A readers-writer lock for tasks of one event loop; a waiting writer stops new readers."""

    def __init__(self) -> None:
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._waiters: list[asyncio.Future[None]] = []

    async def acquire_shared(self) -> None:
        while self._writer or self._writers_waiting:
            await self._wait()
        self._readers += 1

    def release_shared(self) -> None:
        self._readers -= 1
        if self._readers == 0:
            self._wake()

    async def acquire_exclusive(self) -> None:
        self._writers_waiting += 1
        try:
            while self._writer or self._readers:
                await self._wait()
        except BaseException:
            self._writers_waiting -= 1
            self._wake()  # readers may have been held back by this writer alone
            raise
        self._writers_waiting -= 1
        self._writer = True

    def release_exclusive(self) -> None:
        self._writer = False
        self._wake()

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


# --------------------------------------------------------------------------- cross-process lock


class ProcessLock(Protocol):
    """The fence between processes: shared by writers, exclusive to the collector."""

    async def acquire_shared(self) -> None: ...

    def release_shared(self) -> None: ...

    async def acquire_exclusive(self) -> Held: ...

    async def try_run_lock(self) -> Held | None: ...


class Held(Protocol):
    def release(self) -> None: ...


class NoProcessLock:
    """For storage private to one process: the in-process lock is the whole fence."""

    def __init__(self) -> None:
        self._running = False

    async def acquire_shared(self) -> None:
        return None

    def release_shared(self) -> None:
        return None

    async def acquire_exclusive(self) -> Held:
        return _Released()

    async def try_run_lock(self) -> Held | None:
        if self._running:
            return None
        self._running = True
        return _Flag(self)


class _Released:
    def release(self) -> None:
        return None


@dataclass
class _Flag:
    owner: NoProcessLock

    def release(self) -> None:
        self.owner._running = False


@dataclass
class _Flocks:
    fds: list[int]

    def release(self) -> None:
        # closing the descriptors releases their locks, in the order taken backwards
        for fd in reversed(self.fds):
            os.close(fd)
        self.fds = []


class FileLocks:
    """``flock`` locks in the store, for the processes of one host.

    A writer holds ``fence`` shared through one descriptor per process (counted
    here), taken with non-blocking calls on the event loop: no thread hop when
    no collector is around. The collector takes ``gate`` then ``fence``
    exclusively, through descriptors of its own. A writer passes ``gate``
    (shared, released at once) before taking ``fence``, so while the collector
    waits for the fence, no new writer gets in, and the writers inside finish.
    ``flock`` locks belong to open files, so all this holds within one process
    too, and the kernel drops a dead process's locks.
    """

    def __init__(self, fence: str, gate: str, running: str) -> None:
        self._fence_path, self._gate_path, self._running_path = fence, gate, running
        self._fence_fd = -1
        self._gate_fd = -1
        self._holders = 0
        self._limiter = anyio.CapacityLimiter(4)
        self._gate_wait: asyncio.Future[None] | None = None

    async def acquire_shared(self) -> None:
        if self._fence_fd < 0:
            await self._open()
        while not self._try_shared():
            await self._wait_for_collector()

    def release_shared(self) -> None:
        self._holders -= 1
        if self._holders == 0:
            fcntl.flock(self._fence_fd, fcntl.LOCK_UN)

    async def _open(self) -> None:
        gate = await anyio.to_thread.run_sync(_open_lock_file, self._gate_path)
        fence = await anyio.to_thread.run_sync(_open_lock_file, self._fence_path)
        # Decided on the event loop, so writers that opened at once keep one pair: a writer
        # whose lock sat on a replaced descriptor would hold the fence for ever.
        if self._fence_fd < 0:
            self._gate_fd, self._fence_fd = gate, fence
            # closed with this object: a process may build many registries (tests, tools)
            weakref.finalize(self, _close, gate, fence)
        else:
            _close(gate, fence)

    def _try_shared(self) -> bool:
        """Non-blocking: False while a collector holds or waits for the fence."""
        if not _try_flock(self._gate_fd, fcntl.LOCK_SH):
            return False
        try:
            if self._holders == 0 and not _try_flock(self._fence_fd, fcntl.LOCK_SH):
                return False
            self._holders += 1
            return True
        finally:
            fcntl.flock(self._gate_fd, fcntl.LOCK_UN)

    async def _wait_for_collector(self) -> None:
        """Wait (one thread per process, however many writers wait) until gate and fence are free."""
        if self._gate_wait is None:
            self._gate_wait = asyncio.ensure_future(
                anyio.to_thread.run_sync(_wait_free, self._gate_path, self._fence_path, limiter=self._limiter)
            )
            self._gate_wait.add_done_callback(self._forget_wait)
        await asyncio.shield(self._gate_wait)

    def _forget_wait(self, _: asyncio.Future[None]) -> None:
        self._gate_wait = None

    async def acquire_exclusive(self) -> Held:
        fds = await _in_thread(_lock_exclusive, [self._gate_path, self._fence_path], undo=_close_all)
        return _Flocks(fds)

    async def try_run_lock(self) -> Held | None:
        fd = await _in_thread(_open_lock_file, self._running_path, undo=os.close)
        if not _try_flock(fd, fcntl.LOCK_EX):
            os.close(fd)
            return None
        return _Flocks([fd])


async def _in_thread(func: Callable[[_A], _T], arg: _A, *, undo: Callable[[_T], None]) -> _T:
    """``func(arg)`` in a worker thread. A thread cannot be interrupted: if the caller is
    cancelled meanwhile, the thread runs on, and ``undo`` releases what it got (locks taken
    for a collector that is gone would otherwise shut out every writer of the host for ever)."""
    work = asyncio.ensure_future(anyio.to_thread.run_sync(func, arg))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        work.add_done_callback(functools.partial(_undo, undo))
        raise


def _undo(undo: Callable[[_T], None], work: asyncio.Future[_T]) -> None:
    if not work.cancelled() and work.exception() is None:
        undo(work.result())


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


def _close_all(fds: list[int]) -> None:
    _close(*reversed(fds))


def _open_lock_file(path: str) -> int:
    """A descriptor to ``flock``: read-only will do where the file belongs to another user."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except PermissionError:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def _try_flock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock_exclusive(lock_paths: list[str]) -> list[int]:
    """Take each lock exclusively, in order, waiting as long as needed (in a worker thread)."""
    fds: list[int] = []
    try:
        for path in lock_paths:
            fds.append(_open_lock_file(path))
            fcntl.flock(fds[-1], fcntl.LOCK_EX)
    except BaseException:
        for fd in reversed(fds):
            os.close(fd)
        raise
    return fds


def _wait_free(*lock_paths: str) -> None:
    """Return once each lock could be taken shared (in a worker thread)."""
    for path in lock_paths:
        fd = _open_lock_file(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- the lease


class Lease(Protocol):
    def until(self) -> float:
        """The time (``time.time()``) until which writers journal."""
        ...

    def extend(self, seconds: float) -> None:
        """Let the lease run until ``seconds`` from now."""
        ...


class LocalLease:
    def __init__(self) -> None:
        self._until = 0.0

    def until(self) -> float:
        return self._until

    def extend(self, seconds: float) -> None:
        self._until = time.time() + seconds


_LEASE_FORMAT = struct.Struct("=q")


class SharedLease:
    """The lease in a file every process of the host maps: reading it is a memory load.

    A process that may not write the file (another user's, a read-only store)
    maps it read-only; while it cannot even read it (not created yet, and not
    creatable by this process), it tries again at every call, so it never
    misses a collection that creates it.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._map: mmap.mmap | None = None
        self._writable = False
        self._open()

    def _open(self) -> None:
        try:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            access = mmap.ACCESS_WRITE
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            try:
                fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return
            access = mmap.ACCESS_READ
        try:
            if access == mmap.ACCESS_WRITE and os.fstat(fd).st_size < _LEASE_FORMAT.size:
                os.ftruncate(fd, _LEASE_FORMAT.size)
            if os.fstat(fd).st_size >= _LEASE_FORMAT.size:
                self._map = mmap.mmap(fd, _LEASE_FORMAT.size, access=access)
                self._writable = access == mmap.ACCESS_WRITE
        finally:
            os.close(fd)

    def until(self) -> float:
        if self._map is None:
            self._open()
            if self._map is None:
                return 0.0
        value: int = _LEASE_FORMAT.unpack_from(self._map, 0)[0]
        return value / _NS

    def extend(self, seconds: float) -> None:
        if self._map is None or not self._writable:
            raise OSError(errno.EACCES, f"{self._path}: the collection's lease cannot be written here")
        _LEASE_FORMAT.pack_into(self._map, 0, time.time_ns() + int(seconds * _NS))
