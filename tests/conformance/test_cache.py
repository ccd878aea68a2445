"""The blob descriptor cache suite (distribution's ``cache/cachecheck``), over conftest's ``cache`` fixture.

The LRU tests at the end are the memory cache's own bound.
"""

from __future__ import annotations

import pytest

from wharf.digest import Digest
from wharf.storage.cache import BlobDescriptor, BlobDescriptorCache, MemoryCache, NullCache


def descriptor(n: int, *, size: int = 10, media_type: str = "application/octet-stream") -> BlobDescriptor:
    return BlobDescriptor(Digest.of(str(n).encode()), size, media_type)


async def test_get_missing_returns_none(cache: BlobDescriptorCache) -> None:
    assert await cache.get(descriptor(1).digest) is None


async def test_set_then_get(cache: BlobDescriptorCache) -> None:
    blob = descriptor(1, size=1234, media_type="application/vnd.oci.image.layer.v1.tar+gzip")
    await cache.set(blob)
    assert await cache.get(blob.digest) == blob
    assert await cache.get(descriptor(2).digest) is None


async def test_set_replaces(cache: BlobDescriptorCache) -> None:
    await cache.set(descriptor(1, size=1))
    await cache.set(descriptor(1, size=2))
    assert await cache.get(descriptor(1).digest) == descriptor(1, size=2)


async def test_clear(cache: BlobDescriptorCache) -> None:
    await cache.set(descriptor(1))
    await cache.set(descriptor(2))
    await cache.clear(descriptor(1).digest)
    await cache.clear(descriptor(3).digest)  # not cached: no error
    assert await cache.get(descriptor(1).digest) is None
    assert await cache.get(descriptor(2).digest) == descriptor(2)


@pytest.mark.parametrize(
    "fields", [{"size": -1}, {"media_type": ""}], ids=["negative-size", "empty-media-type"]
)
def test_descriptor_is_validated(fields: dict[str, int | str]) -> None:
    with pytest.raises(ValueError):
        BlobDescriptor(**{"digest": Digest.of(b"x"), "size": 1, **fields})  # type: ignore[arg-type]


async def test_null_cache_caches_nothing() -> None:
    cache = NullCache()
    await cache.set(descriptor(1))
    assert await cache.get(descriptor(1).digest) is None
    await cache.clear(descriptor(1).digest)


async def test_memory_cache_evicts_least_recently_used() -> None:
    cache = MemoryCache(max_entries=3)
    for n in range(3):
        await cache.set(descriptor(n))
    assert await cache.get(descriptor(0).digest) is not None  # 0 is now the most recently used
    await cache.set(descriptor(3))
    assert len(cache) == 3
    assert await cache.get(descriptor(1).digest) is None
    for n in [0, 2, 3]:
        assert await cache.get(descriptor(n).digest) == descriptor(n)


async def test_memory_cache_set_refreshes_recency() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set(descriptor(0))
    await cache.set(descriptor(1))
    await cache.set(descriptor(0, size=99))
    await cache.set(descriptor(2))
    assert await cache.get(descriptor(1).digest) is None
    assert await cache.get(descriptor(0).digest) == descriptor(0, size=99)


def test_memory_cache_needs_room_for_one() -> None:
    with pytest.raises(ValueError):
        MemoryCache(max_entries=0)
