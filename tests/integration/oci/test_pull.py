"""OCI Distribution 1.1, "Pull": every MUST and SHOULD of "Pulling manifests", "Pulling blobs" and
"Checking if content exists in the registry", plus "Determining Support" (end-1)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.helpers import DOCKER_LIST, DOCKER_MANIFEST
from tests.integration.oci.support import (
    OCI_INDEX,
    OCI_MANIFEST,
    Content,
    assert_error,
    config,
    digest_of,
    index_of,
    layer,
    manifest_of,
    push,
    push_image,
    put_manifest,
)

# --- API / Determining Support ---------------------------------------------------------------------


async def test_determining_support_v2_is_200(client: httpx.AsyncClient) -> None:
    """API / Determining Support: "If the response is `200 OK`, then the registry implements this
    specification." """
    assert (await client.get("/v2/")).status_code == 200


# --- Pull / Pulling manifests --------------------------------------------------------------------


async def test_manifest_get_by_tag_and_by_digest_is_200_with_the_manifest(client: httpx.AsyncClient) -> None:
    """Pull / Pulling manifests: "`<tag-or-digest>` MUST be either (a) the digest of the manifest or (b) a
    tag." and "A GET request to an existing manifest URL MUST provide the expected manifest, with a response
    code that MUST be `200 OK`." """
    manifest = await push_image(client, "pull/app", "v1")
    for reference in ("v1", manifest.digest):
        response = await client.get(f"/v2/pull/app/manifests/{reference}")
        assert response.status_code == 200
        assert response.content == manifest.data


@pytest.mark.parametrize(
    "reference",
    ["-leading-dash", ".leading-dot", "has space", "a" * 129, "tag$", "sha256:", "sha256:xyz", ":x"],
)
async def test_a_reference_in_any_other_format_is_refused(client: httpx.AsyncClient, reference: str) -> None:
    """Pull / Pulling manifests: "The `<tag-or-digest>` MUST NOT be in any other format." """
    await push_image(client, "pull/app", "v1")
    response = await client.get(f"/v2/pull/app/manifests/{reference}")
    assert_error(response, 400)


@pytest.mark.parametrize(
    "name",
    ["a", "a0", "a.b", "a_b", "a__b", "a-b", "a---b", "a/b/c", "library/ubuntu", "0x/y.z_w__v--u", "a" * 200],
)
async def test_names_matching_the_grammar_are_served(client: httpx.AsyncClient, name: str) -> None:
    """Pull / Pulling manifests: "`<name>` MUST match the following regular expression:
    `[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*`" (names that match work)."""
    manifest = await push_image(client, name, "latest")
    response = await client.get(f"/v2/{name}/manifests/latest")
    assert response.status_code == 200
    assert response.content == manifest.data


@pytest.mark.parametrize(
    "name",
    ["A", "a/B", "-a", "a-", "a.", ".a", "a..b", "a___b", "a/", "a//b", "_a", "a_", "a b", "é", "a+b", "a:b"],
)
async def test_names_outside_the_grammar_are_name_invalid(client: httpx.AsyncClient, name: str) -> None:
    """Pull / Pulling manifests: "Throughout this document, `<name>` MUST match the following regular
    expression" (names that do not match are refused with NAME_INVALID)."""
    response = await client.get(f"/v2/{name}/manifests/latest")
    assert_error(response, 400, "NAME_INVALID")


async def test_a_tag_of_128_characters_is_accepted_129_refused(client: httpx.AsyncClient) -> None:
    """Pull / Pulling manifests: "`<tag-or-digest>` as a tag MUST be at most 128 characters in length and
    MUST match the following regular expression: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`" """
    longest = "_" + "aZ9._-" * 21 + "x"
    assert len(longest) == 128
    manifest = await push_image(client, "pull/app", longest)
    assert (await client.get(f"/v2/pull/app/manifests/{longest}")).content == manifest.data
    assert_error(await put_manifest(client, "pull/app", longest + "x", manifest), 400)


@pytest.mark.parametrize(
    ("media_type", "build"),
    [
        (OCI_MANIFEST, "oci-image"),
        (OCI_INDEX, "oci-index"),
        (DOCKER_MANIFEST, "docker-image"),
        (DOCKER_LIST, "docker-list"),
    ],
)
async def test_content_type_is_the_pushed_type_without_parameters(
    client: httpx.AsyncClient, media_type: str, build: str
) -> None:
    """Pull / Pulling manifests: "The registry SHOULD NOT include parameters on the `Content-Type` header."
    and "The `Content-Type` header SHOULD match what the client pushed as the manifest's `Content-Type`." """
    manifest = await _pushable(client, "pull/types", build)
    response = await client.put(
        f"/v2/pull/types/manifests/{build}",
        content=manifest.data,
        headers={"content-type": f"{media_type}; charset=utf-8"},
    )
    assert response.status_code == 201, response.text
    got = await client.get(f"/v2/pull/types/manifests/{build}", headers={"accept": media_type})
    assert got.headers["content-type"] == media_type


