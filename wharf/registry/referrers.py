"""Referrers: which manifests name a digest as their ``subject`` (OCI Distribution 1.1).

wharf keeps an index at ``_referrers/<alg>/<subject hex>/<alg>/<hex>/link`` in
the repository, written when a manifest with a ``subject`` is pushed and removed
when it is deleted, so listing referrers never scans every manifest. distribution
ignores the directory, so the layout stays readable by it.
"""

from __future__ import annotations

from wharf.digest import Digest
from wharf.errors import DigestInvalid
from wharf.reference import RepositoryName
from wharf.registry import paths
from wharf.storage.driver import PathNotFound, StorageDriver

__all__ = ["Referrers"]


class Referrers:
    def __init__(self, driver: StorageDriver, name: RepositoryName) -> None:
        self.driver = driver
        self.name = name

    def entry(self, subject: Digest, referrer: Digest) -> dict[str, bytes]:
        """The file that lists ``referrer`` among ``subject``'s referrers (written with its manifest)."""
        return {paths.referrer_link(self.name, subject, referrer): paths.link_content(referrer)}

    async def remove(self, subject: Digest, referrer: Digest) -> None:
        try:
            await self.driver.delete(paths.referrer_link(self.name, subject, referrer).rsplit("/", 1)[0])
        except PathNotFound:
            pass

    async def of(self, subject: Digest) -> list[Digest]:
        """Digests of the manifests whose subject is ``subject``, sorted."""
        found: list[Digest] = []
        try:
            algorithms = await self.driver.list(paths.referrers(self.name, subject))
        except PathNotFound:
            return found
        for algorithm_dir in algorithms:
            for hex_dir in await self.driver.list(algorithm_dir):
                try:
                    found.append(paths.digest_from_dir(algorithm_dir, hex_dir))
                except DigestInvalid:
                    continue
        return sorted(found)
