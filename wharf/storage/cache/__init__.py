"""The blob descriptor cache: descriptors by digest, never content."""

from __future__ import annotations

from wharf.storage.cache.base import BlobDescriptor, BlobDescriptorCache, NullCache
from wharf.storage.cache.memory import MemoryCache

__all__ = ["BlobDescriptor", "BlobDescriptorCache", "MemoryCache", "NullCache"]
