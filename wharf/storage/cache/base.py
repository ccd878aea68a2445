"""The blob descriptor cache: what distribution's ``BlobDescriptorCacheProvider`` keeps.

It remembers a blob's size and media type by digest so that ``HEAD`` and
``stat`` need not touch storage. It caches descriptors only, never content,
and it is only a cache: a miss means "ask storage", never "unknown blob".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wharf.digest import Digest

__all__ = ["BlobDescriptor", "BlobDescriptorCache", "NullCache"]


@dataclass(frozen=True, slots=True)
class BlobDescriptor:
    """What is known about a blob without reading it."""

    digest: Digest
    size: int
    media_type: str = "application/octet-stream"

    def __post_init__(self) -> None:
        # distribution's ValidateDescriptor: a cache must never hand back nonsense
        if self.size < 0:
            raise ValueError(f"blob descriptor {self.digest}: negative size {self.size}")
        if not self.media_type:
            raise ValueError(f"blob descriptor {self.digest}: empty media type")


class BlobDescriptorCache(Protocol):
    """Descriptors by digest. Implementations may forget entries at any time."""

    async def get(self, digest: Digest) -> BlobDescriptor | None:
        """The cached descriptor, or ``None`` when it is not cached."""
        ...

    async def set(self, descriptor: BlobDescriptor) -> None:
        """Cache ``descriptor``, replacing any entry for its digest."""
        ...

    async def clear(self, digest: Digest) -> None:
        """Forget ``digest`` (the blob was deleted); a digest not cached is fine."""
        ...


class NullCache:
    """Caches nothing: every ``get`` misses. For ``storage.cache`` left unset."""

    async def get(self, digest: Digest) -> BlobDescriptor | None:
        return None

    async def set(self, descriptor: BlobDescriptor) -> None:
        return None

    async def clear(self, digest: Digest) -> None:
        return None
