"""The local filesystem driver: driver path ``/a/b`` is the file ``<root>/a/b``.

The on-disk layout is distribution's filesystem driver's, so either registry
serves a directory the other wrote. Every blocking call runs in a worker
thread (at most ``max_threads`` at once), never on the event loop.

- Paths are checked twice: ``check_path`` before anything touches the disk,
  then, in the worker, the resolved path (symlinks followed) must still lie
  under the root, else ``InvalidPath``. A write resolves the directory it
  writes into; a symbolic link at the file itself is resolved as before.
- ``put_content`` and a non-appending ``FileWriter`` write a temporary file
  (``.tmp-<token>-<n>``) beside the target and ``os.replace`` it into place: a
  reader sees the old object or the whole new one, and a process killed
  mid-write leaves only a temporary file. ``.tmp-`` names are therefore
  reserved: ``list`` hides them and no driver path may contain one.
- Nothing is fsynced, as in distribution's filesystem driver: a write is safe
  from the process dying, and left to the kernel's writeback for the machine
  dying. Syncing every link and manifest file made pushes several times
  slower than distribution's on this kind of disk (issue 5's benchmark), and
  uploads are verified by digest before they are published either way.
- A writer hands each 8 MiB it has written to the kernel's writeback and
  drops it from the page cache once written (``writeback.Writeback``), so a
  big upload holds about 32 MiB of the cache instead of all its bytes; a
  finished write of a MiB or more leaves what is left to ``writeback.Tails``,
  which keeps its descriptor until it is dropped.
- An appending writer writes into the committed file itself, so its bytes may
  be visible before ``commit`` (as in distribution); ``cancel`` truncates the
  file back to the size it had when the writer opened.
- A failed write (``ENOSPC``, ``EIO``, ...) first undoes what the writer wrote,
  as ``cancel`` does, then re-raises: ``StorageFull`` when the disk or a quota
  is full (so the API can answer 507 and the upload release its data), else
  the ``OSError``.
- ``lock`` is an advisory ``flock`` on the object's file: it excludes the
  other processes of this host that share the root, not other hosts.
- A directory is not an object: ``get_content`` and ``reader`` on one raise
  ``PathNotFound``, and so does ``list`` on a file. Writing where a directory
  is, or below a file, raises ``StorageError``. ``delete`` leaves emptied
  parent directories in place, as distribution does.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import io
import itertools
import os
import re
import secrets
import shutil
import stat
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar, TypeVarTuple

import anyio

from wharf.storage.driver.base import (
    FileInfo,
    FileWriter,
    InvalidOffset,
    InvalidPath,
    PathNotFound,
    StorageError,
    StorageFull,
    check_path,
)
from wharf.storage.driver.threads import Threads
from wharf.storage.driver.writeback import Tails, Writeback

__all__ = ["CHUNK_SIZE", "TEMP_PREFIX", "FilesystemDriver"]

#: bytes per chunk that ``reader`` yields. Each chunk costs a thread hop, a task and a send in
#: Python: whole-blob GETs ran at 1.3-1.7 GB/s with 1 MiB chunks, 1.7-2.0 with 2 MiB and 1.8-2.3
#: with 4 MiB (issue 5's benchmark machine). A pull holds two, the one sent and the one read
#: ahead, and glibc kept about 1 MiB more after pulls of 2 MiB chunks, 3 MiB more of 4 MiB ones.
CHUNK_SIZE = 2 << 20
#: worker threads one ``delete_all`` spreads over
_DELETE_THREADS = 8
#: name prefix of temporary files; reserved, never a driver path component
TEMP_PREFIX = ".tmp-"
#: opens a file or directory only to name it (Linux); elsewhere a plain read-only open does
_O_PATH: int = getattr(os, "O_PATH", os.O_RDONLY)
#: a ``lock``'s open: ``O_NONBLOCK``, so a FIFO someone left there does not wait for a writer
_LOCK_OPEN = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY

_NAME = "filesystem"
#: seconds between attempts to take a ``lock`` another holder has
_LOCK_POLL = 0.01
_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


class FilesystemDriver:
    """Files under ``root``: ``StorageDriver``, ``LocalFiles``, ``Locker``, ``FileWalker``, ``BulkReader``,
    ``BulkDeleter``, ``BulkStatter``."""

    name = _NAME

    def __init__(self, root: str | os.PathLike[str], *, max_threads: int = 100) -> None:
        self._root = os.path.realpath(os.fspath(root))
        #: what every real path under the root starts with
        self._prefix = self._root.rstrip("/") + "/"
        self._threads = Threads(max_threads, name="wharf-storage")
        self._tails = Tails()

    @property
    def root(self) -> str:
        return self._root

    def local_path(self, path: str) -> str:
        """The real path of the file for ``path``; it need not exist yet."""
        return self._confine(self._full(path), path)

    async def get_content(self, path: str) -> bytes:
        full = self._full(path)
        with _reading(path):
            return await self._run(path, full, _read_file)

    async def put_content(self, path: str, data: bytes) -> None:
        await self._threads.run(self._put_many, [(path, self._full(path), data)])

    async def put_contents(self, contents: Mapping[str, bytes]) -> None:
        """Many small files in one worker thread (``BulkWriter``), in order, each as ``put_content``."""
        targets = [(path, self._full(path), data) for path, data in contents.items()]
        if targets:
            await self._threads.run(self._put_many, targets)

    def _put_many(self, targets: list[tuple[str, str, bytes]]) -> None:
        for path, full, data in targets:
            with _writing(path):
                self._make_parent(full, path)
                _put_file(full, data)

    def _make_parent(self, full: str, path: str) -> os.stat_result | None:
        """Check that the file ``full`` would lie under the root, making its missing parents;
        what is at ``full`` now (a link is followed), or None.

        What ``_confine`` and ``makedirs`` do, in fewer system calls for the usual
        write of a new file (a tag push writes four, three in new directories):
        resolving the parent finds which directories are missing, so each is made
        with one ``mkdir``. System calls are what small writes cost here: each one
        hands the interpreter lock to another thread and waits to take it back.
        A file or missing name that is a symbolic link, or anything unusual on the
        way (a file where a directory should be), goes the long way.
        """
        missing: list[str] = []  # the directories to make, deepest first
        probe = os.path.dirname(full)
        while True:
            try:
                fd = os.open(probe, _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                break
            except FileNotFoundError:
                missing.append(probe)
                probe = os.path.dirname(probe)
                if probe == missing[-1]:
                    return self._make_parent_slowly(full, path)
            except OSError:
                return self._make_parent_slowly(full, path)
        try:
            # The name right below what exists: a symbolic link there (to a file or, dangling,
            # to where a directory would be made) decides where the write goes.
            found = _lstat(os.path.basename(missing[-1] if missing else full), fd)
            if found is not None and stat.S_ISLNK(found.st_mode):
                return self._make_parent_slowly(full, path)
            real = os.path.join(_opened_path(fd, probe), *(os.path.basename(d) for d in reversed(missing)))
        finally:
            os.close(fd)
        if not self._inside(real):
            raise InvalidPath(path, driver=_NAME, reason="resolves outside the root")
        for directory in reversed(missing):
            try:
                os.mkdir(directory)
            except FileExistsError:
                pass  # made meanwhile by another writer
            except FileNotFoundError:  # a parent removed meanwhile (an emptied directory): make it again
                os.makedirs(os.path.dirname(full), exist_ok=True)
                break
        return None if missing else found

    def _make_parent_slowly(self, full: str, path: str) -> os.stat_result | None:
        real = self._confine(full, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        try:
            return os.stat(real)
        except FileNotFoundError:
            return None

    async def reader(
        self, path: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        full = self._full(path)
        if offset < 0:
            raise InvalidOffset(path, driver=_NAME, reason=f"negative offset {offset}")
        stream = self._stream(path, full, offset, length)
        await anext(stream)  # opens the file now, so a missing path or bad offset raises here
        return stream

    async def writer(self, path: str, *, append: bool = False) -> FileWriter:
        full = self._full(path)
        with _writing(path):
            if append:
                fd, size = await self._threads.run(self._open_append, path, full)
                return _LocalWriter(self._threads, self._tails, path, full, fd, temp=None, size=size)
            temp, fd = await self._run(path, full, _open_temp)
            return _LocalWriter(self._threads, self._tails, path, full, fd, temp=temp, size=0)

    async def get_contents(self, paths: Sequence[str]) -> list[bytes | None]:
        """Many small files in one worker thread (``BulkReader``); None for a missing one."""
        targets = [(path, self._full(path)) for path in paths]
        return await self._threads.run(self._read_many, targets)

    def _read_many(self, targets: list[tuple[str, str]]) -> list[bytes | None]:
        found: list[bytes | None] = []
        for path, full in targets:
            try:
                with _reading(path):
                    found.append(self._read_confined(path, full))
            except PathNotFound:
                found.append(None)
        return found

    def _read_confined(self, path: str, full: str) -> bytes:
        """Read ``full`` if it lies under the root: checked on the opened file, cheaper than ``realpath``."""
        try:
            fd = self._open_confined(path, full, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            return _read_file(self._confine(full, path))  # the file itself is a symbolic link
        try:
            return _read_to_end(fd)
        finally:
            os.close(fd)

    def _open_append(self, path: str, full: str) -> tuple[int, int]:
        """A descriptor appending to ``full`` (created if missing) and the size it has now."""
        self._make_parent(full, path)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
        return fd, os.fstat(fd).st_size

    def _open_confined(self, path: str, full: str, flags: int) -> int:
        """``full`` opened with ``flags`` if it lies under the root, checked on the opened file
        (one ``readlink``, where resolving the path first costs a call per missing level)."""
        fd = os.open(full, flags | os.O_CLOEXEC)
        if not self._inside(_opened_path(fd, full)):
            os.close(fd)
            raise InvalidPath(path, driver=_NAME, reason="resolves outside the root")
        return fd

    def _inside(self, real: str) -> bool:
        """Whether the real path ``real`` is the root or lies under it."""
        return real == self._root or real.startswith(self._prefix)

    @asynccontextmanager
    async def lock(self, path: str) -> AsyncIterator[None]:
        """``Locker``: an advisory ``flock`` on the file, which every process on this host respects.

        A waiter polls a non-blocking ``flock`` instead of parking a worker thread.
        """
        full = self._full(path)
        with _reading(path):
            fd = await self._threads.run(self._open_confined, path, full, _LOCK_OPEN)
        try:
            while not _try_lock(fd):
                await anyio.sleep(_LOCK_POLL)
            yield
        finally:
            os.close(fd)  # releases the lock

    async def walk_files(self, path: str, *, prune: Callable[[str], bool] | None = None) -> list[str]:
        """Every file below ``path`` (``FileWalker``): one scandir walk in one worker thread."""
        full = self._full(path)
        try:
            with _reading(path):
                return await self._run(path, full, _walk_files, path, prune)
        except PathNotFound:
            return []

    async def delete_all(self, paths: Sequence[str]) -> int:
        """Delete each path and everything under it (``BulkDeleter``).

        Spread over a few worker threads: removing files mostly waits on the disk.
        """
        targets = sorted((self._full(path), path) for path in paths)  # neighbours share a parent
        size = max(-(-len(targets) // _DELETE_THREADS), 1)
        shares = [targets[start : start + size] for start in range(0, len(targets), size)]
        freed = await asyncio.gather(*(self._threads.run(self._delete_many, share) for share in shares))
        return sum(freed)

    def _delete_many(self, targets: list[tuple[str, str]]) -> int:
        """Delete relative to each parent directory, opened and checked to lie under the root once."""
        freed = 0
        parents: dict[str, int] = {}
        remover = _Remover()
        try:
            for full, path in targets:
                parent, name = os.path.split(full)
                try:
                    with _reading(path):
                        if parent not in parents:
                            parents[parent] = self._open_confined(path, parent, os.O_RDONLY | os.O_DIRECTORY)
                        freed += remover.remove(name, parents[parent])
                except PathNotFound:
                    continue
        finally:
            for fd in parents.values():
                os.close(fd)
        return freed

    async def stat(self, path: str) -> FileInfo:
        full = self._full(path)
        with _reading(path):
            return _file_info(path, await self._threads.run(self._stat_confined, path, full))

    async def stat_all(self, paths: Sequence[str]) -> list[FileInfo | None]:
        """Many ``stat`` in one worker thread (``BulkStatter``); None for a missing path."""
        targets = [(path, self._full(path)) for path in paths]
        return await self._threads.run(self._stat_many, targets)

    def _stat_many(self, targets: list[tuple[str, str]]) -> list[FileInfo | None]:
        found: list[FileInfo | None] = []
        for path, full in targets:
            try:
                with _reading(path):
                    found.append(_file_info(path, self._stat_confined(path, full)))
            except PathNotFound:
                found.append(None)
        return found

    def _stat_confined(self, path: str, full: str) -> os.stat_result:
        """``stat`` of ``full`` if it lies under the root.

        One ``open`` for a missing path (a push asks after blobs that are not there yet)
        instead of resolving it first; so a dangling symbolic link out of the root is
        simply missing.
        """
        fd = self._open_confined(path, full, _O_PATH)
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)

    async def list(self, path: str) -> list[str]:
        full = self._full(path)
        with _reading(path):
            names = await self._run(path, full, _list_names)
        return [f"{path}/{name}" for name in names]

    async def move(self, source: str, dest: str, *, replace: bool = True) -> None:
        full_source, full_dest = self._full(source), self._full(dest)
        await self._threads.run(self._move, source, full_source, dest, full_dest, replace)

    def _move(self, source: str, full_source: str, dest: str, full_dest: str, replace: bool) -> None:
        """The checks and the move in one worker call: every upload ends with a move.

        A blob the store holds already is not replaced (``replace=False``): renaming over
        a file makes ext4 write the new one back at once, and the bytes are the same.
        """
        with _reading(source):
            self._stat_confined(source, full_source)
        with _writing(dest):
            there = self._make_parent(full_dest, dest)
            if not replace and there is not None and stat.S_ISREG(there.st_mode):
                return
            os.replace(full_source, full_dest)

    async def delete(self, path: str) -> None:
        full = self._full(path)
        with _reading(path):
            await self._run(path, full, _delete_tree)

    def _full(self, path: str) -> str:
        """The filesystem path for a valid driver path; no disk access."""
        check_path(path, driver=_NAME)
        if f"/{TEMP_PREFIX}" in path:
            raise InvalidPath(path, driver=_NAME, reason=f"{TEMP_PREFIX!r} names are reserved")
        return os.path.join(self._root, path[1:])

    def _confine(self, full: str, path: str) -> str:
        """``full`` with symlinks resolved, if that is still under the root."""
        real = _resolve(full)
        if not self._inside(real):
            raise InvalidPath(path, driver=_NAME, reason="resolves outside the root")
        return real

    async def _run(self, path: str, full: str, func: Callable[[str, *_Ts], _T], *args: *_Ts) -> _T:
        """Confine ``full`` and call ``func(full, *args)``, both in a worker thread."""

        def confined() -> _T:
            self._confine(full, path)
            return func(full, *args)

        return await self._threads.run(confined)

    async def _stream(
        self, path: str, full: str, offset: int, length: int | None
    ) -> AsyncGenerator[bytes, None]:
        """The file's bytes, each chunk read in a worker thread while the one before is sent.

        Reading ahead keeps the disk (or page cache) and the socket busy at once:
        a whole-blob GET otherwise waits for every read, then for every send.
        """
        with _reading(path):
            file = await self._run(path, full, _open_at, offset, path)
        end = os.fstat(file.fileno()).st_size if length is None else offset + max(length, 0)
        ahead: asyncio.Task[bytes] | None = None
        try:
            yield b""  # primed by ``reader``: the file is open from here on
            ahead = self._read_ahead(file, offset, end) if offset < end else None
            while ahead is not None and (chunk := await ahead):
                offset += len(chunk)
                # No read past the end: the last chunk goes out without a thread hop behind it.
                ahead = self._read_ahead(file, offset, end) if offset < end else None
                yield chunk
        finally:
            # The read in flight must finish before its descriptor is closed (and reused).
            if ahead is not None and not ahead.done():
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
            file.close()  # a read-only close doesn't block, and must not wait on a cancelled scope

    def _read_ahead(self, file: io.FileIO, offset: int, end: int) -> asyncio.Task[bytes]:
        size = min(CHUNK_SIZE, end - offset)
        return asyncio.ensure_future(self._threads.run(os.pread, file.fileno(), size, offset))


class _LocalWriter:
    """A ``FileWriter`` over an open descriptor: a temporary file, or the target itself when appending."""

    def __init__(
        self,
        threads: Threads,
        tails: Tails,
        path: str,
        full: str,
        fd: int,
        *,
        temp: str | None,
        size: int,
    ) -> None:
        self._threads = threads
        self._path = path
        self._full = full
        self._fd = fd
        self._temp = temp
        self._start = self._size = size
        self._writeback = Writeback(fd, start=size, tails=tails)
        self._done = False
        # An abandoned writer still closes its descriptor and drops its temporary file.
        self._finalizer = weakref.finalize(self, _abandon, fd, temp)

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes, *, observe: Callable[[bytes], None] | None = None) -> None:
        self._check_open()
        with _writing(self._path):
            await self._run(self._write, data, observe)

    async def commit(self, data: bytes = b"", *, observe: Callable[[bytes], None] | None = None) -> None:
        self._check_open()
        with _writing(self._path):
            await self._run(self._commit, data, observe)

    async def cancel(self) -> None:
        if not self._done:
            await self._run(self._discard)

    async def _run(self, func: Callable[[*_Ts], None], *args: *_Ts) -> None:
        await self._threads.run(func, *args)

    def _check_open(self) -> None:
        if self._done:
            raise StorageError(self._path, driver=_NAME, reason="writer is closed")

    # The methods below run in a worker thread, each to completion even if the caller is cancelled.

    def _write(self, data: bytes, observe: Callable[[bytes], None] | None) -> None:
        if observe is not None:
            observe(data)  # before the write: an observer that fails leaves the file as it was
        try:
            _write_all(self._fd, data)
            self._size += len(data)
            self._writeback.wrote(self._size)
        except BaseException:
            self._discard()
            raise

    def _commit(self, data: bytes, observe: Callable[[bytes], None] | None) -> None:
        if data:
            self._write(data, observe)  # discards everything if it fails
        try:
            self._writeback.finish(self._size)
            if self._temp is not None:
                os.replace(self._temp, self._full)
        except BaseException:
            self._discard()
            raise
        self._release(drop_temp=False)

    def _discard(self) -> None:
        try:
            if self._temp is None:
                os.ftruncate(self._fd, self._start)
        finally:
            self._release(drop_temp=True)

    def _release(self, *, drop_temp: bool) -> None:
        self._done = True
        self._finalizer.detach()
        if drop_temp or not self._writeback.leave():
            os.close(self._fd)
        if drop_temp and self._temp is not None:
            _remove(self._temp)


# Blocking helpers, each called in a worker thread with a confined filesystem path.


def _file_info(path: str, st: os.stat_result) -> FileInfo:
    is_dir = stat.S_ISDIR(st.st_mode)
    return FileInfo(path=path, size=0 if is_dir else st.st_size, mtime=st.st_mtime, is_dir=is_dir)


def _read_file(full: str) -> bytes:
    with open(full, "rb") as file:
        return file.read()


def _read_to_end(fd: int) -> bytes:
    """The rest of file ``fd``, read with plain ``os`` calls: a file object costs more than reading
    the small files the collector reads by the thousand."""
    parts = [os.read(fd, os.fstat(fd).st_size + 1)]
    while parts[-1]:
        parts.append(os.read(fd, CHUNK_SIZE))
    return b"".join(parts)


def _put_file(full: str, data: bytes) -> None:
    temp, fd = _open_temp(full)
    try:
        _write_all(fd, data)
        os.replace(temp, full)
    except BaseException:
        _remove(temp)
        raise
    finally:
        os.close(fd)


def _open_temp(full: str) -> tuple[str, int]:
    parent = os.path.dirname(full)
    temp = os.path.join(parent, _temp_name())
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        return temp, os.open(temp, flags, 0o666)
    except FileNotFoundError:
        # Parents made only when missing: ``makedirs`` costs three system calls even when
        # the directory is there, and most writes go to one that is.
        os.makedirs(parent, exist_ok=True)
        return temp, os.open(temp, flags, 0o666)


def _temp_name() -> str:
    """A name no other temporary file has: this process's random token and a count.

    A ``uuid4`` per file cost a ``getrandom`` system call per write. A forked child
    draws a token of its own.
    """
    return f"{TEMP_PREFIX}{_temp_names.token}-{next(_temp_names.count):x}"


class _TempNames:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.token = secrets.token_hex(8)
        self.count = itertools.count()


_temp_names = _TempNames()
os.register_at_fork(after_in_child=_temp_names.reset)


def _open_at(full: str, offset: int, path: str) -> io.FileIO:
    file = io.FileIO(full, "rb")  # closed by the reader's stream
    try:
        size = os.fstat(file.fileno()).st_size
        if offset > size:
            raise InvalidOffset(path, driver=_NAME, reason=f"offset {offset} is past the end ({size})")
        file.seek(offset)
    except BaseException:
        file.close()
        raise
    return file


def _try_lock(fd: int) -> bool:
    """Take the exclusive ``flock`` on ``fd`` if it is free (a non-blocking call, fine on the loop)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _list_names(full: str) -> list[str]:
    with os.scandir(full) as entries:
        return sorted(entry.name for entry in entries if _listable(entry.name))


