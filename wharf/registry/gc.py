"""Garbage collection: mark every blob that a manifest references, sweep the rest.

distribution's semantics (``registry/storage/garbagecollect.go``), so that on the
same directory wharf leaves exactly the blobs distribution leaves:

- **mark**: for every repository, every manifest revision (``_manifests/revisions``)
  whose content is present marks itself, its config and layers, and the child
  manifests of an index. Revisions whose content is missing are skipped.
- with ``delete_untagged``, only manifests reachable from a tag are kept, and
  the others are deleted (revision, tag history entries, referrer link). Unlike
  distribution, "reachable" also follows an index to its platform manifests
  and a kept manifest to its referrers (manifests whose ``subject`` it is:
  signatures, SBOMs), recursively; distribution deletes both.
- **sweep**: every blob under ``blobs/`` that nothing marked is deleted. Unlike
  distribution, the blob's ``_layers`` links in every repository go first, so no
  repository claims a blob that is gone (distribution leaves them, and its server
  then answers "Layer already exists" for a deleted layer). Links whose blob is
  already gone are removed too.

While the registry serves, deletions go through ``wharf.registry.fence``: the
collection runs under a lease, each batch of deletions holds the fence alone
and spares whatever the journal says a concurrent write relied on (plus, for a
manifest, everything it references). That module explains why no push can
commit a manifest whose blobs a collection removed.

``collect`` prints nothing: it returns a ``GCReport`` and reports progress
through a callback; ``wharf garbage-collect`` does the printing.
"""

from __future__ import annotations

import asyncio
import json
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from wharf.digest import Digest
from wharf.errors import RegistryError
from wharf.reference import RepositoryName, Tag
from wharf.registry import paths
from wharf.registry.fence import Collection, JournalEntry
from wharf.registry.namespace import Registry
from wharf.storage.driver import StorageDriver, delete_all, files_under, read_all, stat_all

__all__ = ["DeletedManifest", "GCError", "GCProgress", "GCReport", "collect"]

#: deletions per hold of the fence: writers wait at most one batch
BATCH = 1024
#: pause between two batches, so writers waiting on the fence get in
PAUSE = 0.002
#: manifests read per call to the driver, and calls at once
_READ_CHUNK = 128
_READERS = 8

_T = TypeVar("_T")


class GCError(RuntimeError):
    """The collection cannot run safely (an unreadable manifest); nothing was deleted."""


@dataclass(frozen=True, slots=True)
class GCProgress:
    """Where a collection is: ``done`` of ``total`` items of ``phase``."""

    phase: Literal["scan", "mark", "delete manifests", "sweep"]
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class DeletedManifest:
    repository: RepositoryName
    digest: Digest


@dataclass(frozen=True, slots=True)
class GCReport:
    """What a collection deleted (or, with ``dry_run``, would delete)."""

    dry_run: bool
    repositories: int
    manifests_deleted: int
    blobs_deleted: int
    bytes_freed: int
    #: blobs left in storage
    blobs_kept: int
    #: unreferenced blobs kept because a write relied on them during the run
    blobs_protected: int = 0
    #: repository links to blobs that were already gone, removed
    links_removed: int = 0
    deleted_manifests: tuple[DeletedManifest, ...] = ()
    deleted_blobs: tuple[Digest, ...] = ()


async def collect(
    registry: Registry,
    *,
    dry_run: bool = False,
    delete_untagged: bool = False,
    progress: Callable[[GCProgress], None] | None = None,
) -> GCReport:
    """Mark and sweep ``registry``'s storage; safe while the registry serves.

    Raises ``CollectionRunning`` if another collection holds the storage, and
    ``GCError`` (before deleting anything) if a manifest cannot be read.
    """
    notify = progress or _ignore
    if dry_run:
        scan = await _scan(registry.driver, notify)
        plan = await _plan(registry.driver, scan, delete_untagged=delete_untagged, notify=notify)
        return await _dry_report(registry.driver, scan, plan)
    async with registry.fence.collection() as collection:
        scan = await _scan(registry.driver, notify)
        plan = await _plan(registry.driver, scan, delete_untagged=delete_untagged, notify=notify)
        sweeper = _Sweeper(registry, collection, scan, plan, notify)
        await sweeper.delete_manifests()
        await sweeper.sweep()
        return sweeper.report()


