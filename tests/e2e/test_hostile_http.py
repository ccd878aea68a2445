"""Hostile HTTP against a real `wharf serve` (issue 4, "Hostile input: HTTP"): oversized header lines and
header counts, bodies longer or shorter than Content-Length, malformed requests, and slow clients holding
connections while others are still served. Raw sockets, so nothing tidies the bytes on the way.

A request the server (granian) cannot parse is refused before wharf sees it, with a bare 4xx and no
OCI envelope (the spec lets a 4xx have "a body in any format"); everything else gets the envelope.
After each test the server still answers, and its storage holds nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.conftest import ServerFactory

if TYPE_CHECKING:
    from tests.e2e.conftest import RegistryServer

pytestmark = pytest.mark.e2e

V2 = Path("docker/registry/v2")


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@pytest.fixture(scope="module")
def wharf_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A private wharf for this module (these tests are about wharf's and granian's behaviour)."""
    factory = ServerFactory(tmp_path_factory.mktemp("hostile"))
    try:
        yield factory("wharf")
    finally:
        factory.close()


@pytest.fixture
def server(wharf_server: RegistryServer) -> Iterator[RegistryServer]:
    """The module's server, checked after each test: still answering, storage intact."""
    yield wharf_server
    assert httpx.get(f"{wharf_server.url}/v2/", timeout=5).status_code == 200, "the server stopped answering"
    assert_storage_intact(wharf_server.root)


def assert_storage_intact(root: Path) -> None:
    """No temporary file is left, and every stored blob hashes to its digest."""
    for path in root.rglob("*"):
        assert not path.name.startswith(".tmp-"), path
    for data in (root / V2 / "blobs").glob("*/*/*/data"):
        algorithm, hex_ = data.parent.parent.parent.name, data.parent.name
        assert hashlib.new(algorithm, data.read_bytes()).hexdigest() == hex_, f"half-written blob {data}"


def exchange(server: RegistryServer, data: bytes, *, timeout: float = 5.0, half_close: bool = False) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it (or ``timeout``)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may refuse and close before it has read everything we send
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return received


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1."), response[:200]
    return int(response.split(b" ", 2)[1])


def envelope_of(response: bytes) -> list[dict[str, object]]:
    body = response.split(b"\r\n\r\n", 1)[1]
    errors: list[dict[str, object]] = json.loads(body)["errors"]
    return errors


def request(method: str, target: str, *headers: str, body: bytes = b"", close: bool = True) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: registry.test", *headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --- header limits -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [2 << 20, 8 << 20])
def test_an_oversized_header_line_is_refused(server: RegistryServer, size: int) -> None:
    """HTTP: oversized header lines are refused with a 4xx (431) before they reach wharf."""
    response = exchange(server, request("GET", "/v2/", "X-Big: " + "a" * size))
    assert status_of(response) == 431


@pytest.mark.parametrize("count", [500, 5000])
def test_too_many_headers_are_refused(server: RegistryServer, count: int) -> None:
    """HTTP: oversized header counts are refused with 431."""
    headers = [f"X-H{i}: {'v' * 100}" for i in range(count)]
    assert status_of(exchange(server, request("GET", "/v2/", *headers))) == 431


def test_an_oversized_request_line_is_refused(server: RegistryServer) -> None:
    """HTTP: an enormous request target is refused (414) before it reaches routing."""
    assert status_of(exchange(server, request("GET", "/v2/" + "a" * 200_000 + "/tags/list"))) in (414, 431)


# --- malformed requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /v2/ HTTP/9.9\r\n\r\n",
        b"GET /v2/a\x00b/tags/list HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v2/caf\xff/tags/list HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
        b"PUT /v2/a/manifests/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"ZZZ\r\nhello\r\n0\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\n X-Folded: continuation\r\n\r\n",
    ],
    ids=[
        "garbage",
        "version",
        "NUL in path",
        "invalid UTF-8 path",
        "non-numeric length",
        "negative length",
        "two lengths",
        "bad chunk",
        "header without colon",
        "obsolete line folding",
    ],
)
def test_malformed_requests_are_4xx(server: RegistryServer, raw: bytes) -> None:
    """HTTP: requests the server cannot parse are refused with a 4xx, never a 5xx or a dropped server."""
    response = exchange(server, raw)
    assert 400 <= status_of(response) < 500 or response == b"", response[:300]


