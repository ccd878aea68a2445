"""The registry and its repositories: the services the API calls into.

``Registry(driver, cache=...)`` holds what is shared (the content store, upload
sessions, the manifest cache); ``registry.repository(name)`` gives the per-name
view with ``.blobs``, ``.manifests``, ``.tags`` and ``.referrers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from wharf.reference import RepositoryName
from wharf.registry import paths
from wharf.registry.blobs import BlobStore, RepositoryBlobs
from wharf.registry.fence import Fence
from wharf.registry.generation import Generation, LocalGeneration
from wharf.registry.manifests import ManifestCache, Manifests
from wharf.registry.metadata import MetadataCache
from wharf.registry.referrers import Referrers
from wharf.registry.tags import Tags
from wharf.registry.uploads import Uploads
from wharf.storage.cache.base import BlobDescriptorCache, NullCache
from wharf.storage.driver import PathNotFound, StorageDriver

__all__ = ["Registry", "Repository"]


@dataclass(frozen=True, slots=True)
class Repository:
    name: RepositoryName
    blobs: RepositoryBlobs
    manifests: Manifests
    tags: Tags
    referrers: Referrers


class Registry:
    def __init__(
        self,
        driver: StorageDriver,
        *,
        cache: BlobDescriptorCache | None = None,
        manifest_cache: ManifestCache | None = None,
        generation: Generation | None = None,
    ) -> None:
        self.driver = driver
        self.blobs = BlobStore(driver, cache=cache if cache is not None else NullCache())
        self.uploads = Uploads(driver)
        self.manifest_cache = manifest_cache if manifest_cache is not None else ManifestCache()
        self.metadata = MetadataCache(generation if generation is not None else LocalGeneration())
        #: shared by writers and the garbage collector (``wharf.registry.fence``)
        self.fence = Fence(driver)

    def repository(self, name: RepositoryName) -> Repository:
        blobs = RepositoryBlobs(self.blobs, name, metadata=self.metadata, fence=self.fence)
        tags = Tags(self.driver, name, metadata=self.metadata)
        referrers = Referrers(self.driver, name)
        manifests = Manifests(
            self.driver, name, blobs=blobs, tags=tags, referrers=referrers, cache=self.manifest_cache
        )
        return Repository(name=name, blobs=blobs, manifests=manifests, tags=tags, referrers=referrers)

    async def repositories(self) -> list[str]:
        """Names of every repository that holds a manifest or a tag, sorted.

        Like distribution's catalog walk: a directory with a ``_manifests``
        child is a repository; other ``_``-prefixed directories are never
        descended into. A repository whose manifests and tags were all deleted
        is not listed.
        """
        found: list[str] = []
        await self._collect(paths.REPOSITORIES, found)
        return sorted(found)

    async def _collect(self, directory: str, found: list[str]) -> None:
        try:
            children = await self.driver.list(directory)
        except PathNotFound:
            return
        names = {child.rsplit("/", 1)[-1] for child in children}
        if paths.MANIFESTS_DIR in names and await self._has_content(directory):
            found.append(directory[len(paths.REPOSITORIES) + 1 :])
        for child in children:
            if not child.rsplit("/", 1)[-1].startswith("_"):
                await self._collect(child, found)

    async def _has_content(self, directory: str) -> bool:
        manifests = f"{directory}/{paths.MANIFESTS_DIR}"
        for sub in ("tags", "revisions"):
            try:
                if await self._any_file(f"{manifests}/{sub}"):
                    return True
            except PathNotFound:
                continue
        return False

    async def _any_file(self, directory: str) -> bool:
        for child in await self.driver.list(directory):
            info = await self.driver.stat(child)
            if not info.is_dir or await self._any_file(child):
                return True
        return False
