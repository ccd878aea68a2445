"""Concurrent misses of one cached fact read storage once; a write makes later readers read afresh."""

from __future__ import annotations

import asyncio

import pytest

from wharf.registry.flights import Flights
from wharf.registry.generation import LocalGeneration
from wharf.registry.metadata import MetadataCache


class SlowLoad:
    """A load that counts its calls and returns ``value`` once ``release`` is set."""

    def __init__(self, value: object = "digest") -> None:
        self.value = value
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self) -> object:
        self.calls += 1
        await self.release.wait()
        return self.value


async def test_concurrent_misses_share_one_load() -> None:
    cache = MetadataCache(LocalGeneration())
    load = SlowLoad()
    waiting = [asyncio.create_task(cache.get("tag", load)) for _ in range(32)]
    await asyncio.sleep(0)
    load.release.set()
    assert await asyncio.gather(*waiting) == ["digest"] * 32
    assert load.calls == 1
    assert await cache.get("tag", load) == "digest" and load.calls == 1  # and it was cached


async def test_a_caller_that_goes_away_leaves_the_load_to_the_others() -> None:
    cache = MetadataCache(LocalGeneration())
    load = SlowLoad()
    first = asyncio.create_task(cache.get("tag", load))
    second = asyncio.create_task(cache.get("tag", load))
    await asyncio.sleep(0)
    first.cancel()
    load.release.set()
    assert await second == "digest"
    assert first.cancelled() and load.calls == 1


async def test_a_failed_load_fails_its_waiters_and_the_next_call_loads_again() -> None:
    flights: Flights[str] = Flights()
    release = asyncio.Event()
    calls = 0

    async def failing() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        raise LookupError("storage said no")

    waiting = [asyncio.create_task(flights.run("key", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(result, LookupError) for result in results) and calls == 1
    with pytest.raises(LookupError):
        await flights.run("key", failing)
    assert calls == 2


async def test_a_reader_after_a_write_does_not_join_a_load_from_before_it() -> None:
    generation = LocalGeneration()
    cache = MetadataCache(generation)
    before, after = SlowLoad("old"), SlowLoad("new")
    stale = asyncio.create_task(cache.get("tag", before))
    await asyncio.sleep(0)
    cache.changed()  # a push of the tag completed while the first read was running
    fresh = asyncio.create_task(cache.get("tag", after))
    await asyncio.sleep(0)
    before.release.set()
    after.release.set()
    assert await stale == "old"
    assert await fresh == "new" and after.calls == 1
    assert await cache.get("tag", before) == "new"  # what was read before the write was not kept
