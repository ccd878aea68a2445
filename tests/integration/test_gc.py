"""Garbage collection in-process, on every driver: what it keeps, what it frees, what it reports,
and how it treats pushes that overlap it (each interleaving set up deterministically)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import (
    DOCKER_LAYER,
    OCI_EMPTY,
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
from tests.integration.conftest import config_for, lifespan
from wharf.api.app import RegistryApp, create_app
from wharf.config import parse_config
from wharf.digest import Digest
from wharf.reference import RepositoryName, Tag
from wharf.registry import gc, paths
from wharf.registry.fence import CollectionRunning
from wharf.registry.gc import GCError, collect
from wharf.registry.namespace import Registry
from wharf.storage.driver import PathNotFound, StorageDriver, files_under


@dataclass
class Env:
    client: httpx.AsyncClient
    registry: Registry

    @property
    def driver(self) -> StorageDriver:
        return self.registry.driver

    async def stored(self, digest: str) -> bool:
        return await self.exists(paths.blob_data(Digest.parse(digest)))

    async def linked(self, name: str, digest: str) -> bool:
        return await self.exists(paths.layer_link(RepositoryName(name), Digest.parse(digest)))

    async def exists(self, path: str) -> bool:
        try:
            await self.driver.stat(path)
        except PathNotFound:
            return False
        return True

    async def pulls(self, name: str, reference: str, body: bytes, blobs: list[Blob]) -> bool:
        """The manifest and every blob come back byte for byte."""
        manifest = await self.client.get(f"/v2/{name}/manifests/{reference}")
        if manifest.status_code != 200 or manifest.content != body:
            return False
        for blob in blobs:
            got = await self.client.get(f"/v2/{name}/blobs/{blob.digest}")
            if got.status_code != 200 or got.content != blob.data:
                return False
        return True


def registry_of(app: RegistryApp) -> Registry:
    registry: Registry = app.state.registry
    return registry


@pytest.fixture
async def env(driver_kind: str, tmp_path: Path) -> AsyncIterator[Env]:
    app = create_app(parse_config(config_for(driver_kind, tmp_path / "root")))
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as client:
            yield Env(client, registry_of(app))


async def push(
    client: httpx.AsyncClient, name: str, tag: str, blobs: list[Blob], **extra: Any
) -> tuple[bytes, str]:
    """Push blobs[0] as config and the rest as layers, tagged ``tag`` (a digest: untagged)."""
    for blob in blobs:
        await push_blob(client, name, blob)
    body = image_manifest(blobs[0], blobs[1:], **extra)
    response = await push_manifest(client, name, tag if tag else sha256(body), body)
    assert response.status_code == 201, response.text
    return body, sha256(body)


def config_blob() -> Blob:
    return Blob(
        json.dumps({"architecture": "amd64", "os": "linux", "n": random_blob(8).digest}).encode(),
        "application/vnd.oci.image.config.v1+json",
    )


# --------------------------------------------------------------------------- what is kept, what goes


async def test_a_deleted_image_is_freed_and_everything_referenced_stays(env: Env) -> None:
    shared = random_blob(3000)
    kept_blobs = [config_blob(), shared, random_blob(100)]
    gone_blobs = [config_blob(), shared, random_blob(200)]
    kept, _ = await push(env.client, "app", "kept", kept_blobs)
    gone, gone_digest = await push(env.client, "app", "gone", gone_blobs)
    assert (await env.client.delete(f"/v2/app/manifests/{gone_digest}")).status_code == 202

    report = await collect(env.registry)

    freed = [gone_blobs[0], gone_blobs[2]]
    assert set(report.deleted_blobs) == {Digest.parse(gone_digest), *(Digest.parse(b.digest) for b in freed)}
    assert report.blobs_deleted == 3
    assert report.bytes_freed == len(gone) + sum(len(b.data) for b in freed)
    assert report.manifests_deleted == 0
    assert report.blobs_kept == 4  # kept's manifest, config, the shared layer, its own layer
    assert report.repositories == 1
    for blob in freed:
        assert not await env.stored(blob.digest)
        assert not await env.linked("app", blob.digest)  # the link went with the blob
        assert (await env.client.head(f"/v2/app/blobs/{blob.digest}")).status_code == 404
    assert await env.pulls("app", "kept", kept, kept_blobs)


async def test_layers_shared_between_repositories_stay(env: Env) -> None:
    shared = random_blob(2000)
    one, one_digest = await push(env.client, "one", "v1", [config_blob(), shared])
    two_blobs = [config_blob(), shared]
    two, _ = await push(env.client, "two", "v1", two_blobs)
    assert (await env.client.delete(f"/v2/one/manifests/{one_digest}")).status_code == 202

    await collect(env.registry)

    assert await env.stored(shared.digest)
    assert await env.pulls("two", "v1", two, two_blobs)


async def test_an_uploaded_blob_no_manifest_references_is_collected(env: Env) -> None:
    await push_image(env.client, "app", "v1")
    orphan = random_blob(500)
    await push_blob(env.client, "app", orphan)

    report = await collect(env.registry)

    assert report.deleted_blobs == (Digest.parse(orphan.digest),)
    assert not await env.stored(orphan.digest)
    assert not await env.linked("app", orphan.digest)


async def test_a_second_run_finds_nothing(env: Env) -> None:
    body, _ = await push_image(env.client, "app", "v1")
    assert (await env.client.delete(f"/v2/app/manifests/{sha256(body)}")).status_code == 202
    assert (await collect(env.registry)).blobs_deleted == 4

    again = await collect(env.registry)

    assert (again.blobs_deleted, again.manifests_deleted, again.bytes_freed) == (0, 0, 0)


async def test_a_dry_run_lists_what_would_go_and_deletes_nothing(env: Env) -> None:
    body, blobs = await push_image(env.client, "app", "v1")
    assert (await env.client.delete(f"/v2/app/manifests/{sha256(body)}")).status_code == 202
    before = sorted(await files_under(env.driver, paths.ROOT))

    dry = await collect(env.registry, dry_run=True)

    assert dry.dry_run
    assert set(dry.deleted_blobs) == {Digest.parse(d) for d in [sha256(body), *(b.digest for b in blobs)]}
    assert dry.bytes_freed == len(body) + sum(len(b.data) for b in blobs)
    assert sorted(await files_under(env.driver, paths.ROOT)) == before
    real = await collect(env.registry)
    assert set(real.deleted_blobs) == set(dry.deleted_blobs)
    assert real.bytes_freed == dry.bytes_freed


async def test_progress_is_reported_through_the_callback(env: Env) -> None:
    body, _ = await push_image(env.client, "app", "v1")
    assert (await env.client.delete(f"/v2/app/manifests/{sha256(body)}")).status_code == 202
    seen: list[gc.GCProgress] = []

    await collect(env.registry, progress=seen.append)

    assert {p.phase for p in seen} >= {"scan", "sweep"}
    assert seen[-1] == gc.GCProgress("sweep", 4, 4)


async def test_links_to_blobs_that_are_already_gone_are_removed(env: Env) -> None:
    """What distribution's collector leaves behind, and its server then claims still exists."""
    body, blobs = await push_image(env.client, "app", "v1")
    ghost = Digest.parse(random_blob(10).digest)
    link = paths.layer_link(RepositoryName("app"), ghost)
    await env.driver.put_content(link, paths.link_content(ghost))

    report = await collect(env.registry)

    assert report.links_removed == 1
    assert not await env.exists(link)
    assert await env.pulls("app", "v1", body, blobs)


