"""OCI Distribution 1.1, "Push" (blobs): every MUST and SHOULD of "Pushing blobs", "Pushing a blob
monolithically" (POST then PUT, single POST), "Pushing a blob in chunks", "Cancel a blob upload" and
"Mounting a blob from another repository"."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.integration.oci.support import (
    Content,
    assert_error,
    digest_of,
    layer,
    push,
    start_upload,
    with_query,
)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
OCTET = {"content-type": "application/octet-stream"}


async def assert_pullable(client: httpx.AsyncClient, response: httpx.Response, blob: Content) -> None:
    """A 201 whose `Location` is "a pullable blob URL" serving ``blob``."""
    assert response.status_code == 201, response.text
    pulled = await client.get(response.headers["location"])
    assert pulled.status_code == 200
    assert pulled.content == blob.data


# --- Push / Pushing blobs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:abc",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:" + "G" * 64,
        "nonsense",
        "sha1:" + "a" * 40,
    ],
)
async def test_an_invalid_or_unsupported_digest_is_400(client: httpx.AsyncClient, digest: str) -> None:
    """Push / Pushing blobs: "if the client provided digest is invalid or uses an unsupported algorithm, the
    registry SHOULD respond with a response code `400 Bad Request`." (single POST and closing PUT)"""
    assert_error(
        await client.post("/v2/push/a/blobs/uploads/", params={"digest": digest}, content=b"x"),
        400,
        "DIGEST_INVALID",
    )
    location = await start_upload(client, "push/a")
    assert_error(await client.put(with_query(location, digest=digest), content=b"x"), 400, "DIGEST_INVALID")


# --- Push / POST then PUT ------------------------------------------------------------------------


async def test_post_is_202_with_a_location_holding_a_uuid(client: httpx.AsyncClient) -> None:
    """Push / POST then PUT: "Upon success, the response MUST have a code of `202 Accepted`, and MUST include
    the following header: `Location: <blob-push-location>`" and "The `<blob-push-location>` MUST contain a
    UUID representing a unique session ID for the upload to follow." """
    first = await client.post("/v2/push/a/blobs/uploads/")
    second = await client.post("/v2/push/a/blobs/uploads/")
    assert first.status_code == second.status_code == 202
    ids = [UUID.search(r.headers["location"]) for r in (first, second)]
    assert ids[0] and ids[1] and ids[0][0] != ids[1][0]


async def test_put_to_the_location_is_201_with_a_pullable_location(client: httpx.AsyncClient) -> None:
    """Push / POST then PUT: "Upon successful completion of the request, the response MUST have code
    `201 Created` and MUST have the following header: `Location: <blob-location>` With `<blob-location>`
    being a pullable blob URL." """
    blob = layer(4096)
    location = await start_upload(client, "push/a")
    response = await client.put(
        with_query(location, digest=blob.digest),
        content=blob.data,
        headers={**OCTET, "content-length": str(len(blob.data))},
    )
    await assert_pullable(client, response, blob)


async def test_a_relative_location_works_too(client_factory: object) -> None:
    """Push / POST then PUT: "Optionally, the location MAY be absolute (containing the protocol and/or
    hostname), or it MAY be relative (containing just the URL path)." (`http.relativeurls: true`)"""
    client = await client_factory(**{"http.relativeurls": True})  # type: ignore[operator]
    blob = layer()
    location = await start_upload(client, "push/a")
    assert location.startswith("/v2/push/a/blobs/uploads/")
    response = await client.put(with_query(location, digest=blob.digest), content=blob.data)
    assert response.headers["location"] == f"/v2/push/a/blobs/{blob.digest}"
    await assert_pullable(client, response, blob)


