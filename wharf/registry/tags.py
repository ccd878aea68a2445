"""Tags: ``_manifests/tags/<tag>/current/link`` names the manifest a tag points at;
``index/<alg>/<hex>/link`` records every manifest it ever pointed at (distribution keeps both)."""

from __future__ import annotations

from wharf.digest import Digest
from wharf.errors import DigestInvalid, ManifestUnknown, NameUnknown
from wharf.reference import RepositoryName, Tag
from wharf.registry import paths
from wharf.registry.metadata import MetadataCache
from wharf.storage.driver import PathNotFound, StorageDriver, put_all

__all__ = ["Tags"]


class Tags:
    def __init__(self, driver: StorageDriver, name: RepositoryName, *, metadata: MetadataCache) -> None:
        self.driver = driver
        self.name = name
        self.metadata = metadata

    async def resolve(self, tag: Tag) -> Digest:
        digest = await self.metadata.get(("tag", self.name, tag), lambda: self._read(tag))
        if digest is None:
            raise ManifestUnknown(f"unknown tag {tag}")
        return digest

    async def _read(self, tag: Tag) -> Digest | None:
        try:
            content = await self.driver.get_content(paths.tag_current_link(self.name, tag))
        except PathNotFound:
            return None
        return paths.parse_link(content)

    async def tag(self, tag: Tag, digest: Digest) -> None:
        await put_all(self.driver, self.links(tag, digest))
        self.metadata.changed()

    def links(self, tag: Tag, digest: Digest) -> dict[str, bytes]:
        """The files that point ``tag`` at ``digest``, in the order they are written: the index
        entry first, so whoever sees ``current`` can trust the index has it."""
        link = paths.link_content(digest)
        return {
            paths.tag_index_link(self.name, tag, digest): link,
            paths.tag_current_link(self.name, tag): link,
        }

    async def untag(self, tag: Tag) -> None:
        try:
            await self.driver.delete(paths.tag_dir(self.name, tag))
        except PathNotFound:
            raise ManifestUnknown(f"unknown tag {tag}") from None
        finally:
            self.metadata.changed()

    async def all(self) -> list[str]:
        """Every tag, sorted.

        ``NameUnknown`` when the repository does not exist. (distribution also
        answers so for a repository that holds blobs but never had a tag; an empty
        list is as true there, and the same on every driver.)
        """
        names = await self.metadata.get(("tags", self.name), self._read_all)
        if names is None:
            raise NameUnknown({"name": str(self.name)})
        return names

    async def _read_all(self) -> list[str] | None:
        try:
            children = await self.driver.list(paths.tags(self.name))
        except PathNotFound:
            return [] if await self._repository_exists() else None
        return sorted(child.rsplit("/", 1)[-1] for child in children)

    async def _repository_exists(self) -> bool:
        try:
            await self.driver.stat(paths.repository(self.name))
        except PathNotFound:
            return False
        return True

    async def pointing_at(self, digest: Digest) -> list[Tag]:
        """The tags whose current link names ``digest``."""
        found: list[Tag] = []
        try:
            names = await self.all()
        except NameUnknown:
            return found
        for name in names:
            tag = Tag(name)
            try:
                if await self.resolve(tag) == digest:
                    found.append(tag)
            except (ManifestUnknown, DigestInvalid):
                continue
        return found
