"""The storage driver protocol.

A driver stores opaque byte objects under ``/``-separated absolute paths
(``/docker/registry/v2/blobs/...``) and knows nothing about blobs, tags or
repositories: ``wharf.registry.paths`` builds every path. The protocol is
shaped so that an object store (S3) can implement it: whole objects are
written through a ``FileWriter`` that is committed or cancelled, ``move`` may
be a copy plus delete, and nothing relies on appending to an object that
another writer has open.

Contract every driver keeps (checked by ``tests/conformance/driver_suite.py``):

- ``put_content`` and a committed ``FileWriter`` are atomic: a reader sees the
  old object or the whole new one, never a part.
- A missing path raises ``PathNotFound``; a path outside the driver's grammar
  (relative, ``..``, empty components, NUL) raises ``InvalidPath`` before
  anything touches storage, so nothing escapes the root.
- ``delete`` removes a path and everything under it.
- ``list`` returns the full paths of a directory's direct children, sorted.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

__all__ = [
    "BulkDeleter",
    "BulkReader",
    "BulkStatter",
    "BulkWriter",
    "FileInfo",
    "FileWalker",
    "FileWriter",
    "InvalidOffset",
    "InvalidPath",
    "LocalFiles",
    "Locker",
    "PathNotFound",
    "StorageDriver",
    "StorageError",
    "StorageFull",
    "check_path",
    "delete_all",
    "files_under",
    "put_all",
    "read_all",
    "stat_all",
    "walk",
]

_T = TypeVar("_T")

#: distribution's driver path grammar (storagedriver.go PathRegexp), anchored.
_PATH = re.compile(r"(/[A-Za-z0-9._-]+)+")


class StorageError(Exception):
    """Base of driver errors. The registry layer turns them into domain errors."""

    def __init__(self, path: str, *, driver: str = "", reason: str = "") -> None:
        self.path = path
        self.driver = driver
        super().__init__(f"{driver or 'storage'}: {reason or type(self).__name__}: {path}")


class PathNotFound(StorageError):
    pass


class InvalidPath(StorageError):
    pass


class InvalidOffset(StorageError):
    pass


class StorageFull(StorageError):
    """The store has no room left (``ENOSPC``, a quota). The failed write left nothing behind."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    size: int
    mtime: float
    is_dir: bool


class FileWriter(Protocol):
    """Writes one object; one task at a time.

    A new object is not visible at its path until ``commit``. An appending
    writer may show its bytes earlier (distribution's filesystem driver does);
    ``cancel`` takes the object back to what it held when the writer opened.
    """

    @property
    def size(self) -> int:
        """Bytes written so far, including what an appended-to object already held."""
        ...

    async def write(self, data: bytes, *, observe: Callable[[bytes], None] | None = None) -> None:
        """Append ``data``; ``observe`` (a running hash, say) sees it first, wherever the write runs.

        A driver that writes in a worker thread calls ``observe`` in that same call: an
        upload hashes and writes each piece with one thread hop instead of two.
        """
        ...

    async def commit(self, data: bytes = b"", *, observe: Callable[[bytes], None] | None = None) -> None:
        """Write ``data`` as ``write`` does, then make everything written visible at the path.

        The last piece comes with the commit so a driver that works in worker threads
        writes a small object with one hop fewer (issue 5's small uploads).
        """
        ...

    async def cancel(self) -> None:
        """Discard what this writer wrote. Safe to call after a failed write."""
        ...


