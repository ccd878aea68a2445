"""The one module that knows the storage layout: distribution's, byte for byte.

A directory written by distribution 2.x is served as it is, and one written by
wharf is served by distribution. Everything lives under ``/docker/registry/v2``::

    /docker/registry/v2/
      blobs/<alg>/<first 2 hex>/<hex>/data              the content, addressed by digest
      repositories/<name>/
        _layers/<alg>/<hex>/link                        blob is in this repository
        _manifests/revisions/<alg>/<hex>/link           manifest is in this repository
        _manifests/tags/<tag>/current/link              what the tag points at now
        _manifests/tags/<tag>/index/<alg>/<hex>/link    every manifest the tag ever pointed at
        _uploads/<uuid>/data                            bytes received so far
        _uploads/<uuid>/startedat                       RFC 3339 start time
        _uploads/<uuid>/hashstates/<alg>/<offset>       (distribution's saved hash state; unused by wharf)
        _referrers/<alg>/<subject hex>/<alg>/<hex>/link manifests whose ``subject`` is that digest (wharf's)

wharf keeps its own files beside that tree, under ``/wharf``, where distribution
never looks::

    /wharf/maintenance/<job>.lock                       which worker runs a background job (wharf.maintenance)
    /wharf/generation                                   changes on each metadata write (registry.generation)
    /wharf/gc/lease                                     until when writers journal (wharf.registry.fence)
    /wharf/gc/fence, /wharf/gc/gate                     shared by writers, held alone by the collector
    /wharf/gc/running                                   held by the one collection running
    /wharf/gc/journal/<ns>-<id>                         what one write relied on while a collection ran

Every ``link`` file holds a digest string such as ``sha256:…`` and nothing
else. Each kind of path is one function taking typed values, so nothing else
formats a path and no caller can put an unvalidated string into one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from wharf.digest import ALGORITHMS, Digest
from wharf.errors import RegistryError
from wharf.reference import RepositoryName, Tag

ROOT = "/docker/registry/v2"
BLOBS = f"{ROOT}/blobs"
REPOSITORIES = f"{ROOT}/repositories"
#: wharf's own files, outside distribution's tree
WHARF_ROOT = "/wharf"

#: the directory names that mark a repository (distribution's catalog walk looks for these)
MANIFESTS_DIR = "_manifests"
LAYERS_DIR = "_layers"
UPLOADS_DIR = "_uploads"
REFERRERS_DIR = "_referrers"


def blob_dir(digest: Digest) -> str:
    return f"{BLOBS}/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


def blob_data(digest: Digest) -> str:
    return f"{blob_dir(digest)}/data"


def repository(name: RepositoryName) -> str:
    return f"{REPOSITORIES}/{name}"


def layer_link(name: RepositoryName, digest: Digest) -> str:
    return f"{repository(name)}/{LAYERS_DIR}/{digest.algorithm}/{digest.hex}/link"


def layer_dir(name: RepositoryName, digest: Digest) -> str:
    """The directory holding a layer link (distribution's unit of removal)."""
    return f"{repository(name)}/{LAYERS_DIR}/{digest.algorithm}/{digest.hex}"


def layers(name: RepositoryName) -> str:
    return f"{repository(name)}/{LAYERS_DIR}"


def manifests(name: RepositoryName) -> str:
    return f"{repository(name)}/{MANIFESTS_DIR}"


def revisions(name: RepositoryName) -> str:
    return f"{manifests(name)}/revisions"


def revision_link(name: RepositoryName, digest: Digest) -> str:
    return f"{revisions(name)}/{digest.algorithm}/{digest.hex}/link"


def revision_dir(name: RepositoryName, digest: Digest) -> str:
    return f"{revisions(name)}/{digest.algorithm}/{digest.hex}"


def tags(name: RepositoryName) -> str:
    return f"{manifests(name)}/tags"


def tag_dir(name: RepositoryName, tag: Tag) -> str:
    return f"{tags(name)}/{tag}"


def tag_current_link(name: RepositoryName, tag: Tag) -> str:
    return f"{tag_dir(name, tag)}/current/link"


def tag_index_link(name: RepositoryName, tag: Tag, digest: Digest) -> str:
    return f"{tag_index_dir(name, tag, digest)}/link"


def tag_index_dir(name: RepositoryName, tag: Tag, digest: Digest) -> str:
    return f"{tag_dir(name, tag)}/index/{digest.algorithm}/{digest.hex}"


def uploads(name: RepositoryName) -> str:
    return f"{repository(name)}/{UPLOADS_DIR}"


def upload_dir(name: RepositoryName, upload_id: str) -> str:
    return f"{uploads(name)}/{upload_id}"


def upload_data(name: RepositoryName, upload_id: str) -> str:
    return f"{upload_dir(name, upload_id)}/data"


def upload_started_at(name: RepositoryName, upload_id: str) -> str:
    return f"{upload_dir(name, upload_id)}/startedat"


def referrers(name: RepositoryName, subject: Digest) -> str:
    return f"{repository(name)}/{REFERRERS_DIR}/{subject.algorithm}/{subject.hex}"


def referrer_link(name: RepositoryName, subject: Digest, digest: Digest) -> str:
    return f"{referrers(name, subject)}/{digest.algorithm}/{digest.hex}/link"


def link_content(digest: Digest) -> bytes:
    """What a ``link`` file holds."""
    return str(digest).encode()


def parse_link(content: bytes) -> Digest:
    """The digest a ``link`` file holds (distribution writes no trailing newline; tolerate one)."""
    return Digest.parse(content.decode("ascii", "replace").strip())


def digest_from_dir(algorithm_dir: str, hex_dir: str) -> Digest:
    """Rebuild a digest from the last two components of a ``<alg>/<hex>`` directory path."""
    return Digest.parse(f"{algorithm_dir.rsplit('/', 1)[-1]}:{hex_dir.rsplit('/', 1)[-1]}")


def generation() -> str:
    """The metadata generation file every process maps (``wharf.registry.generation``)."""
    return f"{WHARF_ROOT}/generation"


def maintenance_lock(job: str) -> str:
    """The lock file that elects the one worker process running ``job`` (``upload-purge``, ``gc``)."""
    return f"{WHARF_ROOT}/maintenance/{job}.lock"


def gc_lease() -> str:
    """The lease of the running collection: writers journal while it has not run out."""
    return f"{WHARF_ROOT}/gc/lease"


def gc_fence() -> str:
    """The lock writers hold shared and the collector exclusively (``wharf.registry.fence``)."""
    return f"{WHARF_ROOT}/gc/fence"


def gc_gate() -> str:
    """The lock that stops new writers while the collector waits for the fence."""
    return f"{WHARF_ROOT}/gc/gate"


def gc_running() -> str:
    """The lock held by the one collection that runs at a time."""
    return f"{WHARF_ROOT}/gc/running"


def gc_journal() -> str:
    return f"{WHARF_ROOT}/gc/journal"


def gc_journal_entry(name: str) -> str:
    """One journal entry; ``name`` is ``<time in ns>-<random hex>`` (``wharf.registry.fence``)."""
    return f"{gc_journal()}/{name}"


# Reading paths back, for the garbage collector's walk of the whole tree. The walk
# does not enter the directories ``walk_stops_at`` names and lists them with a
# trailing ``/`` (``FileWalker``): a layer link's and a blob's directory say
# enough, and a tag's name is all the collector needs of its directory.


@dataclass(frozen=True, slots=True)
class RepositoryFile:
    """What a ``link`` file under ``repositories/`` is (``tag`` is set for tag links)."""

    name: RepositoryName
    kind: Literal["layer", "revision", "tag", "tag_index"]
    digest: Digest | None = None
    tag: Tag | None = None


def walk_stops_at(directory: str) -> bool:
    """Whether the collector's walk lists ``directory`` without entering it."""
    rest, _, name = directory.rpartition("/")
    rest, _, parent = rest.rpartition("/")
    rest, _, grandparent = rest.rpartition("/")
    if directory.startswith(f"{BLOBS}/"):
        return directory.count("/", len(BLOBS)) == 3  # blobs/<alg>/<xx>/<hex>
    return (
        name in (UPLOADS_DIR, REFERRERS_DIR)
        or grandparent == LAYERS_DIR  # _layers/<alg>/<hex>
        or (parent == "tags" and grandparent == MANIFESTS_DIR)  # _manifests/tags/<tag>
    )


def parse_blob_data(path: str) -> Digest | None:
    """The digest of ``blobs/<alg>/<xx>/<hex>/data`` (or its directory, ``…/<hex>/``); else None."""
    parts = path[len(BLOBS) + 1 :].split("/") if path.startswith(f"{BLOBS}/") else []
    if len(parts) != 4 or parts[3] not in ("data", "") or parts[1] != parts[2][:2]:
        return None
    return _digest_or_none(parts[0], parts[2])


def parse_repository_file(path: str) -> RepositoryFile | None:
    """Which repository a link file belongs to and what it records; None for other files.

    The name is everything up to the first ``_``-prefixed component (no name
    component may start with ``_``), as distribution's catalog walk finds it.
    """
    if not path.startswith(f"{REPOSITORIES}/"):
        return None
    parts = path[len(REPOSITORIES) + 1 :].split("/")
    if parts[-1] not in ("link", ""):
        return None
    split = next((i for i, part in enumerate(parts) if part.startswith("_")), 0)
    if split == 0:
        return None
    name = _name_or_none("/".join(parts[:split]))
    return _classify(name, parts[split:]) if name is not None else None


def _classify(name: RepositoryName, rest: list[str]) -> RepositoryFile | None:
    # Literal strings, not LAYERS_DIR/MANIFESTS_DIR: a bare name in a pattern captures.
    match rest:
        case ["_layers", algorithm, hex_, "link" | ""]:
            digest = _digest_or_none(algorithm, hex_)
            return RepositoryFile(name, "layer", digest=digest) if digest else None
        case ["_manifests", "revisions", algorithm, hex_, "link"]:
            digest = _digest_or_none(algorithm, hex_)
            return RepositoryFile(name, "revision", digest=digest) if digest else None
        case ["_manifests", "tags", tag, ""] | ["_manifests", "tags", tag, "current", "link"]:
            parsed = _tag_or_none(tag)
            return RepositoryFile(name, "tag", tag=parsed) if parsed else None
        case ["_manifests", "tags", tag, "index", algorithm, hex_, "link"]:
            parsed, digest = _tag_or_none(tag), _digest_or_none(algorithm, hex_)
            return RepositoryFile(name, "tag_index", digest=digest, tag=parsed) if parsed and digest else None
    return None


#: algorithm -> its encoding, for path components (checked as ``Digest.parse`` would, faster)
_ENCODED = {algorithm: re.compile(f"[0-9a-f]{{{length}}}") for algorithm, length in ALGORITHMS.items()}


def _digest_or_none(algorithm: str, hex_: str) -> Digest | None:
    pattern = _ENCODED.get(algorithm)
    return Digest(algorithm, hex_) if pattern is not None and pattern.fullmatch(hex_) else None


@functools.lru_cache(maxsize=4096)
def _name_or_none(text: str) -> RepositoryName | None:
    try:
        return RepositoryName.parse(text)
    except RegistryError:
        return None


def _tag_or_none(text: str) -> Tag | None:
    try:
        return Tag.parse(text)
    except RegistryError:
        return None