# --- Push / Single POST --------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_single_post_is_201_with_a_pullable_location(client: httpx.AsyncClient, algorithm: str) -> None:
    """Push / Single POST: "Successful completion of the request MUST return a `201 Created` and MUST
    include the following header: `Location: <blob-location>`" """
    blob = layer(10_000, algorithm=algorithm)
    response = await client.post(
        "/v2/push/a/blobs/uploads/", params={"digest": blob.digest}, content=blob.data, headers=OCTET
    )
    await assert_pullable(client, response, blob)
    assert response.headers["docker-content-digest"] == blob.digest


async def test_single_post_content_length_must_match(client: httpx.AsyncClient) -> None:
    """Push / Single POST: "The `Content-Length` header MUST match the blob's actual content length."
    (a body shorter than it said is SIZE_INVALID; nothing is stored)"""
    blob = layer(100)
    response = await client.post(
        "/v2/push/a/blobs/uploads/",
        params={"digest": blob.digest},
        content=blob.data,
        headers={**OCTET, "content-length": "150"},
    )
    assert_error(response, 400, "SIZE_INVALID")
    assert_error(await client.head(f"/v2/push/a/blobs/{blob.digest}"), 404)


async def test_single_post_digest_must_match(client: httpx.AsyncClient) -> None:
    """Push / Single POST: "Likewise, the `<digest>` MUST match the blob's digest." (DIGEST_INVALID, nothing
    stored under either digest)"""
    blob, other = layer(), layer()
    response = await client.post(
        "/v2/push/a/blobs/uploads/", params={"digest": other.digest}, content=blob.data, headers=OCTET
    )
    assert_error(response, 400, "DIGEST_INVALID")
    for digest in (blob.digest, other.digest):
        assert (await client.head(f"/v2/push/a/blobs/{digest}")).status_code == 404


# --- Push / Pushing a blob in chunks -------------------------------------------------------------


async def test_chunked_upload_post_with_content_length_zero(client: httpx.AsyncClient) -> None:
    """Push / Pushing a blob in chunks: "the post request MUST include the following header:
    `Content-Length: 0`" (and is answered as any other POST: 202 with a Location)"""
    response = await client.post("/v2/push/a/blobs/uploads/", headers={"content-length": "0"})
    assert response.status_code == 202
    assert UUID.search(response.headers["location"])


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_digest_algorithm_parameter(client: httpx.AsyncClient, algorithm: str) -> None:
    """Push / Pushing a blob in chunks: "When pushing a blob with a digest algorithm other than `sha256`, the
    post request SHOULD include the `digest-algorithm` parameter" (end-4c: 202 then a normal upload)"""
    blob = layer(3000, algorithm=algorithm)
    location = await start_upload(client, "push/a", **{"digest-algorithm": algorithm})
    patched = await client.patch(
        location, content=blob.data[:1000], headers={**OCTET, "content-range": "0-999"}
    )
    assert patched.status_code == 202
    done = await client.put(
        with_query(patched.headers["location"], digest=blob.digest),
        content=blob.data[1000:],
        headers={**OCTET, "content-range": f"1000-{len(blob.data) - 1}"},
    )
    await assert_pullable(client, done, blob)


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "SHA256", "sha256+b64u", ""])
async def test_an_unsupported_digest_algorithm_parameter_is_400(
    client: httpx.AsyncClient, algorithm: str
) -> None:
    """Push / Pushing blobs: "if the client provided digest is invalid or uses an unsupported algorithm, the
    registry SHOULD respond with a response code `400 Bad Request`." (end-4c `?digest-algorithm=`)"""
    response = await client.post("/v2/push/a/blobs/uploads/", params={"digest-algorithm": algorithm})
    assert_error(response, 400, "DIGEST_INVALID")


