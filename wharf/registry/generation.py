"""The metadata generation: one number that changes whenever repository metadata does.

Serving a manifest by tag or a blob HEAD reads two or three tiny link files; on
a busy registry each read costs far more in the thread hop that keeps it off
the event loop than in the read itself. So every process caches those facts
(``MetadataCache``) and checks them against a *generation*: every write that
changes a tag, a manifest revision or a blob link — in any worker process, or
in ``wharf garbage-collect`` running beside the server — stores a new random
generation after it has written, and a cached fact is used only while the
generation is the one that was read *before* the fact was read from storage.
So a reader never serves a fact older than the last write it could have seen.

On the filesystem the generation lives in a small file that every process maps
into memory (``SharedGeneration``): reading it is a memory load, changing it a
memory store, neither a system call. This holds for processes on one host,
which is what the filesystem driver serves; stores shared between hosts need
a shared generation (Redis) before they can cache. The in-memory driver lives
in one process, so an in-process counter does (``LocalGeneration``).
"""

from __future__ import annotations

import mmap
import os
import struct
from typing import Protocol

__all__ = ["Generation", "LocalGeneration", "SharedGeneration"]

_FORMAT = struct.Struct("=Q")


class Generation(Protocol):
    def current(self) -> int:
        """The generation now; equal values mean no metadata write happened in between."""
        ...

    def bump(self) -> None:
        """Record that metadata changed (call after the write is complete)."""
        ...


class LocalGeneration:
    """A generation for one process."""

    def __init__(self) -> None:
        self._value = 0

    def current(self) -> int:
        return self._value

    def bump(self) -> None:
        self._value += 1


class SharedGeneration:
    """A generation shared by the processes of one host through a memory-mapped file.

    ``bump`` stores a fresh random 64-bit value rather than incrementing, so two
    processes bumping at once need no lock: whichever store lands last, the value
    differs from the one every reader stamped its cache with. An aligned 8-byte
    store is atomic on the platforms wharf runs on, so no reader sees half of one.
    """

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < _FORMAT.size:
                os.ftruncate(fd, _FORMAT.size)
            self._map = mmap.mmap(fd, _FORMAT.size)
        finally:
            os.close(fd)

    def current(self) -> int:
        value: int = _FORMAT.unpack_from(self._map, 0)[0]
        return value

    def bump(self) -> None:
        _FORMAT.pack_into(self._map, 0, int.from_bytes(os.urandom(8), "little"))

    def close(self) -> None:
        self._map.close()