def _ignore(_: GCProgress) -> None:
    return None


# --------------------------------------------------------------------------- scan


@dataclass(slots=True)
class _Repository:
    revisions: set[Digest] = field(default_factory=set)
    tags: list[Tag] = field(default_factory=list)


@dataclass(slots=True)
class _Scan:
    blobs: set[Digest]
    repositories: dict[RepositoryName, _Repository]
    #: blob -> the repositories with a ``_layers`` link to it
    links: dict[Digest, list[RepositoryName]]


async def _scan(driver: StorageDriver, notify: Callable[[GCProgress], None]) -> _Scan:
    """Every blob, and every manifest revision, tag and layer link of every repository."""
    blob_files, repository_files = await asyncio.gather(
        files_under(driver, paths.BLOBS, prune=paths.walk_stops_at),
        files_under(driver, paths.REPOSITORIES, prune=paths.walk_stops_at),
    )
    blobs = {digest for path in blob_files if (digest := paths.parse_blob_data(path)) is not None}
    repositories: dict[RepositoryName, _Repository] = defaultdict(_Repository)
    links: dict[Digest, list[RepositoryName]] = defaultdict(list)
    for path in repository_files:
        entry = paths.parse_repository_file(path)
        if entry is None:
            continue
        if entry.kind == "layer" and entry.digest is not None:
            links[entry.digest].append(entry.name)
        elif entry.kind == "revision" and entry.digest is not None:
            repositories[entry.name].revisions.add(entry.digest)
        elif entry.kind == "tag" and entry.tag is not None:
            repositories[entry.name].tags.append(entry.tag)
    notify(
        GCProgress("scan", len(blob_files) + len(repository_files), len(blob_files) + len(repository_files))
    )
    return _Scan(blobs, dict(repositories), dict(links))


# --------------------------------------------------------------------------- mark


@dataclass(frozen=True, slots=True)
class _References:
    """What one manifest references: blobs (config, layers), child manifests, its subject."""

    blobs: tuple[Digest, ...]
    children: tuple[Digest, ...]
    subject: Digest | None

    def marks(self) -> tuple[Digest, ...]:
        return (*self.blobs, *self.children)


@dataclass(slots=True)
class _Plan:
    manifests: dict[Digest, _References]
    marked: set[Digest]
    untagged: list[DeletedManifest]
    candidates: list[Digest]


async def _plan(
    driver: StorageDriver, scan: _Scan, *, delete_untagged: bool, notify: Callable[[GCProgress], None]
) -> _Plan:
    manifests = await _read_manifests(driver, scan, notify)
    tagged = await _tag_targets(driver, scan) if delete_untagged else {}
    marked: set[Digest] = set()
    untagged: list[DeletedManifest] = []
    for name, repository in sorted(scan.repositories.items()):
        present = {digest for digest in repository.revisions if digest in manifests}
        kept = present
        if delete_untagged:
            kept = _reachable(tagged.get(name, ()), present, manifests)
            untagged += [DeletedManifest(name, digest) for digest in _sorted(present - kept)]
        for digest in kept:
            marked.add(digest)
            marked.update(manifests[digest].marks())
    return _Plan(manifests, marked, untagged, _sorted(scan.blobs - marked))


