"""OCI Distribution 1.1, "Push" (manifests): the section's opening MUSTs, "Pushing Manifests" (tags on
push by digest, the size limit) and "Pushing Manifests with Subject"."""

from __future__ import annotations

import json

import httpx
import pytest

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

# --- Push (section introduction) -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["image", "index"])
async def test_a_subject_that_does_not_exist_is_accepted(client: httpx.AsyncClient, kind: str) -> None:
    """Push: "A registry MUST initially accept an otherwise valid manifest with a `subject` field that
    references a manifest that does not exist in the repository, allowing clients to push a manifest and
    referrers to that manifest in either order." """
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    subject = manifest_of(config(), [layer()])  # never pushed
    if kind == "image":
        referrer = manifest_of(cfg, [lay], subject=subject.descriptor())
    else:
        child = manifest_of(cfg, [lay])
        assert (await put_manifest(client, "push/m", child.digest, child)).status_code == 201
        referrer = index_of([child], subject=subject.descriptor())
    response = await put_manifest(client, "push/m", referrer.digest, referrer)
    assert response.status_code == 201, response.text
    listed = await client.get(f"/v2/push/m/referrers/{subject.digest}")
    assert [d["digest"] for d in listed.json()["manifests"]] == [referrer.digest]


@pytest.mark.parametrize("missing", ["config", "layer", "index child"])
async def test_missing_references_are_manifest_blob_unknown(client: httpx.AsyncClient, missing: str) -> None:
    """Push: "A registry MAY reject a manifest uploaded to the manifest endpoint with descriptors in other
    fields that reference a manifest or blob that does not exist in the registry. When a manifest is rejected
    for this reason, it MUST result in one or more `MANIFEST_BLOB_UNKNOWN` errors" """
    cfg, lay = config(), layer()
    await push(
        client, "push/m", *([lay] if missing == "config" else [cfg] if missing == "layer" else [cfg, lay])
    )
    manifest = manifest_of(cfg, [lay])
    if missing == "index child":
        manifest = index_of([manifest])
    response = await put_manifest(client, "push/m", "v1", manifest)
    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert_error(await client.get("/v2/push/m/manifests/v1"), 404)


# --- Push / Pushing Manifests --------------------------------------------------------------------


async def test_the_specs_example_push(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: "If a manifest includes a `mediaType` field, clients MUST set the
    `Content-Type` header to the value specified by the `mediaType` field." (the spec's example:
    `Content-Type: application/vnd.oci.image.manifest.v1+json` with that `mediaType`)"""
    manifest = await push_image(client, "push/m", "v1")
    assert json.loads(manifest.data)["mediaType"] == OCI_MANIFEST
    assert (await client.get("/v2/push/m/manifests/v1")).headers["content-type"] == OCI_MANIFEST


async def test_content_type_parameters_are_ignored(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: "The registry SHOULD ignore parameters on the `Content-Type` header." """
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    response = await put_manifest(
        client, "push/m", "v1", manifest, headers={"content-type": f'{OCI_MANIFEST}; charset=utf-8; x="y"'}
    )
    assert response.status_code == 201, response.text


