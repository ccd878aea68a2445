"""Upload sessions: start, append (chunked or streamed), status, commit, cancel.

Bytes go to ``_uploads/<id>/data`` as they arrive and are hashed as they
stream; a blob becomes visible (moved into the content store and linked into
the repository) only after its digest checks out. Everything about a session
lives in storage, so it survives a restart: the running hash is an in-process
optimisation (``_HashStates``), and a process that lacks it (after a restart,
or a request served by another worker) rebuilds it by reading the data back.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio.to_thread

from wharf.digest import Digest, Hasher, new_hasher
from wharf.errors import BlobUploadUnknown, DigestInvalid, RangeInvalid, SizeInvalid
from wharf.reference import RepositoryName
from wharf.registry import paths
from wharf.registry.blobs import RepositoryBlobs
from wharf.storage.cache.base import BlobDescriptor
from wharf.storage.driver import FileWriter, Locker, PathNotFound, StorageDriver, StorageFull, stat_all

__all__ = ["ChunkRange", "UploadStatus", "Uploads", "parse_upload_id"]

#: bytes gathered before one hash-and-write step: big enough to amortise the thread hop
_BATCH = 1 << 20
_UPLOAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def parse_upload_id(text: str) -> str:
    """An upload id from a URL; anything that is not one of ours is simply unknown."""
    if not _UPLOAD_ID.fullmatch(text):
        raise BlobUploadUnknown(f"unknown upload {text[:140]!r}")
    return text


@dataclass(frozen=True, slots=True)
class UploadStatus:
    id: str
    name: RepositoryName
    size: int


@dataclass(frozen=True, slots=True)
class ChunkRange:
    """A ``Content-Range`` of a PATCH: inclusive ``start``-``end``."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> ChunkRange:
        match = re.fullmatch(r"(?:bytes[ =])?([0-9]{1,18})-([0-9]{1,18})(?:/([0-9]{1,18}|\*))?", text.strip())
        if not match:
            raise RangeInvalid(f"malformed Content-Range {text[:100]!r}", message="invalid content range")
        start, end = int(match[1]), int(match[2])
        if end < start:
            raise RangeInvalid(f"Content-Range {text[:100]!r} ends before it starts")
        if match[3] not in (None, "*") and end >= int(match[3]):
            raise RangeInvalid(f"Content-Range {text[:100]!r} ends past its own total length")
        return cls(start, end)

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class _HashStates:
    """Running hashes of sessions this process is serving, keyed by upload id (bounded)."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._states: OrderedDict[str, tuple[int, Hasher]] = OrderedDict()
        self._max = max_entries

    def take(self, upload_id: str, size: int) -> Hasher | None:
        state = self._states.pop(upload_id, None)
        if state is None or state[0] != size:
            return None
        return state[1]

    def put(self, upload_id: str, size: int, hasher: Hasher) -> None:
        self._states[upload_id] = (size, hasher)
        while len(self._states) > self._max:
            self._states.popitem(last=False)

    def drop(self, upload_id: str) -> None:
        self._states.pop(upload_id, None)


class Uploads:
    """The upload sessions of one registry (all repositories)."""

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver
        self._hashes = _HashStates()
        # One writer at a time per session in this process: concurrent PATCHes
        # on one session queue here, then fail the Content-Range check.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, upload_id: str) -> asyncio.Lock:
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = self._locks[upload_id] = asyncio.Lock()
        return lock

    @contextlib.asynccontextmanager
    async def _exclusive(self, name: RepositoryName, upload_id: str) -> AsyncIterator[None]:
        """Sole use of a session: across this process's tasks, and across processes where the driver
        can lock. Without the second, a worker could publish a session (move its data into the
        content store) while another worker still appends to that file, which would then be the
        published blob's."""
        async with self._lock(upload_id), contextlib.AsyncExitStack() as stack:
            if isinstance(self.driver, Locker):
                lock = self.driver.lock(paths.upload_started_at(name, upload_id))
                try:
                    await stack.enter_async_context(lock)
                except PathNotFound:
                    raise BlobUploadUnknown(f"unknown upload {upload_id}") from None
            yield

    async def start(self, name: RepositoryName, *, algorithm: str = "sha256") -> UploadStatus:
        """A new, empty session; its bytes are hashed with ``algorithm`` as they arrive."""
        upload_id = str(uuid.uuid4())
        started = datetime.now(UTC).isoformat().replace("+00:00", "Z").encode()
        await self.driver.put_content(paths.upload_started_at(name, upload_id), started)
        self._hashes.put(upload_id, 0, new_hasher(algorithm))
        return UploadStatus(id=upload_id, name=name, size=0)

    async def status(self, name: RepositoryName, upload_id: str) -> UploadStatus:
        # One bulk stat: every PATCH and PUT asks, and a thread hop costs more than the stat.
        started, data = await stat_all(
            self.driver, [paths.upload_started_at(name, upload_id), paths.upload_data(name, upload_id)]
        )
        if started is None:
            raise BlobUploadUnknown(f"unknown upload {upload_id}")
        return UploadStatus(id=upload_id, name=name, size=0 if data is None else data.size)

    async def append(
        self,
        name: RepositoryName,
        upload_id: str,
        body: AsyncIterable[bytes],
        *,
        chunk: ChunkRange | None = None,
        length: int | None = None,
    ) -> UploadStatus:
        """Add ``body`` to the session; ``chunk`` (a Content-Range) must start where the data ends."""
        async with self._exclusive(name, upload_id):
            return await self._append(name, upload_id, body, chunk=chunk, length=length)

    async def _append(
        self,
        name: RepositoryName,
        upload_id: str,
        body: AsyncIterable[bytes],
        *,
        chunk: ChunkRange | None,
        length: int | None,
    ) -> UploadStatus:
        writer = await self._writer(name, upload_id)
        status = UploadStatus(id=upload_id, name=name, size=writer.size)
        try:
            _check_range(status, chunk=chunk, length=length)
            hasher = await self._hasher(status)
        except BaseException:
            await writer.cancel()
            raise
        try:
            copied = await _copy(body, writer, hasher)
            received = copied.received
            expected = chunk.length if chunk is not None else length
            if expected is not None and received != expected:
                raise SizeInvalid(f"received {received} bytes, expected {expected}")
            await writer.commit(copied.last, observe=hasher.update)
        except StorageFull:
            # Out of space: release everything this session holds, so the
            # failed push frees its partial data and other writes can go on.
            await writer.cancel()
            await self._discard(status.name, status.id)
            raise
        except BaseException:
            self._hashes.drop(status.id)
            await writer.cancel()
            raise
        size = status.size + received
        self._hashes.put(status.id, size, hasher)
        return UploadStatus(id=status.id, name=status.name, size=size)

    async def _writer(self, name: RepositoryName, upload_id: str) -> FileWriter:
        """The session's data, opened to append; call under ``_exclusive``.

        The writer knows the data's size, so no ``status`` is asked (a worker-thread hop
        per PATCH and PUT: issue 5's small uploads). Where the driver locks, the lock was
        taken on the session's ``startedat`` file, which proves the session exists.
        """
        if not isinstance(self.driver, Locker):
            await self.status(name, upload_id)
        return await self.driver.writer(paths.upload_data(name, upload_id), append=True)

    async def _hasher(self, status: UploadStatus, algorithm: str | None = None) -> Hasher:
        """The session's running hash; ``None`` continues whichever algorithm it runs (sha256 if none)."""
        hasher = self._hashes.take(status.id, status.size)
        if hasher is not None and algorithm in (None, getattr(hasher, "name", algorithm)):
            return hasher
        return await self._rehash(status, algorithm or "sha256")

    async def _rehash(self, status: UploadStatus, algorithm: str) -> Hasher:
        """Hash what the session holds so far (after a restart, or for another algorithm)."""
        hasher = new_hasher(algorithm)
        if status.size == 0:
            return hasher
        reader = await self.driver.reader(paths.upload_data(status.name, status.id))
        async for block in reader:
            await anyio.to_thread.run_sync(hasher.update, block)
        return hasher

    async def commit(
        self,
        blobs: RepositoryBlobs,
        upload_id: str,
        digest: Digest,
        body: AsyncIterable[bytes] | None = None,
        *,
        chunk: ChunkRange | None = None,
        length: int | None = None,
    ) -> BlobDescriptor:
        """Finish the session: append the last ``body``, verify ``digest``, publish the blob."""
        name = blobs.name
        async with self._exclusive(name, upload_id):
            if body is not None:
                status = await self._append(name, upload_id, body, chunk=chunk, length=length)
            else:
                status = await self.status(name, upload_id)
            hasher = await self._hasher(status, digest.algorithm)
            if hasher.hexdigest() != digest.hex:
                await self._discard(name, upload_id)
                raise DigestInvalid(f"content does not hash to {digest}")
            descriptor = await self._publish(blobs, status, digest)
            self._hashes.drop(upload_id)
            return descriptor

    async def _publish(self, blobs: RepositoryBlobs, status: UploadStatus, digest: Digest) -> BlobDescriptor:
        source = paths.upload_data(status.name, status.id)
        if status.size == 0:
            # An empty blob: no data file was ever written.
            await self.driver.put_content(source, b"")
        # Under the fence: ``ingest`` may find the blob already stored and rely on
        # it, which a collection must not delete before the link is written.
        async with blobs.fence.protect(blobs.name, (digest,)):
            descriptor = await blobs.store.ingest(digest, source=source, size=status.size)
            await blobs.link(digest)
        await self._discard(status.name, status.id)
        return descriptor

    async def cancel(self, name: RepositoryName, upload_id: str) -> None:
        async with self._exclusive(name, upload_id):
            await self.status(name, upload_id)
            await self._discard(name, upload_id)

    async def _discard(self, name: RepositoryName, upload_id: str) -> None:
        self._hashes.drop(upload_id)
        try:
            await self.driver.delete(paths.upload_dir(name, upload_id))
        except PathNotFound:
            pass

    async def monolithic(
        self, blobs: RepositoryBlobs, digest: Digest, body: AsyncIterable[bytes], *, length: int | None
    ) -> BlobDescriptor:
        """A whole blob in one request (``POST ?digest=``): a session that lives for one request."""
        status = await self.start(blobs.name, algorithm=digest.algorithm)
        try:
            return await self.commit(blobs, status.id, digest, body, length=length)
        except BaseException:
            await self._discard(blobs.name, status.id)
            raise


