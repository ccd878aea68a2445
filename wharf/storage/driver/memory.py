"""The in-memory driver: objects in a dict keyed by path, for tests and development.

Directories are implied by the paths of the objects below them, so a
directory exists exactly while something is in it (unlike on disk, where
``delete`` leaves an empty parent behind). A sorted list of the paths finds
the objects under a prefix without scanning them all.

Every operation runs to completion without awaiting, so on one event loop no
task sees another's half-done change. The semantics are the filesystem
driver's: writers buffer until ``commit`` (appending ones too, which the
protocol allows), a directory has no content, and writing where a directory
is, or below an object, raises ``StorageError``. It is not ``LocalFiles``.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

import anyio.to_thread

from wharf.storage.driver.base import (
    FileInfo,
    FileWriter,
    InvalidOffset,
    PathNotFound,
    StorageError,
    check_path,
)

__all__ = ["CHUNK_SIZE", "MemoryDriver"]

#: bytes per chunk that ``reader`` yields
CHUNK_SIZE = 1 << 20

_NAME = "inmemory"


@dataclass(frozen=True, slots=True)
class _Object:
    data: bytes
    mtime: float


class MemoryDriver:
    """Objects in memory: ``StorageDriver``, ``FileWalker``, ``BulkReader``, ``BulkDeleter``,
    ``BulkStatter``."""

    name = _NAME

    def __init__(self) -> None:
        self._objects: dict[str, _Object] = {}
        self._paths: list[str] = []  # the keys of _objects, sorted

    async def get_content(self, path: str) -> bytes:
        return self._get(check_path(path, driver=_NAME)).data

    async def put_content(self, path: str, data: bytes) -> None:
        self._put(check_path(path, driver=_NAME), bytes(data))

    async def reader(
        self, path: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        data = self._get(check_path(path, driver=_NAME)).data
        if not 0 <= offset <= len(data):
            raise InvalidOffset(path, driver=_NAME, reason=f"offset {offset} outside 0..{len(data)}")
        end = len(data) if length is None else min(len(data), offset + max(length, 0))
        return _chunks(data, offset, end)

    async def writer(self, path: str, *, append: bool = False) -> FileWriter:
        self._check_writable(check_path(path, driver=_NAME))
        existing = self._objects.get(path) if append else None
        return _MemoryWriter(self, path, existing.data if existing else b"")

    async def get_contents(self, paths: Sequence[str]) -> list[bytes | None]:
        """Many objects at once (``BulkReader``)."""
        return [obj.data if (obj := self._objects.get(check_path(p, driver=_NAME))) else None for p in paths]

    async def stat_all(self, paths: Sequence[str]) -> list[FileInfo | None]:
        """Many ``stat`` at once (``BulkStatter``)."""
        found: list[FileInfo | None] = []
        for path in paths:
            try:
                found.append(await self.stat(path))
            except PathNotFound:
                found.append(None)
        return found

    async def walk_files(self, path: str, *, prune: Callable[[str], bool] | None = None) -> list[str]:
        """Every object below ``path`` (``FileWalker``), from the sorted path list."""
        check_path(path, driver=_NAME)
        below = self._below(path)
        if prune is None:
            return list(below)
        found: set[str] = set()
        pruned: dict[str, bool] = {}
        for p in below:
            directory = _pruned_ancestor(p, path, prune, pruned)
            found.add(p if directory is None else f"{directory}/")
        return sorted(found)

    async def delete_all(self, paths: Sequence[str]) -> int:
        """``delete`` each path, skipping missing ones; the bytes freed (``BulkDeleter``)."""
        freed = 0
        for p in paths:
            check_path(p, driver=_NAME)
            for doomed in [p] if p in self._objects else list(self._below(p)):
                freed += len(self._objects[doomed].data)
                self._remove(doomed)
        return freed

    async def stat(self, path: str) -> FileInfo:
        check_path(path, driver=_NAME)
        if obj := self._objects.get(path):
            return FileInfo(path=path, size=len(obj.data), mtime=obj.mtime, is_dir=False)
        below = self._below(path)
        if not below:
            raise PathNotFound(path, driver=_NAME)
        mtime = max(self._objects[p].mtime for p in below)
        return FileInfo(path=path, size=0, mtime=mtime, is_dir=True)

    async def list(self, path: str) -> list[str]:
        check_path(path, driver=_NAME)
        below = self._below(path)
        if not below:
            raise PathNotFound(path, driver=_NAME)
        start = len(path) + 1
        return sorted({f"{path}/{p[start:].split('/', 1)[0]}" for p in below})

    async def move(self, source: str, dest: str, *, replace: bool = True) -> None:
        check_path(source, driver=_NAME)
        check_path(dest, driver=_NAME)
        if not replace and dest in self._objects:
            if source not in self._objects and not self._below(source):
                raise PathNotFound(source, driver=_NAME)
            return
        if obj := self._objects.get(source):
            self._check_writable(dest)
            self._remove(source)
            self._store(dest, obj)
        else:
            self._move_tree(source, dest)

    async def delete(self, path: str) -> None:
        check_path(path, driver=_NAME)
        doomed = [path] if path in self._objects else self._below(path)
        if not doomed:
            raise PathNotFound(path, driver=_NAME)
        for p in doomed:
            self._remove(p)

    def _get(self, path: str) -> _Object:
        if obj := self._objects.get(path):
            return obj
        raise PathNotFound(path, driver=_NAME)

    def _put(self, path: str, data: bytes) -> None:
        self._check_writable(path)
        self._store(path, _Object(data, time.time()))

    def _move_tree(self, source: str, dest: str) -> None:
        below = self._below(source)
        if not below:
            raise PathNotFound(source, driver=_NAME)
        if dest in self._objects or self._below(dest) or _ancestor(self._objects, dest):
            raise StorageError(dest, driver=_NAME, reason="a file or directory is in the way")
        for p in below:
            obj = self._objects[p]
            self._remove(p)
            self._store(dest + p[len(source) :], obj)

    def _check_writable(self, path: str) -> None:
        """An object may not replace a directory nor sit below another object."""
        if self._below(path) or _ancestor(self._objects, path):
            raise StorageError(path, driver=_NAME, reason="a file or directory is in the way")

    def _below(self, path: str) -> Sequence[str]:
        return _under(self._paths, path)

    def _store(self, path: str, obj: _Object) -> None:
        if path not in self._objects:
            bisect.insort(self._paths, path)
        self._objects[path] = obj

    def _remove(self, path: str) -> None:
        del self._objects[path]
        del self._paths[bisect.bisect_left(self._paths, path)]


class _MemoryWriter:
    """Buffers everything; ``commit`` stores the object whole."""

    def __init__(self, driver: MemoryDriver, path: str, existing: bytes) -> None:
        self._driver = driver
        self._path = path
        self._buffer = bytearray(existing)
        self._done = False

    @property
    def size(self) -> int:
        return len(self._buffer)

    async def write(self, data: bytes, *, observe: Callable[[bytes], None] | None = None) -> None:
        self._check_open()
        if observe is not None:
            # Off the event loop: an observer may be as slow as a hash of a MiB.
            await anyio.to_thread.run_sync(observe, data)
        self._buffer += data

    async def commit(self, data: bytes = b"", *, observe: Callable[[bytes], None] | None = None) -> None:
        if data:
            await self.write(data, observe=observe)
        self._check_open()
        self._done = True
        self._driver._put(self._path, bytes(self._buffer))

    async def cancel(self) -> None:
        self._done = True
        self._buffer = bytearray()

    def _check_open(self) -> None:
        if self._done:
            raise StorageError(self._path, driver=_NAME, reason="writer is closed")


async def _chunks(data: bytes, offset: int, end: int) -> AsyncGenerator[bytes, None]:
    view = memoryview(data)
    for start in range(offset, end, CHUNK_SIZE):
        yield bytes(view[start : min(start + CHUNK_SIZE, end)])


def _pruned_ancestor(path: str, top: str, prune: Callable[[str], bool], seen: dict[str, bool]) -> str | None:
    """The outermost directory between ``top`` and ``path`` that ``prune`` stops at, if any."""
    directory = top
    for part in path[len(top) + 1 :].split("/")[:-1]:
        directory = f"{directory}/{part}"
        if directory not in seen:
            seen[directory] = prune(directory)
        if seen[directory]:
            return directory
    return None


def _under(paths: list[str], path: str) -> list[str]:
    """The paths in sorted ``paths`` that lie under directory ``path``."""
    prefix = f"{path}/"
    start = end = bisect.bisect_left(paths, prefix)
    while end < len(paths) and paths[end].startswith(prefix):
        end += 1
    return paths[start:end]


def _ancestor(objects: dict[str, _Object], path: str) -> bool:
    """True when some proper ancestor directory of ``path`` is an object."""
    parent = path.rpartition("/")[0]
    while parent:
        if parent in objects:
            return True
        parent = parent.rpartition("/")[0]
    return False
