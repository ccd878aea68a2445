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
    /wharf/generation                                   changes on every metadata write (wharf.registry.generation)

Every ``link`` file holds a digest string such as ``sha256:…`` and nothing
else. Each kind of path is one function taking typed values, so nothing else
formats a path and no caller can put an unvalidated string into one.
"""

from __future__ import annotations

from wharf.digest import Digest
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
    return f"{tag_dir(name, tag)}/index/{digest.algorithm}/{digest.hex}/link"


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
