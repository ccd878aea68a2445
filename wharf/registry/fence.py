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

Two rules for code that writes: a ``_layers`` link or a manifest revision is
only ever written inside ``protect`` (so during a run every new link is in the
journal, which is how the sweep finds the links of a blob it removes), and a
hold is never taken inside another (a waiting collector stops new holders, so
a nested hold would wait for ever). ``wharf garbage-collect`` must run as the
user that runs ``wharf serve``, as it must for distribution: both write the
same files.

Across processes on one host (``LocalFiles`` storage), the fence is a pair of
``flock`` locks in the store (``wharf.registry.locks``) (``gate`` keeps a stream of writers from starving
the collector: it stops new writers while the collector waits) and the lease
is a mapped file; a store private to one process (``inmemory``) needs only the
in-process lock and lease. Stores shared between hosts would need a
distributed lock; wharf has no such driver yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from wharf.digest import Digest
from wharf.errors import RegistryError
from wharf.reference import RepositoryName
from wharf.registry import paths
from wharf.registry.locks import (
    FileLocks,
    Lease,
    LocalLease,
    NoProcessLock,
    ProcessLock,
    RWLock,
    SharedLease,
)
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
        self.lock = RWLock()
        self.process: ProcessLock
        self.lease: Lease
        if isinstance(driver, LocalFiles):
            self.process = FileLocks(
                driver.local_path(paths.gc_fence()),
                driver.local_path(paths.gc_gate()),
                driver.local_path(paths.gc_running()),
            )
            # mapped once, when the registry is built (like wharf.registry.generation)
            self.lease = SharedLease(driver.local_path(paths.gc_lease()))
        else:
            self.process = NoProcessLock()
            self.lease = LocalLease()


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
                lease.extend(LEASE)  # linger, so that a run starting soon after misses no write
                # Not `await heartbeat` with CancelledError suppressed: a cancellation of this
                # task arriving now would be swallowed with the heartbeat's, and a cancelled
                # collector (a server shutting down) would carry on. ``wait`` lets it through.
                await asyncio.wait([heartbeat])
                if not heartbeat.cancelled():
                    heartbeat.result()  # its error, if it failed
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

    def __init__(self, lease: Lease) -> None:
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