async def test_no_cache_claims_a_collected_blob_and_the_image_can_be_pushed_again(env: Env) -> None:
    """The issue's data loss with distribution: push, delete, collect, push again, pull."""
    body, blobs = await push_image(env.client, "app", "v1")
    for blob in blobs:  # warm every cache
        assert (await env.client.head(f"/v2/app/blobs/{blob.digest}")).status_code == 200
    assert (await env.client.delete(f"/v2/app/manifests/{sha256(body)}")).status_code == 202
    await collect(env.registry)

    for blob in blobs:
        head = await env.client.head(f"/v2/app/blobs/{blob.digest}")
        assert head.status_code == 404  # so a client uploads it again
        await push_blob(env.client, "app", blob)
    assert (await push_manifest(env.client, "app", "v1", body)).status_code == 201
    assert await env.pulls("app", "v1", body, blobs)


async def test_only_one_collection_runs_at_a_time(env: Env) -> None:
    async with env.registry.fence.collection():
        with pytest.raises(CollectionRunning):
            await collect(env.registry)
    await collect(env.registry)


# --------------------------------------------------------------------------- --delete-untagged


async def test_untagged_manifests_stay_without_delete_untagged(env: Env) -> None:
    old, _ = await push_image(env.client, "app", "v1")
    await push_image(env.client, "app", "v1")  # v1 moves on

    report = await collect(env.registry)

    assert report.manifests_deleted == 0
    assert (await env.client.get(f"/v2/app/manifests/{sha256(old)}")).content == old