async def test_no_minimum_chunk_size_so_one_byte_chunks_work(client: httpx.AsyncClient) -> None:
    """Push / Pushing a blob in chunks: "If the registry has a minimum chunk size, the `POST` response SHOULD
    include the following header ... `OCI-Chunk-Min-Length: <size>`" (wharf has none: no header, and
    chunks of one byte are accepted)"""
    blob = Content(b"tiny-chunks")
    response = await client.post("/v2/push/a/blobs/uploads/")
    assert "oci-chunk-min-length" not in response.headers
    location = response.headers["location"]
    for offset, byte in enumerate(blob.data):
        patched = await client.patch(
            location, content=bytes([byte]), headers={**OCTET, "content-range": f"{offset}-{offset}"}
        )
        assert patched.status_code == 202, patched.text
        location = patched.headers["location"]
    await assert_pullable(client, await client.put(with_query(location, digest=blob.digest)), blob)


async def test_each_chunk_is_202_with_location_and_range(client: httpx.AsyncClient) -> None:
    """Push / Pushing a blob in chunks: "The `<range>` refers to the byte range of the chunk, and MUST be
    inclusive on both ends. The first chunk's range MUST begin with `0`. It MUST match the following regular
    expression: `^[0-9]+-[0-9]+$`" and "The response for each successful chunk upload MUST be
    `202 Accepted`, and MUST have the following headers: `Location: <blob-push-location>`
    `Range: 0-<end-of-range>`" and "The `<end-of-range>` value is the position of the last uploaded byte of
    the blob, matching the end value of the `Content-Range` in the request." """
    blob = layer(3000)
    location = await start_upload(client, "push/a")
    for start, end in [(0, 999), (1000, 1999), (2000, 2999)]:
        response = await client.patch(
            location,
            content=blob.data[start : end + 1],
            headers={**OCTET, "content-range": f"{start}-{end}", "content-length": str(end - start + 1)},
        )
        assert response.status_code == 202, response.text
        assert response.headers["range"] == f"0-{end}"
        assert re.fullmatch(r"0-[0-9]+", response.headers["range"])
        location = response.headers["location"]
    await assert_pullable(client, await client.put(with_query(location, digest=blob.digest)), blob)


@pytest.mark.parametrize(
    ("content_range", "why"),
    [
        ("0-9", "overlaps: starts at 0 again"),
        ("5-14", "overlaps the end"),
        ("11-20", "skips a byte"),
        ("200-209", "far ahead"),
        ("9-0", "goes backwards"),
    ],
)
async def test_a_chunk_out_of_order_is_416(client: httpx.AsyncClient, content_range: str, why: str) -> None:
    """Push / Pushing a blob in chunks: "Chunks MUST be uploaded in order, with the first byte of a chunk
    being the last chunk's `<end-of-range>` plus one. If a chunk is uploaded out of order, the registry MUST
    respond with a `416 Requested Range Not Satisfiable` code." (the session is unchanged)"""
    blob = layer(20)
    location = await start_upload(client, "push/a")
    first = await client.patch(location, content=blob.data[:10], headers={**OCTET, "content-range": "0-9"})
    assert first.status_code == 202
    location = first.headers["location"]
    response = await client.patch(
        location, content=b"x" * 10, headers={**OCTET, "content-range": content_range}
    )
    assert_error(response, 416)
    status = await client.get(location)
    assert status.status_code == 204
    assert status.headers["range"] == "0-9"
    done = await client.put(
        with_query(location, digest=blob.digest),
        content=blob.data[10:],
        headers={**OCTET, "content-range": "10-19"},
    )
    await assert_pullable(client, done, blob)


async def test_a_first_chunk_must_begin_with_zero(client: httpx.AsyncClient) -> None:
    """Push / Pushing a blob in chunks: "The first chunk's range MUST begin with `0`." """
    location = await start_upload(client, "push/a")
    response = await client.patch(location, content=b"abc", headers={**OCTET, "content-range": "1-3"})
    assert_error(response, 416)


