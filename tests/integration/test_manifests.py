"""``/v2/<name>/manifests/<reference>``: PUT, GET, HEAD and DELETE by tag and digest, all four types."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from tests.helpers import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Blob,
    error_codes,
    image_manifest,
    index_manifest,
    push_blob,
    push_image,
    push_manifest,
    random_blob,
    sha256,
)
from tests.integration.conftest import ClientFactory
from wharf.registry.mediatypes import DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED

BASE = "http://registry.test"
ALL_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


async def push_index(
    client: httpx.AsyncClient, name: str, tag: str, *, media_type: str
) -> tuple[bytes, list[bytes]]:
    """Push two image manifests by digest, then an index of them tagged ``tag``."""
    child_type = DOCKER_MANIFEST if media_type == DOCKER_LIST else OCI_MANIFEST
    children = []
    for _ in range(2):
        body, _ = await push_image(client, name, "tmp", media_type=child_type)
        children.append(body)
    await client.delete(f"/v2/{name}/manifests/tmp")
    index = index_manifest([(body, child_type) for body in children], media_type=media_type)
    response = await push_manifest(client, name, tag, index, media_type)
    assert response.status_code == 201, response.text
    return index, children


async def push_any(client: httpx.AsyncClient, name: str, tag: str, media_type: str) -> bytes:
    if media_type in (OCI_INDEX, DOCKER_LIST):
        return (await push_index(client, name, tag, media_type=media_type))[0]
    return (await push_image(client, name, tag, media_type=media_type))[0]


ALL_TYPES = [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST]


# PUT


@pytest.mark.parametrize("media_type", ALL_TYPES)
async def test_put_by_tag_is_201_with_location_and_digest(client: httpx.AsyncClient, media_type: str) -> None:
    if media_type in (OCI_INDEX, DOCKER_LIST):
        child_type = DOCKER_MANIFEST if media_type == DOCKER_LIST else OCI_MANIFEST
        child, _ = await push_image(client, "team/app", "child", media_type=child_type)
        body = index_manifest([(child, child_type)], media_type=media_type)
    else:
        config, layer = random_blob(media_type=DOCKER_CONFIG), random_blob(media_type=DOCKER_LAYER)
        for blob in (config, layer):
            await push_blob(client, "team/app", blob)
        body = image_manifest(config, [layer], media_type=media_type)
    response = await push_manifest(client, "team/app", "v1", body, media_type)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{BASE}/v2/team/app/manifests/{sha256(body)}"
    assert response.headers["docker-content-digest"] == sha256(body)
    assert response.headers["content-length"] == "0"


@pytest.mark.parametrize("media_type", ALL_TYPES)
async def test_get_returns_the_exact_bytes_and_their_own_media_type_whatever_accept_says(
    client: httpx.AsyncClient, media_type: str
) -> None:
    body = await push_any(client, "team/app", "v1", media_type)
    for accept in [None, ALL_ACCEPT, DOCKER_SCHEMA1, "application/json", "text/html", "*/*"]:
        headers = {"accept": accept} if accept else {}
        for reference in ("v1", sha256(body)):
            response = await client.get(f"/v2/team/app/manifests/{reference}", headers=headers)
            assert response.status_code == 200, (accept, reference)
            assert response.content == body
            assert response.headers["content-type"] == media_type
            assert response.headers["docker-content-digest"] == sha256(body)
            assert response.headers["content-length"] == str(len(body))


@pytest.mark.parametrize("media_type", ALL_TYPES)
async def test_head_has_the_headers_and_no_body(client: httpx.AsyncClient, media_type: str) -> None:
    body = await push_any(client, "team/app", "v1", media_type)
    for reference in ("v1", sha256(body)):
        response = await client.head(f"/v2/team/app/manifests/{reference}")
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["content-length"] == str(len(body))
        assert response.headers["content-type"] == media_type
        assert response.headers["docker-content-digest"] == sha256(body)


async def test_bytes_are_stored_exactly_as_sent(client: httpx.AsyncClient) -> None:
    config, layer = random_blob(), random_blob()
    for blob in (config, layer):
        await push_blob(client, "a", blob)
    document = json.loads(image_manifest(config, [layer]))
    # unusual but valid: indentation, key order, trailing whitespace, escaped unicode
    body = (
        json.dumps(document, indent=7, sort_keys=True, ensure_ascii=True)[:-1] + '  ,"x":"\\u00e9"}\n\n'
    ).encode()
    assert (await push_manifest(client, "a", "v1", body)).status_code == 201
    assert (await client.get("/v2/a/manifests/v1")).content == body


async def test_a_body_without_media_type_or_content_type_is_inferred_and_served_as_pushed(
    client: httpx.AsyncClient,
) -> None:
    config, layer = random_blob(), random_blob()
    for blob in (config, layer):
        await push_blob(client, "a", blob)
    document = json.loads(image_manifest(config, [layer]))
    del document["mediaType"]
    body = json.dumps(document).encode()
    response = await client.put("/v2/a/manifests/v1", content=body)
    assert response.status_code == 201, response.text
    got = await client.get("/v2/a/manifests/v1")
    assert got.content == body
    assert got.headers["content-type"] == OCI_MANIFEST


async def test_content_type_parameters_are_ignored(client: httpx.AsyncClient) -> None:
    config, layer = random_blob(), random_blob()
    for blob in (config, layer):
        await push_blob(client, "a", blob)
    body = image_manifest(config, [layer])
    response = await push_manifest(client, "a", "v1", body, f"{OCI_MANIFEST}; charset=utf-8")
    assert response.status_code == 201
    assert (await client.get("/v2/a/manifests/v1")).headers["content-type"] == OCI_MANIFEST


async def test_put_by_matching_digest_stores_it_untagged(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "a", "tagged")
    await client.delete(f"/v2/a/manifests/{sha256(body)}")
    response = await push_manifest(client, "a", sha256(body), body)
    assert response.status_code == 201
    assert response.headers["docker-content-digest"] == sha256(body)
    assert (await client.get(f"/v2/a/manifests/{sha256(body)}")).content == body
    assert (await client.get("/v2/a/manifests/tagged")).status_code == 404


async def test_put_by_sha512_digest_uses_that_algorithm(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "a", "v1")
    digest = "sha512:" + hashlib.sha512(body).hexdigest()
    response = await push_manifest(client, "a", digest, body)
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == digest
    got = await client.get(f"/v2/a/manifests/{digest}")
    assert got.content == body
    assert got.headers["docker-content-digest"] == digest


async def test_put_by_a_digest_that_does_not_match_is_digest_invalid(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "a", "v1")
    other = sha256(b"not this manifest")
    response = await push_manifest(client, "a", other, body)
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    assert (await client.get(f"/v2/a/manifests/{other}")).status_code == 404


async def test_put_to_an_existing_tag_moves_it(client: httpx.AsyncClient) -> None:
    first, _ = await push_image(client, "a", "latest")
    second, _ = await push_image(client, "a", "latest")
    assert (await client.get("/v2/a/manifests/latest")).content == second
    assert (await client.get(f"/v2/a/manifests/{sha256(first)}")).content == first


async def test_put_with_extra_tags_tags_them_all(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "a", "v1")
    response = await client.put(
        f"/v2/a/manifests/{sha256(body)}",
        params=[("tag", "1.0"), ("tag", "1")],
        content=body,
        headers={"content-type": OCI_MANIFEST},
    )
    assert response.status_code == 201
    assert response.headers.get_list("oci-tag", split_commas=True) == ["1.0", "1"]
    assert (await client.get("/v2/a/tags/list")).json()["tags"] == ["1", "1.0", "v1"]


async def test_put_with_an_invalid_extra_tag_stores_nothing(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "a", "v1")
    await client.delete("/v2/a/manifests/v1")
    await client.delete(f"/v2/a/manifests/{sha256(body)}")
    response = await client.put(
        f"/v2/a/manifests/{sha256(body)}",
        params=[("tag", "-bad")],
        content=body,
        headers={"content-type": OCI_MANIFEST},
    )
    assert response.status_code == 400
    assert error_codes(response) == ["TAG_INVALID"]
    assert (await client.get(f"/v2/a/manifests/{sha256(body)}")).status_code == 404


@pytest.mark.parametrize("tag", ["-lead", ".lead", "x" * 129, "a+b"])
async def test_put_with_an_invalid_tag_is_tag_invalid(client: httpx.AsyncClient, tag: str) -> None:
    body, _ = await push_image(client, "a", "v1")
    response = await push_manifest(client, "a", tag, body)
    assert response.status_code == 400
    assert error_codes(response) == ["TAG_INVALID"]


async def test_a_manifest_with_a_subject_is_acknowledged(client: httpx.AsyncClient) -> None:
    subject, _ = await push_image(client, "a", "v1")
    config = Blob(b"{}", "application/vnd.example.sbom")
    await push_blob(client, "a", config)
    body = image_manifest(
        config, [], subject={"mediaType": OCI_MANIFEST, "digest": sha256(subject), "size": len(subject)}
    )
    response = await push_manifest(client, "a", sha256(body), body)
    assert response.status_code == 201, response.text
    assert response.headers["oci-subject"] == sha256(subject)


async def test_a_subject_that_does_not_exist_is_accepted(client: httpx.AsyncClient) -> None:
    config = Blob(b"{}", "application/vnd.example.sbom")
    await push_blob(client, "a", config)
    missing = sha256(b"not pushed yet")
    body = image_manifest(config, [], subject={"mediaType": OCI_MANIFEST, "digest": missing, "size": 5})
    assert (await push_manifest(client, "a", sha256(body), body)).status_code == 201


# refused manifests


async def test_missing_layers_are_manifest_blob_unknown(client: httpx.AsyncClient) -> None:
    config, present, absent = random_blob(), random_blob(), random_blob()
    for blob in (config, present):
        await push_blob(client, "a", blob)
    response = await push_manifest(client, "a", "v1", image_manifest(config, [present, absent]))
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
    assert absent.digest in json.dumps(response.json()["errors"][0].get("detail"))
    assert (await client.get("/v2/a/manifests/v1")).status_code == 404


async def test_every_missing_layer_of_many_is_named_in_the_manifests_order(client: httpx.AsyncClient) -> None:
    config = random_blob()
    layers = [random_blob() for _ in range(12)]
    for blob in (config, *layers[::2]):
        await push_blob(client, "a", blob)
    response = await push_manifest(client, "a", "v1", image_manifest(config, layers))
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
    assert response.json()["errors"][0]["detail"] == [blob.digest for blob in layers[1::2]]
    for blob in layers[1::2]:
        await push_blob(client, "a", blob)
    assert (await push_manifest(client, "a", "v1", image_manifest(config, layers))).status_code == 201


async def test_a_missing_config_is_manifest_blob_unknown(client: httpx.AsyncClient) -> None:
    config, layer = random_blob(), random_blob()
    await push_blob(client, "a", layer)
    response = await push_manifest(client, "a", "v1", image_manifest(config, [layer]))
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


async def test_blobs_of_another_repository_do_not_count(client: httpx.AsyncClient) -> None:
    config, layer = random_blob(), random_blob()
    for blob in (config, layer):
        await push_blob(client, "elsewhere", blob)
    response = await push_manifest(client, "a", "v1", image_manifest(config, [layer]))
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


async def test_foreign_layers_need_not_be_pushed(client: httpx.AsyncClient) -> None:
    config = random_blob()
    await push_blob(client, "a", config)
    foreign = Blob(b"windows base", "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
    document = json.loads(image_manifest(config, []))
    document["layers"] = [foreign.descriptor(urls=["https://example.com/base.tar.gz"])]
    body = json.dumps(document).encode()
    assert (await push_manifest(client, "a", "v1", body)).status_code == 201


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_LIST])
async def test_an_index_with_a_missing_child_is_manifest_blob_unknown(
    client: httpx.AsyncClient, media_type: str
) -> None:
    child_type = DOCKER_MANIFEST if media_type == DOCKER_LIST else OCI_MANIFEST
    present, _ = await push_image(client, "a", "child", media_type=child_type)
    absent = b'{"schemaVersion":2,"never":"pushed"}'
    body = index_manifest([(present, child_type), (absent, child_type)], media_type=media_type)
    response = await push_manifest(client, "a", "v1", body, media_type)
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
    assert sha256(absent) in json.dumps(response.json()["errors"][0].get("detail"))


async def test_an_index_child_in_another_repository_does_not_count(client: httpx.AsyncClient) -> None:
    child, _ = await push_image(client, "elsewhere", "child")
    response = await push_manifest(client, "a", "v1", index_manifest([(child, OCI_MANIFEST)]), OCI_INDEX)
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"not json at all", b"\xff\xfe", b'{"schemaVersion": 2}'])
async def test_a_body_that_is_not_a_manifest_is_manifest_invalid(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await push_manifest(client, "a", "v1", body)
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_INVALID"]


async def test_a_media_type_that_disagrees_with_the_content_type_is_manifest_invalid(
    client: httpx.AsyncClient,
) -> None:
    body, _ = await push_image(client, "a", "v1", media_type=OCI_MANIFEST)
    response = await push_manifest(client, "a", "v2", body, DOCKER_MANIFEST)
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_INVALID"]


@pytest.mark.parametrize("content_type", [DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, "application/json"])
async def test_schema1_is_refused_with_a_message_saying_so(
    client: httpx.AsyncClient, content_type: str
) -> None:
    body = json.dumps(
        {
            "schemaVersion": 1,
            "name": "a",
            "tag": "v1",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": sha256(b"x")}],
            "history": [{"v1Compatibility": "{}"}],
        }
    ).encode()
    response = await push_manifest(client, "a", "v1", body, content_type)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == "MANIFEST_INVALID"
    assert "schema1" in json.dumps(error)


async def test_a_manifest_over_the_size_limit_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"schemaVersion":2,"pad":"' + b"x" * (5 << 20) + b'"}'
    response = await push_manifest(client, "a", "v1", body)
    assert response.status_code == 413
    assert error_codes(response) == ["MANIFEST_INVALID"]


async def test_manifests_are_unsupported_in_read_only_mode(
    client_factory: ClientFactory, storage: object
) -> None:
    writable = await client_factory(driver=storage)
    body, _ = await push_image(writable, "a", "v1")
    read_only = await client_factory(driver=storage, **{"storage.maintenance.readonly.enabled": True})
    for method, reference in [("PUT", "v2"), ("DELETE", "v1"), ("DELETE", sha256(body))]:
        response = await read_only.request(
            method, f"/v2/a/manifests/{reference}", content=body, headers={"content-type": OCI_MANIFEST}
        )
        assert response.status_code == 405
        assert error_codes(response) == ["UNSUPPORTED"]
    assert (await read_only.get("/v2/a/manifests/v1")).content == body


# GET / HEAD misses


@pytest.mark.parametrize("reference", ["latest", sha256(b"absent")])
async def test_an_unknown_manifest_is_manifest_unknown(client: httpx.AsyncClient, reference: str) -> None:
    await push_image(client, "a", "v1")
    response = await client.get(f"/v2/a/manifests/{reference}")
    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]
    assert (await client.head(f"/v2/a/manifests/{reference}")).status_code == 404


async def test_a_manifest_of_another_repository_is_unknown_here(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "a", "v1")
    response = await client.get(f"/v2/b/manifests/{sha256(body)}")
    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


async def test_a_malformed_digest_reference_is_digest_invalid(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/a/manifests/sha256:nothex")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


# DELETE


async def test_delete_by_digest_removes_the_manifest_and_every_tag_on_it(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "a", "v1")
    await push_manifest(client, "a", "also", body)
    other, _ = await push_image(client, "a", "other")
    response = await client.delete(f"/v2/a/manifests/{sha256(body)}")
    assert response.status_code == 202
    for reference in ("v1", "also", sha256(body)):
        gone = await client.get(f"/v2/a/manifests/{reference}")
        assert gone.status_code == 404
        assert error_codes(gone) == ["MANIFEST_UNKNOWN"]
    assert (await client.get("/v2/a/tags/list")).json()["tags"] == ["other"]
    assert (await client.get("/v2/a/manifests/other")).content == other


async def test_delete_by_tag_removes_only_that_tag(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "a", "v1")
    await push_manifest(client, "a", "also", body)
    response = await client.delete("/v2/a/manifests/v1")
    assert response.status_code == 202
    assert (await client.get("/v2/a/manifests/v1")).status_code == 404
    assert (await client.get("/v2/a/manifests/also")).content == body
    assert (await client.get(f"/v2/a/manifests/{sha256(body)}")).content == body
    assert (await client.get("/v2/a/tags/list")).json()["tags"] == ["also"]


@pytest.mark.parametrize("reference", ["nope", sha256(b"nope")])
async def test_delete_of_an_unknown_reference_is_manifest_unknown(
    client: httpx.AsyncClient, reference: str
) -> None:
    await push_image(client, "a", "v1")
    response = await client.delete(f"/v2/a/manifests/{reference}")
    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


async def test_a_deleted_manifest_can_be_pushed_again(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "a", "v1")
    await client.delete(f"/v2/a/manifests/{sha256(body)}")
    assert (await push_manifest(client, "a", "v1", body)).status_code == 201
    assert (await client.get("/v2/a/manifests/v1")).content == body


@pytest.mark.parametrize("by_digest", [True, False])
async def test_delete_is_unsupported_when_deletes_are_disabled(
    client_factory: ClientFactory, by_digest: bool
) -> None:
    client = await client_factory(**{"storage.delete.enabled": False})
    body, _ = await push_image(client, "a", "v1")
    reference = sha256(body) if by_digest else "v1"
    response = await client.delete(f"/v2/a/manifests/{reference}")
    assert response.status_code == 405
    assert error_codes(response) == ["UNSUPPORTED"]
    assert (await client.get("/v2/a/manifests/v1")).content == body


@pytest.mark.parametrize("name", ["blobs", "a/manifests", "tags/list", "x/blobs/uploads", "a/referrers/b"])
async def test_names_with_route_words_as_components_work(client: httpx.AsyncClient, name: str) -> None:
    body, blobs = await push_image(client, name, "v1")
    assert (await client.get(f"/v2/{name}/manifests/v1")).content == body
    assert (await client.get(f"/v2/{name}/blobs/{blobs[0].digest}")).content == blobs[0].data
    assert (await client.get(f"/v2/{name}/tags/list")).json() == {"name": name, "tags": ["v1"]}
