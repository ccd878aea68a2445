"""Compatibility with distribution's storage layout, both ways, on the filesystem driver.

A storage directory is written file by file as distribution 2.x writes it
(``registry/storage/paths.go``), then served through the API; and what wharf
writes is checked to be at distribution's paths with distribution's contents.
Paths here are spelt out, never taken from ``wharf.registry.paths``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.helpers import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Blob,
    push_image,
    push_manifest,
    random_blob,
    sha256,
)
from tests.integration.conftest import ClientFactory


@pytest.fixture
def driver_kind() -> str:
    """On-disk compatibility: the filesystem driver only."""
    return "filesystem"


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    """``<rootdirectory>/docker/registry/v2``, the root the app in ``client_factory`` serves."""
    return tmp_path / "root" / "docker" / "registry" / "v2"


def hex_of(digest: str) -> str:
    return digest.split(":", 1)[1]


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class DistributionWriter:
    """Writes what distribution writes, one file at a time."""

    def __init__(self, v2: Path) -> None:
        self.v2 = v2

    def blob(self, data: bytes) -> str:
        digest = sha256(data)
        write(self.v2 / "blobs" / "sha256" / hex_of(digest)[:2] / hex_of(digest) / "data", data)
        return digest

    def repo(self, name: str) -> Path:
        return self.v2 / "repositories" / name

    def layer_link(self, name: str, digest: str) -> None:
        write(self.repo(name) / "_layers" / "sha256" / hex_of(digest) / "link", digest.encode())

    def revision(self, name: str, digest: str) -> None:
        write(
            self.repo(name) / "_manifests" / "revisions" / "sha256" / hex_of(digest) / "link", digest.encode()
        )

    def tag(self, name: str, tag: str, digest: str) -> None:
        tag_dir = self.repo(name) / "_manifests" / "tags" / tag
        write(tag_dir / "index" / "sha256" / hex_of(digest) / "link", digest.encode())
        write(tag_dir / "current" / "link", digest.encode())

    def image(
        self, name: str, tag: str | None, *, media_type: str = DOCKER_MANIFEST
    ) -> tuple[bytes, list[Blob]]:
        config = Blob(
            json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode(), DOCKER_CONFIG
        )
        layers = [Blob(f"{name}:{tag}:{i}".encode() * 100, DOCKER_LAYER) for i in range(2)]
        for blob in (config, *layers):
            self.blob(blob.data)
            self.layer_link(name, blob.digest)
        # distribution stores the client's bytes: indented the way docker sends them
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": media_type,
                "config": config.descriptor(),
                "layers": [layer.descriptor() for layer in layers],
            },
            indent=3,
        ).encode()
        digest = self.blob(body)
        self.revision(name, digest)
        if tag is not None:
            self.tag(name, tag, digest)
        return body, [config, *layers]


@pytest.fixture
def distribution(v2: Path) -> DistributionWriter:
    return DistributionWriter(v2)


# distribution wrote it, wharf serves it


async def test_a_distribution_directory_is_served(
    client_factory: ClientFactory, distribution: DistributionWriter
) -> None:
    old, _ = distribution.image("library/hello", "latest")
    body, blobs = distribution.image("library/hello", "latest")  # the tag moved: both revisions stay
    child_digest = sha256(body)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [
                {
                    "mediaType": DOCKER_MANIFEST,
                    "digest": child_digest,
                    "size": len(body),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()
    distribution.revision("library/hello", distribution.blob(index))
    distribution.tag("library/hello", "multi", sha256(index))
    distribution.image("team/nested/app", "v1")
    client = await client_factory()

    assert (await client.get("/v2/_catalog")).json() == {"repositories": ["library/hello", "team/nested/app"]}
    assert (await client.get("/v2/library/hello/tags/list")).json() == {
        "name": "library/hello",
        "tags": ["latest", "multi"],
    }
    latest = await client.get("/v2/library/hello/manifests/latest", headers={"accept": DOCKER_MANIFEST})
    assert latest.status_code == 200
    assert latest.content == body
    assert latest.headers["content-type"] == DOCKER_MANIFEST
    assert latest.headers["docker-content-digest"] == child_digest
    head = await client.head(f"/v2/library/hello/manifests/{child_digest}")
    assert head.headers["content-length"] == str(len(body))
    assert (await client.get(f"/v2/library/hello/manifests/{sha256(old)}")).content == old
    multi = await client.get("/v2/library/hello/manifests/multi")
    assert multi.content == index
    assert multi.headers["content-type"] == DOCKER_LIST
    for blob in blobs:
        got = await client.get(f"/v2/library/hello/blobs/{blob.digest}")
        assert got.content == blob.data
        assert got.headers["docker-content-digest"] == blob.digest
        part = await client.get(f"/v2/library/hello/blobs/{blob.digest}", headers={"range": "bytes=3-9"})
        assert part.status_code == 206
        assert part.content == blob.data[3:10]


async def test_a_manifest_without_media_type_is_served_as_oci(
    client_factory: ClientFactory, distribution: DistributionWriter
) -> None:
    config = Blob(b'{"architecture":"arm64","os":"linux"}', "application/vnd.oci.image.config.v1+json")
    distribution.blob(config.data)
    distribution.layer_link("a", config.digest)
    body = json.dumps({"schemaVersion": 2, "config": config.descriptor(), "layers": []}).encode()
    distribution.revision("a", distribution.blob(body))
    distribution.tag("a", "v1", sha256(body))
    client = await client_factory()
    response = await client.get("/v2/a/manifests/v1")
    assert response.content == body
    assert response.headers["content-type"] == OCI_MANIFEST


async def test_wharf_pushes_into_a_distribution_directory(
    client_factory: ClientFactory, distribution: DistributionWriter, v2: Path
) -> None:
    _, blobs = distribution.image("library/hello", "latest")
    client = await client_factory()
    # a blob distribution holds is mounted, not uploaded again
    mount = await client.post(
        "/v2/mine/blobs/uploads/", params={"mount": blobs[1].digest, "from": "library/hello"}
    )
    assert mount.status_code == 201
    assert (v2 / "repositories/mine/_layers/sha256" / hex_of(blobs[1].digest) / "link").read_bytes() == (
        blobs[1].digest.encode()
    )
    await push_image(client, "library/hello", "v2")
    assert (await client.get("/v2/library/hello/tags/list")).json()["tags"] == ["latest", "v2"]


async def test_an_upload_distribution_started_is_finished_by_wharf(
    client_factory: ClientFactory, distribution: DistributionWriter
) -> None:
    blob = random_blob(3000)
    upload = distribution.repo("a") / "_uploads" / "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    write(upload / "startedat", b"2024-05-01T10:00:00Z")
    write(upload / "data", blob.data[:1000])
    write(upload / "hashstates" / "sha256" / "1000", b"sha\x03" + b"\x00" * 100)  # Go's binary hash state
    client = await client_factory()
    location = "/v2/a/blobs/uploads/1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    status = await client.get(location)
    assert status.status_code == 204
    assert status.headers["range"] == "0-999"
    assert (
        await client.patch(location, content=blob.data[1000:], headers={"content-range": "1000-2999"})
    ).status_code == 202
    done = await client.put(location, params={"digest": blob.digest})
    assert done.status_code == 201, done.text
    assert (await client.get(f"/v2/a/blobs/{blob.digest}")).content == blob.data
    assert not upload.exists()


async def test_distribution_leftovers_do_not_confuse_the_catalog(
    client_factory: ClientFactory, distribution: DistributionWriter
) -> None:
    distribution.image("real", "v1")
    write(
        distribution.repo("uploads/only") / "_uploads" / "0f3b5f1e-0000-4000-8000-000000000000" / "startedat",
        b"2024-05-01T10:00:00Z",
    )
    distribution.layer_link("layers/only", distribution.blob(b"lonely"))
    client = await client_factory()
    assert (await client.get("/v2/_catalog")).json() == {"repositories": ["real"]}


# wharf wrote it, at distribution's paths with distribution's contents


async def test_a_push_writes_distributions_files(client_factory: ClientFactory, v2: Path) -> None:
    client = await client_factory()
    body, blobs = await push_image(client, "team/app", "v1", media_type=DOCKER_MANIFEST)
    manifest = sha256(body)
    repo = v2 / "repositories" / "team" / "app"
    for blob in blobs:
        h = hex_of(blob.digest)
        assert (v2 / "blobs" / "sha256" / h[:2] / h / "data").read_bytes() == blob.data
        assert (repo / "_layers" / "sha256" / h / "link").read_bytes() == blob.digest.encode()
    h = hex_of(manifest)
    assert (v2 / "blobs" / "sha256" / h[:2] / h / "data").read_bytes() == body
    assert (repo / "_manifests" / "revisions" / "sha256" / h / "link").read_bytes() == manifest.encode()
    assert (repo / "_manifests" / "tags" / "v1" / "current" / "link").read_bytes() == manifest.encode()
    assert (
        repo / "_manifests" / "tags" / "v1" / "index" / "sha256" / h / "link"
    ).read_bytes() == manifest.encode()
    # finished uploads leave nothing behind, and nothing but distribution's directories is in the repository
    uploads = repo / "_uploads"
    assert not uploads.exists() or list(uploads.rglob("*")) == []
    assert {p.name for p in repo.iterdir()} <= {"_layers", "_manifests", "_uploads"}
    assert {p.name for p in (repo / "_manifests").iterdir()} == {"revisions", "tags"}


async def test_moving_a_tag_keeps_its_index_as_distribution_does(
    client_factory: ClientFactory, v2: Path
) -> None:
    client = await client_factory()
    first, _ = await push_image(client, "a", "latest")
    second, _ = await push_image(client, "a", "latest")
    tag_dir = v2 / "repositories" / "a" / "_manifests" / "tags" / "latest"
    assert (tag_dir / "current" / "link").read_bytes() == sha256(second).encode()
    index = sorted(p.parent.name for p in (tag_dir / "index" / "sha256").glob("*/link"))
    assert index == sorted([hex_of(sha256(first)), hex_of(sha256(second))])


async def test_a_revision_link_in_place_is_kept_and_a_damaged_one_rewritten(
    client_factory: ClientFactory, v2: Path
) -> None:
    client = await client_factory()
    body, _ = await push_image(client, "a", "v1")
    manifest = sha256(body)
    link = v2 / "repositories" / "a" / "_manifests" / "revisions" / "sha256" / hex_of(manifest) / "link"
    kept = link.stat().st_ino
    assert (await push_manifest(client, "a", "v2", body)).status_code == 201
    assert link.stat().st_ino == kept  # read, not written again

    link.write_bytes(b"garbage")
    assert (await push_manifest(client, "a", "v3", body)).status_code == 201
    assert link.read_bytes() == manifest.encode()

    link.write_bytes(manifest.encode() + b"\n")  # as another writer may leave it: the same link
    kept = link.stat().st_ino
    assert (await push_manifest(client, "a", "v4", body)).status_code == 201
    assert link.stat().st_ino == kept
    assert (await client.get("/v2/a/tags/list")).json()["tags"] == ["v1", "v2", "v3", "v4"]


async def test_an_upload_in_progress_is_where_distribution_looks(
    client_factory: ClientFactory, v2: Path
) -> None:
    client = await client_factory()
    start = await client.post("/v2/a/blobs/uploads/")
    upload_id = start.headers["docker-upload-uuid"]
    await client.patch(start.headers["location"], content=b"0123456789")
    upload = v2 / "repositories" / "a" / "_uploads" / upload_id
    assert (upload / "data").read_bytes() == b"0123456789"
    # distribution's purge reads startedat with time.Parse(time.RFC3339, ...)
    started = (upload / "startedat").read_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", started), started


async def test_deleting_by_tag_removes_the_tag_directory(client_factory: ClientFactory, v2: Path) -> None:
    client = await client_factory()
    body, _ = await push_image(client, "a", "v1")
    await push_manifest(client, "a", "v2", body)
    assert (await client.delete("/v2/a/manifests/v1")).status_code == 202
    tags = v2 / "repositories" / "a" / "_manifests" / "tags"
    assert not (tags / "v1").exists()
    assert (tags / "v2" / "current" / "link").exists()


async def test_deleting_by_digest_removes_the_revision_link_and_its_tags(
    client_factory: ClientFactory, v2: Path
) -> None:
    client = await client_factory()
    body, blobs = await push_image(client, "a", "v1")
    h = hex_of(sha256(body))
    assert (await client.delete(f"/v2/a/manifests/{sha256(body)}")).status_code == 202
    repo = v2 / "repositories" / "a"
    assert not (repo / "_manifests" / "revisions" / "sha256" / h / "link").exists()
    assert not (repo / "_manifests" / "tags" / "v1").exists()
    # the content stays in the blob store for the garbage collector, as with distribution
    assert (v2 / "blobs" / "sha256" / h[:2] / h / "data").read_bytes() == body
    assert (repo / "_layers" / "sha256" / hex_of(blobs[0].digest) / "link").exists()


async def test_a_sha512_blob_uses_distributions_sha512_paths(client_factory: ClientFactory, v2: Path) -> None:
    client = await client_factory()
    data = b"512"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    assert (
        await client.post("/v2/a/blobs/uploads/", params={"digest": digest}, content=data)
    ).status_code == 201
    h = hex_of(digest)
    assert (v2 / "blobs" / "sha512" / h[:2] / h / "data").read_bytes() == data
    assert (v2 / "repositories" / "a" / "_layers" / "sha512" / h / "link").read_bytes() == digest.encode()
