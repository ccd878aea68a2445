"""OCI Distribution 1.1, "Content Management": every MUST and SHOULD of "Deleting tags", "Deleting
Manifests" and "Deleting Blobs", and the referrers list kept consistent through deletes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import ClientFactory, config_for, lifespan
from tests.integration.fakes import FlakyDriver
from tests.integration.oci.support import (
    assert_error,
    config,
    digest_of,
    layer,
    manifest_of,
    push,
    push_artifact,
    push_image,
    put_manifest,
)
from wharf.api.app import create_app
from wharf.config import parse_config
from wharf.registry.factory import driver_for
from wharf.storage.driver import StorageDriver

DISABLED = {"storage.delete.enabled": False}

# --- Content Management / Deleting tags ----------------------------------------------------------


async def test_delete_tag_is_202_and_then_the_tag_is_404(client: httpx.AsyncClient) -> None:
    """Content Management / Deleting tags: "Upon success, the registry MUST respond with a `202 Accepted`
    code." and "Once deleted, a `GET` to `/v2/<name>/manifests/<tag>` will return a 404." (the manifest
    itself stays, by digest and by its other tags)"""
    manifest = await push_image(client, "mgmt/app", "v1")
    await put_manifest(client, "mgmt/app", "v2", manifest)
    assert (await client.delete("/v2/mgmt/app/manifests/v1")).status_code == 202
    assert_error(await client.get("/v2/mgmt/app/manifests/v1"), 404, "MANIFEST_UNKNOWN")
    assert (await client.get("/v2/mgmt/app/manifests/v2")).content == manifest.data
    assert (await client.get(f"/v2/mgmt/app/manifests/{manifest.digest}")).status_code == 200


async def test_tag_deletion_disabled_is_400_or_405(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    """Content Management / Deleting tags: "If tag deletion is disabled, the registry MUST respond with either
    a `400 Bad Request` or a `405 Method Not Allowed`." """
    writer = await client_factory(driver=storage)
    await push_image(writer, "mgmt/app", "v1")
    client = await client_factory(driver=storage, **DISABLED)
    assert_error(await client.delete("/v2/mgmt/app/manifests/v1"), (400, 405), "UNSUPPORTED")