async def _read_manifests(
    driver: StorageDriver, scan: _Scan, notify: Callable[[GCProgress], None]
) -> dict[Digest, _References]:
    """The references of every revision whose content is present, each digest read once."""
    wanted = _sorted({d for repo in scan.repositories.values() for d in repo.revisions} & scan.blobs)
    found: dict[Digest, _References] = {}
    done = 0

    async def read(chunk: list[Digest]) -> None:
        nonlocal done
        bodies = await read_all(driver, [paths.blob_data(digest) for digest in chunk])
        found.update(
            (digest, _references(digest, body))
            for digest, body in zip(chunk, bodies, strict=True)
            if body is not None
        )
        done += len(chunk)
        notify(GCProgress("mark", done, len(wanted)))

    # a few chunks at once: reading small files mostly waits on the disk
    chunks = [wanted[start : start + _READ_CHUNK] for start in range(0, len(wanted), _READ_CHUNK)]
    for start in range(0, len(chunks), _READERS):
        await asyncio.gather(*map(read, chunks[start : start + _READERS]))
    return found


def _references(digest: Digest, body: bytes) -> _References:
    """Read leniently, as distribution does: any manifest it may have stored, schema 1 included."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise GCError(f"manifest {digest} is not a JSON object; repair or delete it, then collect again")
    blobs = [_digest_of(document.get("config"))]
    for key in ("layers", "blobs"):
        blobs += [_digest_of(item) for item in _list(document.get(key))]
    blobs += [_digest_of(item, "blobSum") for item in _list(document.get("fsLayers"))]
    children = [_digest_of(item) for item in _list(document.get("manifests"))]
    return _References(
        blobs=tuple(d for d in blobs if d is not None),
        children=tuple(d for d in children if d is not None),
        subject=_digest_of(document.get("subject")),
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _digest_of(descriptor: Any, key: str = "digest") -> Digest | None:
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get(key), str):
        return None
    try:
        return Digest.parse(descriptor[key])
    except RegistryError:
        return None


async def _tag_targets(driver: StorageDriver, scan: _Scan) -> dict[RepositoryName, set[Digest]]:
    """What the tags of each repository point at: every tag's link, in one read, not one per repository."""
    tags = [(name, tag) for name, repository in sorted(scan.repositories.items()) for tag in repository.tags]
    contents = await read_all(driver, [paths.tag_current_link(name, tag) for name, tag in tags])
    targets: dict[RepositoryName, set[Digest]] = defaultdict(set)
    for (name, tag), content in zip(tags, contents, strict=True):
        if content is None:
            continue  # a tag without a current link names nothing (distribution skips it too)
        try:
            targets[name].add(paths.parse_link(content))
        except RegistryError:
            # what it names is unknown, so nothing can be called untagged (distribution fails too)
            raise GCError(f"tag {name}:{tag} has an unreadable link; repair or delete it, then collect again")
    return targets


def _reachable(
    roots: Iterable[Digest], present: set[Digest], manifests: dict[Digest, _References]
) -> set[Digest]:
    """The manifests of one repository kept by ``roots``: their index children and referrers, recursively."""
    referrers: dict[Digest, list[Digest]] = defaultdict(list)
    for digest in present:
        subject = manifests[digest].subject
        if subject is not None:
            referrers[subject].append(digest)
    kept: set[Digest] = set()
    pending = [digest for digest in roots if digest in present]
    while pending:
        digest = pending.pop()
        if digest in kept:
            continue
        kept.add(digest)
        pending += [child for child in manifests[digest].children if child in present]
        pending += referrers.get(digest, [])
    return kept


# --------------------------------------------------------------------------- sweep


