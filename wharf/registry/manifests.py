"""Manifests: stored as blobs in the content store, linked into a repository
by ``_manifests/revisions/<alg>/<hex>/link`` (distribution's layout).

The registry stores the exact bytes it was given and serves them back with
the media type the body declares, whatever the client's ``Accept`` says.
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from dataclasses import dataclass

import anyio.to_thread

from wharf.digest import Digest
from wharf.errors import BlobUnknown, DigestInvalid, ManifestBlobUnknown, ManifestUnknown
from wharf.reference import Reference, RepositoryName, Tag
from wharf.registry import paths
from wharf.registry.blobs import RepositoryBlobs
from wharf.registry.flights import Flights
from wharf.registry.mediatypes import OCI_INDEX, OCI_MANIFEST, Manifest, parse_manifest
from wharf.registry.referrers import Referrers
from wharf.registry.tags import Tags
from wharf.storage.driver import PathNotFound, StorageDriver, put_all, stat_all

__all__ = ["ManifestCache", "Manifests", "StoredManifest", "media_type_of"]


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: Digest
    media_type: str
    body: bytes


class ManifestCache:
    """Manifest bodies by digest, bounded in bytes. Content-addressed, so never stale;
    whether a repository holds a manifest is still read from storage each time."""

    def __init__(self, *, max_bytes: int = 64 << 20) -> None:
        self._entries: OrderedDict[Digest, StoredManifest] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes
        #: concurrent reads of one manifest that is not cached: one read for all
        self.flights: Flights[StoredManifest] = Flights()

    def get(self, digest: Digest) -> StoredManifest | None:
        entry = self._entries.get(digest)
        if entry is not None:
            self._entries.move_to_end(digest)
        return entry

    def put(self, entry: StoredManifest) -> None:
        if entry.digest in self._entries or len(entry.body) > self._max // 16:
            return
        self._entries[entry.digest] = entry
        self._bytes += len(entry.body)
        while self._bytes > self._max:
            _, old = self._entries.popitem(last=False)
            self._bytes -= len(old.body)


class Manifests:
    def __init__(
        self,
        driver: StorageDriver,
        name: RepositoryName,
        *,
        blobs: RepositoryBlobs,
        tags: Tags,
        referrers: Referrers,
        cache: ManifestCache,
    ) -> None:
        self.driver = driver
        self.name = name
        self.blobs = blobs
        self.tags = tags
        self.referrers = referrers
        self.cache = cache

    async def resolve(self, reference: Reference) -> Digest:
        """The digest a reference names, if this repository holds that manifest."""
        if reference.digest is None:
            digest = await self.tags.resolve(reference.tag)  # type: ignore[arg-type]
            if not await self.exists(digest):
                raise ManifestUnknown(str(reference))
            return digest
        # By digest, a client may be checking before it pushes an index that
        # names this manifest: journaled while a collection runs.
        async with self.blobs.fence.observe(self.name, (reference.digest,)):
            if not await self.exists(reference.digest):
                raise ManifestUnknown(str(reference))
        return reference.digest

    async def exists(self, digest: Digest) -> bool:
        return await self.tags.metadata.get(("revision", self.name, digest), lambda: self._exists(digest))

    def _revision_link(self, digest: Digest) -> str:
        return paths.revision_link(self.name, digest)

    async def _exists(self, digest: Digest) -> bool:
        try:
            await self.driver.stat(paths.revision_link(self.name, digest))
        except PathNotFound:
            return False
        return True

    async def get(self, reference: Reference) -> StoredManifest:
        digest = await self.resolve(reference)
        return await self.load(digest)

    async def load(self, digest: Digest) -> StoredManifest:
        """A manifest's content by digest, without checking repository membership."""
        cached = self.cache.get(digest)
        if cached is not None:
            return cached
        return await self.cache.flights.run(digest, lambda: self._read(digest))

    async def _read(self, digest: Digest) -> StoredManifest:
        try:
            body = await self.blobs.store.get(digest)
        except BlobUnknown:
            raise ManifestUnknown(str(digest)) from None
        entry = StoredManifest(digest=digest, media_type=media_type_of(body), body=body)
        self.cache.put(entry)
        return entry

    async def put(self, reference: Reference, body: bytes, *, content_type: str | None) -> Manifest:
        manifest = await _parse(body, content_type=content_type, digest=reference.digest)
        if reference.digest is not None and manifest.digest != reference.digest:
            raise DigestInvalid(f"manifest hashes to {manifest.digest}, not {reference.digest}")
        references = [d.digest for d in (*manifest.blobs, *manifest.manifests)]
        # Check and commit inside the fence, so no collection deletes in between.
        async with self.blobs.fence.protect(self.name, references, manifest=manifest.digest):
            stored = await self._check_references(manifest)
            # Written in this order, in one step where the driver can (``put_all``: one worker
            # thread hop for a whole push). The referrers entry before the revision link, so a
            # crash between the two leaves an entry listings skip (its manifest is not in the
            # repository) rather than a referrer missing from its subject's list; the tag last.
            writes: dict[str, bytes] = {}
            if not stored:
                writes[paths.blob_data(manifest.digest)] = body
            if manifest.subject is not None:
                writes.update(self.referrers.entry(manifest.subject.digest, manifest.digest))
            if not stored or not await self._revision_linked(manifest.digest):
                writes[self._revision_link(manifest.digest)] = paths.link_content(manifest.digest)
            if reference.tag is not None:
                writes.update(self.tags.links(reference.tag, manifest.digest))
            await put_all(self.driver, writes)
            await self.blobs.store.stored(manifest.digest, size=len(body))
            self.tags.metadata.changed()
        self.cache.put(StoredManifest(manifest.digest, manifest.media_type, body))
        return manifest

    async def _revision_linked(self, digest: Digest) -> bool:
        """Whether storage holds this manifest's revision link already (a re-push, a new tag).

        Read rather than rewritten, because rewriting costs far more: a new file and a
        rename over the old one in a directory that every push of this manifest shares (and
        ext4 starts writing the data out on such a rename). The link says nothing but its
        digest, so one that holds it is the link this push would write. Only asked for a
        manifest the store held: a new one has no link yet.
        """
        try:
            return paths.parse_link(await self.driver.get_content(self._revision_link(digest))) == digest
        except (PathNotFound, DigestInvalid):
            return False  # missing, or not a link we can read: write it

    async def tag(self, tag: Tag, digest: Digest) -> None:
        """Point ``tag`` at a manifest this repository holds."""
        # A tag keeps a manifest from ``--delete-untagged``: fenced like a push.
        async with self.blobs.fence.protect(self.name, manifest=digest):
            if not await self.exists(digest):
                raise ManifestUnknown(str(digest))
            await self.tags.tag(tag, digest)

    async def _check_references(self, manifest: Manifest) -> bool:
        """Fail unless this repository holds all the manifest references; whether the store holds it.

        Read from storage, never the cache: a push must not commit a manifest whose blobs
        a collection has just removed. One bulk ``stat`` for all of it: a worker-thread hop
        per file was most of the cost of pushing a manifest (of a many-layered image above all).
        """
        layers = [d.digest for d in manifest.blobs]
        children = [d.digest for d in manifest.manifests]
        found = await stat_all(
            self.driver,
            [
                *(paths.layer_link(self.name, digest) for digest in layers),
                *(self._revision_link(digest) for digest in children),
                paths.blob_data(manifest.digest),
            ],
        )
        for digests, infos in ((layers, found[: len(layers)]), (children, found[len(layers) : -1])):
            missing = [str(digest) for digest, info in zip(digests, infos, strict=True) if info is None]
            if missing:
                raise ManifestBlobUnknown(missing[0] if len(missing) == 1 else missing)
        return found[-1] is not None

    async def delete(self, digest: Digest) -> None:
        """Remove the manifest from this repository, with every tag that points at it."""
        if not await self.exists(digest):
            raise ManifestUnknown(str(digest))
        for tag in await self.tags.pointing_at(digest):
            try:
                await self.tags.untag(tag)
            except ManifestUnknown:
                pass  # removed concurrently
        subject = await self._subject_of(digest)
        try:
            await self.driver.delete(paths.revision_dir(self.name, digest))
        except PathNotFound:
            pass
        finally:
            self.tags.metadata.changed()
        # After the revision, for the reason ``put`` adds it before.
        if subject is not None:
            await self.referrers.remove(subject, digest)

    async def all(self) -> list[Digest]:
        """Every manifest this repository holds (those with a revision link)."""
        found: list[Digest] = []
        try:
            algorithms = await self.driver.list(paths.revisions(self.name))
        except PathNotFound:
            return found
        for algorithm_dir in algorithms:
            for hex_dir in await self.driver.list(algorithm_dir):
                try:
                    digest = paths.digest_from_dir(algorithm_dir, hex_dir)
                except DigestInvalid:
                    continue
                if await self.exists(digest):
                    found.append(digest)
        return found

    async def _subject_of(self, digest: Digest) -> Digest | None:
        try:
            stored = await self.load(digest)
            subject = json.loads(stored.body).get("subject")
            return Digest.parse(subject["digest"]) if isinstance(subject, dict) else None
        except (ManifestUnknown, DigestInvalid, ValueError, KeyError, TypeError):
            return None


#: manifests larger than this are parsed in a worker thread: a 4 MiB one takes a third of a second
_PARSE_IN_THREAD = 64 << 10


async def _parse(body: bytes, *, content_type: str | None, digest: Digest | None) -> Manifest:
    parse = functools.partial(parse_manifest, body, content_type=content_type, digest=digest)
    if len(body) <= _PARSE_IN_THREAD:
        return parse()
    return await anyio.to_thread.run_sync(parse)


def media_type_of(body: bytes) -> str:
    """The media type a stored manifest declares, inferred as distribution does when absent."""
    try:
        document = json.loads(body)
    except ValueError:
        return OCI_MANIFEST
    declared = document.get("mediaType") if isinstance(document, dict) else None
    if isinstance(declared, str) and declared:
        return declared
    return OCI_INDEX if isinstance(document, dict) and "manifests" in document else OCI_MANIFEST
