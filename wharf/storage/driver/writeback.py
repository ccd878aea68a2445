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

The trade: an upload now goes no faster than the disk takes its bytes, even while
the page cache could still have absorbed them. About 32 MiB per file stay in
the cache: the window being written and those being written back.

Nothing here makes data durable (``sync_file_range`` does not flush the disk's
cache or the file's metadata); see the filesystem driver for what is synced.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
from collections.abc import Callable
from typing import Final

__all__ = ["BEHIND", "WINDOW", "Writeback"]

#: bytes handed to writeback at a time: big enough that the disk sees long writes
WINDOW: Final = 8 << 20
#: bytes behind the newest window that are being written back, not yet waited for and dropped.
#: Waiting for the window just before the newest made a 1 GiB push spend a second of its three
#: waiting (the disk had not finished it); three windows back, 0.15 s, and pushes ran 1.3-1.5x faster.
BEHIND: Final = 3 * WINDOW
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

    __slots__ = ("_dropped", "_fd", "_handed")

    def __init__(self, fd: int, *, start: int) -> None:
        self._fd = fd
        self._handed = start
        # Bytes below ``start`` were written by an earlier writer (an upload's previous PATCH),
        # which left its last windows in the cache: this one drops them with its own.
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

    def _enabled(self) -> bool:
        return self._fd >= 0 and _sync_file_range() is not None

    def _sync(self, start: int, end: int, flags: int) -> None:
        sync = _sync_file_range()
        assert sync is not None
        if sync(self._fd, start, end - start, flags) != 0:
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
