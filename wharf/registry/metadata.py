"""A per-process cache of small repository facts, valid for one metadata generation.

Facts are "tag T of repository R names digest D", "R holds manifest D", "R
holds blob D" (see ``wharf.registry.generation`` for why this is safe across
processes). The whole cache is dropped when the generation moves: writes are
rare next to reads, and per-entry invalidation across processes would need
far more machinery for little gain. Concurrent misses of one key share one read
(``Flights``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from wharf.registry.flights import Flights
from wharf.registry.generation import Generation

__all__ = ["MetadataCache"]

_T = TypeVar("_T")


class MetadataCache:
    def __init__(self, generation: Generation, *, max_entries: int = 100_000) -> None:
        self.generation = generation
        self._entries: dict[Hashable, object] = {}
        self._valid_for = generation.current()
        self._max = max_entries
        self._flights: Flights[object] = Flights()

    async def get(self, key: Hashable, load: Callable[[], Awaitable[_T]]) -> _T:
        """The cached value of ``key``, or ``load()``'s, cached if no write happened meanwhile."""
        stamp = self.generation.current()
        if stamp != self._valid_for:
            self._entries.clear()
            self._flights.forget()
            self._valid_for = stamp
        elif key in self._entries:
            return self._entries[key]  # type: ignore[return-value]
        return await self._flights.run(key, lambda: self._load(key, load, stamp))  # type: ignore[return-value]

    async def _load(self, key: Hashable, load: Callable[[], Awaitable[_T]], stamp: int) -> _T:
        value = await load()
        # Keep it only if the generation did not move while we read storage: a
        # value read across a write may already be stale.
        if self.generation.current() == stamp == self._valid_for:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = value
        return value

    def changed(self) -> None:
        """A write just completed: tell every process (this one included) to drop its facts."""
        self.generation.bump()