class _Sweeper:
    """Deletes under the fence, batch by batch, sparing what the journal protects."""

    def __init__(
        self,
        registry: Registry,
        collection: Collection,
        scan: _Scan,
        plan: _Plan,
        notify: Callable[[GCProgress], None],
    ) -> None:
        self.registry = registry
        self.driver = registry.driver
        self.collection = collection
        self.scan = scan
        self.plan = plan
        self.notify = notify
        self.protection = _Protection(self.driver, plan.manifests)
        self.deleted_manifests: list[DeletedManifest] = []
        self.deleted_blobs: list[Digest] = []
        self.bytes_freed = 0
        self.protected: set[Digest] = set()
        self.links_removed = 0

    async def _protected_now(self) -> set[Digest]:
        """Call holding the fence alone."""
        return await self.protection.evaluate(await self.collection.journal())

    async def delete_manifests(self) -> None:
        untagged = self.plan.untagged
        for done, batch in _batches(untagged):
            await self.collection.journal()  # read ahead, outside the fence
            async with self.collection.exclusive():
                protected = await self._protected_now()
                doomed = [m for m in batch if m.digest not in protected]
                revisions = [paths.revision_dir(m.repository, m.digest) for m in doomed]
                await delete_all(self.driver, revisions)
                await delete_all(self.driver, [p for m in doomed for p in self._manifest_paths(m)])
                self.registry.metadata.changed()
            for spared in (m for m in batch if m.digest in protected):
                # kept after all: what it references must survive the sweep too
                self.plan.marked.update(self.protection.closure({spared.digest}))
            self.deleted_manifests += doomed
            self.notify(GCProgress("delete manifests", done, len(untagged)))
            await asyncio.sleep(PAUSE)

    def _manifest_paths(self, manifest: DeletedManifest) -> list[str]:
        """What deleting an untagged manifest removes after its revision: its entries in tag
        histories (as distribution does) and its referrer link (after, as ``Manifests.delete``)."""
        name, digest = manifest.repository, manifest.digest
        doomed = [paths.tag_index_dir(name, tag, digest) for tag in self.scan.repositories[name].tags]
        subject = self.plan.manifests[digest].subject
        if subject is not None:
            doomed.append(paths.referrer_link(name, subject, digest).rsplit("/", 1)[0])
        return doomed

    async def sweep(self) -> None:
        candidates = [d for d in self.plan.candidates if d not in self.plan.marked]
        for done, batch in _batches(candidates):
            await self.collection.journal()
            async with self.collection.exclusive():
                protected = await self._protected_now()
                doomed = [d for d in batch if d not in protected]
                # links first: from here on no repository claims the blob
                links = [paths.layer_dir(n, d) for d in doomed for n in self._linking(d)]
                await delete_all(self.driver, links)
                self.bytes_freed += await self.registry.blobs.delete_all(doomed)
                self.registry.metadata.changed()
            self.protected.update(d for d in batch if d in protected)
            self.deleted_blobs += doomed
            self.notify(GCProgress("sweep", done, len(candidates)))
            await asyncio.sleep(PAUSE)
        await self._remove_dangling_links()

    def _linking(self, digest: Digest) -> set[RepositoryName]:
        """Every repository that may link ``digest``: those the scan found, and those a write named
        it in since (a link is only ever written under the fence, so journaled during a run)."""
        return {*self.scan.links.get(digest, ()), *self.protection.named.get(digest, ())}

    async def _remove_dangling_links(self) -> None:
        """Links to blobs that were gone before this run (distribution's collector leaves them)."""
        gone = _sorted(d for d in self.scan.links if d not in self.scan.blobs)
        dangling = [(d, n) for d in gone for n in self.scan.links[d]]
        for _, batch in _batches(dangling):
            await self.collection.journal()
            async with self.collection.exclusive():
                protected = await self._protected_now()
                doomed = [(d, n) for d, n in batch if d not in protected]
                await delete_all(self.driver, [paths.layer_dir(n, d) for d, n in doomed])
                self.registry.metadata.changed()
            self.links_removed += len(doomed)
            await asyncio.sleep(PAUSE)

    def report(self) -> GCReport:
        return GCReport(
            dry_run=False,
            repositories=len(self.scan.repositories),
            manifests_deleted=len(self.deleted_manifests),
            blobs_deleted=len(self.deleted_blobs),
            bytes_freed=self.bytes_freed,
            blobs_kept=len(self.scan.blobs) - len(self.deleted_blobs),
            blobs_protected=len(self.protected),
            links_removed=self.links_removed,
            deleted_manifests=tuple(self.deleted_manifests),
            deleted_blobs=tuple(self.deleted_blobs),
        )


