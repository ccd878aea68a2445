"""On the same directory, wharf's collection leaves exactly the blobs distribution's leaves.

The directory is built by pushing through wharf (the layout is distribution's), then copied;
Debian's ``docker-registry garbage-collect`` (distribution 2.8) collects one copy and
``wharf.registry.gc.collect`` the other.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.helpers import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    Blob,
    image_manifest,
    index_manifest,
    push_blob,
    push_manifest,
    random_blob,
    sha256,
)
from tests.integration.conftest import config_for, lifespan
from wharf.api.app import create_app
from wharf.config import parse_config
from wharf.registry.factory import open_registry
from wharf.registry.gc import collect

DISTRIBUTION = Path("/usr/bin/docker-registry")


@pytest.fixture
def distribution() -> Path:
    if not DISTRIBUTION.exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{DISTRIBUTION} is missing (CI=true, so this is a failure, not a skip)")
        pytest.skip(f"{DISTRIBUTION} is not installed (apt-get install docker-registry)")
    return DISTRIBUTION


def config(root: Path) -> Blob:
    return Blob(
        json.dumps({"architecture": "amd64", "os": "linux", "root": str(root)}).encode(),
        "application/vnd.oci.image.config.v1+json",
    )


async def image(
    client: httpx.AsyncClient,
    name: str,
    reference: str,
    blobs: list[Blob],
    media_type: str = OCI_MANIFEST,
    **extra: object,
) -> bytes:
    for blob in blobs:
        await push_blob(client, name, blob)
    body = image_manifest(blobs[0], blobs[1:], media_type=media_type, **extra)
    response = await push_manifest(client, name, reference or sha256(body), body, media_type)
    assert response.status_code == 201, response.text
    return body


async def populate(client: httpx.AsyncClient) -> None:
    """Every situation the collector must judge, in four repositories."""
    base = random_blob(4096)  # shared by every image, in every repository
    # kept images, one per media type, and one of them tagged twice
    for n, media_type in enumerate([OCI_MANIFEST, DOCKER_MANIFEST]):
        await image(client, "team/app", f"v{n}", [config(Path(f"a{n}")), base, random_blob(100)], media_type)
    v1 = (await client.get("/v2/team/app/manifests/v1")).content
    assert (await push_manifest(client, "team/app", "also-v1", v1, DOCKER_MANIFEST)).status_code == 201
    # deleted by digest: its own layer and config go, the shared layer stays
    gone = await image(client, "team/app", "gone", [config(Path("gone")), base, random_blob(200)])
    assert (await client.delete(f"/v2/team/app/manifests/{sha256(gone)}")).status_code == 202
    # untagged but not deleted: kept (without --delete-untagged)
    await image(client, "team/app", "moved", [config(Path("m1")), base, random_blob(300)])
    await image(client, "team/app", "moved", [config(Path("m2")), base, random_blob(300)])
    assert (await client.delete("/v2/team/app/manifests/also-v1")).status_code == 202
    # a layer unlinked from its repository but still referenced: distribution marks it anyway
    kept_layer = random_blob(150)
    await image(client, "other", "v1", [config(Path("o")), base, kept_layer])
    assert (await client.delete(f"/v2/other/blobs/{kept_layer.digest}")).status_code == 202
    # uploaded, never referenced
    await push_blob(client, "other", random_blob(123))
    # a multi-platform index, and a Docker manifest list whose one platform was deleted
    children = [
        await image(client, "multi", "", [config(Path(f"p{i}")), base, random_blob(64)]) for i in range(2)
    ]
    index = index_manifest([(body, OCI_MANIFEST) for body in children])
    assert (await push_manifest(client, "multi", "latest", index, OCI_INDEX)).status_code == 201
    lonely = await image(
        client, "multi", "", [config(Path("lonely")), base, random_blob(64)], DOCKER_MANIFEST
    )
    listing = index_manifest([(lonely, DOCKER_MANIFEST)], media_type=DOCKER_LIST)
    assert (await push_manifest(client, "multi", "list", listing, DOCKER_LIST)).status_code == 201
    assert (await client.delete(f"/v2/multi/manifests/{sha256(lonely)}")).status_code == 202
    # a signature of a kept image, and a whole repository deleted image by image
    subject = {"mediaType": OCI_MANIFEST, "digest": sha256(children[0]), "size": len(children[0])}
    await image(
        client,
        "multi",
        "",
        [Blob(b"{}", OCI_EMPTY), random_blob(32)],
        subject=subject,
        artifactType="application/vnd.example.sig",
    )
    doomed = await image(client, "doomed/repo", "v1", [config(Path("d")), base, random_blob(77)])
    assert (await client.delete(f"/v2/doomed/repo/manifests/{sha256(doomed)}")).status_code == 202


def blob_files(root: Path) -> set[str]:
    blobs = root / "docker/registry/v2/blobs"
    return {str(path.relative_to(blobs)) for path in blobs.rglob("data")}


async def test_wharf_leaves_exactly_the_blobs_distribution_leaves(distribution: Path, tmp_path: Path) -> None:
    built = tmp_path / "built"
    app = create_app(parse_config(config_for("filesystem", built)))
    async with lifespan(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client:
            await populate(client)
    theirs, ours = tmp_path / "distribution", tmp_path / "wharf"
    shutil.copytree(built, theirs)
    shutil.copytree(built, ours)
    (tmp_path / "distribution.yml").write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {theirs}\n"
    )

    done = subprocess.run(
        [str(distribution), "garbage-collect", str(tmp_path / "distribution.yml")],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ["PATH"]},
    )
    assert done.returncode == 0, done.stderr
    report = await collect(open_registry(parse_config(config_for("filesystem", ours))))

    before = blob_files(built)
    assert blob_files(ours) == blob_files(theirs)
    assert report.blobs_deleted == len(before - blob_files(theirs)) > 0
    assert report.blobs_kept == len(blob_files(theirs))