async def test_content_type_matches_the_media_type_field(client: httpx.AsyncClient) -> None:
    """Pull / Pulling manifests: "If the manifest has a `mediaType` field, clients SHOULD reject unless the
    `mediaType` field's value matches the type specified by the `Content-Type` header." (so the registry
    must serve that type, whatever the request's `Accept` says)"""
    manifest = await push_image(client, "pull/app", "v1")
    response = await client.get("/v2/pull/app/manifests/v1", headers={"accept": "application/json"})
    assert response.headers["content-type"] == json.loads(response.content)["mediaType"] == OCI_MANIFEST
    assert response.content == manifest.data


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_manifest_response_carries_docker_content_digest(
    client: httpx.AsyncClient, algorithm: str
) -> None:
    """Pull / Pulling manifests: "A successful response MUST contain the digest of the uploaded blob in the
    header `Docker-Content-Digest`." and "if it is used, the client MUST verify the value matches the
    returned manifest." """
    cfg, lay = config(), layer()
    await push(client, "pull/app", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    digest = digest_of(manifest.data, algorithm)
    assert (await put_manifest(client, "pull/app", digest, manifest)).status_code == 201
    response = await client.get(f"/v2/pull/app/manifests/{digest}")
    assert response.headers["docker-content-digest"] == digest
    assert digest_of(response.content, algorithm) == digest


@pytest.mark.parametrize("what", ["unknown tag", "unknown digest", "unknown repository"])
async def test_a_manifest_not_found_is_404(client: httpx.AsyncClient, what: str) -> None:
    """Pull / Pulling manifests: "If the manifest is not found in the repository, the response code MUST be
    `404 Not Found`." """
    await push_image(client, "pull/app", "v1")
    url = {
        "unknown tag": "/v2/pull/app/manifests/v2",
        "unknown digest": f"/v2/pull/app/manifests/{digest_of(b'nothing')}",
        "unknown repository": "/v2/pull/nothing/manifests/v1",
    }[what]
    [error] = assert_error(await client.get(url), 404)
    assert error["code"] in {"MANIFEST_UNKNOWN", "NAME_UNKNOWN"}


# --- Pull / Pulling blobs ------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_blob_get_is_200_with_the_blob_and_its_digest(
    client: httpx.AsyncClient, algorithm: str
) -> None:
    """Pull / Pulling blobs: "A GET request to an existing blob URL MUST provide the expected blob, with a
    response code that MUST be `200 OK`." and "A successful response MUST contain the digest of the
    uploaded blob in the header `Docker-Content-Digest`. If present, the value of this header MUST be a
    digest matching that of the response body." """
    blob = layer(5000, algorithm=algorithm)
    await push(client, "pull/blobs", blob)
    response = await client.get(f"/v2/pull/blobs/blobs/{blob.digest}")
    assert response.status_code == 200
    assert response.content == blob.data
    assert response.headers["docker-content-digest"] == blob.digest == digest_of(response.content, algorithm)


@pytest.mark.parametrize("where", ["nowhere", "other repository"])
async def test_a_blob_not_found_in_the_repository_is_404(client: httpx.AsyncClient, where: str) -> None:
    """Pull / Pulling blobs: "If the blob is not found in the repository, the response code MUST be
    `404 Not Found`." (a blob held only by another repository is not in this one)"""
    blob = layer()
    if where == "other repository":
        await push(client, "pull/other", blob)
    assert_error(await client.get(f"/v2/pull/blobs/blobs/{blob.digest}"), 404, "BLOB_UNKNOWN")


