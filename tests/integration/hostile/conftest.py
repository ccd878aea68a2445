"""Hostile-input tests: the filesystem driver only, with the storage tree checked after every test.

Whatever a test sends, afterwards (``storage_is_intact``):

- nothing exists beside the storage root, nor beside the test's own directory (no path escaped);
- no temporary file is left behind, every stored blob hashes to its digest (no half-written blob),
  and every manifest revision link names a blob that exists (no half-written manifest).

``raw`` drives the app without an HTTP client, so that paths are sent exactly as written
(httpx would resolve ``..`` and re-encode the rest).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import config_for, lifespan
from wharf.api.app import create_app
from wharf.api.messages import ASGIApp, Message
from wharf.config import parse_config

V2 = Path("docker/registry/v2")


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


RawSender = Callable[..., Awaitable[RawResponse]]


@pytest.fixture
def driver_kind() -> str:
    return "filesystem"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[ASGIApp]:
    application = create_app(parse_config(config_for("filesystem", tmp_path / "root")))
    async with lifespan(application):
        yield application


@pytest.fixture
async def client(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://registry.test"
    ) as c:
        yield c


@pytest.fixture
def raw(app: ASGIApp) -> RawSender:
    """``await raw("GET", b"/v2/a/../b/tags/list")``: one request with the path exactly as given."""

    async def send(
        method: str,
        raw_path: bytes,
        *,
        query: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"",
    ) -> RawResponse:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": raw_path.decode("utf-8", "surrogateescape"),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"registry.test"), *(headers or [])],
            "client": ("127.0.0.1", 1),
            "server": ("registry.test", 80),
        }
        inbox: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[Message] = []

        async def receive() -> Message:
            return inbox.pop(0) if inbox else {"type": "http.disconnect"}

        async def collect(message: Message) -> None:
            sent.append(message)

        await app(scope, receive, collect)
        start = next(m for m in sent if m["type"] == "http.response.start")
        headers_out = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}
        content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return RawResponse(start["status"], headers_out, content)

    return send


def stored_files(root: Path) -> Iterator[Path]:
    if root.exists():
        yield from (p for p in root.rglob("*") if p.is_file())


def assert_storage_intact(tmp_path: Path, root: Path) -> None:
    """The invariants in the module docstring."""
    assert {p.name for p in tmp_path.iterdir()} <= {"root"}, sorted(tmp_path.iterdir())
    for path in stored_files(root):
        relative = path.relative_to(root)
        assert relative.parts[0] in ("docker", "wharf"), relative
        assert not path.name.startswith(".tmp-"), f"temporary file left behind: {relative}"
    blobs = root / V2 / "blobs"
    for data in blobs.glob("*/*/*/data"):
        algorithm, hex_ = data.parent.parent.parent.name, data.parent.name
        assert hashlib.new(algorithm, data.read_bytes()).hexdigest() == hex_, f"half-written blob {data}"
    for link in (root / V2 / "repositories").glob("**/_manifests/revisions/*/*/link"):
        algorithm, hex_ = link.read_text().split(":")
        assert (blobs / algorithm / hex_[:2] / hex_ / "data").is_file(), (
            f"manifest link without its blob: {link}"
        )


@pytest.fixture(autouse=True)
def storage_is_intact(tmp_path: Path, root: Path) -> Iterator[None]:
    siblings = {p.name for p in tmp_path.parent.iterdir()}
    yield
    assert_storage_intact(tmp_path, root)
    assert {p.name for p in tmp_path.parent.iterdir()} <= siblings | {tmp_path.name}


def assert_envelope(
    status: int, body: bytes, *, expected: int | tuple[int, ...], code: str | None = None
) -> None:
    """A 4xx in the OCI error envelope (``{"errors": [{"code", "message", "detail"}]}``)."""
    statuses = expected if isinstance(expected, tuple) else (expected,)
    assert status in statuses, (status, body[:500])
    assert 400 <= status < 500
    errors = json.loads(body)["errors"]
    assert errors and all(isinstance(e["code"], str) and e["code"].isupper() for e in errors)
    if code is not None:
        assert code in [e["code"] for e in errors], errors


def assert_error(
    response: httpx.Response | RawResponse, expected: int | tuple[int, ...], code: str | None = None
) -> None:
    if isinstance(response, RawResponse):
        assert_envelope(response.status, response.body, expected=expected, code=code)
    else:
        assert_envelope(response.status_code, response.content, expected=expected, code=code)


@contextlib.contextmanager
def nothing_written(root: Path) -> Iterator[None]:
    """The block adds no blob, no link and no manifest under ``root`` (upload sessions aside)."""
    before = {p for p in stored_files(root / "docker") if "_uploads" not in p.parts}
    yield
    after = {p for p in stored_files(root / "docker") if "_uploads" not in p.parts}
    assert after <= before, sorted(str(p.relative_to(root)) for p in after - before)
