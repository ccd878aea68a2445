"""Blob uploads over plain HTTP against the real server process, including one resumed across a restart."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import RegistryServer, ServerFactory

pytestmark = pytest.mark.e2e

OCTET_STREAM = {"Content-Type": "application/octet-stream"}


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def with_digest(location: str, data: bytes) -> str:
    """Location plus ?digest=, keeping the query the server put there (httpx's params= would replace it)."""
    return f"{location}{'&' if '?' in location else '?'}digest={sha256(data)}"


def start_upload(http: httpx.Client, repository: str) -> str:
    response = http.post(f"/v2/{repository}/blobs/uploads/")
    assert response.status_code == 202, response.text
    assert response.headers["Docker-Upload-UUID"]
    return response.headers["Location"]


def assert_blob(http: httpx.Client, repository: str, data: bytes) -> None:
    response = http.get(f"/v2/{repository}/blobs/{sha256(data)}")
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == sha256(data)
    assert response.content == data


@pytest.fixture
def server(server_factory: ServerFactory, server_kind: str) -> RegistryServer:
    """A private server of the kind under test, so that restarting it disturbs no other test."""
    return server_factory(server_kind)


def test_chunked_upload_resumes_after_restart(server: RegistryServer) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    half = len(data) // 2
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        location = start_upload(http, "proto/resumed")
        first = http.patch(
            location, content=data[:half], headers={**OCTET_STREAM, "Content-Range": f"0-{half - 1}"}
        )
        assert first.status_code == 202, first.text
        assert first.headers["Range"] == f"0-{half - 1}"
        location = first.headers["Location"]

    server.restart()

    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        status = http.get(location)
        assert status.status_code == 204, status.text
        assert status.headers["Range"] == f"0-{half - 1}"
        rest = http.patch(
            status.headers["Location"],
            content=data[half:],
            headers={**OCTET_STREAM, "Content-Range": f"{half}-{len(data) - 1}"},
        )
        assert rest.status_code == 202, rest.text
        assert rest.headers["Range"] == f"0-{len(data) - 1}"
        done = http.put(with_digest(rest.headers["Location"], data))
        assert done.status_code == 201, done.text
        assert done.headers["Docker-Content-Digest"] == sha256(data)
        assert_blob(http, "proto/resumed", data)


def test_monolithic_post_with_digest(http: httpx.Client) -> None:
    data = os.urandom(64 * 1024)

    response = http.post(
        with_digest("/v2/proto/monolithic/blobs/uploads/", data), content=data, headers=OCTET_STREAM
    )

    # The spec lets a registry decline a single-POST upload with 202 and an upload session to PUT to.
    if response.status_code == 202:
        response = http.put(
            with_digest(response.headers["Location"], data), content=data, headers=OCTET_STREAM
        )
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == sha256(data)
    assert_blob(http, "proto/monolithic", data)


def test_streamed_patch_without_content_range(http: httpx.Client) -> None:
    chunks = [os.urandom(256 * 1024) for _ in range(8)]
    data = b"".join(chunks)

    def body() -> Iterator[bytes]:  # a generator body goes out with Transfer-Encoding: chunked
        yield from chunks

    location = start_upload(http, "proto/streamed")
    patched = http.patch(location, content=body(), headers=OCTET_STREAM)
    assert patched.status_code == 202, patched.text
    assert patched.headers["Range"] == f"0-{len(data) - 1}"
    done = http.put(with_digest(patched.headers["Location"], data))
    assert done.status_code == 201, done.text
    assert_blob(http, "proto/streamed", data)