@pytest.mark.parametrize(
    ("header", "status", "expected"),
    [
        ("bytes=0-9", 206, slice(0, 10)),
        ("bytes=10-", 206, slice(10, None)),
        ("bytes=-7", 206, slice(-7, None)),
        ("bytes=90-1000", 206, slice(90, None)),
        ("bytes=0-", 206, slice(0, None)),
    ],
)
async def test_range_requests_are_supported(
    client: httpx.AsyncClient, header: str, status: int, expected: slice
) -> None:
    """Pull / Pulling blobs: "A registry SHOULD support the `Range` request header in accordance with
    RFC 9110 (section 14)." (first-last, open-ended, suffix and past-the-end last positions)"""
    blob = layer(100)
    await push(client, "pull/blobs", blob)
    response = await client.get(f"/v2/pull/blobs/blobs/{blob.digest}", headers={"range": header})
    assert response.status_code == status
    part = blob.data[expected]
    assert response.content == part
    start = blob.data.index(part) if part else 0
    assert response.headers["content-range"] == f"bytes {start}-{start + len(part) - 1}/100"
    assert response.headers["content-length"] == str(len(part))


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0", "bytes=5-3"])
async def test_an_unsatisfiable_range_is_416(client: httpx.AsyncClient, header: str) -> None:
    """Pull / Pulling blobs: "A registry SHOULD support the `Range` request header in accordance with
    RFC 9110 (section 14)." (RFC 9110 15.5.17: 416 with `Content-Range: bytes */<size>`)"""
    blob = layer(100)
    await push(client, "pull/blobs", blob)
    response = await client.get(f"/v2/pull/blobs/blobs/{blob.digest}", headers={"range": header})
    assert_error(response, 416)
    assert response.headers["content-range"] == "bytes */100"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-1", "bytes=abc", "bytes=--1", "bytes=0-1-2"])
async def test_ranges_it_does_not_serve_are_ignored(client: httpx.AsyncClient, header: str) -> None:
    """Pull / Pulling blobs: "A registry SHOULD support the `Range` request header in accordance with
    RFC 9110 (section 14)." (RFC 9110 14.2: "A server MAY ignore the Range header field": the whole blob)"""
    blob = layer(100)
    await push(client, "pull/blobs", blob)
    response = await client.get(f"/v2/pull/blobs/blobs/{blob.digest}", headers={"range": header})
    assert response.status_code == 200
    assert response.content == blob.data


# --- Pull / Checking if content exists in the registry -------------------------------------------


async def test_head_of_an_existing_blob_and_manifest(client: httpx.AsyncClient) -> None:
    """Pull / Checking if content exists: "A HEAD request to an existing blob or manifest URL MUST return
    `200 OK`. A successful response MUST contain the digest of the uploaded blob or manifest in the header
    `Docker-Content-Digest`. A successful response MUST contain the size in bytes of the uploaded blob or
    manifest in the header `Content-Length`." """
    blob = layer(777)
    await push(client, "pull/head", blob)
    manifest = await push_image(client, "pull/head", "v1")
    for url, content in [
        (f"/v2/pull/head/blobs/{blob.digest}", blob),
        ("/v2/pull/head/manifests/v1", manifest),
        (f"/v2/pull/head/manifests/{manifest.digest}", manifest),
    ]:
        response = await client.head(url)
        assert response.status_code == 200
        assert response.headers["docker-content-digest"] == content.digest
        assert response.headers["content-length"] == str(len(content.data))
        assert response.content == b""


@pytest.mark.parametrize("kind", ["blobs", "manifests"])
async def test_head_of_missing_content_is_404(client: httpx.AsyncClient, kind: str) -> None:
    """Pull / Checking if content exists: "If the blob or manifest is not found in the repository, the
    response code MUST be `404 Not Found`." """
    response = await client.head(f"/v2/pull/head/{kind}/{digest_of(b'missing')}")
    assert response.status_code == 404
    assert response.content == b""


async def _pushable(client: httpx.AsyncClient, name: str, build: str) -> Content:
    """A manifest of the kind ``build`` names whose blobs (and children) are already pushed."""
    cfg, lay = config(), layer()
    await push(client, name, cfg, lay)
    if build == "oci-image":
        return manifest_of(cfg, [lay])
    if build == "docker-image":
        docker_cfg = Content(cfg.data, "application/vnd.docker.container.image.v1+json")
        docker_lay = Content(lay.data, "application/vnd.docker.image.rootfs.diff.tar.gzip")
        document = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": docker_cfg.descriptor(),
            "layers": [docker_lay.descriptor()],
        }
        return Content(json.dumps(document).encode(), DOCKER_MANIFEST)
    child = manifest_of(cfg, [lay])
    assert (await put_manifest(client, name, child.digest, child)).status_code == 201
    if build == "oci-index":
        return index_of([child])
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [{**child.descriptor(), "platform": {"architecture": "amd64", "os": "linux"}}],
    }
    return Content(json.dumps(document).encode(), DOCKER_LIST)