async def test_delete_untagged_deletes_what_no_tag_reaches_and_frees_its_blobs(env: Env) -> None:
    old, old_blobs = await push_image(env.client, "app", "v1")
    new, new_blobs = await push_image(env.client, "app", "v1")  # the old one is untagged now

    report = await collect(env.registry, delete_untagged=True)

    assert [(str(m.repository), str(m.digest)) for m in report.deleted_manifests] == [("app", sha256(old))]
    assert report.blobs_deleted == 1 + len(old_blobs)
    assert (await env.client.get(f"/v2/app/manifests/{sha256(old)}")).status_code == 404
    for blob in old_blobs:
        assert not await env.stored(blob.digest)
    # distribution's layout keeps a tag's history; the deleted manifest leaves it
    history = paths.tag_index_link(RepositoryName("app"), Tag("v1"), Digest.parse(sha256(old)))
    assert not await env.exists(history)
    assert await env.pulls("app", "v1", new, new_blobs)
    assert (await env.client.get("/v2/app/tags/list")).json()["tags"] == ["v1"]


async def test_delete_untagged_keeps_the_platform_manifests_of_a_tagged_index(env: Env) -> None:
    platforms = []
    for _ in range(2):
        blobs = [config_blob(), random_blob(300)]
        body, _ = await push(env.client, "multi", "", blobs)
        platforms.append((body, blobs))
    index = index_manifest([(body, OCI_MANIFEST) for body, _ in platforms])
    assert (await push_manifest(env.client, "multi", "latest", index, OCI_INDEX)).status_code == 201
    stray, _ = await push(env.client, "multi", "", [config_blob(), random_blob(300)])

    report = await collect(env.registry, delete_untagged=True)

    assert [str(m.digest) for m in report.deleted_manifests] == [sha256(stray)]
    assert (await env.client.get("/v2/multi/manifests/latest")).content == index
    for body, blobs in platforms:
        assert await env.pulls("multi", sha256(body), body, blobs)