class StorageDriver(Protocol):
    """The operations the registry needs from a store. Every path is absolute."""

    name: str

    async def get_content(self, path: str) -> bytes:
        """The whole object; for small objects only (links, manifests)."""
        ...

    async def put_content(self, path: str, data: bytes) -> None:
        """Write a whole object atomically, replacing any previous one."""
        ...

    async def reader(
        self, path: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Open ``path`` (raising ``PathNotFound`` now, not on first read) and stream it from ``offset``.

        At most ``length`` bytes come out (all that follow ``offset`` when None), in
        non-empty chunks of at most 4 MiB (a stream's memory stays bounded).
        An ``offset`` past the end raises ``InvalidOffset``; one at the end yields
        nothing. The object stays open until the stream is exhausted or
        ``aclose()``d, so a consumer that may stop early uses ``contextlib.aclosing``.
        """
        ...

    async def writer(self, path: str, *, append: bool = False) -> FileWriter:
        """A writer for ``path``; with ``append`` it continues a committed object."""
        ...

    async def stat(self, path: str) -> FileInfo: ...

    async def list(self, path: str) -> list[str]: ...

    async def move(self, source: str, dest: str, *, replace: bool = True) -> None:
        """Move an object, replacing ``dest``. Atomic where the store allows it.

        With ``replace=False`` an object already at ``dest`` stays, and so does ``source``
        (content-addressed data: the caller removes its own copy).
        """
        ...

    async def delete(self, path: str) -> None:
        """Delete ``path`` and everything under it."""
        ...


@runtime_checkable
class LocalFiles(Protocol):
    """Optional capability: objects are local files, so the server can sendfile them."""

    def local_path(self, path: str) -> str: ...


@runtime_checkable
class Locker(Protocol):
    """Optional capability: an exclusive lock that every process using the store respects.

    Upload sessions take one while they append or publish, so two workers of one
    registry never write to, or publish, a session at the same time. A driver
    only one process can use (``inmemory``) needs none.
    """

    def lock(self, path: str) -> AbstractAsyncContextManager[None]:
        """Hold the lock on the object at ``path`` (``PathNotFound`` if there is none) for the block."""
        ...


@runtime_checkable
class FileWalker(Protocol):
    """Optional capability: list every object below a path in one call.

    The garbage collector walks the whole tree; ``walk`` pays a call (and, on
    disk, a thread hop) per directory and per file, a driver with this
    capability pays one per call.
    """

    async def walk_files(self, path: str, *, prune: Callable[[str], bool] | None = None) -> list[str]:
        """The paths of every object (not directory) below ``path``, sorted; none if it is missing.

        A directory for which ``prune(its path)`` is true is not entered: it is
        listed itself, as its path with a trailing ``/``.
        """
        ...


@runtime_checkable
class BulkDeleter(Protocol):
    """Optional capability: delete many paths in one call (the collector's sweep)."""

    async def delete_all(self, paths: Sequence[str]) -> int:
        """``delete`` each path (a missing one is no error); returns the bytes of the objects removed."""
        ...


@runtime_checkable
class BulkReader(Protocol):
    """Optional capability: read many small objects in one call (the collector reads every manifest)."""

    async def get_contents(self, paths: Sequence[str]) -> list[bytes | None]:
        """Each object's whole content, in order; None where there is none."""
        ...


@runtime_checkable
class BulkStatter(Protocol):
    """Optional capability: stat many paths in one call (the collector's dry run sizes what it would free)."""

    async def stat_all(self, paths: Sequence[str]) -> list[FileInfo | None]:
        """Each path's ``stat``, in order; None where there is nothing."""
        ...


@runtime_checkable
class BulkWriter(Protocol):
    """Optional capability: write many small objects in one call (a manifest push's blob and links)."""

    async def put_contents(self, contents: Mapping[str, bytes]) -> None:
        """``put_content`` of each path, in the mapping's order, each atomic; stops at the first failure."""
        ...


def check_path(path: str, *, driver: str = "") -> str:
    """Return ``path`` if it is a valid driver path, else raise ``InvalidPath``."""
    if not _PATH.fullmatch(path) or "/../" in f"{path}/" or "/./" in f"{path}/":
        raise InvalidPath(path, driver=driver)
    return path


async def walk(driver: StorageDriver, path: str) -> AsyncIterator[FileInfo]:
    """Every file and directory below ``path``, depth first, in sorted order.

    Built on ``list`` and ``stat`` (distribution's ``WalkFallback``), so every
    driver gets it; a missing ``path`` yields nothing.
    """
    try:
        children = await driver.list(path)
    except PathNotFound:
        return
    for child in children:
        try:
            info = await driver.stat(child)
        except PathNotFound:
            continue  # removed while we walked
        yield info
        if info.is_dir:
            async for below in walk(driver, child):
                yield below


async def files_under(
    driver: StorageDriver, path: str, *, prune: Callable[[str], bool] | None = None
) -> list[str]:
    """``FileWalker.walk_files`` where the driver has it, else the same built on ``list`` and ``stat``."""
    if isinstance(driver, FileWalker):
        return await driver.walk_files(path, prune=prune)
    found: list[str] = []
    pending = [path]
    while pending:
        try:
            children = await driver.list(pending.pop())
        except PathNotFound:
            continue
        for child in children:
            try:
                info = await driver.stat(child)
            except PathNotFound:
                continue
            if not info.is_dir:
                found.append(child)
            elif prune is not None and prune(child):
                found.append(f"{child}/")
            else:
                pending.append(child)
    return sorted(found)


async def delete_all(driver: StorageDriver, paths: Sequence[str]) -> int:
    """Delete each path (a missing one is no error) and return the bytes freed: ``BulkDeleter`` where
    the driver has it, else ``walk`` (for the sizes) and ``delete``."""
    if isinstance(driver, BulkDeleter):
        return await driver.delete_all(paths)
    semaphore = asyncio.Semaphore(32)

    async def delete(path: str) -> int:
        async with semaphore:
            try:
                info = await driver.stat(path)
                size = info.size if not info.is_dir else sum([i.size async for i in walk(driver, path)])
                await driver.delete(path)
            except PathNotFound:
                return 0
            return size

    return sum(await asyncio.gather(*map(delete, paths)))


async def read_all(driver: StorageDriver, paths: Sequence[str]) -> list[bytes | None]:
    """Each object's content (None if missing): ``get_contents`` where the driver has it."""
    if isinstance(driver, BulkReader):
        return await driver.get_contents(paths)
    return await _each(paths, driver.get_content)


async def stat_all(driver: StorageDriver, paths: Sequence[str]) -> list[FileInfo | None]:
    """Each path's ``FileInfo`` (None if missing): ``BulkStatter.stat_all`` where the driver has it."""
    if isinstance(driver, BulkStatter):
        return await driver.stat_all(paths)
    return await _each(paths, driver.stat)


async def put_all(driver: StorageDriver, contents: Mapping[str, bytes]) -> None:
    """``put_content`` of each path, one after the other in the mapping's order (a reader may
    trust an earlier object once it sees a later one): ``put_contents`` where the driver has it."""
    if isinstance(driver, BulkWriter):
        await driver.put_contents(contents)
        return
    for path, data in contents.items():
        await driver.put_content(path, data)


async def _each(paths: Sequence[str], fetch: Callable[[str], Awaitable[_T]]) -> list[_T | None]:
    """``fetch`` of every path, 32 at a time; None where the path is missing."""
    semaphore = asyncio.Semaphore(32)

    async def one(path: str) -> _T | None:
        async with semaphore:
            try:
                return await fetch(path)
            except PathNotFound:
                return None

    return list(await asyncio.gather(*map(one, paths)))