def _check_range(status: UploadStatus, *, chunk: ChunkRange | None, length: int | None) -> None:
    """A ``chunk`` (a PATCH's Content-Range) must start where the data ends and agree with ``length``."""
    if chunk is None:
        return
    if chunk.start != status.size:
        raise RangeInvalid(
            f"chunk starts at {chunk.start} but the upload has {status.size} bytes",
            message="chunk out of order",
        )
    if length is not None and length != chunk.length:
        raise RangeInvalid(f"Content-Range covers {chunk.length} bytes, Content-Length says {length}")


@dataclass(frozen=True, slots=True)
class _Copied:
    """What ``_copy`` took from a body: all its bytes, and the last of them, not yet written."""

    received: int
    last: bytes


async def _copy(body: AsyncIterable[bytes], writer: FileWriter, hasher: Hasher) -> _Copied:
    """Stream ``body`` into ``writer`` and ``hasher`` in batches, all but the last.

    A batch is hashed and written in one step (``observe``: the filesystem driver
    does both in one worker-thread call; hashlib and file writes release the GIL)
    while the event loop receives the next batch. Hashing in a thread of its own,
    beside the write, took a second thread hop per batch: about 10% more CPU per
    byte pushed, for no faster pushes (issue 5's benchmark). The last batch, all of
    a small upload, goes with the writer's ``commit``: one hop fewer.
    """
    received = 0
    batch: list[bytes] = []
    batched = 0
    pending: asyncio.Task[None] | None = None
    try:
        async for piece in body:
            batch.append(piece)
            batched += len(piece)
            if batched >= _BATCH:
                if pending is not None:
                    await pending
                # No copy when the batch is one piece (the usual case: pieces arrive at about 1 MiB).
                pending = asyncio.create_task(writer.write(b"".join(batch), observe=hasher.update))
                received += batched
                batch.clear()
                batched = 0
        if pending is not None:
            await pending
            pending = None
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
    return _Copied(received=received + batched, last=b"".join(batch))
