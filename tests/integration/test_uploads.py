"""``/v2/<name>/blobs/uploads/``: POST (plain, monolithic, mount), PATCH, PUT, GET status and DELETE."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.helpers import Blob, error_codes, push_blob, random_blob, sha256
from tests.integration.conftest import ClientFactory
from wharf.reference import RepositoryName
from wharf.registry import paths
from wharf.storage.driver import StorageDriver, walk

UUID = re.compile(r"[0-9a-f-]{36}")
BASE = "http://registry.test"


async def start(client: httpx.AsyncClient, name: str = "team/app") -> httpx.Response:
    response = await client.post(f"/v2/{name}/blobs/uploads/", headers={"content-length": "0"})
    assert response.status_code == 202, response.text
    return response


def assert_session(response: httpx.Response, *, status: int, name: str, size: int) -> str:
    """The session headers the spec requires; returns the upload id."""
    assert response.status_code == status, response.text
    upload_id = response.headers["docker-upload-uuid"]
    assert response.headers["location"] == f"{BASE}/v2/{name}/blobs/uploads/{upload_id}"
    assert response.headers["range"] == f"0-{max(size - 1, 0)}"
    assert response.headers["content-length"] == "0"
    assert response.content == b""
    return upload_id


def assert_created(response: httpx.Response, *, name: str, digest: str) -> None:
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{BASE}/v2/{name}/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["content-length"] == "0"


async def assert_blob(client: httpx.AsyncClient, name: str, blob: Blob) -> None:
    response = await client.get(f"/v2/{name}/blobs/{blob.digest}")
    assert response.status_code == 200
    assert response.content == blob.data


async def stream(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def leftover_uploads(driver: StorageDriver, name: str) -> list[str]:
    return [info.path async for info in walk(driver, paths.uploads(RepositoryName(name)))]


# POST


async def test_post_starts_a_session(client: httpx.AsyncClient) -> None:
    response = await start(client)
    upload_id = assert_session(response, status=202, name="team/app", size=0)
    assert UUID.fullmatch(upload_id)


async def test_each_post_starts_a_new_session(client: httpx.AsyncClient) -> None:
    first, second = await start(client), await start(client)
    assert first.headers["docker-upload-uuid"] != second.headers["docker-upload-uuid"]


async def test_post_with_a_digest_uploads_monolithically(client: httpx.AsyncClient) -> None:
    blob = random_blob(5000)
    response = await client.post(
        "/v2/team/app/blobs/uploads/", params={"digest": blob.digest}, content=blob.data
    )
    assert_created(response, name="team/app", digest=blob.digest)
    await assert_blob(client, "team/app", blob)


async def test_post_with_a_digest_and_an_empty_body_stores_the_empty_blob(client: httpx.AsyncClient) -> None:
    empty = Blob(b"")
    response = await client.post("/v2/a/blobs/uploads/", params={"digest": empty.digest}, content=b"")
    assert_created(response, name="a", digest=empty.digest)
    await assert_blob(client, "a", empty)


async def test_monolithic_post_with_the_wrong_digest_stores_nothing(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    client = await client_factory(driver=storage)
    wrong = sha256(b"something else")
    response = await client.post("/v2/a/blobs/uploads/", params={"digest": wrong}, content=b"payload")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    assert (await client.head(f"/v2/a/blobs/{wrong}")).status_code == 404
    assert (await client.head(f"/v2/a/blobs/{sha256(b'payload')}")).status_code == 404
    assert await leftover_uploads(storage, "a") == []


async def test_monolithic_post_with_a_malformed_digest_is_digest_invalid(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/a/blobs/uploads/", params={"digest": "sha256:zz"}, content=b"x")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_monolithic_post_whose_body_is_longer_than_its_content_length_is_size_invalid(
    client: httpx.AsyncClient,
) -> None:
    data = b"0123456789"
    response = await client.post(
        "/v2/a/blobs/uploads/",
        params={"digest": sha256(data)},
        content=stream(data),
        headers={"content-length": "4"},
    )
    assert response.status_code == 400
    assert error_codes(response) == ["SIZE_INVALID"]
    assert (await client.head(f"/v2/a/blobs/{sha256(data)}")).status_code == 404


# mount


async def test_mount_from_a_repository_holding_the_blob_is_201(client: httpx.AsyncClient) -> None:
    blob = random_blob()
    await push_blob(client, "source", blob)
    response = await client.post("/v2/target/blobs/uploads/", params={"mount": blob.digest, "from": "source"})
    assert_created(response, name="target", digest=blob.digest)
    await assert_blob(client, "target", blob)


@pytest.mark.parametrize("source", ["empty/repo", "has/other", "Invalid Name", ""])
async def test_mount_that_cannot_be_done_starts_an_upload_session(
    client: httpx.AsyncClient, source: str
) -> None:
    blob = random_blob()
    await push_blob(client, "elsewhere", blob)  # in the registry, but not in the source
    await push_blob(client, "has/other", random_blob())
    response = await client.post("/v2/target/blobs/uploads/", params={"mount": blob.digest, "from": source})
    if source == "":
        # no source at all: the registry may mount any blob it holds (the spec lets ``from`` be optional)
        assert response.status_code in (201, 202)
        return
    assert_session(response, status=202, name="target", size=0)
    assert (await client.head(f"/v2/target/blobs/{blob.digest}")).status_code == 404
    # the session it started is a real one
    finish = await client.put(response.headers["location"], params={"digest": blob.digest}, content=blob.data)
    assert_created(finish, name="target", digest=blob.digest)


async def test_mount_of_an_absent_blob_starts_a_session(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v2/target/blobs/uploads/", params={"mount": sha256(b"nowhere"), "from": "source"}
    )
    assert_session(response, status=202, name="target", size=0)


async def test_mount_with_a_malformed_digest_is_digest_invalid(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/target/blobs/uploads/", params={"mount": "sha256:zz", "from": "source"})
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


# PATCH


async def test_chunks_in_order_then_put_without_a_body(client: httpx.AsyncClient) -> None:
    blob = random_blob(3000)
    location = (await start(client)).headers["location"]
    upload_id = location.rsplit("/", 1)[-1]
    for start_at, end_at in [(0, 999), (1000, 1999), (2000, 2999)]:
        response = await client.patch(
            location,
            content=blob.data[start_at : end_at + 1],
            headers={"content-range": f"{start_at}-{end_at}", "content-type": "application/octet-stream"},
        )
        assert assert_session(response, status=202, name="team/app", size=end_at + 1) == upload_id
        location = response.headers["location"]
    finish = await client.put(location, params={"digest": blob.digest})
    assert_created(finish, name="team/app", digest=blob.digest)
    await assert_blob(client, "team/app", blob)


async def test_a_chunk_out_of_order_is_416_and_changes_nothing(client: httpx.AsyncClient) -> None:
    location = (await start(client)).headers["location"]
    await client.patch(location, content=b"0123456789", headers={"content-range": "0-9"})
    for bad in ["5-14", "11-20", "0-9"]:
        response = await client.patch(location, content=b"0123456789", headers={"content-range": bad})
        assert response.status_code == 416, bad
        assert error_codes(response) == ["RANGE_INVALID"]
    status = await client.get(location)
    assert status.headers["range"] == "0-9"


async def test_a_content_range_that_disagrees_with_content_length_is_416(client: httpx.AsyncClient) -> None:
    location = (await start(client)).headers["location"]
    response = await client.patch(location, content=b"0123456789", headers={"content-range": "0-4"})
    assert response.status_code == 416
    assert (await client.get(location)).headers["range"] == "0-0"


@pytest.mark.parametrize("header", ["garbage", "9-0", "-5", "a-b"])
async def test_a_malformed_content_range_is_416(client: httpx.AsyncClient, header: str) -> None:
    location = (await start(client)).headers["location"]
    response = await client.patch(location, content=b"x", headers={"content-range": header})
    assert response.status_code == 416
    assert error_codes(response) == ["RANGE_INVALID"]


@pytest.mark.parametrize("header", ["٠-٩", "０-９", "bytes ٠-٩/١٠"])
async def test_a_content_range_in_other_digits_is_416(client: httpx.AsyncClient, header: str) -> None:
    # Sent as UTF-8: header values are bytes, and the app reads them as latin-1, as HTTP does.
    location = (await start(client)).headers["location"]
    response = await client.patch(
        location, content=b"0123456789", headers={b"content-range": header.encode()}
    )
    assert response.status_code == 416
    assert error_codes(response) == ["RANGE_INVALID"]
    assert (await client.get(location)).headers["range"] == "0-0"


async def test_a_streamed_patch_needs_no_content_range(client: httpx.AsyncClient) -> None:
    blob = random_blob((2 << 20) + 12345)  # more than one of the hash-and-write batches
    location = (await start(client)).headers["location"]
    pieces = [blob.data[i : i + 65536] for i in range(0, len(blob.data), 65536)]
    response = await client.patch(location, content=stream(*pieces))
    assert_session(response, status=202, name="team/app", size=len(blob.data))
    finish = await client.put(response.headers["location"], params={"digest": blob.digest})
    assert_created(finish, name="team/app", digest=blob.digest)
    await assert_blob(client, "team/app", blob)


async def test_streamed_patches_append(client: httpx.AsyncClient) -> None:
    blob = random_blob(2000)
    location = (await start(client)).headers["location"]
    await client.patch(location, content=stream(blob.data[:700]))
    response = await client.patch(location, content=stream(blob.data[700:]))
    assert response.headers["range"] == "0-1999"
    assert_created(
        await client.put(location, params={"digest": blob.digest}), name="team/app", digest=blob.digest
    )


# PUT


async def test_put_with_the_whole_blob_as_its_body(client: httpx.AsyncClient) -> None:
    blob = random_blob()
    location = (await start(client)).headers["location"]
    finish = await client.put(
        location,
        params={"digest": blob.digest},
        content=blob.data,
        headers={"content-type": "application/octet-stream"},
    )
    assert_created(finish, name="team/app", digest=blob.digest)
    await assert_blob(client, "team/app", blob)


async def test_put_with_a_final_chunk_and_its_content_range(client: httpx.AsyncClient) -> None:
    blob = random_blob(100)
    location = (await start(client)).headers["location"]
    await client.patch(location, content=blob.data[:60], headers={"content-range": "0-59"})
    finish = await client.put(
        location, params={"digest": blob.digest}, content=blob.data[60:], headers={"content-range": "60-99"}
    )
    assert_created(finish, name="team/app", digest=blob.digest)
    await assert_blob(client, "team/app", blob)


async def test_put_with_a_final_chunk_without_content_range(client: httpx.AsyncClient) -> None:
    blob = random_blob(100)
    location = (await start(client)).headers["location"]
    await client.patch(location, content=blob.data[:60], headers={"content-range": "0-59"})
    finish = await client.put(location, params={"digest": blob.digest}, content=blob.data[60:])
    assert_created(finish, name="team/app", digest=blob.digest)
    await assert_blob(client, "team/app", blob)


async def test_put_with_a_final_chunk_out_of_order_is_416_and_keeps_the_session(
    client: httpx.AsyncClient,
) -> None:
    blob = random_blob(100)
    location = (await start(client)).headers["location"]
    await client.patch(location, content=blob.data[:60], headers={"content-range": "0-59"})
    response = await client.put(
        location, params={"digest": blob.digest}, content=blob.data[50:], headers={"content-range": "50-99"}
    )
    assert response.status_code == 416
    assert error_codes(response) == ["RANGE_INVALID"]
    assert (await client.get(location)).headers["range"] == "0-59"


async def test_put_of_an_empty_session_stores_the_empty_blob(client: httpx.AsyncClient) -> None:
    empty = Blob(b"")
    location = (await start(client)).headers["location"]
    assert_created(
        await client.put(location, params={"digest": empty.digest}), name="team/app", digest=empty.digest
    )
    await assert_blob(client, "team/app", empty)


async def test_put_with_the_wrong_digest_is_digest_invalid_and_publishes_nothing(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    client = await client_factory(driver=storage)
    location = (await start(client)).headers["location"]
    await client.patch(location, content=b"some bytes")
    wrong = sha256(b"other bytes")
    response = await client.put(location, params={"digest": wrong})
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    for digest in (wrong, sha256(b"some bytes")):
        assert (await client.head(f"/v2/team/app/blobs/{digest}")).status_code == 404
    # like distribution, a failed commit cancels the session and releases its data
    assert (await client.get(location)).status_code == 404
    assert await leftover_uploads(storage, "team/app") == []


@pytest.mark.parametrize("params", [{}, {"digest": ""}, {"digest": "sha256:short"}, {"digest": "latest"}])
async def test_put_without_a_valid_digest_is_digest_invalid(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    location = (await start(client)).headers["location"]
    await client.patch(location, content=b"abc")
    response = await client.put(location, params=params)
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_a_sha512_digest_is_verified_at_put(client: httpx.AsyncClient) -> None:
    data = b"hashed two ways"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    location = (await start(client)).headers["location"]
    await client.patch(location, content=data)
    assert_created(await client.put(location, params={"digest": digest}), name="team/app", digest=digest)
    assert (await client.get(f"/v2/team/app/blobs/{digest}")).content == data


async def test_a_finished_session_is_gone(client: httpx.AsyncClient) -> None:
    blob = random_blob()
    location = (await start(client)).headers["location"]
    await client.put(location, params={"digest": blob.digest}, content=blob.data)
    response = await client.get(location)
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


# GET status


async def test_status_is_204_with_range_location_and_uuid(client: httpx.AsyncClient) -> None:
    location = (await start(client)).headers["location"]
    upload_id = location.rsplit("/", 1)[-1]
    assert assert_session(await client.get(location), status=204, name="team/app", size=0) == upload_id
    await client.patch(location, content=b"x" * 42)
    assert assert_session(await client.get(location), status=204, name="team/app", size=42) == upload_id


@pytest.mark.parametrize("upload_id", ["00000000-0000-0000-0000-000000000000", "not-ours", "bad!id", "_x"])
async def test_status_of_an_unknown_session_is_blob_upload_unknown(
    client: httpx.AsyncClient, upload_id: str
) -> None:
    response = await client.get(f"/v2/team/app/blobs/uploads/{upload_id}")
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


# DELETE


async def test_delete_cancels_the_session(client_factory: ClientFactory, storage: StorageDriver) -> None:
    client = await client_factory(driver=storage)
    location = (await start(client)).headers["location"]
    await client.patch(location, content=b"partial")
    response = await client.delete(location)
    assert response.status_code == 204
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        after = await client.request(
            method, location, params={"digest": sha256(b"partial")} if method == "PUT" else None
        )
        assert after.status_code == 404, method
        assert error_codes(after) == ["BLOB_UPLOAD_UNKNOWN"]
    assert await leftover_uploads(storage, "team/app") == []


# sessions belong to their repository


async def test_a_session_used_under_another_repository_is_unknown(client: httpx.AsyncClient) -> None:
    blob = random_blob()
    upload_id = (await start(client, "mine")).headers["docker-upload-uuid"]
    elsewhere = f"/v2/theirs/blobs/uploads/{upload_id}"
    for method, kwargs in [
        ("GET", {}),
        ("PATCH", {"content": blob.data}),
        ("PUT", {"params": {"digest": blob.digest}, "content": blob.data}),
        ("DELETE", {}),
    ]:
        response = await client.request(method, elsewhere, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 404, method
        assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]
    assert (await client.head(f"/v2/theirs/blobs/{blob.digest}")).status_code == 404
    # the session is untouched where it belongs
    mine = f"/v2/mine/blobs/uploads/{upload_id}"
    assert_created(
        await client.put(mine, params={"digest": blob.digest}, content=blob.data),
        name="mine",
        digest=blob.digest,
    )


# across restarts


async def test_an_upload_goes_on_in_a_new_process(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    blob = random_blob(4000)
    before = await client_factory(driver=storage)
    location = (await start(before)).headers["location"]
    await before.patch(location, content=blob.data[:1500], headers={"content-range": "0-1499"})
    after = await client_factory(driver=storage)  # a second app on the same storage: no in-process state
    status = await after.get(location)
    assert status.headers["range"] == "0-1499"
    await after.patch(
        location, content=blob.data[1500:], headers={"content-range": f"1500-{len(blob.data) - 1}"}
    )
    assert_created(
        await after.put(location, params={"digest": blob.digest}), name="team/app", digest=blob.digest
    )
    await assert_blob(after, "team/app", blob)


# read-only and writes


async def test_uploads_are_unsupported_in_read_only_mode(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    writable = await client_factory(driver=storage)
    location = (await start(writable)).headers["location"]
    read_only = await client_factory(driver=storage, **{"storage.maintenance.readonly.enabled": True})
    blob = random_blob()
    for method, url, kwargs in [
        ("POST", "/v2/team/app/blobs/uploads/", {}),
        ("POST", "/v2/team/app/blobs/uploads/", {"params": {"digest": blob.digest}, "content": blob.data}),
        ("PATCH", location, {"content": b"x"}),
        ("PUT", location, {"params": {"digest": blob.digest}}),
        ("DELETE", location, {}),
    ]:
        response = await read_only.request(method, url, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 405, (method, url)
        assert error_codes(response) == ["UNSUPPORTED"]
    assert (await read_only.get(location)).status_code == 204  # reading a session's status is a read


# failures leave the session as it was


async def test_a_chunk_longer_than_its_range_is_size_invalid_and_discarded(client: httpx.AsyncClient) -> None:
    blob = random_blob(20)
    location = (await start(client)).headers["location"]
    await client.patch(location, content=blob.data[:5], headers={"content-range": "0-4"})
    response = await client.patch(location, content=stream(blob.data[5:]), headers={"content-range": "5-9"})
    assert response.status_code == 400
    assert error_codes(response) == ["SIZE_INVALID"]
    assert (await client.get(location)).headers["range"] == "0-4"
    await client.patch(location, content=blob.data[5:], headers={"content-range": "5-19"})
    assert_created(
        await client.put(location, params={"digest": blob.digest}), name="team/app", digest=blob.digest
    )
    await assert_blob(client, "team/app", blob)


# the same content twice


async def test_the_same_blob_uploaded_twice_and_in_two_repositories(client: httpx.AsyncClient) -> None:
    blob = random_blob()
    first, second = await start(client, "one"), await start(client, "two")
    third = await start(client, "one")
    for response, name in [(first, "one"), (second, "two"), (third, "one")]:
        finish = await client.put(
            response.headers["location"], params={"digest": blob.digest}, content=blob.data
        )
        assert_created(finish, name=name, digest=blob.digest)
    await assert_blob(client, "one", blob)
    await assert_blob(client, "two", blob)


async def test_mounting_a_blob_the_repository_already_holds_is_201(client: httpx.AsyncClient) -> None:
    blob = random_blob()
    await push_blob(client, "one", blob)
    await push_blob(client, "two", blob)
    response = await client.post("/v2/two/blobs/uploads/", params={"mount": blob.digest, "from": "one"})
    assert_created(response, name="two", digest=blob.digest)
