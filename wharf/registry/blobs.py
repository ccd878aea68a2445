"""Blobs: the global content-addressed store and each repository's links into it.

``BlobStore`` holds the bytes at ``blobs/<alg>/<xx>/<hex>/data``; a repository
sees a blob only through its ``_layers/<alg>/<hex>/link`` (``RepositoryBlobs``),
as in distribution's ``blobStore`` and ``linkedBlobStore``. The descriptor cache
answers "how big is this blob" without touching storage; whether a repository
holds a blob is always read from storage, so a link removed by a garbage
collection in another process is seen at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from wharf.digest import Digest
from wharf.errors import BlobUnknown
from wharf.reference import RepositoryName
from wharf.registry import paths
from wharf.registry.fence import Fence
from wharf.registry.mediatypes import OCTET_STREAM
from wharf.registry.metadata import MetadataCache
from wharf.storage.cache.base import BlobDescriptor, BlobDescriptorCache
from wharf.storage.driver import PathNotFound, StorageDriver, delete_all

__all__ = ["BlobStore", "RepositoryBlobs"]


class BlobStore:
    """The registry-wide content-addressed store."""

    def __init__(self, driver: StorageDriver, *, cache: BlobDescriptorCache) -> None:
        self.driver = driver
        self.cache = cache

    async def stat(self, digest: Digest) -> BlobDescriptor:
        """The blob's descriptor, from the cache when it has it; ``BlobUnknown`` if absent."""
        cached = await self.cache.get(digest)
        if cached is not None:
            return cached
        return await self.stat_storage(digest)

    async def stat_storage(self, digest: Digest) -> BlobDescriptor:
        """The blob's descriptor read from storage (never the cache), and cached."""
        try:
            info = await self.driver.stat(paths.blob_data(digest))
        except PathNotFound:
            raise BlobUnknown(str(digest)) from None
        descriptor = BlobDescriptor(digest=digest, size=info.size, media_type=OCTET_STREAM)
        await self.cache.set(descriptor)
        return descriptor

    async def get(self, digest: Digest) -> bytes:
        """A small blob's whole content (manifests)."""
        try:
            return await self.driver.get_content(paths.blob_data(digest))
        except PathNotFound:
            raise BlobUnknown(str(digest)) from None

    async def stored(self, digest: Digest, *, size: int) -> None:
        """Note a small blob the caller has just written, or found, at ``paths.blob_data`` (a manifest)."""
        await self.cache.set(BlobDescriptor(digest=digest, size=size, media_type=OCTET_STREAM))

    async def ingest(self, digest: Digest, *, source: str, size: int) -> BlobDescriptor:
        """Move verified upload data at driver path ``source`` into the store.

        If the store holds the blob already, it stays and so does ``source``, which the
        caller discards. One driver call: checking first cost every upload a worker-thread
        hop of its own (issue 5's small uploads). Content addressing makes a concurrent
        ingest of the same digest harmless: both sources hold the same bytes, and
        ``move`` replaces atomically.
        """
        await self.driver.move(source, paths.blob_data(digest), replace=False)
        descriptor = BlobDescriptor(digest=digest, size=size, media_type=OCTET_STREAM)
        await self.cache.set(descriptor)
        return descriptor

    async def open(
        self, digest: Digest, *, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        try:
            return await self.driver.reader(paths.blob_data(digest), offset=offset, length=length)
        except PathNotFound:
            await self.cache.clear(digest)
            raise BlobUnknown(str(digest)) from None

    async def delete_all(self, digests: Sequence[Digest]) -> int:
        """Remove the blobs' bytes (garbage collection only); returns the bytes freed."""
        for digest in digests:
            await self.cache.clear(digest)
        return await delete_all(self.driver, [paths.blob_dir(digest) for digest in digests])

    async def delete(self, digest: Digest) -> None:
        """Remove the blob's bytes (garbage collection only)."""
        await self.cache.clear(digest)
        try:
            await self.driver.delete(paths.blob_dir(digest))
        except PathNotFound:
            pass


class RepositoryBlobs:
    """The blobs one repository holds: links into the global store."""

    def __init__(
        self, store: BlobStore, name: RepositoryName, *, metadata: MetadataCache, fence: Fence
    ) -> None:
        self.store = store
        self.driver = store.driver
        self.name = name
        self.metadata = metadata
        self.fence = fence

    async def is_linked(self, digest: Digest) -> bool:
        return await self.metadata.get(("layer", self.name, digest), lambda: self.is_linked_storage(digest))

    async def is_linked_storage(self, digest: Digest) -> bool:
        """Whether the link exists, read from storage (never the cache)."""
        try:
            await self.driver.stat(paths.layer_link(self.name, digest))
        except PathNotFound:
            return False
        return True

    async def stat(self, digest: Digest) -> BlobDescriptor:
        """The blob's descriptor if this repository holds it.

        A client told that a blob exists may skip uploading it, so while a
        collection runs the answer is journaled (``Fence.observe``).
        """
        async with self.fence.observe(self.name, (digest,)):
            if not await self.is_linked(digest):
                raise BlobUnknown(str(digest))
            try:
                return await self.store.stat(digest)
            except BlobUnknown:
                raise BlobUnknown(str(digest)) from None

    async def link(self, digest: Digest) -> None:
        await self.driver.put_content(paths.layer_link(self.name, digest), paths.link_content(digest))
        self.metadata.changed()

    async def unlink(self, digest: Digest) -> None:
        try:
            await self.driver.delete(paths.layer_link(self.name, digest))
        except PathNotFound:
            raise BlobUnknown(str(digest)) from None
        finally:
            self.metadata.changed()

    async def mount(self, digest: Digest, *, source: RepositoryBlobs | None) -> BlobDescriptor | None:
        """Link a blob another repository holds (or, with no source, any blob the store holds).

        Returns None when it cannot be mounted; the caller then starts an upload.
        Existence is checked on storage, never the cache: a mount must not link a
        blob that a collection has just removed.
        """
        async with self.fence.protect(self.name, (digest,)):
            if source is not None and not await source.is_linked_storage(digest):
                return None
            try:
                descriptor = await self.store.stat_storage(digest)
            except BlobUnknown:
                return None
            await self.link(digest)
            return descriptor