async def test_the_list_of_blobs_may_be_empty(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: "The uploaded manifest MUST reference any blobs that make up the object.
    However, the list of blobs MAY be empty." """
    cfg = config()
    await push(client, "push/m", cfg)
    manifest = manifest_of(cfg, [])
    assert (await put_manifest(client, "push/m", "empty", manifest)).status_code == 201
    assert (await client.get("/v2/push/m/manifests/empty")).content == manifest.data


async def test_the_exact_bytes_are_stored(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: "The registry MUST store the manifest in the exact byte representation
    provided by the client." (odd whitespace, key order, escapes, unknown fields and a BOM-free UTF-8 body)"""
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    body = (
        '{\n\t"schemaVersion" :2 ,"layers":[ ' + json.dumps(lay.descriptor()) + " ],\r\n"
        '  "x-custom": {"z": [1, 2.50, true, null], "a": "\\u00e9t\\u00e9 \u2603"},\n'
        '  "config":' + json.dumps(cfg.descriptor(), indent=7) + ', "mediaType": "' + OCI_MANIFEST + '"}   \n'
    ).encode()
    manifest = Content(body, OCI_MANIFEST)
    response = await put_manifest(client, "push/m", "exact", manifest)
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == digest_of(body)
    for reference in ("exact", digest_of(body)):
        assert (await client.get(f"/v2/push/m/manifests/{reference}")).content == body


async def test_put_is_201_with_a_pullable_location(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: "Upon a successful upload, the registry MUST return response code
    `201 Created`, and MUST have the following header: `Location: <location>`" and "The `<location>` is a
    pullable manifest URL." """
    manifest = await push_image(client, "push/m", "v1")
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    again = manifest_of(cfg, [lay])
    response = await put_manifest(client, "push/m", "v2", again)
    assert response.status_code == 201
    pulled = await client.get(response.headers["location"])
    assert pulled.status_code == 200
    assert pulled.content == again.data
    assert manifest.data != again.data


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_docker_content_digest_equals_the_client_digest(
    client: httpx.AsyncClient, algorithm: str
) -> None:
    """Push / Pushing Manifests: "The Docker-Content-Digest header returns the digest of the uploaded blob,
    and MUST be equal to the client provided digest." """
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    digest = digest_of(manifest.data, algorithm)
    response = await put_manifest(client, "push/m", digest, manifest)
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == digest


async def test_a_digest_the_body_does_not_hash_to_is_refused(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: "The Docker-Content-Digest header returns the digest of the uploaded blob,
    and MUST be equal to the client provided digest." (so a body with another digest is DIGEST_INVALID and
    nothing is stored)"""
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    wrong = digest_of(manifest.data + b" ")
    assert_error(await put_manifest(client, "push/m", wrong, manifest), 400, "DIGEST_INVALID")
    for digest in (wrong, manifest.digest):
        assert (await client.head(f"/v2/push/m/manifests/{digest}")).status_code == 404


async def test_the_specs_tag_example_gets_oci_tag_headers(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: when pushing by digest with `tag` parameters, the registry "MUST include an
    `OCI-Tag` response header ... for each accepted tag." (the spec's example
    `PUT /v2/<name>/manifests/<digest>?tag=1.2.3&tag=1.2&tag=1&tag=latest`)"""
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    response = await put_manifest(
        client,
        "push/m",
        manifest.digest,
        manifest,
        params=[("tag", t) for t in ["1.2.3", "1.2", "1", "latest"]],
    )
    assert response.status_code == 201, response.text
    announced = [t.strip() for value in response.headers.get_list("oci-tag") for t in value.split(",")]
    assert announced == ["1.2.3", "1.2", "1", "latest"]
    for tag in announced:
        assert (await client.get(f"/v2/push/m/manifests/{tag}")).content == manifest.data
    assert (await client.get("/v2/push/m/tags/list")).json()["tags"] == ["1", "1.2", "1.2.3", "latest"]


async def test_at_least_ten_tags_per_request(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: "SHOULD support pushing at least 10 tags per request." """
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    tags = [f"t{i:02d}" for i in range(25)]
    response = await put_manifest(
        client, "push/m", manifest.digest, manifest, params=[("tag", t) for t in tags]
    )
    assert response.status_code == 201, response.text
    assert (await client.get("/v2/push/m/tags/list")).json()["tags"] == tags


async def test_a_bad_tag_parameter_stores_nothing(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: "the registry MAY support the pushing of tags specified by addition of `tag`
    query parameters" (a tag outside the grammar is refused before anything is stored)"""
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    response = await put_manifest(
        client, "push/m", manifest.digest, manifest, params=[("tag", "ok"), ("tag", "-no")]
    )
    assert_error(response, 400)
    assert (await client.head(f"/v2/push/m/manifests/{manifest.digest}")).status_code == 404
    assert (await client.head("/v2/push/m/manifests/ok")).status_code == 404


async def test_pulling_a_nonexistent_repository_is_404(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: "An attempt to pull a nonexistent repository MUST return response code
    `404 Not Found`." """
    for url in ("/v2/no/such/repo/manifests/latest", f"/v2/no/such/repo/blobs/{digest_of(b'')}"):
        response = await client.get(url)
        assert_error(response, 404)


async def test_a_manifest_of_4_mib_is_accepted(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: "Client and registry implementations SHOULD expect to be able to support
    manifest pushes of at least 4 megabytes." (exactly 4 MiB, padded with an annotation)"""
    manifest = await _sized_manifest(client, 4 << 20)
    response = await put_manifest(client, "push/m", "big", manifest)
    assert response.status_code == 201, response.text
    assert (await client.get("/v2/push/m/manifests/big")).content == manifest.data


async def test_a_manifest_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests: "A registry SHOULD enforce some limit on the maximum manifest size that it
    can accept. A registry that enforces this limit SHOULD respond to a request to push a manifest over this
    limit with a response code `413 Payload Too Large`." """
    manifest = await _sized_manifest(client, (4 << 20) + 1)
    assert_error(await put_manifest(client, "push/m", "big", manifest), 413, "MANIFEST_INVALID")
    assert (await client.head("/v2/push/m/manifests/big")).status_code == 404


async def _sized_manifest(client: httpx.AsyncClient, size: int) -> Content:
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    base = manifest_of(cfg, [lay], annotations={"pad": ""}).data
    body = base.replace(b'"pad": ""', b'"pad": "' + b"p" * (size - len(base)) + b'"')
    assert len(body) == size
    return Content(body, OCI_MANIFEST)


# --- Push / Pushing Manifests with Subject -------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_oci_subject_header_on_put_with_subject(client: httpx.AsyncClient, algorithm: str) -> None:
    """Push / Pushing Manifests with Subject: "When processing a request for an image manifest with the
    `subject` field, a registry implementation that supports the referrers API MUST respond with the
    response header `OCI-Subject: <subject digest>`" """
    subject = await push_image(client, "push/m", "v1")
    subject_digest = digest_of(subject.data, algorithm)
    if algorithm == "sha512":
        assert (await put_manifest(client, "push/m", subject_digest, subject)).status_code == 201
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    referrer = manifest_of(cfg, [lay], subject={**subject.descriptor(), "digest": subject_digest})
    response = await put_manifest(client, "push/m", referrer.digest, referrer)
    assert response.status_code == 201, response.text
    assert response.headers["oci-subject"] == subject_digest


async def test_no_oci_subject_header_without_a_subject(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests with Subject: the `OCI-Subject` header tells "the client that the registry
    processed the request's `subject`" (so a manifest without one gets none)"""
    cfg, lay = config(), layer()
    await push(client, "push/m", cfg, lay)
    response = await put_manifest(client, "push/m", "v1", manifest_of(cfg, [lay]))
    assert response.status_code == 201
    assert "oci-subject" not in response.headers


async def test_an_index_with_a_subject_gets_oci_subject(client: httpx.AsyncClient) -> None:
    """Push / Pushing Manifests with Subject: "a registry implementation that supports the referrers API MUST
    respond with the response header `OCI-Subject: <subject digest>`" (for an index with a subject too)"""
    subject = await push_image(client, "push/m", "v1")
    child = await push_image(client, "push/m")
    referrer = index_of([child], subject=subject.descriptor(), mediaType=OCI_INDEX)
    response = await put_manifest(client, "push/m", referrer.digest, referrer)
    assert response.status_code == 201, response.text
    assert response.headers["oci-subject"] == subject.digest


@pytest.mark.parametrize(
    "tag",
    [
        "sha256-" + "a" * 64,
        "sha512-" + "a" * 64,
        "test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot",
    ],
)
async def test_the_referrers_tag_schema_examples_are_tags(client: httpx.AsyncClient, tag: str) -> None:
    """Backwards Compatibility / Referrers Tag Schema: clients without the referrers API push an image index
    to a tag such as the spec's examples; "This tag should return an image index matching the expected
    response of the referrers API." (wharf accepts each example tag and serves the index back)"""
    index = index_of([])
    response = await put_manifest(client, "push/m", tag, index)
    assert response.status_code == 201, response.text
    got = await client.get(f"/v2/push/m/manifests/{tag}")
    assert got.content == index.data
    assert got.headers["content-type"] == OCI_INDEX