# --- Content Management / Deleting Manifests -----------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_delete_manifest_is_202_and_then_digest_and_tags_are_404(
    client: httpx.AsyncClient, algorithm: str
) -> None:
    """Content Management / Deleting Manifests: "Upon success, the registry MUST respond with a `202 Accepted`
    code." and "Once deleted, a `GET` to `/v2/<name>/manifests/<digest>` and any tag pointing to that digest
    will return a 404." """
    cfg, lay = config(), layer()
    await push(client, "mgmt/app", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    digest = digest_of(manifest.data, algorithm)
    response = await put_manifest(client, "mgmt/app", digest, manifest, params=[("tag", "a"), ("tag", "b")])
    assert response.status_code == 201, response.text
    assert (await client.delete(f"/v2/mgmt/app/manifests/{digest}")).status_code == 202
    for reference in (digest, "a", "b"):
        assert_error(await client.get(f"/v2/mgmt/app/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")
    assert (await client.get("/v2/mgmt/app/tags/list")).json().get("tags", []) == []


async def test_delete_manifest_of_a_repository_that_does_not_exist_is_404(client: httpx.AsyncClient) -> None:
    """Content Management / Deleting Manifests: "If the repository does not exist, the response MUST return
    `404 Not Found`." """
    assert_error(await client.delete(f"/v2/mgmt/nothing/manifests/{digest_of(b'x')}"), 404)
    assert_error(await client.delete("/v2/mgmt/nothing/manifests/latest"), 404)


async def test_manifest_deletion_disabled_is_400_or_405(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    """Content Management / Deleting Manifests: "If manifest deletion is disabled, the registry MUST respond
    with either a `400 Bad Request` or a `405 Method Not Allowed`." (and the manifest stays)"""
    writer = await client_factory(driver=storage)
    manifest = await push_image(writer, "mgmt/app", "v1")
    client = await client_factory(driver=storage, **DISABLED)
    assert_error(await client.delete(f"/v2/mgmt/app/manifests/{manifest.digest}"), (400, 405), "UNSUPPORTED")
    assert (await client.get(f"/v2/mgmt/app/manifests/{manifest.digest}")).status_code == 200


async def test_a_deleted_referrer_leaves_the_referrers_list(client: httpx.AsyncClient) -> None:
    """Content Management / Deleting Manifests: "When deleting an image manifest that contains a `subject`
    field, and the referrers API returns a 404, clients SHOULD [update the referrers tag]" (wharf's referrers
    API never 404s: the registry itself drops the deleted manifest from the list)"""
    subject = await push_image(client, "mgmt/app", "v1")
    kept = await push_artifact(
        client, "mgmt/app", artifact_type="application/vnd.example.kept", subject=subject
    )
    gone = await push_artifact(
        client, "mgmt/app", artifact_type="application/vnd.example.gone", subject=subject
    )
    assert (await client.delete(f"/v2/mgmt/app/manifests/{gone.digest}")).status_code == 202
    response = await client.get(f"/v2/mgmt/app/referrers/{subject.digest}")
    assert response.status_code == 200
    assert [d["digest"] for d in response.json()["manifests"]] == [kept.digest]
    filtered = await client.get(
        f"/v2/mgmt/app/referrers/{subject.digest}", params={"artifactType": "application/vnd.example.gone"}
    )
    assert filtered.json()["manifests"] == []


async def test_referrers_of_a_deleted_subject_are_still_listed(client: httpx.AsyncClient) -> None:
    """Content Management / Deleting Manifests, with Push: "allowing clients to push a manifest and
    referrers to that manifest in either order" (deleting the subject does not delete its referrers, so the
    list stays what it was, as it is before the subject is pushed)"""
    subject = await push_image(client, "mgmt/app", "v1")
    referrer = await push_artifact(
        client, "mgmt/app", artifact_type="application/vnd.example.sig", subject=subject
    )
    assert (await client.delete(f"/v2/mgmt/app/manifests/{subject.digest}")).status_code == 202
    listed = (await client.get(f"/v2/mgmt/app/referrers/{subject.digest}")).json()["manifests"]
    assert [d["digest"] for d in listed] == [referrer.digest]
    assert (await put_manifest(client, "mgmt/app", subject.digest, subject)).status_code == 201
    listed = (await client.get(f"/v2/mgmt/app/referrers/{subject.digest}")).json()["manifests"]
    assert [d["digest"] for d in listed] == [referrer.digest]


async def test_a_referrer_deleted_then_pushed_again_is_listed_again(client: httpx.AsyncClient) -> None:
    """Upgrade Procedures / Enabling the Referrers API: "Registries MUST include all newly pushed image
    manifests with a valid `subject` field in the referrers API response." (also after a delete)"""
    subject = await push_image(client, "mgmt/app", "v1")
    referrer = await push_artifact(
        client, "mgmt/app", artifact_type="application/vnd.example.sig", subject=subject
    )
    assert (await client.delete(f"/v2/mgmt/app/manifests/{referrer.digest}")).status_code == 202
    assert (await client.get(f"/v2/mgmt/app/referrers/{subject.digest}")).json()["manifests"] == []
    assert (await put_manifest(client, "mgmt/app", referrer.digest, referrer)).status_code == 201
    listed = (await client.get(f"/v2/mgmt/app/referrers/{subject.digest}")).json()["manifests"]
    assert [d["digest"] for d in listed] == [referrer.digest]


async def test_untagging_a_referrer_keeps_it_listed(client: httpx.AsyncClient) -> None:
    """Content Management / Deleting tags: deleting a tag deletes the tag, not the manifest ("a registry MAY
    implement tag deletion, while others MAY allow deletion only by manifest"), so a referrer pushed by tag
    stays in the referrers list"""
    subject = await push_image(client, "mgmt/app", "v1")
    cfg, lay = config(), layer()
    await push(client, "mgmt/app", cfg, lay)
    referrer = manifest_of(cfg, [lay], subject=subject.descriptor())
    assert (await put_manifest(client, "mgmt/app", "sig", referrer)).status_code == 201
    assert (await client.delete("/v2/mgmt/app/manifests/sig")).status_code == 202
    listed = (await client.get(f"/v2/mgmt/app/referrers/{subject.digest}")).json()["manifests"]
    assert [d["digest"] for d in listed] == [referrer.digest]


# --- Content Management / Deleting Blobs ---------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_delete_blob_is_202_then_404(client: httpx.AsyncClient, algorithm: str) -> None:
    """Content Management / Deleting Blobs: "Upon success, the registry MUST respond with code
    `202 Accepted`." """
    blob = layer(algorithm=algorithm)
    await push(client, "mgmt/app", blob)
    assert (await client.delete(f"/v2/mgmt/app/blobs/{blob.digest}")).status_code == 202
    assert_error(await client.get(f"/v2/mgmt/app/blobs/{blob.digest}"), 404, "BLOB_UNKNOWN")


async def test_delete_of_a_blob_not_found_is_404(client: httpx.AsyncClient) -> None:
    """Content Management / Deleting Blobs: "If the blob is not found, a `404 Not Found` code MUST be
    returned." (never pushed, pushed to another repository, or already deleted)"""
    blob = layer()
    await push(client, "mgmt/other", blob)
    assert_error(await client.delete(f"/v2/mgmt/app/blobs/{digest_of(b'never')}"), 404, "BLOB_UNKNOWN")
    assert_error(await client.delete(f"/v2/mgmt/app/blobs/{blob.digest}"), 404, "BLOB_UNKNOWN")
    assert (await client.delete(f"/v2/mgmt/other/blobs/{blob.digest}")).status_code == 202
    assert_error(await client.delete(f"/v2/mgmt/other/blobs/{blob.digest}"), 404, "BLOB_UNKNOWN")


async def test_blob_deletion_disabled_is_400_or_405(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    """Content Management / Deleting Blobs: "If blob deletion is disabled, the registry MUST respond with
    either a `400 Bad Request` or a `405 Method Not Allowed`." """
    writer = await client_factory(driver=storage)
    blob = layer()
    await push(writer, "mgmt/app", blob)
    client = await client_factory(driver=storage, **DISABLED)
    assert_error(await client.delete(f"/v2/mgmt/app/blobs/{blob.digest}"), (400, 405), "UNSUPPORTED")
    assert (await client.get(f"/v2/mgmt/app/blobs/{blob.digest}")).status_code == 200


class _FailingRevisions(FlakyDriver):
    """Fails writes and deletes of manifest revision links while ``failing`` (a crash half-way)."""

    async def put_content(self, path: str, data: bytes) -> None:
        if self.failing and "/_manifests/revisions/" in path:
            raise self.error
        await self.inner.put_content(path, data)

    async def delete(self, path: str) -> None:
        if self.failing and "/_manifests/revisions/" in path:
            raise self.error
        await self.inner.delete(path)


async def test_referrers_stay_consistent_when_storage_fails_half_way(
    driver_kind: str, tmp_path: Path
) -> None:
    """Issue 4, Referrers: "Referrers are kept consistent through deletes" (and pushes) even when storage
    fails between the manifest's revision link and its referrers entry: a manifest the repository does
    not hold is never listed, and one it holds always is."""
    config_ = parse_config(config_for(driver_kind, tmp_path / "root"))
    driver = _FailingRevisions(driver_for(config_))
    app = create_app(config_, driver=driver)
    transport = httpx.ASGITransport(app=app)
    async with (
        lifespan(app),
        httpx.AsyncClient(transport=transport, base_url="http://registry.test") as client,
    ):
        subject = await push_image(client, "mgmt/app", "v1")
        kept = await push_artifact(
            client, "mgmt/app", artifact_type="application/vnd.example.a", subject=subject
        )

        async def listed() -> list[str]:
            response = await client.get(f"/v2/mgmt/app/referrers/{subject.digest}")
            return sorted(d["digest"] for d in response.json()["manifests"])

        cfg, lay = config(), layer()
        await push(client, "mgmt/app", cfg, lay)
        late = manifest_of(cfg, [lay], subject=subject.descriptor())
        driver.failing = True
        assert (await put_manifest(client, "mgmt/app", late.digest, late)).status_code == 500
        assert (await client.delete(f"/v2/mgmt/app/manifests/{kept.digest}")).status_code == 500
        driver.failing = False
        assert (await client.head(f"/v2/mgmt/app/manifests/{late.digest}")).status_code == 404
        assert (await client.head(f"/v2/mgmt/app/manifests/{kept.digest}")).status_code == 200
        assert await listed() == [kept.digest]
        assert (await put_manifest(client, "mgmt/app", late.digest, late)).status_code == 201
        assert (await client.delete(f"/v2/mgmt/app/manifests/{kept.digest}")).status_code == 202
        assert await listed() == [late.digest]


async def test_a_blob_deleted_from_a_mount_target_stays_in_the_source(client: httpx.AsyncClient) -> None:
    """Content Management / Deleting Blobs: "Upon success, the registry MUST respond with code
    `202 Accepted`." (a blob mounted from A into B and deleted from B is gone from B only)"""
    blob = layer()
    await push(client, "mgmt/a", blob)
    mounted = await client.post("/v2/mgmt/b/blobs/uploads/", params={"mount": blob.digest, "from": "mgmt/a"})
    assert mounted.status_code == 201
    assert (await client.delete(f"/v2/mgmt/b/blobs/{blob.digest}")).status_code == 202
    assert (await client.head(f"/v2/mgmt/b/blobs/{blob.digest}")).status_code == 404
    assert (await client.head(f"/v2/mgmt/a/blobs/{blob.digest}")).status_code == 200