async def test_delete_untagged_keeps_the_referrers_of_a_kept_manifest(env: Env) -> None:
    image, image_blobs = await push_image(env.client, "signed", "v1")
    subject = {"mediaType": OCI_MANIFEST, "digest": sha256(image), "size": len(image)}
    empty = Blob(b"{}", OCI_EMPTY)
    sbom_blob = random_blob(400)
    sbom, sbom_digest = await push(
        env.client, "signed", "", [empty, sbom_blob], subject=subject, artifactType="application/spdx+json"
    )
    sbom_subject = {"mediaType": OCI_MANIFEST, "digest": sbom_digest, "size": len(sbom)}
    signature_blob = random_blob(100)
    signature, _ = await push(  # a signature of the SBOM: kept because the SBOM is
        env.client,
        "signed",
        "",
        [empty, signature_blob],
        subject=sbom_subject,
        artifactType="application/sig",
    )
    orphan, orphan_blobs = await push_image(env.client, "signed", "v0")
    assert (await env.client.delete("/v2/signed/manifests/v0")).status_code == 202  # untagged, not deleted
    orphan_subject = {"mediaType": OCI_MANIFEST, "digest": sha256(orphan), "size": len(orphan)}
    orphan_sig, _ = await push(env.client, "signed", "", [empty, random_blob(50)], subject=orphan_subject)

    report = await collect(env.registry, delete_untagged=True)

    assert {str(m.digest) for m in report.deleted_manifests} == {sha256(orphan), sha256(orphan_sig)}
    assert await env.pulls("signed", "v1", image, image_blobs)
    assert await env.pulls("signed", sbom_digest, sbom, [empty, sbom_blob])
    assert await env.pulls("signed", sha256(signature), signature, [empty, signature_blob])
    referrers = (await env.client.get(f"/v2/signed/referrers/{sha256(image)}")).json()["manifests"]
    assert [r["digest"] for r in referrers] == [sbom_digest]
    assert (await env.client.get(f"/v2/signed/referrers/{sha256(orphan)}")).json()["manifests"] == []
    for blob in orphan_blobs:
        assert not await env.stored(blob.digest)


async def test_delete_untagged_refuses_to_guess_past_a_broken_tag(env: Env) -> None:
    old, _ = await push_image(env.client, "app", "v1")
    await push_image(env.client, "app", "v1")
    await env.driver.put_content(paths.tag_current_link(RepositoryName("app"), Tag("broken")), b"rubbish")

    with pytest.raises(GCError, match="app:broken"):
        await collect(env.registry, delete_untagged=True)

    assert (await env.client.get(f"/v2/app/manifests/{sha256(old)}")).content == old


# --------------------------------------------------------------------------- pushes that overlap a collection


@contextlib.contextmanager
def during_collection(monkeypatch: pytest.MonkeyPatch, action: Callable[[], Awaitable[None]]) -> Any:
    """Run ``action`` inside the next collection, after it has marked and before it deletes anything."""
    plan = gc._plan

    async def plan_then_act(*args: Any, **kwargs: Any) -> Any:
        result = await plan(*args, **kwargs)
        await action()
        return result

    monkeypatch.setattr(gc, "_plan", plan_then_act)
    yield
    monkeypatch.setattr(gc, "_plan", plan)


async def deleted_image(env: Env, name: str) -> tuple[Blob, Blob]:
    """Push and delete an image; returns its config and layer, garbage from now on."""
    blobs = [config_blob(), random_blob(700)]
    _, digest = await push(env.client, name, "old", blobs)
    assert (await env.client.delete(f"/v2/{name}/manifests/{digest}")).status_code == 202
    return blobs[0], blobs[1]


async def push_reusing(
    env: Env, name: str, tag: str, layer: Blob
) -> tuple[httpx.Response, bytes, list[Blob]]:
    """What docker does: HEAD the layer, skip its upload if it is there, upload the rest, PUT the manifest."""
    config = config_blob()
    if (await env.client.head(f"/v2/{name}/blobs/{layer.digest}")).status_code != 200:
        await push_blob(env.client, name, layer)
    await push_blob(env.client, name, config)
    body = image_manifest(config, [layer])
    return await push_manifest(env.client, name, tag, body), body, [config, layer]


