"""The fence between garbage collection and the writes that make content referenced.

A collection marks what manifests reference, then deletes every other blob.
Meanwhile, pushes go on: a client uploads (or mounts, or merely ``HEAD``s) a
blob, and later ``PUT``s a manifest that needs it. Without coordination the
collector can delete that blob between the two, and the registry then holds a
manifest whose layers are gone (distribution's documented data loss). wharf
closes that race with three things, all in this module:

**The fence**, a readers-writer lock shared by every process serving the
store. Writers hold it shared around "check that what I reference exists →
commit" (``Fence.protect``: manifest PUT and tagging, upload commit, mount);
the collector holds it alone, briefly, for each batch of deletions. So a
writer's existence check and its commit are never split by a deletion.

**The lease**: the collector announces itself by extending a lease (a time
in a memory-mapped file, so writers read it without a system call). While
the lease runs, every writer, inside its shared hold and *before* its
existence check, records in the **journal** (one small file per write under
``/wharf/gc/journal``) the repository and the digests it relies on: a
manifest and what it references; an uploaded or mounted blob; a blob or
manifest a client read by digest and may now skip uploading
(``Fence.observe``). Right after extending the lease, the collector takes the
fence alone once, with nothing to do: that *drains* the writers that began
before the lease (their commits land before marking starts, so marking sees
them), and every writer after it sees the lease. Then, for each batch of
deletions, the collector holds the fence alone, reads the journal, and keeps
whatever an entry protects. A writer therefore either journaled before the
batch (the collector keeps its digests) or checks existence after the batch
(the blob is gone, and the push fails with ``MANIFEST_BLOB_UNKNOWN`` or
``BLOB_UNKNOWN`` instead of committing a manifest with missing blobs). No
interleaving commits a manifest whose blobs a collection removed.

Why no cached "no collection is running": a writer that trusted such an
answer after the drain would skip the journal and could commit during
marking, unseen. Reading the mapped lease is as cheap as a cache, and exact.

**Keeping pushes from failing.** Entries outlive the run that read them
(``JOURNAL_TTL``), and the lease outlives its collection by ``LEASE`` seconds,
so a push that spans several back-to-back collections stays protected. An
entry stops protecting once it is spent, so deleting an image still frees its
space at the next run, even one that starts seconds later: a manifest entry
protects only while that manifest is still in its repository, and a blob
entry only until a later manifest entry of the same repository lists the
blob (that manifest now vouches for it). The remaining, documented, window:
a push that relied on a blob *before* a collection's lease began (no entry)
and commits its manifest after that collection removed the blob — nothing
else referencing it — fails with ``MANIFEST_BLOB_UNKNOWN``; the client's retry
uploads the blob again.

If the collector stalls past its lease (writers stopped journaling), it
notices before its next batch and stops deleting (``CollectionInterrupted``).
If it dies, the kernel drops its locks and the lease runs out by itself.

Across processes on one host (``LocalFiles`` storage), the fence is a pair of
``flock`` locks in the store (``gate`` keeps a stream of writers from starving
the collector: it stops new writers while the collector waits) and the lease
is a mapped file; a store private to one process (``inmemory``) needs only the
in-process lock and lease. Stores shared between hosts would need a
distributed lock; wharf has no such driver yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import mmap
import os
import struct
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import anyio
import anyio.to_thread

from wharf.digest import Digest
from wharf.errors import RegistryError
from wharf.reference import RepositoryName
from wharf.registry import paths
from wharf.storage.driver import LocalFiles, PathNotFound, StorageDriver

__all__ = [
    "JOURNAL_TTL",
    "LEASE",
    "Collection",
    "CollectionInterrupted",
    "CollectionRunning",
    "Fence",
    "JournalEntry",
]

#: seconds a lease runs past the collector's last renewal (and past the end of its run)
LEASE = 30.0
#: seconds a journal entry can protect what it names
JOURNAL_TTL = 15 * 60.0

_NS = 1_000_000_000


class CollectionRunning(RuntimeError):
    """Another garbage collection holds the store."""


class CollectionInterrupted(RuntimeError):
    """The collector stalled past its lease; it stops deleting for this run."""


# --------------------------------------------------------------------------- in-process lock


class _RWLock:
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


class _ProcessLock(Protocol):
    """The fence between processes: shared by writers, exclusive to the collector."""

    async def acquire_shared(self) -> None: ...

    def release_shared(self) -> None: ...

    async def acquire_exclusive(self) -> _Held: ...

    async def try_run_lock(self) -> _Held | None: ...


class _Held(Protocol):
    def release(self) -> None: ...


class _NoProcessLock:
    """For storage private to one process: the in-process lock is the whole fence."""

    def __init__(self) -> None:
        self._running = False

    async def acquire_shared(self) -> None:
        return None

    def release_shared(self) -> None:
        return None

    async def acquire_exclusive(self) -> _Held:
        return _Released()

    async def try_run_lock(self) -> _Held | None:
        if self._running:
            return None
        self._running = True
        return _Flag(self)


class _Released:
    def release(self) -> None:
        return None


@dataclass
class _Flag:
    owner: _NoProcessLock

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


class _FileLocks:
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
        else:
            os.close(gate)
            os.close(fence)

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

    async def acquire_exclusive(self) -> _Held:
        fds = await anyio.to_thread.run_sync(_lock_exclusive, [self._gate_path, self._fence_path])
        return _Flocks(fds)

    async def try_run_lock(self) -> _Held | None:
        fd = await anyio.to_thread.run_sync(_open_lock_file, self._running_path)
        if not _try_flock(fd, fcntl.LOCK_EX):
            os.close(fd)
            return None
        return _Flocks([fd])


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


class _Lease(Protocol):
    def until(self) -> float:
        """The time (``time.time()``) until which writers journal."""
        ...

    def extend(self, seconds: float) -> None:
        """Let the lease run until ``seconds`` from now."""
        ...


class _LocalLease:
    def __init__(self) -> None:
        self._until = 0.0

    def until(self) -> float:
        return self._until

    def extend(self, seconds: float) -> None:
        self._until = time.time() + seconds


_LEASE_FORMAT = struct.Struct("=q")


class _SharedLease:
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


# --------------------------------------------------------------------------- the journal


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """What one write relied on.

    ``manifest`` is set when the write committed or tagged that manifest;
    ``digests`` are then what it references. Otherwise ``digests`` are blobs
    (or manifests) the client was told exist and may rely on.
    """

    name: str
    written: float
    repository: RepositoryName
    manifest: Digest | None
    digests: tuple[Digest, ...]

    def encode(self) -> bytes:
        kind = f"manifest {self.manifest}" if self.manifest is not None else "uses"
        return "\n".join([f"{kind} {self.repository}", *map(str, self.digests)]).encode()

    @classmethod
    def decode(cls, name: str, data: bytes) -> JournalEntry | None:
        """None for an entry that is not one (never written by wharf, or cut short)."""
        try:
            head, *lines = data.decode().split("\n")
            words = head.split(" ")
            manifest = Digest.parse(words[1]) if words[0] == "manifest" else None
            repository = RepositoryName.parse(words[-1])
            digests = tuple(Digest.parse(line) for line in lines if line)
            written = int(name.split("-", 1)[0]) / _NS
        except (RegistryError, ValueError, IndexError, UnicodeDecodeError):
            return None
        return cls(name, written, repository, manifest, digests)


class _Journal:
    """Entries are immutable files, so a process reads each one once (``_read``)."""

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver
        self._read: dict[str, JournalEntry | None] = {}

    async def write(
        self, repository: RepositoryName, manifest: Digest | None, digests: tuple[Digest, ...]
    ) -> None:
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}"
        entry = JournalEntry(name, 0.0, repository, manifest, digests)
        await self.driver.put_content(paths.gc_journal_entry(name), entry.encode())

    async def names(self) -> list[str]:
        try:
            return [path.rsplit("/", 1)[-1] for path in await self.driver.list(paths.gc_journal())]
        except PathNotFound:
            return []

    async def entries(self, *, since: float) -> list[JournalEntry]:
        """The entries written since ``since``, oldest first."""
        cutoff = int(since * _NS)
        names = [name for name in await self.names() if _written_ns(name) >= cutoff]
        unread = [name for name in names if name not in self._read]
        for start in range(0, len(unread), 64):
            chunk = unread[start : start + 64]
            for name, entry in zip(chunk, await asyncio.gather(*map(self._load, chunk)), strict=True):
                self._read[name] = entry
        current = set(names)
        for name in [name for name in self._read if name not in current]:
            del self._read[name]  # pruned, or too old to matter
        return [entry for name in names if (entry := self._read[name]) is not None]

    async def _load(self, name: str) -> JournalEntry | None:
        try:
            return JournalEntry.decode(name, await self.driver.get_content(paths.gc_journal_entry(name)))
        except PathNotFound:
            return None

    async def prune(self, *, before: float) -> None:
        cutoff = int(before * _NS)
        for name in await self.names():
            if _written_ns(name) < cutoff:
                with contextlib.suppress(PathNotFound):
                    await self.driver.delete(paths.gc_journal_entry(name))


def _written_ns(name: str) -> int:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


# --------------------------------------------------------------------------- the fence


class _InProcess:
    """What the fences of one driver share within a process."""

    def __init__(self, driver: StorageDriver) -> None:
        self.lock = _RWLock()
        self.process: _ProcessLock
        self.lease: _Lease
        if isinstance(driver, LocalFiles):
            self.process = _FileLocks(
                driver.local_path(paths.gc_fence()),
                driver.local_path(paths.gc_gate()),
                driver.local_path(paths.gc_running()),
            )
            # mapped once, when the registry is built (like wharf.registry.generation)
            self.lease = _SharedLease(driver.local_path(paths.gc_lease()))
        else:
            self.process = _NoProcessLock()
            self.lease = _LocalLease()


#: by driver object, so that registries sharing one driver (tests, tools) share one fence
_IN_PROCESS: weakref.WeakKeyDictionary[StorageDriver, _InProcess] = weakref.WeakKeyDictionary()


class Fence:
    """Shared by one registry's writers and its garbage collector (see the module docstring)."""

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver
        shared = _IN_PROCESS.get(driver)
        if shared is None:
            shared = _IN_PROCESS[driver] = _InProcess(driver)
        self._local = shared.lock
        self._process = shared.process
        self._lease = shared.lease
        self._journal = _Journal(driver)

    # The writers' side.

    def protect(
        self, repository: RepositoryName, digests: Iterable[Digest] = (), *, manifest: Digest | None = None
    ) -> AbstractAsyncContextManager[None]:
        """Hold the fence shared around "check existence → commit"; journal first while a collection runs.

        ``manifest``: the manifest being committed or tagged; ``digests``: what it
        references, or else the blobs the write relies on.
        """
        return _Hold(self, repository, tuple(digests), manifest)

    def observe(
        self, repository: RepositoryName, digests: Iterable[Digest]
    ) -> AbstractAsyncContextManager[None]:
        """Around a read that tells a client something exists, which it may then rely on.

        Free while no collection runs: a read that saw no lease happened, for all
        that matters, before the collection began.
        """
        if not self.collecting():
            return _NOTHING
        return _Hold(self, repository, tuple(digests), None)

    def collecting(self) -> bool:
        """Whether a collection's lease runs (a memory load where the lease is mapped)."""
        return self._lease.until() > time.time()

    # The collector's side.

    @contextlib.asynccontextmanager
    async def collection(self) -> AsyncIterator[Collection]:
        """Run a collection: one at a time, under a lease, after draining earlier writers."""
        running = await self._process.try_run_lock()
        if running is None:
            raise CollectionRunning("another garbage collection is running on this storage")
        try:
            lease = self._lease
            lease.extend(LEASE)
            renewal = _Renewal(lease)
            heartbeat = asyncio.ensure_future(_keep_alive(renewal))
            try:
                async with self._exclusive():
                    pass  # drain: writers that began before the lease have committed
                yield Collection(self, renewal)
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
                lease.extend(LEASE)  # linger, so that a run starting soon after misses no write
                await self._journal.prune(before=time.time() - JOURNAL_TTL)
        finally:
            running.release()

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        await self._local.acquire_exclusive()
        try:
            held = await self._process.acquire_exclusive()
            try:
                yield
            finally:
                held.release()
        finally:
            self._local.release_exclusive()


