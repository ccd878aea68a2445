"""``/v2/<name>/blobs/<digest>``: HEAD, GET (whole and Range) and DELETE."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers import Blob, error_codes, push_blob, push_image, random_blob, sha256
from tests.integration.conftest import ClientFactory

DATA = bytes(range(256)) * 40  # 10240 bytes
SIZE = len(DATA)


@pytest.fixture
async def blob(client: httpx.AsyncClient) -> Blob:
    blob = Blob(DATA)
    await push_blob(client, "team/app", blob)
    return blob


def assert_blob_headers(response: httpx.Response, blob: Blob) -> None:
    assert response.headers["docker-content-digest"] == blob.digest
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


async def test_get_returns_the_bytes_with_length_digest_and_type(
    client: httpx.AsyncClient, blob: Blob
) -> None:
    response = await client.get(f"/v2/team/app/blobs/{blob.digest}")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(SIZE)
    assert_blob_headers(response, blob)


async def test_head_has_the_headers_and_no_body(client: httpx.AsyncClient, blob: Blob) -> None:
    response = await client.head(f"/v2/team/app/blobs/{blob.digest}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(SIZE)
    assert_blob_headers(response, blob)


async def test_an_empty_blob_is_served(client: httpx.AsyncClient) -> None:
    empty = Blob(b"")
    await push_blob(client, "a", empty)
    response = await client.get(f"/v2/a/blobs/{empty.digest}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    assert response.headers["docker-content-digest"] == empty.digest


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_an_unknown_blob_is_blob_unknown(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, f"/v2/team/app/blobs/{sha256(b'absent')}")
    assert response.status_code == 404
    if method == "GET":
        assert error_codes(response) == ["BLOB_UNKNOWN"]


async def test_a_blob_of_another_repository_is_unknown_here(client: httpx.AsyncClient, blob: Blob) -> None:
    response = await client.get(f"/v2/other/blobs/{blob.digest}")
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UNKNOWN"]


@pytest.mark.parametrize("digest", ["sha256:abc", f"sha256:{'A' * 64}", f"md5:{'a' * 32}", "latest"])
async def test_an_invalid_digest_is_digest_invalid(client: httpx.AsyncClient, digest: str) -> None:
    response = await client.get(f"/v2/team/app/blobs/{digest}")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_an_invalid_name_is_name_invalid(client: httpx.AsyncClient, blob: Blob) -> None:
    response = await client.get(f"/v2/Team/app/blobs/{blob.digest}")
    assert response.status_code == 400
    assert error_codes(response) == ["NAME_INVALID"]


async def test_a_sha512_blob_is_served_by_its_sha512_digest(client: httpx.AsyncClient) -> None:
    import hashlib

    data = b"five-twelve"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    pushed = await client.post("/v2/a/blobs/uploads/", params={"digest": digest}, content=data)
    assert pushed.status_code == 201, pushed.text
    response = await client.get(f"/v2/a/blobs/{digest}")
    assert response.content == data
    assert response.headers["docker-content-digest"] == digest


# Range


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-199", 100, 199),
        ("bytes=0-0", 0, 0),
        (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),
        ("bytes=5000-", 5000, SIZE - 1),  # open-ended
        ("bytes=-100", SIZE - 100, SIZE - 1),  # suffix
        (f"bytes=-{SIZE * 2}", 0, SIZE - 1),  # a suffix longer than the blob is the whole blob
        (f"bytes=10-{SIZE * 2}", 10, SIZE - 1),  # an end past the blob is clamped
        (f"bytes=0-{SIZE - 1}", 0, SIZE - 1),
    ],
)
async def test_a_satisfiable_range_is_206_with_content_range(
    client: httpx.AsyncClient, blob: Blob, header: str, start: int, end: int
) -> None:
    response = await client.get(f"/v2/team/app/blobs/{blob.digest}", headers={"range": header})
    assert response.status_code == 206
    assert response.content == DATA[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert_blob_headers(response, blob)


@pytest.mark.parametrize(
    "header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0", "bytes=9-5"]
)
async def test_an_unsatisfiable_range_is_416_with_the_size(
    client: httpx.AsyncClient, blob: Blob, header: str
) -> None:
    response = await client.get(f"/v2/team/app/blobs/{blob.digest}", headers={"range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert error_codes(response) == ["RANGE_INVALID"]


async def test_any_range_of_an_empty_blob_is_416(client: httpx.AsyncClient) -> None:
    empty = Blob(b"")
    await push_blob(client, "a", empty)
    response = await client.get(f"/v2/a/blobs/{empty.digest}", headers={"range": "bytes=0-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */0"


@pytest.mark.parametrize("header", ["items=0-5", "bytes=", "bytes=-", "bytes=a-b", "bytes 0-5"])
async def test_a_range_that_is_not_a_byte_range_is_ignored(
    client: httpx.AsyncClient, blob: Blob, header: str
) -> None:
    response = await client.get(f"/v2/team/app/blobs/{blob.digest}", headers={"range": header})
    assert response.status_code == 200
    assert response.content == DATA


@pytest.mark.parametrize("header", ["bytes=١-٢", "bytes=１-２", "bytes=0-٩"])
async def test_a_range_in_other_digits_is_ignored(client: httpx.AsyncClient, blob: Blob, header: str) -> None:
    # Sent as UTF-8: header values are bytes, and the app reads them as latin-1, as HTTP does.
    response = await client.get(f"/v2/team/app/blobs/{blob.digest}", headers={b"range": header.encode()})
    assert response.status_code == 200
    assert response.content == DATA


async def test_several_ranges_at_once_are_answered_with_the_whole_blob(
    client: httpx.AsyncClient, blob: Blob
) -> None:
    response = await client.get(f"/v2/team/app/blobs/{blob.digest}", headers={"range": "bytes=0-1,5-6"})
    assert response.status_code == 200
    assert response.content == DATA


async def test_a_resumed_pull_reassembles_the_blob(client: httpx.AsyncClient, blob: Blob) -> None:
    first = await client.get(f"/v2/team/app/blobs/{blob.digest}", headers={"range": "bytes=0-4095"})
    rest = await client.get(f"/v2/team/app/blobs/{blob.digest}", headers={"range": "bytes=4096-"})
    assert first.content + rest.content == DATA


async def test_head_with_a_range_still_reports_the_whole_size(client: httpx.AsyncClient, blob: Blob) -> None:
    response = await client.head(f"/v2/team/app/blobs/{blob.digest}", headers={"range": "bytes=0-9"})
    assert response.status_code in (200, 206)
    assert response.content == b""


# DELETE


async def test_delete_unlinks_the_blob_from_the_repository(client: httpx.AsyncClient, blob: Blob) -> None:
    response = await client.delete(f"/v2/team/app/blobs/{blob.digest}")
    assert response.status_code == 202
    assert response.headers["docker-content-digest"] == blob.digest
    assert response.headers["content-length"] == "0"
    assert (await client.head(f"/v2/team/app/blobs/{blob.digest}")).status_code == 404
    again = await client.delete(f"/v2/team/app/blobs/{blob.digest}")
    assert again.status_code == 404
    assert error_codes(again) == ["BLOB_UNKNOWN"]


async def test_delete_leaves_other_repositories_their_link(client: httpx.AsyncClient, blob: Blob) -> None:
    await push_blob(client, "other", blob)
    assert (await client.delete(f"/v2/team/app/blobs/{blob.digest}")).status_code == 202
    response = await client.get(f"/v2/other/blobs/{blob.digest}")
    assert response.status_code == 200
    assert response.content == DATA


async def test_delete_of_an_unknown_blob_is_blob_unknown(client: httpx.AsyncClient) -> None:
    response = await client.delete(f"/v2/team/app/blobs/{sha256(b'absent')}")
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UNKNOWN"]


async def test_delete_with_an_invalid_digest_is_digest_invalid(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v2/team/app/blobs/sha256:nothex")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_delete_is_unsupported_when_deletes_are_disabled(client_factory: ClientFactory) -> None:
    client = await client_factory(**{"storage.delete.enabled": False})
    blob = random_blob()
    await push_blob(client, "a", blob)
    response = await client.delete(f"/v2/a/blobs/{blob.digest}")
    assert response.status_code == 405
    assert error_codes(response) == ["UNSUPPORTED"]
    assert (await client.head(f"/v2/a/blobs/{blob.digest}")).status_code == 200


async def test_layers_of_a_pushed_image_are_served(client: httpx.AsyncClient) -> None:
    _, blobs = await push_image(client, "library/hello", "latest")
    for each in blobs:
        response = await client.get(f"/v2/library/hello/blobs/{each.digest}")
        assert response.content == each.data


async def test_a_big_push_or_pull_gives_freed_heap_memory_back_and_a_small_request_does_not(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wharf.api import app, memory

    trims: list[None] = []
    monkeypatch.setattr(app, "_TRIM_AFTER", 4096)
    monkeypatch.setattr(app, "_TRIM_DELAY", 0.05)
    monkeypatch.setattr(memory, "trim", lambda: trims.append(None))
    big = random_blob(8192)
    await push_blob(client, "team/app", big)
    await asyncio.sleep(0.2)
    assert len(trims) == 1
    assert (await client.get(f"/v2/team/app/blobs/{big.digest}")).content == big.data
    assert (await client.get(f"/v2/team/app/blobs/{big.digest}")).content == big.data
    await asyncio.sleep(0.2)
    assert len(trims) == 2  # one for the two pulls that ended close together
    await push_blob(client, "team/app", Blob(b"small"))
    assert (await client.head(f"/v2/team/app/blobs/{big.digest}")).status_code == 200
    await asyncio.sleep(0.2)
    assert len(trims) == 2