async def test_status_get_is_204_with_location_and_range(client: httpx.AsyncClient) -> None:
    """Push / Pushing a blob in chunks: "The response to an active upload `<blob-push-location>` MUST be a
    `204 No Content` response code, and MUST have the following headers: `Location: <blob-push-location>`
    `Range: 0-<end-of-range>`" and "The `<end-of-range>` value is the position of the last uploaded byte of
    the blob." """
    location = await start_upload(client, "push/a")
    patched = await client.patch(location, content=b"x" * 42, headers={**OCTET, "content-range": "0-41"})
    status = await client.get(patched.headers["location"])
    assert status.status_code == 204
    assert status.headers["range"] == "0-41"
    assert UUID.search(status.headers["location"])
    assert (await client.patch(status.headers["location"], content=b"y")).status_code == 202


async def test_the_final_chunk_may_come_with_the_put(client: httpx.AsyncClient) -> None:
    """Push / Pushing a blob in chunks: "The final chunk MAY be uploaded using a `PATCH` request or it MAY be
    uploaded in the closing `PUT` request." and "The response to a successful closing of the session MUST be
    `201 Created`, and MUST contain the following header: `Location: <blob-location>`" """
    blob = layer(100)
    location = await start_upload(client, "push/a")
    patched = await client.patch(location, content=blob.data[:60], headers={**OCTET, "content-range": "0-59"})
    done = await client.put(
        with_query(patched.headers["location"], digest=blob.digest),
        content=blob.data[60:],
        headers={**OCTET, "content-range": "60-99", "content-length": "40"},
    )
    await assert_pullable(client, done, blob)


async def test_a_final_chunk_out_of_order_is_416(client: httpx.AsyncClient) -> None:
    """Push / Pushing a blob in chunks: "If the final chunk is uploaded out of order, the registry MUST
    respond with a `416 Requested Range Not Satisfiable` code." """
    blob = layer(100)
    location = await start_upload(client, "push/a")
    patched = await client.patch(location, content=blob.data[:60], headers={**OCTET, "content-range": "0-59"})
    response = await client.put(
        with_query(patched.headers["location"], digest=blob.digest),
        content=blob.data[50:],
        headers={**OCTET, "content-range": "50-99"},
    )
    assert_error(response, 416)
    assert (await client.head(f"/v2/push/a/blobs/{blob.digest}")).status_code == 404


async def test_the_session_must_be_closed_with_a_put(client: httpx.AsyncClient) -> None:
    """Push / Pushing a blob in chunks: "Regardless of how the final chunk is uploaded, the session MUST be
    closed with a `PUT` request." (until then the blob is not in the repository)"""
    blob = layer(64)
    location = await start_upload(client, "push/a")
    patched = await client.patch(location, content=blob.data, headers={**OCTET, "content-range": "0-63"})
    assert (await client.head(f"/v2/push/a/blobs/{blob.digest}")).status_code == 404
    await assert_pullable(
        client, await client.put(with_query(patched.headers["location"], digest=blob.digest)), blob
    )


async def test_the_closing_put_needs_the_digest_of_the_whole_blob(client: httpx.AsyncClient) -> None:
    """Push / Pushing a blob in chunks: "The closing `PUT` request MUST include the `<digest>` of the whole
    blob (not the final chunk) as a query parameter." """
    blob = layer(100)
    location = await start_upload(client, "push/a")
    patched = await client.patch(location, content=blob.data[:60], headers={**OCTET, "content-range": "0-59"})
    location = patched.headers["location"]
    assert_error(await client.put(location, content=blob.data[60:]), 400, "DIGEST_INVALID")
    # A failed close never publishes: with the last chunk's digest nothing is stored under either digest.
    location = await start_upload(client, "push/b")
    patched = await client.patch(location, content=blob.data[:60], headers={**OCTET, "content-range": "0-59"})
    tail = Content(blob.data[60:])
    response = await client.put(
        with_query(patched.headers["location"], digest=tail.digest), content=tail.data
    )
    assert_error(response, 400, "DIGEST_INVALID")
    for digest in (blob.digest, tail.digest):
        assert (await client.head(f"/v2/push/b/blobs/{digest}")).status_code == 404


# --- Push / Cancel a blob upload -----------------------------------------------------------------