async def test_a_push_during_the_collection_keeps_the_layer_it_reuses(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, layer = await deleted_image(env, "app")
    pushed: list[tuple[httpx.Response, bytes, list[Blob]]] = []

    async def push_now() -> None:
        pushed.append(await push_reusing(env, "app", "new", layer))

    with during_collection(monkeypatch, push_now):
        report = await collect(env.registry)

    response, body, blobs = pushed[0]
    assert response.status_code == 201, response.text
    assert report.blobs_protected >= 1  # the layer was garbage when marked
    assert await env.pulls("app", "new", body, blobs)


async def test_a_manifest_pushed_during_the_collection_keeps_everything_it_references(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = [config_blob(), random_blob(500)]
    for blob in blobs:  # uploaded while no collection ran: garbage when marked
        await push_blob(env.client, "app", blob)
    body = image_manifest(blobs[0], blobs[1:])
    responses: list[httpx.Response] = []

    async def put_now() -> None:
        responses.append(await push_manifest(env.client, "app", "v1", body))

    with during_collection(monkeypatch, put_now):
        await collect(env.registry)

    assert responses[0].status_code == 201
    assert await env.pulls("app", "v1", body, blobs)


async def test_a_push_that_relied_on_a_blob_before_the_collection_began_fails_cleanly(env: Env) -> None:
    """The documented window: the HEAD preceded the collection's lease, the PUT follows its sweep."""
    _, layer = await deleted_image(env, "app")
    assert (await env.client.head(f"/v2/app/blobs/{layer.digest}")).status_code == 200
    await collect(env.registry)
    config = config_blob()
    await push_blob(env.client, "app", config)

    response = await push_manifest(env.client, "app", "new", image_manifest(config, [layer]))

    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
    assert (await env.client.get("/v2/app/manifests/new")).status_code == 404


async def test_a_push_spanning_back_to_back_collections_stays_protected(env: Env) -> None:
    """The lease outlives a collection, so a HEAD between two runs is journaled."""
    _, layer = await deleted_image(env, "warm")
    await collect(env.registry)  # frees the layer; its lease lingers
    _, layer = await deleted_image(env, "app")
    assert (await env.client.head(f"/v2/app/blobs/{layer.digest}")).status_code == 200

    report = await collect(env.registry)
    response, body, blobs = await push_reusing(env, "app", "new", layer)

    assert report.blobs_protected == 1
    assert response.status_code == 201, response.text
    assert await env.pulls("app", "new", body, blobs)


async def test_an_image_deleted_right_after_a_journaled_push_is_still_freed(env: Env) -> None:
    await collect(env.registry)  # the lease lingers: the push below is journaled
    body, blobs = await push_image(env.client, "app", "v1")
    assert (await env.client.delete(f"/v2/app/manifests/{sha256(body)}")).status_code == 202

    report = await collect(env.registry)

    assert report.blobs_protected == 0
    assert report.blobs_deleted == 1 + len(blobs)


async def test_a_blob_swept_after_a_mount_during_the_collection_leaves_no_link_behind(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mounted into another repository during the run, then referenced by an image deleted again:
    garbage after all, and the new repository's link must go with it."""
    layer = random_blob(600)
    await push_blob(env.client, "a", layer)  # garbage: no manifest references it

    async def mount_use_and_delete() -> None:
        mounted = await env.client.post("/v2/b/blobs/uploads/", params={"mount": layer.digest, "from": "a"})
        assert mounted.status_code == 201
        _, digest = await push(env.client, "b", "tmp", [config_blob(), layer])
        assert (await env.client.delete(f"/v2/b/manifests/{digest}")).status_code == 202

    with during_collection(monkeypatch, mount_use_and_delete):
        report = await collect(env.registry)

    assert Digest.parse(layer.digest) in report.deleted_blobs
    assert not await env.linked("b", layer.digest)
    assert (await env.client.head(f"/v2/b/blobs/{layer.digest}")).status_code == 404


async def test_an_index_pushed_during_delete_untagged_keeps_its_platform_manifests(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """buildx pushes the platform manifests by digest first, untagged, then the tagged index."""
    blobs = [config_blob(), random_blob(300, DOCKER_LAYER)]
    child, child_digest = await push(env.client, "multi", "", blobs)
    index = index_manifest([(child, OCI_MANIFEST)])
    responses: list[httpx.Response] = []

    async def put_index() -> None:
        assert (await env.client.head(f"/v2/multi/manifests/{child_digest}")).status_code == 200
        responses.append(await push_manifest(env.client, "multi", "latest", index, OCI_INDEX))

    with during_collection(monkeypatch, put_index):
        report = await collect(env.registry, delete_untagged=True)

    assert responses[0].status_code == 201
    assert report.manifests_deleted == 0
    assert await env.pulls("multi", child_digest, child, blobs)
    assert (await env.client.get("/v2/multi/manifests/latest")).content == index
