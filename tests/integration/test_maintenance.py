"""Background maintenance in the serving app's lifespan: upload purging and scheduled collection."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest

from tests.helpers import push_image, sha256
from tests.integration.conftest import ClientFactory
from wharf.digest import Digest
from wharf.reference import RepositoryName
from wharf.registry import paths
from wharf.storage.driver import PathNotFound, StorageDriver

#: ages and intervals short enough for a test, as config strings
SHORT = "50ms"


def purging(age: str = SHORT, interval: str = SHORT, **extra: Any) -> dict[str, Any]:
    return {"storage.maintenance.uploadpurging": {"enabled": True, "age": age, "interval": interval, **extra}}


async def start_upload(client: httpx.AsyncClient, name: str = "app") -> str:
    response = await client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return response.headers["location"]


async def upload_exists(client: httpx.AsyncClient, location: str) -> bool:
    status = (await client.get(location)).status_code
    assert status in (204, 404)
    return status == 204


async def eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_an_abandoned_upload_is_purged_while_serving(client_factory: ClientFactory) -> None:
    client = await client_factory(**purging())
    location = await start_upload(client)
    await client.patch(location, content=b"some bytes", headers={"content-type": "application/octet-stream"})

    async def purged() -> bool:
        return not await upload_exists(client, location)

    await eventually(purged)


async def test_a_young_upload_survives_purging(client_factory: ClientFactory) -> None:
    client = await client_factory(**purging(age="1h"))
    location = await start_upload(client)
    await asyncio.sleep(0.3)  # several purge rounds
    assert await upload_exists(client, location)


async def test_dry_run_logs_and_keeps_the_upload(
    client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="wharf.maintenance"):
        client = await client_factory(**purging(dryrun=True))
        location = await start_upload(client)

        async def reported() -> bool:
            return "upload purge: would delete 1 upload(s)" in caplog.text

        await eventually(reported)
    assert await upload_exists(client, location)


async def test_read_only_mode_does_not_purge(client_factory: ClientFactory, storage: StorageDriver) -> None:
    writable = await client_factory(driver=storage)
    location = await start_upload(writable)
    read_only = await client_factory(
        driver=storage, **{"storage.maintenance.readonly.enabled": True}, **purging()
    )
    await asyncio.sleep(0.3)
    assert await upload_exists(read_only, location)


async def test_finished_pushes_are_untouched(client_factory: ClientFactory) -> None:
    client = await client_factory(**purging())
    body, blobs = await push_image(client, "app", "v1")
    await asyncio.sleep(0.3)
    assert (await client.get("/v2/app/manifests/v1")).content == body
    for blob in blobs:
        assert (await client.get(f"/v2/app/blobs/{blob.digest}")).content == blob.data


# --------------------------------------------------------------------------- scheduled collection


def scheduled_gc(**extra: Any) -> dict[str, Any]:
    return {"gc": {"enabled": True, "interval": SHORT, **extra}}


# Images are pushed before the collecting app starts: a collection every 50 ms could
# otherwise sweep a layer between its upload and its manifest (the window that
# wharf.registry.fence documents), and the test would be about that race instead.
# Likewise the tests watch storage, not the API, until the collection is done: a
# client that reads a blob while a collection runs is protected from it.


async def stored(driver: StorageDriver, path: str) -> bool:
    try:
        await driver.stat(path)
    except PathNotFound:
        return False
    return True


async def test_scheduled_collection_frees_a_deleted_image_while_serving(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    pusher = await client_factory(driver=storage)
    gone, gone_blobs = await push_image(pusher, "app", "gone")
    kept, kept_blobs = await push_image(pusher, "app", "kept")
    assert (await pusher.delete(f"/v2/app/manifests/{sha256(gone)}")).status_code == 202
    client = await client_factory(driver=storage, **scheduled_gc())

    async def collected() -> bool:
        return not any([await stored(storage, blob_data(blob.digest)) for blob in gone_blobs])

    await eventually(collected)
    for blob in gone_blobs:
        assert (await client.head(f"/v2/app/blobs/{blob.digest}")).status_code == 404
    assert (await client.get("/v2/app/manifests/kept")).content == kept
    for blob in kept_blobs:
        assert (await client.get(f"/v2/app/blobs/{blob.digest}")).content == blob.data


async def test_scheduled_collection_logs_its_report(
    client_factory: ClientFactory, storage: StorageDriver, caplog: pytest.LogCaptureFixture
) -> None:
    pusher = await client_factory(driver=storage)
    body, blobs = await push_image(pusher, "app", "v1", layers=2)
    assert (await pusher.delete(f"/v2/app/manifests/{sha256(body)}")).status_code == 202
    with caplog.at_level(logging.INFO, logger="wharf.maintenance"):
        client = await client_factory(driver=storage, **scheduled_gc(dryrun=True))

        async def reported() -> bool:
            # the manifest's own blob, the config and two layers
            return "scheduled garbage collection: would delete 0 manifest(s) and 4 blob(s)" in caplog.text

        await eventually(reported)
    for blob in blobs:  # a dry run deletes nothing
        assert (await client.get(f"/v2/app/blobs/{blob.digest}")).content == blob.data


async def test_scheduled_untagged_collection(client_factory: ClientFactory, storage: StorageDriver) -> None:
    pusher = await client_factory(driver=storage)
    old, _ = await push_image(pusher, "app", "v1")
    new, _ = await push_image(pusher, "app", "v1")  # v1 moves on: the old manifest is untagged
    client = await client_factory(driver=storage, **scheduled_gc(deleteuntagged=True))

    revision = paths.revision_link(RepositoryName("app"), Digest.parse(sha256(old)))

    async def collected() -> bool:
        return not await stored(storage, revision)

    await eventually(collected)
    assert (await client.get(f"/v2/app/manifests/{sha256(old)}")).status_code == 404
    assert (await client.get("/v2/app/manifests/v1")).content == new


def blob_data(digest: str) -> str:
    return paths.blob_data(Digest.parse(digest))