class _Hold:
    """A writer's shared hold on the fence (``Fence.protect``)."""

    __slots__ = ("_digests", "_fence", "_manifest", "_repository")

    def __init__(
        self, fence: Fence, repository: RepositoryName, digests: tuple[Digest, ...], manifest: Digest | None
    ) -> None:
        self._fence = fence
        self._repository = repository
        self._digests = digests
        self._manifest = manifest

    async def __aenter__(self) -> None:
        fence = self._fence
        await fence._local.acquire_shared()
        try:
            await fence._process.acquire_shared()
        except BaseException:
            fence._local.release_shared()
            raise
        try:
            # After taking the fence: a collector's drain makes every later writer see its lease.
            if fence.collecting():
                await fence._journal.write(self._repository, self._manifest, self._digests)
        except BaseException:
            self._release()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._release()

    def _release(self) -> None:
        self._fence._process.release_shared()
        self._fence._local.release_shared()


_NOTHING: AbstractAsyncContextManager[None] = contextlib.nullcontext()


class _Renewal:
    """Keeps a collection's lease running, unless it ever ran out: writers may then have skipped
    the journal, and renewing it would hide that."""

    def __init__(self, lease: _Lease) -> None:
        self.lease = lease
        self.lapsed = False

    def renew(self) -> None:
        if self.lease.until() <= time.time():
            self.lapsed = True
        if not self.lapsed:
            self.lease.extend(LEASE)


async def _keep_alive(renewal: _Renewal) -> None:
    while not renewal.lapsed:
        await asyncio.sleep(LEASE / 4)
        renewal.renew()


class Collection:
    """The collector's handle on the fence during one run."""

    def __init__(self, fence: Fence, renewal: _Renewal) -> None:
        self._fence = fence
        self._renewal = renewal

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the fence alone, for one batch of deletions; renews the lease."""
        async with self._fence._exclusive():
            self._renewal.renew()
            if self._renewal.lapsed:
                raise CollectionInterrupted(
                    "the collection stalled for longer than its lease; it stops deleting for this run"
                )
            yield

    async def journal(self) -> list[JournalEntry]:
        """Every entry young enough to protect, oldest first.

        Complete only while holding ``exclusive``; reading it just before as
        well is cheaper, since each entry is read once.
        """
        return await self._fence._journal.entries(since=time.time() - JOURNAL_TTL)
