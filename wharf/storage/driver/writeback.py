"""Long writes that do not pile up in the page cache: written back as they go, then dropped.

A blob pushed in one piece was left to the kernel: every byte stayed in the page
cache, dirty until writeback, then clean until memory ran short. On issue 5's
benchmark machine (a VM; most likely pages the guest has not used lately are
slow to get from the host) a plain write loop ran at 0.25-0.65 GB/s instead of
3.4 GB/s after the first GiB or two, and every push after the first paid that.
Handing each finished window to writeback (``sync_file_range``) and dropping it
once written (``fadvise`` ``DONTNEED``) makes a write reuse the same few pages:
the same loop ran at a steady 1.3-1.5 GB/s, the speed of the disk. On any machine it keeps a big push
from flooding the cache with dirty pages (which stalls every writer once the
kernel's dirty limit is reached) and from evicting what pulls read.

When a write of a MiB or more ends, its last windows, still being written back,
join the tails of other finished writes (``Tails``), which are dropped once more
than ``BEHIND`` bytes of later tails follow them: a push of many 8 MiB layers
reuses its pages too.

The trade: an upload now goes no faster than the disk takes its bytes, even while
the page cache could still have absorbed them, and the first pull of a blob just
pushed reads most of it from disk. About 32 MiB per file being written stay in
the cache (the window being written and those being written back), and 24 MiB
or so of finished files.

Nothing here makes data durable (``sync_file_range`` does not flush the disk's
cache or the file's metadata); see the filesystem driver for what is synced.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import functools
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["BEHIND", "LONG", "WINDOW", "Tails", "Writeback"]

_log = logging.getLogger(__name__)

#: bytes handed to writeback at a time: big enough that the disk sees long writes
WINDOW: Final = 8 << 20
#: bytes behind the newest window that are being written back, not yet waited for and dropped.
#: Waiting for the window just before the newest made a 1 GiB push spend a second of its three
#: waiting (the disk had not finished it); three windows back, 0.15 s, and pushes ran 1.3-1.5x faster.
BEHIND: Final = 3 * WINDOW
#: a finished write at least this long leaves its tail to ``Tails``; shorter ones stay cached,
#: where the configs, manifests and small layers pulled right after their push are read from
LONG: Final = 1 << 20
# ``sync_file_range`` flags (<fcntl.h>)
_WAIT_BEFORE: Final = 1
_WRITE: Final = 2
_WAIT_AFTER: Final = 4
#: errors that say the file or system cannot do this, not that the write failed
_UNSUPPORTED: Final = frozenset({errno.ENOSYS, errno.EINVAL, errno.ESPIPE, errno.EOPNOTSUPP})

_SyncFileRange = Callable[[int, int, int, int], int]


class Writeback:
    """Follows one descriptor's sequential write from ``start``; ``wrote(end)`` after each write.

    Not thread-safe: one writer calls it, from whichever thread writes.
    """

    __slots__ = ("_dropped", "_fd", "_finished", "_handed", "_start", "_tails")

    def __init__(self, fd: int, *, start: int, tails: Tails | None = None) -> None:
        self._fd = fd
        self._start = self._handed = start
        self._tails = tails
        self._finished = False
        # Bytes below ``start`` were written by an earlier writer (an upload's previous PATCH),
        # which left its last windows in the cache, or to ``Tails`` if it was a long one: this
        # one drops them with its own either way (dropping twice costs nothing).
        self._dropped = max(0, start - BEHIND - 2 * WINDOW)

    def wrote(self, end: int) -> None:
        """The file now holds bytes up to ``end``: hand the new window to writeback, drop old ones.

        Raises ``OSError`` if writeback failed (the disk could not take the data).
        """
        if end - self._handed < WINDOW or not self._enabled():
            return
        try:
            self._sync(self._handed, end, _WRITE)
            self._handed = end
            # Waiting only for a window handed over a while ago: by now it is (nearly) written.
            settled = end - BEHIND
            if settled > self._dropped:
                self._sync(self._dropped, settled, _WAIT_BEFORE | _WRITE | _WAIT_AFTER)
                os.posix_fadvise(self._fd, self._dropped, settled - self._dropped, os.POSIX_FADV_DONTNEED)
                self._dropped = settled
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
            self._fd = -1  # this file cannot: stop trying, the write itself went through

    def finish(self, end: int) -> None:
        """The write ends at ``end``: a long one hands its last windows to writeback now.

        Raises ``OSError`` as ``wrote`` does; ``leave`` then passes them to ``tails``.
        """
        if self._tails is None or end - self._start < LONG or not self._enabled():
            return
        try:
            if end > self._handed:
                self._sync(self._handed, end, _WRITE)
            self._handed = end
            self._finished = True
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
            self._fd = -1

    def leave(self) -> bool:
        """After ``finish``: give the descriptor and the windows not yet dropped to ``tails``.

        True if they took the descriptor (they close it); False leaves it to the caller.
        """
        if not self._finished or self._tails is None:
            return False
        self._tails.keep(self._fd, start=self._dropped, end=self._handed)
        return True

    def _enabled(self) -> bool:
        return self._fd >= 0 and _sync_file_range() is not None

    def _sync(self, start: int, end: int, flags: int) -> None:
        _sync(self._fd, start, end, flags)


@dataclass(frozen=True, slots=True)
class _Tail:
    fd: int
    start: int
    end: int


class Tails:
    """The last windows of finished long writes, dropped once ``budget`` more bytes have followed them.

    ``Writeback`` drops a write's windows while the write goes on; the last ones
    (up to ``BEHIND`` plus a window, all of an 8 MiB layer) are still being
    written back when it ends. Left in the cache, they took fresh pages for every
    push: on issue 5's machine, 16 concurrent pushes of 4 x 8 MiB layers ran at
    about 450 MB/s for three rounds, then at 280-300 MB/s with twice the CPU;
    with tails dropped, at 430-490 MB/s round after round.

    A tail is handed to writeback when its write ends, and waited for and dropped
    once the tails after it hold more than ``budget`` bytes. Its descriptor stays
    open until then, so a blob deleted meanwhile frees its space at that point.
    Thread-safe: writers finish in any worker thread.
    """

    def __init__(self, *, budget: int = BEHIND) -> None:
        self._budget = budget
        self._lock = threading.Lock()
        self._queue: collections.deque[_Tail] = collections.deque()
        self._held = 0
        weakref.finalize(self, _close_all, self._queue)

    def keep(self, fd: int, *, start: int, end: int) -> None:
        """Take ``fd``, whose bytes ``[start, end)`` are being written back; settle the oldest tails."""
        settled = []
        with self._lock:
            self._queue.append(_Tail(fd, start, end))
            self._held += end - start
            while self._held > self._budget and len(self._queue) > 1:
                tail = self._queue.popleft()
                self._held -= tail.end - tail.start
                settled.append(tail)
        for tail in settled:  # outside the lock: other writers finish meanwhile
            _settle(tail)


def _settle(tail: _Tail) -> None:
    """Wait for a tail's writeback, drop it, close it.

    Failures are only logged: they belong to a write that finished (and was published)
    before, and must not fail the commit of the write whose ``keep`` settled it.
    """
    try:
        if tail.end > tail.start:
            _sync(tail.fd, tail.start, tail.end, _WAIT_BEFORE | _WRITE | _WAIT_AFTER)
            os.posix_fadvise(tail.fd, tail.start, tail.end - tail.start, os.POSIX_FADV_DONTNEED)
    except OSError as exc:
        _log.warning("writeback of a finished write failed: %s", exc)
    try:
        os.close(tail.fd)
    except OSError as exc:
        _log.warning("closing a finished write failed: %s", exc)


def _close_all(queue: collections.deque[_Tail]) -> None:
    while queue:
        os.close(queue.popleft().fd)


def _sync(fd: int, start: int, end: int, flags: int) -> None:
    sync = _sync_file_range()
    assert sync is not None
    if sync(fd, start, end - start, flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@functools.cache
def _sync_file_range() -> _SyncFileRange | None:
    """libc's ``sync_file_range`` (Linux), or ``None`` where there is none."""
    if not hasattr(os, "posix_fadvise"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function