class _Remover:
    """Removes files and directory trees relative to open directories: one worker thread's share of a
    ``delete_all``.

    Most directories a bulk delete removes hold one file named like the one the
    directory before held (a blob's ``data``, a link's ``link``), so that name is
    tried first: an open, a stat, an unlink, a close and a ``rmdir``, no listing.
    Every system call gives up the interpreter lock and waits to take it back
    from the other workers; with half as many calls per directory, a collection's
    deletes took a third less time (issue 5's benchmark).
    """

    def __init__(self) -> None:
        #: the name of the one file the last directory listed held
        self._usual: str | None = None

    def remove(self, name: str, dir_fd: int, *, guess: bool = True) -> int:
        """Remove ``name`` of ``dir_fd``, a file or a directory with all it holds; the bytes of the files.

        Symbolic links are removed, never followed.
        """
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            size = os.lstat(name, dir_fd=dir_fd).st_size  # a file, or a symbolic link (never followed)
            os.unlink(name, dir_fd=dir_fd)
            return size
        usual = None
        try:
            usual = self._remove_usual(fd) if guess else None
            freed = usual if usual is not None else self._remove_children(fd)
        finally:
            os.close(fd)
        try:
            os.rmdir(name, dir_fd=dir_fd)
        except OSError as exc:
            if usual is None or exc.errno != errno.ENOTEMPTY:
                raise
            return freed + self.remove(name, dir_fd, guess=False)  # it held more than the usual file
        return freed

    def _remove_usual(self, fd: int) -> int | None:
        """Unlink the usual file of directory ``fd`` and return its bytes; None if it holds no such file."""
        if self._usual is None:
            return None
        try:
            st = os.stat(self._usual, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(st.st_mode):
            return None
        os.unlink(self._usual, dir_fd=fd)
        return st.st_size

    def _remove_children(self, fd: int) -> int:
        """Remove everything directory ``fd`` holds; the bytes of the files."""
        freed = 0
        names: list[str] = []
        with os.scandir(fd) as entries:
            for entry in entries:
                names.append(entry.name)
                if entry.is_dir(follow_symlinks=False):
                    freed += self.remove(entry.name, fd)
                else:
                    freed += entry.stat(follow_symlinks=False).st_size
                    os.unlink(entry.name, dir_fd=fd)
        if len(names) == 1:
            self._usual = names[0]
        return freed


def _resolve(full: str) -> str:
    """What ``os.path.realpath(full)`` says, mostly resolved by the kernel in one ``open``.

    ``realpath`` ``lstat``s every component from ``/`` in Python, about twenty
    system calls for a link file's path: on a busy store that was most of a tag
    push's time in worker threads. Here the deepest existing ancestor is opened
    (``O_PATH``: no read access needed, symbolic links followed as ``realpath``
    follows them) and named by ``/proc``; the missing components below it are
    appended as they are, as ``realpath`` does. A missing component that is still
    a name (a dangling symbolic link, whose target would decide where a write goes)
    and systems without ``O_PATH`` or ``/proc`` get ``realpath`` itself.
    """
    o_path = getattr(os, "O_PATH", None)
    if o_path is None:
        return os.path.realpath(full)
    probe, missing = full, []
    while True:
        try:
            fd = os.open(probe, o_path | os.O_CLOEXEC)
            break
        except FileNotFoundError:
            parent, name = os.path.split(probe)
            if parent == probe:
                return os.path.realpath(full)
            missing.append(name)
            probe = parent
        except OSError:  # ENOTDIR, ELOOP, EACCES...: realpath says what it says about those
            return os.path.realpath(full)
    try:
        # The first missing name, right below what exists: if it is there after all, it is a
        # dangling symbolic link, whose target decides; if not, nothing below it can be there.
        if missing and _lstat(missing[-1], fd) is not None:
            return os.path.realpath(full)
        real = _opened_path(fd, probe)
    except OSError:
        return os.path.realpath(full)
    finally:
        os.close(fd)
    return os.path.join(real, *reversed(missing)) if missing else real


def _lstat(name: str, directory_fd: int) -> os.stat_result | None:
    """``name`` in the directory, a symbolic link itself rather than what it names; None if missing."""
    try:
        return os.stat(name, dir_fd=directory_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _opened_path(fd: int, full: str) -> str:
    """The real path of an open file: from ``/proc`` where there is one, else ``realpath``."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(full)


def _walk_files(full: str, path: str, prune: Callable[[str], bool] | None) -> list[str]:
    """The driver paths of the regular files below ``full`` (driver path ``path``), sorted.

    Symbolic links are not followed, and names ``list`` hides are skipped. A
    directory for which ``prune`` is true is listed as ``<its path>/`` and not
    entered. A directory removed while we walk is simply empty; ``full`` itself
    must exist.
    """
    found: list[str] = []
    pending = [(path, full)]
    while pending:
        driver_path, directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if not _listable(entry.name):
                        continue
                    name = f"{driver_path}/{entry.name}"
                    if not entry.is_dir(follow_symlinks=False):
                        if entry.is_file(follow_symlinks=False):
                            found.append(name)
                    elif prune is not None and prune(name):
                        found.append(f"{name}/")
                    else:
                        pending.append((name, entry.path))
        except (FileNotFoundError, NotADirectoryError):
            if directory == full:
                raise
    found.sort()
    return found


def _listable(name: str) -> bool:
    """Hide temporary files and names no driver path could hold (``lost+found``)."""
    return not name.startswith(TEMP_PREFIX) and _COMPONENT.fullmatch(name) is not None and name not in _DOTS


#: one component of a driver path (``check_path``'s grammar), checked on its own because walks meet many
_COMPONENT = re.compile(r"[A-Za-z0-9._-]+")
_DOTS = frozenset({".", ".."})


def _delete_tree(full: str) -> None:
    if stat.S_ISDIR(os.lstat(full).st_mode):
        shutil.rmtree(full)
    else:
        os.unlink(full)


def _remove(temp: str) -> None:
    try:
        os.unlink(temp)
    except FileNotFoundError:
        pass


def _abandon(fd: int, temp: str | None) -> None:
    os.close(fd)
    if temp is not None:
        _remove(temp)


# Error translation, once for the whole driver.

_CONFLICT = {errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENOTEMPTY}
_FULL = {errno.ENOSPC, errno.EDQUOT}


@contextmanager
def _reading(path: str) -> Iterator[None]:
    """A missing path, or one that goes through a file or ends at a directory, is ``PathNotFound``."""
    try:
        yield
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        raise PathNotFound(path, driver=_NAME) from exc


@contextmanager
def _writing(path: str) -> Iterator[None]:
    """Writing where a directory is, or below a file, is a ``StorageError``; other ``OSError``s pass."""
    try:
        yield
    except FileNotFoundError as exc:
        raise PathNotFound(path, driver=_NAME) from exc
    except OSError as exc:
        if exc.errno in _FULL:
            raise StorageFull(path, driver=_NAME, reason=os.strerror(exc.errno)) from exc
        if exc.errno not in _CONFLICT:
            raise
        raise StorageError(path, driver=_NAME, reason="a file or directory is in the way") from exc
