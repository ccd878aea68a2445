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
from wharf.storage.driver import StorageDriver
from wharf.storage.driver.base import files_under

__all__ = ["Registry", "Repository"]

#: repository views kept for reuse; past this many, they are dropped and built again
_MAX_VIEWS = 4096


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
        self._views: dict[RepositoryName, Repository] = {}

    def repository(self, name: RepositoryName) -> Repository:
        """The view of one repository; views hold no state of their own, so they are kept and reused
        (building one was a tenth of a small request's Python time)."""
        view = self._views.get(name)
        if view is None:
            if len(self._views) >= _MAX_VIEWS:
                self._views.clear()
            view = self._views[name] = self._view(name)
        return view

    def _view(self, name: RepositoryName) -> Repository:
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
        child is a repository, and other ``_``-prefixed directories (layers,
        uploads) are never entered. A repository whose manifests and tags were
        all deleted is not listed. Cached until the next metadata write, so
        paging through a large catalog walks the tree once.
        """
        return await self.metadata.get(("catalog",), self._walk_repositories)

    async def _walk_repositories(self) -> list[str]:
        marker = f"/{paths.MANIFESTS_DIR}/"
        found: set[str] = set()
        for path in await files_under(self.driver, paths.REPOSITORIES, prune=_not_manifests):
            relative = path[len(paths.REPOSITORIES) + 1 :]
            name, sep, below = relative.partition(marker)
            if sep and below.startswith(("tags/", "revisions/")) and not below.endswith("/"):
                found.add(name)
        return sorted(found)


def _not_manifests(directory: str) -> bool:
    """Directories the catalog walk skips: every reserved ``_`` one but ``_manifests``."""
    name = directory.rsplit("/", 1)[-1]
    return name.startswith("_") and name != paths.MANIFESTS_DIR