async def test_cancel_is_204_and_ends_the_session(client: httpx.AsyncClient) -> None:
    """Push / Cancel a blob upload: "If successful, the response SHOULD be a `204 No Content` response code."
    and "Clients SHOULD send this request when aborting a blob upload, releasing server resources." """
    location = await start_upload(client, "push/a")
    await client.patch(location, content=b"x" * 100)
    response = await client.delete(location, headers={"content-length": "0"})
    assert response.status_code == 204
    assert_error(await client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(await client.patch(location, content=b"y"), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(
        await client.put(with_query(location, digest=digest_of(b"x" * 100))), 404, "BLOB_UPLOAD_UNKNOWN"
    )


@pytest.mark.parametrize("driver_kind", ["filesystem"])
async def test_cancel_frees_the_session_storage_at_once(client: httpx.AsyncClient, tmp_path: Path) -> None:
    """Push / Cancel a blob upload: "Clients SHOULD send this request when aborting a blob upload, releasing
    server resources." (the session's directory, data included, is gone when the 204 arrives)"""
    location = await start_upload(client, "push/a")
    await client.patch(location, content=b"x" * 100_000)
    upload_id = UUID.search(location)[0]  # type: ignore[index]
    session = tmp_path / "root/docker/registry/v2/repositories/push/a/_uploads" / upload_id
    assert (session / "data").stat().st_size == 100_000
    assert (await client.delete(location)).status_code == 204
    assert not session.exists()


# --- Push / Mounting a blob from another repository ----------------------------------------------


async def test_mount_from_another_repository_is_201(client: httpx.AsyncClient) -> None:
    """Push / Mounting a blob: "The response to a successful mount MUST be `201 Created`, and MUST contain the
    following header: `Location: <blob-location>`" and "The Docker-Content-Digest header returns the digest
    of the uploaded blob" """
    blob = layer()
    await push(client, "push/source", blob)
    response = await client.post(
        "/v2/push/target/blobs/uploads/", params={"mount": blob.digest, "from": "push/source"}
    )
    await assert_pullable(client, response, blob)
    assert response.headers["docker-content-digest"] == blob.digest


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_mount_without_from(client: httpx.AsyncClient, algorithm: str) -> None:
    """Push / Mounting a blob: "The registry MAY treat the `from` parameter as optional, and it MAY
    cross-mount the blob if it can be found." """
    blob = layer(algorithm=algorithm)
    await push(client, "push/source", blob)
    response = await client.post("/v2/push/target/blobs/uploads/", params={"mount": blob.digest})
    await assert_pullable(client, response, blob)


@pytest.mark.parametrize("source", ["push/empty", "push/nothing-here", "INVALID", "../x"])
async def test_a_mount_that_cannot_be_done_is_202_with_a_session(
    client: httpx.AsyncClient, source: str
) -> None:
    """Push / Mounting a blob: "if a registry does not support cross-repository mounting or is unable to
    mount the requested blob, it SHOULD return a `202`. This indicates that the upload session has begun
    and that the client MAY proceed with the upload." """
    blob = layer()
    await push(client, "push/elsewhere", layer())
    response = await client.post(
        "/v2/push/target/blobs/uploads/", params={"mount": blob.digest, "from": source}
    )
    assert response.status_code == 202
    location = response.headers["location"]
    await assert_pullable(
        client, await client.put(with_query(location, digest=blob.digest), content=blob.data), blob
    )


async def test_a_blob_that_is_nowhere_cannot_be_mounted_without_from(client: httpx.AsyncClient) -> None:
    """Push / Mounting a blob: "if a registry ... is unable to mount the requested blob, it SHOULD return a
    `202`." (`?mount=` alone, for a blob the registry does not hold)"""
    response = await client.post("/v2/push/target/blobs/uploads/", params={"mount": digest_of(b"absent")})
    assert response.status_code == 202
    assert UUID.search(response.headers["location"])
