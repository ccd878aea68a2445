"""A whole push and pull through the API, on every driver: the path every client takes."""

from __future__ import annotations

import httpx

from tests.helpers import OCI_MANIFEST, push_image, sha256


async def test_push_then_pull_by_tag_and_digest(client: httpx.AsyncClient) -> None:
    body, blobs = await push_image(client, "team/app", "v1")
    by_tag = await client.get("/v2/team/app/manifests/v1")
    assert by_tag.status_code == 200
    assert by_tag.content == body
    assert by_tag.headers["content-type"] == OCI_MANIFEST
    assert by_tag.headers["docker-content-digest"] == sha256(body)
    by_digest = await client.get(f"/v2/team/app/manifests/{sha256(body)}")
    assert by_digest.content == body
    for blob in blobs:
        got = await client.get(f"/v2/team/app/blobs/{blob.digest}")
        assert got.status_code == 200
        assert got.content == blob.data
        assert got.headers["docker-content-digest"] == blob.digest
    tags = await client.get("/v2/team/app/tags/list")
    assert tags.json() == {"name": "team/app", "tags": ["v1"]}
    catalog = await client.get("/v2/_catalog")
    assert catalog.json() == {"repositories": ["team/app"]}
