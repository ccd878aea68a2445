"""OCI Distribution 1.1, "Content Discovery": every MUST and SHOULD of "Listing Tags" and "Listing
Referrers", with the spec's own example referrers list and filter."""

from __future__ import annotations

import json
import random
import re

import httpx
import pytest

from tests.integration.oci.support import (
    EMPTY,
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
    push_artifact,
    push_image,
    put_manifest,
)

LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


async def tag_all(client: httpx.AsyncClient, name: str, tags: list[str]) -> None:
    manifest = await push_image(client, name)
    response = await put_manifest(client, name, manifest.digest, manifest, params=[("tag", t) for t in tags])
    assert response.status_code == 201, response.text


# --- Content Discovery / Listing Tags ------------------------------------------------------------


async def test_tags_list_is_200_with_the_specified_body(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Tags: "Assuming a repository is found, this request MUST return a `200 OK`
    response code." and "Upon success, the response MUST be a json body in the following format:
    `{"name": "<name>", "tags": ["<tag1>", "<tag2>", "<tag3>"]}`" """
    await tag_all(client, "disc/app", ["tag1", "tag2", "tag3"])
    response = await client.get("/v2/disc/app/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": "disc/app", "tags": ["tag1", "tag2", "tag3"]}


async def test_the_tag_list_may_be_empty(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Tags: "The list of tags MAY be empty if there are no tags on the
    repository." (a repository with an untagged manifest, and one whose only tag was deleted)"""
    await push_image(client, "disc/untagged")
    response = await client.get("/v2/disc/untagged/tags/list")
    assert response.status_code == 200
    assert response.json()["tags"] == []
    await push_image(client, "disc/was-tagged", "gone")
    assert (await client.delete("/v2/disc/was-tagged/manifests/gone")).status_code == 202
    response = await client.get("/v2/disc/was-tagged/tags/list")
    assert response.status_code == 200
    assert response.json()["tags"] == []


async def test_tags_are_in_lexical_order(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Tags: "If the list is not empty, the tags MUST be in lexical (i.e.
    case-insensitive alphanumeric order) or "ASCIIbetical" (Go's `sort.Strings`) order." """
    tags = ["b", "A", "a", "10", "9", "_x", "Z-1", "z.2", "latest", "v1.0.0", "v1.0.0-rc1"]
    await tag_all(client, "disc/app", random.sample(tags, len(tags)))
    listed = (await client.get("/v2/disc/app/tags/list")).json()["tags"]
    assert listed in (sorted(tags), sorted(tags, key=str.lower))


async def test_n_returns_n_results_or_a_link(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Tags: "The response to such a request MAY return fewer than `<int>`
    results, but only when the total number of tags attached to the repository is less than `<int>` or a
    `Link` header is provided. Otherwise, the response MUST include `<int>` results." and "If included, the
    `Link` header MUST be set according to RFC 5988 with the Relation Type `rel="next"`." """
    tags = [f"t{i:02d}" for i in range(7)]
    await tag_all(client, "disc/app", tags)
    collected: list[str] = []
    url: str | None = "/v2/disc/app/tags/list?n=3"
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200
        page = response.json()["tags"]
        link = response.headers.get("link")
        assert len(page) == 3 or link is None
        collected += page
        url = LINK.fullmatch(link)[1] if link else None  # type: ignore[index]
    assert collected == tags
    assert (await client.get("/v2/disc/app/tags/list?n=100")).json()["tags"] == tags


async def test_n_zero_is_an_empty_list_without_link(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Tags: "When `n` is zero, this endpoint MUST return an empty list, and MUST
    NOT include a `Link` header." """
    await tag_all(client, "disc/app", ["a", "b"])
    response = await client.get("/v2/disc/app/tags/list", params={"n": "0"})
    assert response.status_code == 200
    assert response.json() == {"name": "disc/app", "tags": []}
    assert "link" not in response.headers


async def test_without_last_the_list_starts_at_the_beginning(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Tags: "Without the `last` query parameter (described next), the list
    returned will start at the beginning of the list and include `<int>` results." """
    await tag_all(client, "disc/app", ["c", "a", "d", "b"])
    assert (await client.get("/v2/disc/app/tags/list", params={"n": "2"})).json()["tags"] == ["a", "b"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"n": "2", "last": "b"}, ["c", "d"]),
        ({"last": "b"}, ["c", "d", "e"]),
        ({"n": "10", "last": "bb"}, ["c", "d", "e"]),
        ({"last": "e"}, []),
        ({"last": "0"}, ["a", "b", "c", "d", "e"]),
    ],
)
async def test_last_starts_after_that_tag(
    client: httpx.AsyncClient, query: dict[str, str], expected: list[str]
) -> None:
    """Content Discovery / Listing Tags: "A request of this sort will return up to `<int>` tags, beginning
    non-inclusively with `<tagname>`." and "When using the `last` query parameter, the `n` parameter is
    OPTIONAL." (a `last` that is not a tag still orders lexically)"""
    await tag_all(client, "disc/app", ["e", "d", "c", "b", "a"])
    response = await client.get("/v2/disc/app/tags/list", params=query)
    assert response.status_code == 200
    assert response.json()["tags"] == expected


# --- Content Discovery / Listing Referrers -------------------------------------------------------


async def test_referrers_is_200_with_an_image_index(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Referrers: "Assuming a repository is found, this request MUST return a
    `200 OK` response code." and "Upon success, the response MUST be a JSON body with an image index
    containing a list of descriptors. The `Content-Type` header MUST be set to
    `application/vnd.oci.image.index.v1+json`." """
    subject = await push_image(client, "disc/app", "v1")
    referrer = await push_artifact(
        client, "disc/app", artifact_type="application/vnd.example.sbom.v1", subject=subject
    )
    response = await client.get(f"/v2/disc/app/referrers/{subject.digest}")
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_INDEX
    index = response.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    assert index["manifests"] == [
        {
            "mediaType": OCI_MANIFEST,
            "digest": referrer.digest,
            "size": len(referrer.data),
            "artifactType": "application/vnd.example.sbom.v1",
        }
    ]


@pytest.mark.parametrize("where", ["no referrers", "unknown subject", "unknown repository", "sha512 subject"])
async def test_referrers_is_never_404(client: httpx.AsyncClient, where: str) -> None:
    """Content Discovery / Listing Referrers: "If the registry supports the referrers API, the registry MUST
    NOT return a `404 Not Found` to a referrers API requests." and "If a query results in no matching
    referrers, an empty manifest list MUST be returned." """
    subject = await push_image(client, "disc/app", "v1")
    url = {
        "no referrers": f"/v2/disc/app/referrers/{subject.digest}",
        "unknown subject": f"/v2/disc/app/referrers/{digest_of(b'unknown')}",
        "unknown repository": f"/v2/disc/nothing/referrers/{subject.digest}",
        "sha512 subject": f"/v2/disc/app/referrers/{digest_of(subject.data, 'sha512')}",
    }[where]
    response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_INDEX
    assert response.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


@pytest.mark.parametrize(
    "digest",
    ["sha256:abc", "sha256:" + "Z" * 64, "md5:d41d8cd98f00b204e9800998ecf8427e", "latest", "sha256:../../x"],
)
async def test_an_invalid_digest_is_400(client: httpx.AsyncClient, digest: str) -> None:
    """Content Discovery / Listing Referrers: "If the request is invalid, such as a `<digest>` with an invalid
    syntax, a `400 Bad Request` MUST be returned." """
    assert_error(await client.get(f"/v2/disc/app/referrers/{digest}"), 400)


async def test_only_manifests_in_the_same_repository_are_listed(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Referrers: "Each descriptor is of an image manifest or index in the same
    `<name>` namespace with a `subject` field that specifies the value of `<digest>`." """
    subject = await push_image(client, "disc/app", "v1")
    here = await push_artifact(client, "disc/app", artifact_type="application/vnd.example.a", subject=subject)
    await push_artifact(client, "disc/other", artifact_type="application/vnd.example.b", subject=subject)
    other_subject = await push_image(client, "disc/app", "v2")
    await push_artifact(client, "disc/app", artifact_type="application/vnd.example.c", subject=other_subject)
    listed = (await client.get(f"/v2/disc/app/referrers/{subject.digest}")).json()["manifests"]
    assert [d["digest"] for d in listed] == [here.digest]


async def test_artifact_type_comes_from_the_manifest_or_its_config(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Referrers: "The descriptors MUST include an `artifactType` field that is
    set to the value of the `artifactType` in the image manifest or index, if present. If the `artifactType`
    is empty or missing in the image manifest, the value of `artifactType` MUST be set to the config
    descriptor `mediaType` value. If the `artifactType` is empty or missing in an index, the `artifactType`
    MUST be omitted." """
    subject = await push_image(client, "disc/app", "v1")
    declared = await push_artifact(
        client, "disc/app", artifact_type="application/vnd.example.declared", subject=subject
    )
    custom_config = Content(b'{"tool": "x"}', "application/vnd.example.config.v1+json")
    from_config = await push_artifact(client, "disc/app", subject=subject, config_blob=custom_config)
    empty_type = await push_artifact(client, "disc/app", artifact_type="", subject=subject, config_blob=EMPTY)
    child = await push_image(client, "disc/app")
    typed_index = index_of(
        [child], subject=subject.descriptor(), artifactType="application/vnd.example.index"
    )
    plain_index = index_of([child], subject=subject.descriptor())
    for index in (typed_index, plain_index):
        assert (await put_manifest(client, "disc/app", index.digest, index)).status_code == 201
    listed = {
        d["digest"]: d
        for d in (await client.get(f"/v2/disc/app/referrers/{subject.digest}")).json()["manifests"]
    }
    assert listed[declared.digest]["artifactType"] == "application/vnd.example.declared"
    assert listed[from_config.digest]["artifactType"] == "application/vnd.example.config.v1+json"
    assert listed[empty_type.digest]["artifactType"] == EMPTY.media_type
    assert listed[typed_index.digest]["artifactType"] == "application/vnd.example.index"
    assert "artifactType" not in listed[plain_index.digest]
    assert listed[plain_index.digest]["mediaType"] == OCI_INDEX


async def test_the_specs_example_referrers_list(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Referrers: "The descriptors MUST include annotations from the image
    manifest or index." (the spec's example: an sbom, a signature and an index, with their annotations)"""
    subject = await push_image(client, "disc/app", "v1")
    sbom = await push_artifact(
        client,
        "disc/app",
        artifact_type="application/vnd.example.sbom.v1",
        subject=subject,
        annotations={
            "org.opencontainers.image.created": "2022-01-01T14:42:55Z",
            "org.example.sbom.format": "json",
        },
    )
    signature = await push_artifact(
        client,
        "disc/app",
        artifact_type="application/vnd.example.signature.v1",
        subject=subject,
        annotations={
            "org.opencontainers.image.created": "2022-01-01T07:21:33Z",
            "org.example.signature.fingerprint": "abcd",
        },
    )
    child = await push_image(client, "disc/app")
    index = index_of(
        [child],
        subject=subject.descriptor(),
        annotations={"org.opencontainers.image.created": "2023-01-01T07:21:33Z"},
    )
    assert (await put_manifest(client, "disc/app", index.digest, index)).status_code == 201
    listed = (await client.get(f"/v2/disc/app/referrers/{subject.digest}")).json()["manifests"]
    expected = [
        {
            "mediaType": OCI_MANIFEST,
            "size": len(sbom.data),
            "digest": sbom.digest,
            "artifactType": "application/vnd.example.sbom.v1",
            "annotations": {
                "org.opencontainers.image.created": "2022-01-01T14:42:55Z",
                "org.example.sbom.format": "json",
            },
        },
        {
            "mediaType": OCI_MANIFEST,
            "size": len(signature.data),
            "digest": signature.digest,
            "artifactType": "application/vnd.example.signature.v1",
            "annotations": {
                "org.opencontainers.image.created": "2022-01-01T07:21:33Z",
                "org.example.signature.fingerprint": "abcd",
            },
        },
        {
            "mediaType": OCI_INDEX,
            "size": len(index.data),
            "digest": index.digest,
            "annotations": {"org.opencontainers.image.created": "2023-01-01T07:21:33Z"},
        },
    ]
    assert sorted(listed, key=lambda d: str(d["digest"])) == sorted(expected, key=lambda d: str(d["digest"]))


async def test_the_specs_example_filter(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Referrers: "The registry SHOULD support filtering on `artifactType`." and
    "If filtering is requested and applied, the response MUST include a header `OCI-Filters-Applied:
    artifactType` denoting that an `artifactType` filter was applied." (the spec's example request
    `?artifactType=application/vnd.example.sbom.v1`)"""
    subject = await push_image(client, "disc/app", "v1")
    sbom = await push_artifact(
        client,
        "disc/app",
        artifact_type="application/vnd.example.sbom.v1",
        subject=subject,
        annotations={
            "org.opencontainers.artifact.created": "2022-01-01T14:42:55Z",
            "org.example.sbom.format": "json",
        },
    )
    await push_artifact(
        client, "disc/app", artifact_type="application/vnd.example.signature.v1", subject=subject
    )
    response = await client.get(
        f"/v2/disc/app/referrers/{subject.digest}", params={"artifactType": "application/vnd.example.sbom.v1"}
    )
    assert response.status_code == 200
    assert response.headers["oci-filters-applied"] == "artifactType"
    assert response.json()["manifests"] == [
        {
            "mediaType": OCI_MANIFEST,
            "size": len(sbom.data),
            "digest": sbom.digest,
            "artifactType": "application/vnd.example.sbom.v1",
            "annotations": {
                "org.opencontainers.artifact.created": "2022-01-01T14:42:55Z",
                "org.example.sbom.format": "json",
            },
        }
    ]
    unfiltered = await client.get(f"/v2/disc/app/referrers/{subject.digest}")
    assert "oci-filters-applied" not in unfiltered.headers
    assert len(unfiltered.json()["manifests"]) == 2


async def test_a_filter_matching_nothing_is_an_empty_list(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Referrers: "If a query results in no matching referrers, an empty manifest
    list MUST be returned." (with the filter applied and announced)"""
    subject = await push_image(client, "disc/app", "v1")
    await push_artifact(client, "disc/app", artifact_type="application/vnd.example.sbom.v1", subject=subject)
    response = await client.get(
        f"/v2/disc/app/referrers/{subject.digest}", params={"artifactType": "text/nothing"}
    )
    assert response.status_code == 200
    assert response.headers["oci-filters-applied"] == "artifactType"
    assert response.json()["manifests"] == []


async def test_all_referrers_in_one_response_without_link(client: httpx.AsyncClient) -> None:
    """Content Discovery / Listing Referrers: "A `Link` header MUST be included in the response when the
    descriptor list cannot be returned in a single manifest." (wharf returns the whole list at once, so it
    never needs one)"""
    subject = await push_image(client, "disc/app", "v1")
    pushed = {
        (
            await push_artifact(
                client, "disc/app", artifact_type=f"application/vnd.example.t{i}", subject=subject
            )
        ).digest
        for i in range(30)
    }
    response = await client.get(f"/v2/disc/app/referrers/{subject.digest}")
    assert "link" not in response.headers
    assert {d["digest"] for d in response.json()["manifests"]} == pushed


async def test_newly_pushed_manifests_with_a_subject_are_listed(client: httpx.AsyncClient) -> None:
    """Upgrade Procedures / Enabling the Referrers API: "After the referrers API is enabled, Registries MUST
    include all newly pushed image manifests with a valid `subject` field in the referrers API response."
    (including ones pushed by tag, and an sha512 referrer of an sha512 subject)"""
    subject = await push_image(client, "disc/app", "v1")
    cfg, lay = config(), layer()
    await push(client, "disc/app", cfg, lay)
    by_tag = manifest_of(cfg, [lay], subject=subject.descriptor())
    assert (await put_manifest(client, "disc/app", "signed", by_tag)).status_code == 201
    sha512_subject = digest_of(subject.data, "sha512")
    assert (await put_manifest(client, "disc/app", sha512_subject, subject)).status_code == 201
    sha512_referrer = manifest_of(cfg, [lay], subject={**subject.descriptor(), "digest": sha512_subject})
    referrer_digest = digest_of(sha512_referrer.data, "sha512")
    assert (await put_manifest(client, "disc/app", referrer_digest, sha512_referrer)).status_code == 201
    listed = (await client.get(f"/v2/disc/app/referrers/{subject.digest}")).json()["manifests"]
    assert [d["digest"] for d in listed] == [by_tag.digest]
    listed = (await client.get(f"/v2/disc/app/referrers/{sha512_subject}")).json()["manifests"]
    assert [d["digest"] for d in listed] == [referrer_digest]
    assert json.loads(sha512_referrer.data)["subject"]["digest"] == sha512_subject