class _Protection:
    """What the journal protects, given what the run knows of manifests.

    - A manifest entry (a push or a tag) protects its manifest and everything
      that references, as long as the manifest is still in its repository;
      whether it is is read once, holding the fence, when the write is done.
    - A use entry (a blob or manifest a client relied on) protects it until a
      later manifest entry of the same repository lists it: that manifest then
      vouches for it, and stops doing so if it is deleted.
    - Whatever is protected protects what it references, if it is a manifest.
    """

    def __init__(self, driver: StorageDriver, manifests: dict[Digest, _References]) -> None:
        self.driver = driver
        self.manifests = manifests
        self._live: dict[str, bool] = {}
        #: digest -> the repositories of the entries naming it
        self.named: dict[Digest, set[RepositoryName]] = defaultdict(set)

    async def evaluate(self, entries: Sequence[JournalEntry]) -> set[Digest]:
        await self._check_live([e for e in entries if e.manifest is not None and e.name not in self._live])
        listed: dict[tuple[RepositoryName, Digest], str] = {}
        for entry in entries:
            for digest in entry.digests:
                self.named[digest].add(entry.repository)
            if entry.manifest is not None:
                for digest in (entry.manifest, *entry.digests):
                    listed[(entry.repository, digest)] = entry.name  # entries are oldest first
        protected: set[Digest] = set()
        for entry in entries:
            if entry.manifest is not None:
                if self._live[entry.name]:
                    protected.update((entry.manifest, *entry.digests))
            else:
                protected.update(
                    d for d in entry.digests if listed.get((entry.repository, d), "") < entry.name
                )
        return self.closure(protected)

    async def _check_live(self, entries: list[JournalEntry]) -> None:
        pushed = [(entry, entry.manifest) for entry in entries if entry.manifest is not None]
        links = await stat_all(self.driver, [paths.revision_link(e.repository, m) for e, m in pushed])
        self._live.update(
            (entry.name, link is not None) for (entry, _), link in zip(pushed, links, strict=True)
        )

    def closure(self, digests: set[Digest]) -> set[Digest]:
        """``digests`` and, for those that are known manifests, what they reference, recursively."""
        found = set(digests)
        pending = list(digests)
        while pending:
            references = self.manifests.get(pending.pop())
            if references is not None:
                new = [d for d in references.marks() if d not in found]
                found.update(new)
                pending += new
        return found


# --------------------------------------------------------------------------- dry run


async def _dry_report(driver: StorageDriver, scan: _Scan, plan: _Plan) -> GCReport:
    infos = await stat_all(driver, [paths.blob_data(digest) for digest in plan.candidates])
    sizes = [info.size for info in infos if info is not None]
    dangling = sum(len(names) for digest, names in scan.links.items() if digest not in scan.blobs)
    return GCReport(
        dry_run=True,
        repositories=len(scan.repositories),
        manifests_deleted=len(plan.untagged),
        blobs_deleted=len(plan.candidates),
        bytes_freed=sum(sizes),
        blobs_kept=len(scan.blobs) - len(plan.candidates),
        links_removed=dangling,
        deleted_manifests=tuple(plan.untagged),
        deleted_blobs=tuple(plan.candidates),
    )


# --------------------------------------------------------------------------- helpers


def _sorted(digests: Iterable[Digest]) -> list[Digest]:
    """In ``Digest``'s order, by a key compared in C: the dataclass's ``__lt__`` is Python, and a
    collection sorts thousands of digests."""
    return sorted(digests, key=_DIGEST_ORDER)


_DIGEST_ORDER = operator.attrgetter("algorithm", "hex")


def _batches(items: Sequence[_T]) -> Iterator[tuple[int, Sequence[_T]]]:
    """``(items done after this batch, batch)``."""
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        yield start + len(batch), batch
