"""Concurrent loads of one key share one load.

When a popular fact is not cached (a server that just started, or any write,
which drops the metadata cache), every request for it at that moment would read
storage on its own: each read a worker thread, so 32 clients pulling one tag
made 32 threads at once (issue 5's benchmark: about 2 MiB more peak memory,
and threads that live on idle). With ``Flights`` the first request reads and
the others wait for its result.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Flights"]

_T = TypeVar("_T")


class Flights(Generic[_T]):
    """Loads in flight, by key: ``run`` joins a running load of the key or starts one."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[_T]] = {}

    async def run(self, key: Hashable, load: Callable[[], Awaitable[_T]]) -> _T:
        """``load()``'s result, or that of the load of ``key`` already running; its error likewise.

        The load runs as a task of its own: a caller that goes away (a client that
        disconnects) leaves it to finish for the others.
        """
        running = self._running.get(key)
        if running is None:
            running = self._running[key] = asyncio.ensure_future(load())
            running.add_done_callback(functools.partial(self._landed, key))
        return await asyncio.shield(running)

    def forget(self) -> None:
        """Later calls start loads of their own: what is running may have read what a write replaced."""
        self._running.clear()

    def _landed(self, key: Hashable, running: asyncio.Future[_T]) -> None:
        if self._running.get(key) is running:
            del self._running[key]
        if not running.cancelled():
            running.exception()  # retrieved, also when every caller went away: no "never retrieved" log