@pytest.mark.parametrize(
    "target",
    [
        "/v2/../../../../etc/passwd",
        "/v2/a/../../../etc/manifests/passwd",
        "/v2/a/blobs/..%2f..%2f..%2fetc%2fpasswd",
        "/v2/%2e%2e/%2e%2e/etc/tags/list",
        "/v2/a/blobs/sha256:..%2f..%2fdata",
        "//etc/passwd",
        "/v2//etc/tags/list",
    ],
)
def test_traversal_in_the_raw_target_reads_nothing(server: RegistryServer, target: str) -> None:
    """Names: path traversal sent raw (no client normalises it) is a 4xx in the envelope and reads nothing."""
    response = exchange(server, request("GET", target))
    assert 400 <= status_of(response) < 500
    assert b"root:" not in response
    assert envelope_of(response)


# --- bodies that disagree with Content-Length ----------------------------------------------------


def test_a_body_longer_than_content_length(server: RegistryServer) -> None:
    """HTTP: a body longer than its Content-Length: only Content-Length bytes are the upload; the rest is
    the next request on the connection (garbage here, refused), not part of the blob."""
    blob = b"hello"
    target = f"/v2/hostile/long/blobs/uploads/?digest={sha256(blob)}"
    response = exchange(
        server,
        request("POST", target, "Content-Length: 5", close=False, body=blob + b"EXTRA GARBAGE\r\n\r\n"),
        timeout=3,
    )
    assert status_of(response) == 201
    pulled = httpx.get(f"{server.url}/v2/hostile/long/blobs/{sha256(blob)}", timeout=5)
    assert pulled.content == blob


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_a_body_shorter_than_content_length_stores_nothing(server: RegistryServer, method: str) -> None:
    """HTTP: a body shorter than its Content-Length (the client then closes): the upload fails, no blob is
    published, and a session keeps only what it had before."""
    blob = os.urandom(1000)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        started = http.post("/v2/hostile/short/blobs/uploads/")
        location = httpx.URL(started.headers["location"])
        http.patch(location, content=blob[:100], headers={"Content-Range": "0-99"})
        target = {
            "POST": f"/v2/hostile/short/blobs/uploads/?digest={sha256(blob)}",
            "PATCH": location.raw_path.decode(),
            "PUT": f"{location.raw_path.decode()}?digest={sha256(blob)}",
        }[method]
        response = exchange(
            server,
            request(method, target, "Content-Length: 900", body=blob[100:500]),
            half_close=True,
            timeout=5,
        )
        assert response == b"" or 400 <= status_of(response) < 500
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and http.get(location).headers.get("range") != "0-99":
            time.sleep(0.05)
        assert http.get(location).headers["range"] == "0-99"
        assert http.head(f"/v2/hostile/short/blobs/{sha256(blob)}").status_code == 404
        finished = http.put(location, params={"digest": sha256(blob)}, content=blob[100:])
        assert finished.status_code == 201, finished.text


# --- slow clients --------------------------------------------------------------------------------


def test_slow_clients_do_not_keep_others_waiting(server: RegistryServer) -> None:
    """HTTP: slow clients holding connections — some mid-headers (slowloris), some mid-body on an upload
    session, some connected and silent — while other clients push and pull at full speed."""
    held: list[socket.socket] = []
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            location = httpx.URL(http.post("/v2/hostile/slow/blobs/uploads/").headers["location"])
            for i in range(100):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                if i % 3 == 0:
                    sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                elif i % 3 == 1:
                    sock.sendall(
                        request(
                            "PATCH",
                            location.raw_path.decode(),
                            "Content-Length: 1000000",
                            close=False,
                            body=b"x" * 100,
                        )
                    )
                held.append(sock)
            started = time.monotonic()
            for n in range(20):
                blob = os.urandom(10_000 + n)
                pushed = http.post(
                    "/v2/hostile/fast/blobs/uploads/", params={"digest": sha256(blob)}, content=blob
                )
                assert pushed.status_code == 201
                assert http.get(f"/v2/hostile/fast/blobs/{sha256(blob)}").content == blob
                assert http.get("/v2/").status_code == 200
            assert time.monotonic() - started < 10
    finally:
        for sock in held:
            sock.close()


def test_many_idle_connections_leave_room_for_others(server: RegistryServer) -> None:
    """HTTP: connections that are opened and then never used do not stop the server accepting more."""
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(300)]
    try:
        started = time.monotonic()
        for _ in range(10):
            assert httpx.get(f"{server.url}/v2/", timeout=5).status_code == 200
        assert time.monotonic() - started < 5
    finally:
        for sock in held:
            sock.close()
