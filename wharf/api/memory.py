"""The serving process's two memory allocators: glibc's malloc (Python's) and jemalloc (granian's).

After a 1 GiB push and pull, both kept memory the transfer had freed (issue 5's
benchmark: small requests then peaked about 15 MiB above a fresh server):

- glibc gives each thread that allocates an arena of its own, up to 8 per core.
  The threads that allocate 1 MiB blocks (granian's, building an upload's bytes;
  the worker threads reading files) each kept their freed blocks in their own
  arena. Python allocates under the GIL, so these arenas bought no concurrency:
  with one (``M_ARENA_MAX``) freed blocks merge and the top is given back. It
  must be set before another thread allocates, so before granian loads (the
  background thread jemalloc then starts allocates from glibc too).
- jemalloc gives freed pages back over 10 s, and only while it allocates, so a
  server that goes quiet after a transfer keeps them. ``background_thread`` gives
  them back on a timer, ``dirty_decay_ms`` within 0.2 s. (Within a second, the
  small requests that followed a 1 GiB pull in issue 5's benchmark started with
  about 13 MiB of granian's freed buffers still mapped; at 0.2 s they did not, 16
  concurrent pushes peaked at 116-126 MiB instead of 131-137, and pulls and pushes
  ran as fast.) jemalloc reads
  ``_RJEM_MALLOC_CONF`` (tikv-jemallocator's prefix) once, when granian's library
  loads, and stops its background thread in a forked child: ``--workers N``
  workers get the shorter decay alone.

What one arena still keeps is the free space between live blocks: a 1 GiB transfer
leaves 1 MiB holes in the heap that glibc gives back only from its top. ``trim``
(``malloc_trim``) gives every free page back; the app calls it after each big
transfer (a 1 GiB push and pull: heap 8-10 MiB after, 6.9 MiB with it, 6.4 fresh).

Mapping each 1 MiB block on its own (a fixed ``M_MMAP_THRESHOLD``) gave the memory
back as well but cost 40-60% of the pull rate in page faults, and so did
``dirty_decay_ms:0``. An operator's own ``MALLOC_ARENA_MAX`` (or ``GLIBC_TUNABLES``)
and ``_RJEM_MALLOC_CONF`` win.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Final, cast

__all__ = [
    "JEMALLOC_CONF",
    "JEMALLOC_ENV",
    "configure",
    "configure_jemalloc",
    "find_mallopt",
    "limit_arenas",
    "trim",
]

_log = logging.getLogger(__name__)

#: the environment variable granian's jemalloc reads its options from (``strings`` on the library shows it)
JEMALLOC_ENV: Final = "_RJEM_MALLOC_CONF"
JEMALLOC_CONF: Final = "background_thread:true,dirty_decay_ms:200"
#: the module whose loading starts granian's jemalloc
_GRANIAN_LIBRARY: Final = "granian._granian"
#: ``mallopt`` parameter from glibc's <malloc.h>
M_ARENA_MAX: Final = -8
_ARENAS: Final = 1

Mallopt = Callable[[int, int], int]


def configure(environ: MutableMapping[str, str]) -> None:
    """Set both allocators up for serving; wherever a serving process starts, and before granian loads.

    Safe to call again: what can no longer take effect is skipped.
    """
    configure_jemalloc(environ)
    limit_arenas(environ, find_mallopt())


def configure_jemalloc(environ: MutableMapping[str, str]) -> bool:
    """Name granian's jemalloc options in ``environ``; False if granian is loaded or the operator chose."""
    if _GRANIAN_LIBRARY in sys.modules:
        _log.debug("memory: granian is loaded, jemalloc keeps the options it started with")
        return False
    if JEMALLOC_ENV in environ:
        _log.debug("memory: jemalloc options from the environment: %s", environ[JEMALLOC_ENV])
        return False
    environ[JEMALLOC_ENV] = JEMALLOC_CONF
    return True


def limit_arenas(environ: Mapping[str, str], mallopt: Mallopt | None) -> bool:
    """One glibc malloc arena for every thread; False where that is not glibc or the operator chose."""
    if mallopt is None:
        _log.debug("memory: not glibc, malloc left as it is")
        return False
    if "MALLOC_ARENA_MAX" in environ or "arena_max" in environ.get("GLIBC_TUNABLES", ""):
        _log.debug("memory: malloc arenas as the environment sets them")
        return False
    if mallopt(M_ARENA_MAX, _ARENAS) != 1:
        _log.debug("memory: mallopt(M_ARENA_MAX) refused")
        return False
    return True


def find_mallopt() -> Mallopt | None:
    """glibc's ``mallopt``, or None under another C library (musl, macOS)."""
    if _glibc_version() is None:
        return None
    function = ctypes.CDLL(None).mallopt
    function.argtypes = (ctypes.c_int, ctypes.c_int)
    function.restype = ctypes.c_int
    return cast(Mallopt, function)


def trim() -> None:
    """Give glibc's free heap pages back to the system; nothing under another C library.

    ``malloc_trim`` walks the free blocks of the heap (a few MiB here): well under
    a millisecond, and ctypes lets go of the GIL meanwhile.
    """
    malloc_trim = _malloc_trim()
    if malloc_trim is not None:
        malloc_trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if _glibc_version() is None:
        return None
    function = ctypes.CDLL(None).malloc_trim
    function.argtypes = (ctypes.c_size_t,)
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


def _glibc_version() -> str | None:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or None
    except (ValueError, OSError):  # the name is unknown outside glibc
        return None
