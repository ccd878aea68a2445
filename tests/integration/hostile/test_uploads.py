"""Hostile uploads (issue 4): wrong digests, size mismatches, bad Content-Ranges, unknown and cancelled
sessions, sessions continued under another repository, concurrent requests on one session, and
clients that stall mid-body. The storage checks of ``conftest.py`` run after each test: no blob is ever
published with content that does not hash to its digest."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import ClientFactory
from tests.integration.hostile.conftest import assert_error, nothing_written
from tests.integration.oci.support import digest_of, with_query
from wharf.api import params
from wharf.api.messages import ASGIApp, Message

OCTET = {"content-type": "application/octet-stream"}


async def start(client: httpx.AsyncClient, name: str = "app") -> str:
    response = await client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202
    return response.headers["location"]


async def size_of(client: httpx.AsyncClient, location: str) -> int:
    response = await client.get(location)
    assert response.status_code == 204, response.text
    return int(response.headers["range"].split("-")[1]) + 1 if response.headers["range"] != "0-0" else 0


# --- wrong digests and sizes ---------------------------------------------------------------------


async def test_a_wrong_digest_publishes_nothing(client: httpx.AsyncClient, root: Path) -> None:
    """Uploads: wrong digest (`DIGEST_INVALID`, nothing visible) — by single POST, PUT and chunks."""
    data = os.urandom(3000)
    wrong = digest_of(data + b"?")
    with nothing_written(root):
        assert_error(
            await client.post("/v2/app/blobs/uploads/", params={"digest": wrong}, content=data),
            400,
            "DIGEST_INVALID",
        )
        location = await start(client)
        assert_error(
            await client.put(with_query(location, digest=wrong), content=data), 400, "DIGEST_INVALID"
        )
        location = await start(client)
        await client.patch(location, content=data[:1000], headers={"content-range": "0-999"})
        assert_error(
            await client.put(with_query(location, digest=wrong), content=data[1000:]), 400, "DIGEST_INVALID"
        )
    for digest in (wrong, digest_of(data)):
        assert (await client.head(f"/v2/app/blobs/{digest}")).status_code == 404


@pytest.mark.parametrize("declared", ["0", "50", "101", "99999999"])
async def test_a_body_that_disagrees_with_content_length_is_size_invalid(
    client: httpx.AsyncClient, root: Path, declared: str
) -> None:
    """Uploads: size mismatch (`SIZE_INVALID`): a body longer or shorter than its Content-Length."""
    data = os.urandom(100)
    with nothing_written(root):
        response = await client.post(
            "/v2/app/blobs/uploads/",
            params={"digest": digest_of(data)},
            content=data,
            headers={**OCTET, "content-length": declared},
        )
        assert_error(response, 400, "SIZE_INVALID" if declared != "0" else None)
    location = await start(client)
    response = await client.patch(location, content=data, headers={**OCTET, "content-length": declared})
    assert_error(response, 400, "SIZE_INVALID")
    assert await size_of(client, location) == 0


@pytest.mark.parametrize(
    "value", ["-1", "abc", "1e3", "0x10", "5 5", "99999999999999999999999", "\u00b2", "\u00bd", ""]
)
async def test_a_malformed_content_length_is_refused(
    client: httpx.AsyncClient, root: Path, value: str
) -> None:
    """Uploads: size mismatch — a Content-Length that is no length at all (even one `str.isdigit` likes)."""
    location = await start(client)
    with nothing_written(root):
        response = await client.patch(
            location,
            content=b"12345",
            headers={b"content-type": b"application/octet-stream", b"content-length": value.encode("latin1")},
        )
        assert_error(response, 400, "SIZE_INVALID")
    assert await size_of(client, location) == 0


@pytest.mark.parametrize(
    ("content_range", "why"),
    [
        ("0-9", "overlaps from the start"),
        ("5-14", "overlaps the end"),
        ("9-18", "overlaps one byte"),
        ("11-20", "skips one byte"),
        ("1000-1009", "skips far ahead"),
        ("10-5", "goes backwards"),
        ("10-", "open-ended"),
        ("-10", "no start"),
        ("bytes 10-19/5", "total smaller than the range"),
        ("10-99999999999999999999", "enormous"),
        ("a-b", "not numbers"),
        ("", "empty"),
        ("10-19, 20-29", "several ranges"),
    ],
)
async def test_a_bad_content_range_is_416_and_changes_nothing(
    client: httpx.AsyncClient, content_range: str, why: str
) -> None:
    """Uploads: `Content-Range` that overlaps, skips or goes backwards (416)."""
    location = await start(client)
    await client.patch(location, content=b"0123456789", headers={"content-range": "0-9"})
    response = await client.patch(
        location, content=b"x" * 10, headers={**OCTET, "content-range": content_range}
    )
    if content_range == "":
        assert response.status_code == 202  # an empty header is no range: a streamed append
        return
    assert_error(response, (400, 416))
    assert await size_of(client, location) == 10


async def test_a_chunk_shorter_than_its_range_keeps_the_session_as_it_was(client: httpx.AsyncClient) -> None:
    """Uploads: size mismatch within a chunk: the chunk is discarded whole, the session goes on."""
    data = os.urandom(30)
    location = await start(client)
    await client.patch(location, content=data[:10], headers={"content-range": "0-9"})
    response = await client.patch(location, content=data[10:15], headers={"content-range": "10-19"})
    assert_error(response, (400, 416))
    assert await size_of(client, location) == 10
    await client.patch(location, content=data[10:], headers={"content-range": "10-29"})
    done = await client.put(with_query(location, digest=digest_of(data)))
    assert done.status_code == 201, done.text


# --- unknown, cancelled and foreign sessions -----------------------------------------------------


async def test_an_unknown_or_cancelled_session_is_blob_upload_unknown(
    client: httpx.AsyncClient, root: Path
) -> None:
    """Uploads: unknown or cancelled session (`BLOB_UPLOAD_UNKNOWN`) for every verb."""
    location = await start(client)
    await client.patch(location, content=b"abc")
    assert (await client.delete(location)).status_code == 204
    unknown = location.rsplit("/", 1)[0] + "/0a0a0a0a-0000-4000-8000-000000000000"
    with nothing_written(root):
        for url in (location, unknown):
            for method, body in [("GET", None), ("PATCH", b"x"), ("DELETE", None)]:
                assert_error(await client.request(method, url, content=body), 404, "BLOB_UPLOAD_UNKNOWN")
            put = await client.put(with_query(url, digest=digest_of(b"abcx")), content=b"x")
            assert_error(put, 404, "BLOB_UPLOAD_UNKNOWN")


async def test_a_session_continued_under_another_repository_is_unknown(
    client: httpx.AsyncClient, root: Path
) -> None:
    """Uploads: a session continued under another repository is `BLOB_UPLOAD_UNKNOWN` there, and is left
    intact under its own."""
    data = os.urandom(100)
    location = await start(client, "team/a")
    await client.patch(location, content=data[:50], headers={"content-range": "0-49"})
    other = location.replace("/team/a/", "/team/b/")
    with nothing_written(root):
        for method, body in [("GET", None), ("PATCH", data[50:]), ("DELETE", None)]:
            assert_error(await client.request(method, other, content=body), 404, "BLOB_UPLOAD_UNKNOWN")
        assert_error(
            await client.put(with_query(other, digest=digest_of(data)), content=data[50:]),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
    assert await size_of(client, location) == 50
    done = await client.put(with_query(location, digest=digest_of(data)), content=data[50:])
    assert done.status_code == 201
    assert (await client.head(f"/v2/team/b/blobs/{digest_of(data)}")).status_code == 404


# --- concurrent requests on one session ----------------------------------------------------------


async def slow(data: bytes, *, pieces: int = 8, gate: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    """``data`` in ``pieces``, yielding to the loop between them (and waiting on ``gate`` half-way)."""
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        if gate is not None and i >= len(data) // 2:
            await gate.wait()
        await asyncio.sleep(0.005)
        yield data[i : i + step]


async def test_concurrent_patches_with_the_same_range_one_wins(client: httpx.AsyncClient) -> None:
    """Uploads: concurrent PATCHes on one session: the two chunks never interleave; one is appended, the
    other is out of order (416)."""
    location = await start(client)
    a, b = os.urandom(40_000), os.urandom(40_000)
    responses = await asyncio.gather(
        *(
            client.patch(location, content=slow(chunk), headers={**OCTET, "content-range": "0-39999"})
            for chunk in (a, b)
        )
    )
    assert sorted(r.status_code for r in responses) == [202, 416]
    winner = a if responses[0].status_code == 202 else b
    assert (await client.put(with_query(location, digest=digest_of(winner)))).status_code == 201


async def test_concurrent_streamed_patches_append_whole(client: httpx.AsyncClient) -> None:
    """Uploads: concurrent PATCHes on one session without Content-Range: each is appended whole, one after
    the other, never interleaved."""
    location = await start(client)
    a, b = os.urandom(30_000), os.urandom(30_000)
    responses = await asyncio.gather(*(client.patch(location, content=slow(chunk)) for chunk in (a, b)))
    assert [r.status_code for r in responses] == [202, 202]
    assert await size_of(client, location) == 60_000
    assert {r.headers["range"] for r in responses} == {"0-29999", "0-59999"}
    first, second = (a, b) if responses[0].headers["range"] == "0-29999" else (b, a)
    assert (await client.put(with_query(location, digest=digest_of(first + second)))).status_code == 201


async def test_a_put_racing_a_patch_never_publishes_a_moving_target(client: httpx.AsyncClient) -> None:
    """Uploads: concurrent requests on one session: a closing PUT that arrives while a PATCH is still
    streaming waits for it, and then checks the digest against everything the session holds."""
    location = await start(client)
    head, tail = os.urandom(1000), os.urandom(50_000)
    await client.patch(location, content=head)
    gate = asyncio.Event()
    patch = asyncio.ensure_future(client.patch(location, content=slow(tail, gate=gate)))
    await asyncio.sleep(0.05)
    put = asyncio.ensure_future(client.put(with_query(location, digest=digest_of(head))))
    await asyncio.sleep(0.05)
    gate.set()
    patched, closed = await asyncio.gather(patch, put)
    assert patched.status_code == 202
    assert_error(closed, 400, "DIGEST_INVALID")
    assert (await client.head(f"/v2/app/blobs/{digest_of(head)}")).status_code == 404


async def test_a_cancel_racing_a_patch(client: httpx.AsyncClient) -> None:
    """Uploads: concurrent requests on one session: a DELETE while a PATCH streams ends the session after
    it; nothing is left behind and nothing is published."""
    location = await start(client)
    patch = asyncio.ensure_future(client.patch(location, content=slow(os.urandom(20_000))))
    await asyncio.sleep(0.01)
    cancelled = await client.delete(location)
    patched = await patch
    assert cancelled.status_code == 204
    assert patched.status_code in (202, 404)
    assert_error(await client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


async def test_two_workers_never_publish_a_session_another_still_writes(
    client_factory: ClientFactory, root: Path
) -> None:
    """Uploads: concurrent PATCHes on one session across worker processes (two apps on one storage root):
    a PUT served by one worker while another still appends to the session must not publish the data and
    let the other write on into the published blob."""
    one, two = await client_factory(), await client_factory()
    location = await start(one)
    head, tail = os.urandom(1000), os.urandom(50_000)
    await one.patch(location, content=head)
    gate = asyncio.Event()
    patch = asyncio.ensure_future(one.patch(location, content=slow(tail, gate=gate)))
    await asyncio.sleep(0.05)
    put = asyncio.ensure_future(two.put(with_query(location, digest=digest_of(head))))
    await asyncio.sleep(0.1)
    gate.set()
    patched, closed = await asyncio.gather(patch, put)
    assert patched.status_code == 202
    assert_error(closed, 400, "DIGEST_INVALID")
    for client in (one, two):
        assert (await client.head(f"/v2/app/blobs/{digest_of(head)}")).status_code == 404


async def test_two_workers_with_the_same_range_one_wins(client_factory: ClientFactory) -> None:
    """Uploads: concurrent PATCHes on one session across worker processes: never both appended."""
    one, two = await client_factory(), await client_factory()
    location = await start(one)
    a, b = os.urandom(40_000), os.urandom(40_000)
    responses = await asyncio.gather(
        one.patch(location, content=slow(a), headers={"content-range": "0-39999"}),
        two.patch(location, content=slow(b), headers={"content-range": "0-39999"}),
    )
    assert sorted(r.status_code for r in responses) == [202, 416]
    assert await size_of(one, location) == 40_000


# --- stalled clients -----------------------------------------------------------------------------


async def test_a_stalled_body_is_abandoned_and_frees_the_session(
    app: ASGIApp, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP: slow clients holding connections are bounded by timeouts: a PATCH whose client sends part of
    the body and then nothing is ended after the idle timeout (400), its part discarded, and the session is
    free again for the next request."""
    monkeypatch.setattr(params, "BODY_IDLE_TIMEOUT", 0.2)
    location = await start(client)
    path = httpx.URL(location).path
    received: list[Message] = [{"type": "http.request", "body": b"first part", "more_body": True}]
    never = asyncio.Event()
    sent: list[Message] = []

    async def receive() -> Message:
        if received:
            return received.pop(0)
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"registry.test"), (b"content-length", b"1000000")],
        "client": ("127.0.0.1", 1),
        "server": ("registry.test", 80),
    }
    stalled = asyncio.ensure_future(app(scope, receive, send))
    await asyncio.sleep(0.05)
    # Another request on the same session waits its turn, and gets it once the stalled one is dropped.
    follow_up = await asyncio.wait_for(client.patch(location, content=b"clean"), timeout=5)
    await asyncio.wait_for(stalled, timeout=5)
    assert sent[0]["status"] == 400
    assert follow_up.status_code == 202
    assert follow_up.headers["range"] == "0-4"
    done = await client.put(with_query(location, digest="sha256:" + hashlib.sha256(b"clean").hexdigest()))
    assert done.status_code == 201
