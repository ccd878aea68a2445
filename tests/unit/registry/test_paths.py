"""wharf.registry.paths: every path is distribution's, character for character.

The expected strings are written out from the layout documented in
distribution's ``registry/storage/paths.go`` (root ``/docker/registry/`` +
version ``v2``), not computed from wharf's own helpers.
"""

from __future__ import annotations

import hashlib

import pytest

from wharf.digest import Digest
from wharf.errors import DigestInvalid
from wharf.reference import RepositoryName, Tag
from wharf.registry import paths

HEX = hashlib.sha256(b"layer").hexdigest()
HEX512 = hashlib.sha512(b"layer").hexdigest()
DIGEST = Digest("sha256", HEX)
DIGEST512 = Digest("sha512", HEX512)
NAME = RepositoryName("library/alpine")
TAG = Tag("3.19")
UPLOAD = "5c6a2f8e-1b1d-4c8e-9f4e-6a0a3b1e2d7c"
V2 = "/docker/registry/v2"
REPO = f"{V2}/repositories/library/alpine"


def test_root_is_distributions() -> None:
    assert paths.ROOT == V2
    assert paths.BLOBS == f"{V2}/blobs"
    assert paths.REPOSITORIES == f"{V2}/repositories"


def test_blob_data_splits_on_the_first_two_hex_characters() -> None:
    # blobDataPathSpec: <root>/v2/blobs/<algorithm>/<first two hex bytes of digest>/<hex digest>/data
    assert paths.blob_data(DIGEST) == f"{V2}/blobs/sha256/{HEX[:2]}/{HEX}/data"
    assert paths.blob_dir(DIGEST) == f"{V2}/blobs/sha256/{HEX[:2]}/{HEX}"


def test_sha512_blobs_use_their_own_algorithm_directory() -> None:
    assert paths.blob_data(DIGEST512) == f"{V2}/blobs/sha512/{HEX512[:2]}/{HEX512}/data"


def test_repository_directory() -> None:
    assert paths.repository(NAME) == REPO
    assert paths.repository(RepositoryName("a")) == f"{V2}/repositories/a"


def test_layer_link() -> None:
    # layerLinkPathSpec: <root>/v2/repositories/<name>/_layers/<algorithm>/<hex digest>/link
    assert paths.layer_link(NAME, DIGEST) == f"{REPO}/_layers/sha256/{HEX}/link"
    assert paths.layers(NAME) == f"{REPO}/_layers"


def test_manifest_revision_paths() -> None:
    # manifestRevisionPathSpec / manifestRevisionLinkPathSpec
    assert paths.manifests(NAME) == f"{REPO}/_manifests"
    assert paths.revisions(NAME) == f"{REPO}/_manifests/revisions"
    assert paths.revision_dir(NAME, DIGEST) == f"{REPO}/_manifests/revisions/sha256/{HEX}"
    assert paths.revision_link(NAME, DIGEST) == f"{REPO}/_manifests/revisions/sha256/{HEX}/link"


def test_tag_paths() -> None:
    # manifestTagsPathSpec, manifestTagPathSpec, manifestTagCurrentPathSpec, manifestTagIndexEntryLinkPathSpec
    assert paths.tags(NAME) == f"{REPO}/_manifests/tags"
    assert paths.tag_dir(NAME, TAG) == f"{REPO}/_manifests/tags/3.19"
    assert paths.tag_current_link(NAME, TAG) == f"{REPO}/_manifests/tags/3.19/current/link"
    assert paths.tag_index_link(NAME, TAG, DIGEST) == f"{REPO}/_manifests/tags/3.19/index/sha256/{HEX}/link"


def test_the_example_from_the_brief() -> None:
    link = paths.tag_current_link(RepositoryName("team/app"), Tag("latest"))
    assert link == "/docker/registry/v2/repositories/team/app/_manifests/tags/latest/current/link"


def test_upload_paths() -> None:
    # uploadDataPathSpec, uploadStartedAtPathSpec
    assert paths.uploads(NAME) == f"{REPO}/_uploads"
    assert paths.upload_dir(NAME, UPLOAD) == f"{REPO}/_uploads/{UPLOAD}"
    assert paths.upload_data(NAME, UPLOAD) == f"{REPO}/_uploads/{UPLOAD}/data"
    assert paths.upload_started_at(NAME, UPLOAD) == f"{REPO}/_uploads/{UPLOAD}/startedat"


def test_referrer_index_lives_in_a_directory_distribution_ignores() -> None:
    subject = Digest("sha256", "a" * 64)
    assert paths.referrer_link(NAME, subject, DIGEST) == (
        f"{REPO}/_referrers/sha256/{'a' * 64}/sha256/{HEX}/link"
    )


def test_directory_marker_names() -> None:
    assert (paths.MANIFESTS_DIR, paths.LAYERS_DIR, paths.UPLOADS_DIR) == ("_manifests", "_layers", "_uploads")


def test_link_content_is_the_digest_string_without_a_newline() -> None:
    assert paths.link_content(DIGEST) == f"sha256:{HEX}".encode()


@pytest.mark.parametrize("content", [f"sha256:{HEX}".encode(), f"sha256:{HEX}\n".encode()])
def test_parse_link_reads_what_distribution_writes(content: bytes) -> None:
    assert paths.parse_link(content) == DIGEST


@pytest.mark.parametrize("content", [b"", b"garbage", b"sha256:../../x", b"\xff\xfe"])
def test_parse_link_refuses_anything_else(content: bytes) -> None:
    with pytest.raises(DigestInvalid):
        paths.parse_link(content)


def test_digest_from_dir_rebuilds_the_digest() -> None:
    assert paths.digest_from_dir(f"{REPO}/_layers/sha256", f"{REPO}/_layers/sha256/{HEX}") == DIGEST


def test_digest_from_dir_refuses_stray_directories() -> None:
    with pytest.raises(DigestInvalid):
        paths.digest_from_dir(f"{REPO}/_layers/sha256", f"{REPO}/_layers/sha256/not-a-digest")


def test_every_path_is_a_valid_driver_path() -> None:
    from wharf.storage.driver import base

    for path in [
        paths.blob_data(DIGEST),
        paths.layer_link(NAME, DIGEST),
        paths.revision_link(NAME, DIGEST),
        paths.tag_current_link(NAME, TAG),
        paths.tag_index_link(NAME, TAG, DIGEST),
        paths.upload_data(NAME, UPLOAD),
        paths.upload_started_at(NAME, UPLOAD),
    ]:
        assert base.check_path(path) == path
