"""Hostile manifests (issue 4): malformed JSON, a media type that contradicts Content-Type, a digest the
body does not hash to, references to missing blobs, deep or huge JSON. Each is a 4xx in the envelope
and stores nothing: no blob, no revision link, no tag."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.integration.hostile.conftest import assert_error, nothing_written
from tests.integration.oci.support import (
    OCI_INDEX,
    OCI_MANIFEST,
    config,
    digest_of,
    layer,
    manifest_of,
    push,
)

CFG = {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "size": 2,
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
}


def image(**fields: object) -> bytes:
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": CFG, "layers": [], **fields}
    ).encode()


MALFORMED = {
    "empty": b"",
    "not json": b"{not json",
    "truncated": image()[:-1],
    "trailing garbage": image() + b"}",
    "array": b"[]",
    "string": b'"manifest"',
    "null": b"null",
    "number": b"2",
    "NaN": b'{"schemaVersion": NaN}',
    "invalid utf-8": b'{"schemaVersion": 2, "x": "\xff\xfe"}',
    "utf-16": image().decode().encode("utf-16"),
    "NUL": b"\x00" * 100,
    "huge integer": b'{"schemaVersion": ' + b"9" * 100_000 + b"}",
    "deep arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "deep but balanced inside a string": b'{"schemaVersion": 2, "x": "' + b"[" * 100_000 + b'"}',
    "unbalanced brackets": b"]]]]}}}}" * 1000,
    "schemaVersion 1": b'{"schemaVersion": 1, "name": "a", "tag": "b", "fsLayers": []}',
    "schemaVersion true": image(schemaVersion=True),
    "schemaVersion 2.0": image(schemaVersion=2.0),
    "schemaVersion string": image(schemaVersion="2"),
    "no config": json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode(),
    "config not a descriptor": image(config="sha256:abc"),
    "layers not a list": image(layers={"a": CFG}),
    "negative size": image(layers=[{**CFG, "size": -1}]),
    "float size": image(layers=[{**CFG, "size": 1.5}]),
    "boolean size": image(layers=[{**CFG, "size": True}]),
    "no media type": image(layers=[{"size": 2, "digest": CFG["digest"]}]),
    "media type not a string": image(layers=[{**CFG, "mediaType": 7}]),
    "annotations not strings": image(annotations={"a": 1}),
    "annotations a list": image(annotations=["a"]),
    "subject not a descriptor": image(subject="x"),
    "artifactType not a string": image(artifactType=["x"]),
    "mediaType not a string": image(mediaType=5),
    "unknown mediaType": image(mediaType="application/vnd.example.not-a-manifest"),
    "index with layers": json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "layers": []}
    ).encode(),
    "image with manifests": image(manifests=[]),
    "manifests not a list": json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": 5}).encode(),
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_a_malformed_manifest_is_manifest_invalid(
    client: httpx.AsyncClient, root: Path, body: bytes
) -> None:
    """Manifests: malformed JSON (and deep or huge JSON, and every field of the wrong type)."""
    await push(client, "app", config())  # the repository exists
    with nothing_written(root):
        for reference in ("v1", digest_of(body)):
            response = await client.put(
                f"/v2/app/manifests/{reference}", content=body, headers={"content-type": OCI_MANIFEST}
            )
            assert_error(response, 400, "MANIFEST_INVALID")
    assert (await client.head("/v2/app/manifests/v1")).status_code == 404


@pytest.mark.parametrize(
    ("content_type", "declared"),
    [
        (OCI_INDEX, OCI_MANIFEST),
        (OCI_MANIFEST, OCI_INDEX),
        ("application/vnd.docker.distribution.manifest.v2+json", OCI_MANIFEST),
        ("application/vnd.docker.distribution.manifest.v1+prettyjws", OCI_MANIFEST),
        ("application/vnd.example.unknown+json", OCI_MANIFEST),
        ("text/html", OCI_INDEX),
    ],
)
async def test_a_media_type_contradicting_content_type_is_refused(
    client: httpx.AsyncClient, root: Path, content_type: str, declared: str
) -> None:
    """Manifests: a media type that contradicts `Content-Type`."""
    cfg, lay = config(), layer()
    await push(client, "app", cfg, lay)
    document = json.loads(manifest_of(cfg, [lay]).data)
    document["mediaType"] = declared
    with nothing_written(root):
        response = await client.put(
            "/v2/app/manifests/v1",
            content=json.dumps(document).encode(),
            headers={"content-type": content_type},
        )
        assert_error(response, 400, "MANIFEST_INVALID")


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_a_digest_the_body_does_not_hash_to(
    client: httpx.AsyncClient, root: Path, algorithm: str
) -> None:
    """Manifests: a digest in the URL that the body does not hash to (`DIGEST_INVALID`, nothing stored)."""
    cfg, lay = config(), layer()
    await push(client, "app", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    with nothing_written(root):
        for wrong in (digest_of(manifest.data + b"\n", algorithm), digest_of(b"", algorithm)):
            response = await client.put(
                f"/v2/app/manifests/{wrong}",
                content=manifest.data,
                headers={"content-type": OCI_MANIFEST},
                params={"tag": "tagged"},
            )
            assert_error(response, 400, "DIGEST_INVALID")
    assert (await client.head("/v2/app/manifests/tagged")).status_code == 404


async def test_references_to_missing_blobs(client: httpx.AsyncClient, root: Path) -> None:
    """Manifests: references to missing blobs (`MANIFEST_BLOB_UNKNOWN`), including many of them at once,
    and blobs that only another repository holds."""
    cfg = config()
    await push(client, "elsewhere", cfg)
    await push(client, "app", layer())
    layers = [layer(8) for _ in range(2000)]
    manifest = manifest_of(cfg, layers)
    with nothing_written(root):
        response = await client.put(
            "/v2/app/manifests/v1", content=manifest.data, headers={"content-type": OCI_MANIFEST}
        )
        assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
        assert len(response.content) < 1 << 20


async def test_an_index_of_missing_manifests(client: httpx.AsyncClient, root: Path) -> None:
    """Manifests: references to missing blobs — an index whose children were never pushed."""
    child = manifest_of(config(), [layer()])
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child.descriptor()]}
    ).encode()
    with nothing_written(root):
        response = await client.put("/v2/app/manifests/v1", content=body, headers={"content-type": OCI_INDEX})
        assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


async def test_a_huge_valid_manifest_within_the_limit(client: httpx.AsyncClient) -> None:
    """Manifests: huge JSON within the limit (20 000 descriptors of foreign layers, nearly 4 MiB) is parsed
    and stored, not refused or crashed on."""
    cfg = config()
    await push(client, "app", cfg)
    foreign = [
        {
            "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar",
            "size": i,
            "digest": digest_of(str(i).encode()),
            "urls": ["https://example.com"],
        }
        for i in range(20_000)
    ]
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg.descriptor(), "layers": foreign}
    ).encode()
    assert 3 << 20 < len(body) <= 4 << 20
    response = await client.put(
        "/v2/app/manifests/huge", content=body, headers={"content-type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    assert (await client.get("/v2/app/manifests/huge")).content == body


async def test_a_manifest_body_that_stops_early_stores_nothing(client: httpx.AsyncClient, root: Path) -> None:
    """Manifests: a body shorter than its Content-Length is refused (not half-stored)."""
    cfg, lay = config(), layer()
    await push(client, "app", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    with nothing_written(root):
        response = await client.put(
            "/v2/app/manifests/v1",
            content=manifest.data[:50],
            headers={"content-type": OCI_MANIFEST, "content-length": str(len(manifest.data))},
        )
        assert_error(response, 400)
