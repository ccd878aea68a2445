"""OCI 1.1 beyond the basic flows (issue 4): sha512 everywhere a digest goes, artifacts (artifactType,
custom config media types, the empty descriptor, ``data`` fields, non-distributable layers, custom
fields kept byte for byte), and the manifest size limit enforced without buffering past it."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import DOCKER_MANIFEST
from tests.integration.oci.support import (
    EMPTY,
    OCI_MANIFEST,
    Content,
    assert_error,
    config,
    digest_of,
    layer,
    manifest_of,
    push,
    push_image,
    put_manifest,
    start_upload,
    with_query,
)
from wharf.api.manifests import MAX_MANIFEST_BYTES

OCTET = {"content-type": "application/octet-stream"}

# --- sha512 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("driver_kind", ["filesystem"])
async def test_sha512_blobs_are_stored_under_blobs_sha512(client: httpx.AsyncClient, tmp_path: Path) -> None:
    """Issue 4: sha512 "storage paths under `blobs/sha512/…`" (distribution's layout, algorithm first)."""
    blob = layer(1000, algorithm="sha512")
    await push(client, "art/app", blob)
    hex_ = blob.digest.split(":", 1)[1]
    stored = tmp_path / "root/docker/registry/v2/blobs/sha512" / hex_[:2] / hex_ / "data"
    assert stored.read_bytes() == blob.data
    link = tmp_path / "root/docker/registry/v2/repositories/art/app/_layers/sha512" / hex_ / "link"
    assert link.read_text() == blob.digest


async def test_sha512_through_every_upload_path(client: httpx.AsyncClient) -> None:
    """Issue 4: sha512 "uploads (`?digest=sha512:…`)": single POST, POST then PUT, chunked, and a mount."""
    single, whole, chunked = (layer(5000, algorithm="sha512") for _ in range(3))
    await push(client, "art/app", single)
    location = await start_upload(client, "art/app")
    response = await client.put(with_query(location, digest=whole.digest), content=whole.data, headers=OCTET)
    assert response.status_code == 201, response.text
    location = await start_upload(client, "art/app")
    patched = await client.patch(
        location, content=chunked.data[:2500], headers={**OCTET, "content-range": "0-2499"}
    )
    response = await client.put(
        with_query(patched.headers["location"], digest=chunked.digest),
        content=chunked.data[2500:],
        headers={**OCTET, "content-range": "2500-4999"},
    )
    assert response.status_code == 201, response.text
    mounted = await client.post(
        "/v2/art/other/blobs/uploads/", params={"mount": single.digest, "from": "art/app"}
    )
    assert mounted.status_code == 201
    for name, blob in [("art/app", single), ("art/app", whole), ("art/app", chunked), ("art/other", single)]:
        got = await client.get(f"/v2/{name}/blobs/{blob.digest}")
        assert got.content == blob.data
        assert got.headers["docker-content-digest"] == blob.digest


async def test_a_sha512_upload_with_the_wrong_content_is_digest_invalid(client: httpx.AsyncClient) -> None:
    """Issue 4, hostile uploads: "wrong digest (`DIGEST_INVALID`, nothing visible)", for sha512 too."""
    blob = layer(algorithm="sha512")
    response = await client.post(
        "/v2/art/app/blobs/uploads/", params={"digest": blob.digest}, content=blob.data + b"!", headers=OCTET
    )
    assert_error(response, 400, "DIGEST_INVALID")
    assert (await client.head(f"/v2/art/app/blobs/{blob.digest}")).status_code == 404


async def test_a_manifest_of_sha512_blobs_pushed_and_tagged_by_sha512_digest(
    client: httpx.AsyncClient,
) -> None:
    """Issue 4: sha512 for "manifests by digest" (the manifest's own digest, its descriptors, its tags)."""
    cfg = Content(config().data, config().media_type, "sha512")
    lay = layer(algorithm="sha512")
    await push(client, "art/app", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    digest = digest_of(manifest.data, "sha512")
    response = await put_manifest(client, "art/app", digest, manifest, params={"tag": "v512"})
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == digest
    for reference in (digest, "v512"):
        got = await client.get(f"/v2/art/app/manifests/{reference}")
        assert got.content == manifest.data
        assert got.headers["docker-content-digest"] == digest
    # Its sha256 digest names no manifest of this repository: it was pushed by sha512.
    assert (await client.head(f"/v2/art/app/manifests/{manifest.digest}")).status_code == 404
    assert (await client.delete(f"/v2/art/app/manifests/{digest}")).status_code == 202
    assert (await client.head("/v2/art/app/manifests/v512")).status_code == 404


# --- artifacts -----------------------------------------------------------------------------------


async def test_an_artifact_with_the_empty_config_and_data_fields(client: httpx.AsyncClient) -> None:
    """Issue 4 artifacts: "manifests with `artifactType`", "the empty descriptor", "`data` fields" (image-spec
    manifest.md "Guidelines for Artifact Usage", the empty descriptor with `"data": "e30="`)."""
    payload = Content(b"signature bytes", "application/vnd.example.signature.v1")
    await push(client, "art/app", EMPTY, payload)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature.v1",
        "config": {**EMPTY.descriptor(), "data": "e30="},
        "layers": [payload.descriptor(data=base64.b64encode(payload.data).decode())],
        "annotations": {"org.opencontainers.image.created": "2023-01-02T03:04:05Z"},
    }
    manifest = Content(json.dumps(document).encode(), OCI_MANIFEST)
    response = await put_manifest(client, "art/app", "sig", manifest)
    assert response.status_code == 201, response.text
    assert (await client.get("/v2/art/app/manifests/sig")).content == manifest.data
    assert base64.b64decode(document["config"]["data"]) == EMPTY.data  # type: ignore[index]


async def test_an_artifact_with_only_the_empty_layer(client: httpx.AsyncClient) -> None:
    """Image spec, "Guidelines for Artifact Usage": an artifact with no payload uses the empty descriptor as
    its single layer (and as its config)."""
    await push(client, "art/app", EMPTY)
    manifest = manifest_of(EMPTY, [EMPTY], artifactType="application/vnd.example.marker")
    assert (await put_manifest(client, "art/app", manifest.digest, manifest)).status_code == 201


async def test_custom_config_and_layer_media_types(client: httpx.AsyncClient) -> None:
    """Issue 4 artifacts: "custom config media types" (a Helm chart's, for instance)."""
    cfg = Content(b'{"name": "chart", "version": "1.0.0"}', "application/vnd.cncf.helm.config.v1+json")
    chart = layer(300, "application/vnd.cncf.helm.chart.content.v1.tar+gzip")
    await push(client, "art/charts", cfg, chart)
    manifest = manifest_of(cfg, [chart])
    assert (await put_manifest(client, "art/charts", "1.0.0", manifest)).status_code == 201
    got = await client.get("/v2/art/charts/manifests/1.0.0")
    assert got.content == manifest.data
    assert got.headers["content-type"] == OCI_MANIFEST


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    ],
)
async def test_non_distributable_layers_need_not_exist(client: httpx.AsyncClient, media_type: str) -> None:
    """Issue 4 artifacts: "non-distributable layers (not required to exist)" (image spec layer.md: their
    content lives at `urls`, outside the registry)."""
    cfg, lay = config(), layer()
    await push(client, "art/app", cfg, lay)
    foreign = layer(1000, media_type).descriptor(urls=["https://example.com/layer.tar"])
    document = json.loads(manifest_of(cfg, [lay]).data)
    document["layers"].insert(0, foreign)
    if "docker" in media_type:
        document["mediaType"] = DOCKER_MANIFEST
        document["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json"
    manifest = Content(json.dumps(document).encode(), document["mediaType"])
    response = await put_manifest(client, "art/app", "foreign", manifest)
    assert response.status_code == 201, response.text


async def test_custom_fields_are_kept_byte_for_byte(client: httpx.AsyncClient) -> None:
    """Issue 4 artifacts: "custom fields kept byte for byte" (unknown top-level and descriptor fields,
    numbers as written, unicode escapes, duplicate-looking keys in nested objects)."""
    cfg, lay = config(), layer()
    await push(client, "art/app", cfg, lay)
    layer_json = json.dumps(lay.descriptor())[:-1] + ', "x-vendor": {"n": 1.0e2, "s": "\\ud83d\\ude00"}}'
    body = (
        b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'",'
        b'"config":' + json.dumps(cfg.descriptor()).encode() + b","
        b'"layers":[' + layer_json.encode() + b"],"
        b'"x-extension":{"nested":[{"a":1},{"a":1}],"float":0.1000,"big":123456789012345678901234567890},'
        b'"annotations":{"k":"v\\u0000v"}}'
    )
    manifest = Content(body, OCI_MANIFEST)
    response = await put_manifest(client, "art/app", manifest.digest, manifest)
    assert response.status_code == 201, response.text
    got = await client.get(f"/v2/art/app/manifests/{manifest.digest}")
    assert got.content == body
    assert hashlib.sha256(got.content).hexdigest() == manifest.digest.split(":")[1]


# --- the manifest size limit -------------------------------------------------------------------------


async def test_an_oversized_streamed_manifest_is_refused_without_buffering_past_the_limit(
    client: httpx.AsyncClient,
) -> None:
    """Issue 4: larger manifests are "refused with `MANIFEST_INVALID` or 413, without buffering more than the
    limit" (a chunked body with no Content-Length: wharf stops reading once it is over the limit)."""
    sent = 0
    chunk = b" " * 65536

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"schemaVersion": 2, "pad": "'
        for _ in range(10 * MAX_MANIFEST_BYTES // len(chunk)):
            sent += len(chunk)
            yield chunk

    response = await client.put(
        "/v2/art/app/manifests/huge", content=endless(), headers={"content-type": OCI_MANIFEST}
    )
    assert_error(response, 413, "MANIFEST_INVALID")
    assert sent <= MAX_MANIFEST_BYTES + 2 * len(chunk)


async def test_a_content_length_over_the_limit_is_refused_before_the_body_is_read(
    client: httpx.AsyncClient,
) -> None:
    """Issue 4: "larger ones refused with `MANIFEST_INVALID` or 413, without buffering more than the limit"
    (a Content-Length over the limit is refused before a byte of the body is read)."""
    read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        for _ in range(100):
            read += 65536
            yield b" " * 65536

    response = await client.put(
        "/v2/art/app/manifests/huge",
        content=body(),
        headers={"content-type": OCI_MANIFEST, "content-length": str(1 << 40)},
    )
    assert_error(response, 413, "MANIFEST_INVALID")
    assert read <= 65536
    await push_image(client, "art/app", "after")  # the registry is fine
