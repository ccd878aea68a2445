"""``Threads``: where a driver's blocking calls run, off the event loop.

A thread pool and asyncio's own bridge to it. anyio's ``to_thread.run_sync``,
used before, does the same with more bookkeeping per call (a capacity limiter,
a cancel scope, its own pool's idle-thread pruning): measured on issue 5's
machine, about 150 µs of CPU per call from 16 concurrent tasks against 90 µs
here, and a small upload makes about ten such calls.

A call that has started is always waited for: cancelling the caller takes effect
once the call returns (anyio's rule too). A caller that went on while its write
still ran would clean up under it, or close a descriptor a read still uses. A
call cancelled before a thread took it never runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, TypeVarTuple

__all__ = ["Threads"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


class Threads:
    """At most ``max_threads`` calls at once; threads start as calls need them, and end
    with the pool when its driver is garbage-collected."""

    def __init__(self, max_threads: int, *, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix=name)

    async def run(self, func: Callable[[*_Ts], _T], *args: *_Ts) -> _T:
        """``func(*args)`` in a worker thread; its result, or what it raised."""
        call = self._pool.submit(func, *args)
        result = asyncio.wrap_future(call)
        try:
            return await asyncio.shield(result)
        except asyncio.CancelledError:
            if call.cancel():  # still queued: it will not run
                raise
            await _outlast(result)
            raise


async def _outlast(result: asyncio.Future[Any]) -> None:
    """Wait until ``result`` is done, whatever else is cancelled meanwhile."""
    while not result.done():
        try:
            await asyncio.shield(result)
        except asyncio.CancelledError:
            continue
        except Exception:  # noqa: BLE001 - the caller was cancelled: that is what it raises
            return
    if not result.cancelled():
        result.exception()  # retrieved, so asyncio does not log it as never retrieved
