"""A bounded in-process blob descriptor cache (distribution's ``inmemory`` blobdescriptor).

Least recently used entries go first once ``max_entries`` are held. Each
method runs without awaiting, so tasks on one event loop never see it half
changed.
"""

from __future__ import annotations

from collections import OrderedDict

from wharf.digest import Digest
from wharf.storage.cache.base import BlobDescriptor

__all__ = ["MemoryCache"]


class MemoryCache:
    """An LRU ``BlobDescriptorCache`` of at most ``max_entries`` descriptors."""

    def __init__(self, *, max_entries: int = 10000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, not {max_entries}")
        self._max_entries = max_entries
        self._entries: OrderedDict[Digest, BlobDescriptor] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, digest: Digest) -> BlobDescriptor | None:
        descriptor = self._entries.get(digest)
        if descriptor is not None:
            self._entries.move_to_end(digest)
        return descriptor

    async def set(self, descriptor: BlobDescriptor) -> None:
        self._entries[descriptor.digest] = descriptor
        self._entries.move_to_end(descriptor.digest)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def clear(self, digest: Digest) -> None:
        self._entries.pop(digest, None)
