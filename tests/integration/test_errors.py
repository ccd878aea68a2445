"""The OCI error envelope: every error code the API can return, with its status, on every kind of route."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Blob, error_codes, image_manifest, push_blob, push_image, random_blob, sha256
from tests.integration.conftest import ClientFactory, config_for, lifespan
from tests.integration.fakes import FlakyDriver
from wharf.api.app import create_app
from wharf.api.messages import Message
from wharf.config import parse_config
from wharf.registry.factory import driver_for
from wharf.storage.driver import StorageDriver


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the OCI envelope with exactly one error of ``code``; returns that error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"
    body = response.json()
    assert list(body) == ["errors"]
    [error] = body["errors"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "detail"}
    return dict(error)


async def test_blob_unknown(client: httpx.AsyncClient) -> None:
    error = assert_envelope(await client.get(f"/v2/a/blobs/{sha256(b'nothing')}"), 404, "BLOB_UNKNOWN")
    assert error["message"] == "blob unknown to registry"


async def test_blob_upload_unknown(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/v2/a/blobs/uploads/no-such-upload"), 404, "BLOB_UPLOAD_UNKNOWN")


async def test_digest_invalid(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/v2/a/blobs/sha256:zzz"), 400, "DIGEST_INVALID")


async def test_manifest_blob_unknown_names_the_missing_blob(client: httpx.AsyncClient) -> None:
    config, layer = random_blob(), random_blob()
    await push_blob(client, "a", config)
    response = await client.put(
        "/v2/a/manifests/v1",
        content=image_manifest(config, [layer]),
        headers={"content-type": "application/vnd.oci.image.manifest.v1+json"},
    )
    error = assert_envelope(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert error["detail"] == layer.digest


async def test_manifest_invalid(client: httpx.AsyncClient) -> None:
    response = await client.put("/v2/a/manifests/v1", content=b"{not json")
    assert_envelope(response, 400, "MANIFEST_INVALID")


async def test_manifest_unknown(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/v2/a/manifests/latest"), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("name", ["UPPER", "a/-b", "-a", "a__-b", "a" * 256, "a%00b"])
async def test_name_invalid(client: httpx.AsyncClient, name: str) -> None:
    assert_envelope(await client.get(f"/v2/{name}/tags/list"), 400, "NAME_INVALID")


async def test_name_unknown(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/v2/nobody/tags/list"), 404, "NAME_UNKNOWN")


async def test_size_invalid_when_a_chunk_is_shorter_than_its_range(client: httpx.AsyncClient) -> None:
    location = (await client.post("/v2/a/blobs/uploads/")).headers["location"]

    async def five_bytes() -> AsyncIterator[bytes]:
        yield b"12345"

    response = await client.patch(location, content=five_bytes(), headers={"content-range": "0-9"})
    assert_envelope(response, 400, "SIZE_INVALID")


async def test_tag_invalid(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "a", "v1")
    response = await client.put(
        "/v2/a/manifests/-bad",
        content=body,
        headers={"content-type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert_envelope(response, 400, "TAG_INVALID")


async def test_unsupported(client_factory: ClientFactory) -> None:
    client = await client_factory(**{"storage.delete.enabled": False})
    blob = random_blob()
    await push_blob(client, "a", blob)
    assert_envelope(await client.delete(f"/v2/a/blobs/{blob.digest}"), 405, "UNSUPPORTED")


async def test_range_invalid_on_an_out_of_order_chunk(client: httpx.AsyncClient) -> None:
    location = (await client.post("/v2/a/blobs/uploads/")).headers["location"]
    response = await client.patch(location, content=b"abc", headers={"content-range": "5-7"})
    assert_envelope(response, 416, "RANGE_INVALID")
    # refused before its body was read: the client must not reuse the connection
    assert response.headers["connection"] == "close"


async def test_an_error_after_the_whole_body_keeps_the_connection(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/a/blobs/uploads/", params={"digest": sha256(b"other")}, content=b"abc")
    assert_envelope(response, 400, "DIGEST_INVALID")
    assert "connection" not in response.headers


async def test_pagination_number_invalid(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/v2/_catalog", params={"n": "-1"}), 400, "PAGINATION_NUMBER_INVALID")


async def test_blob_upload_invalid_when_the_client_goes_away_mid_body(
    driver_kind: str, tmp_path: Path
) -> None:
    app = create_app(parse_config(config_for(driver_kind, tmp_path / "root")))
    blob = Blob(b"x" * 100)
    messages: list[Message] = [
        {"type": "http.request", "body": blob.data[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v2/a/blobs/uploads/",
        "raw_path": b"/v2/a/blobs/uploads/",
        "query_string": f"digest={blob.digest}".encode(),
        "root_path": "",
        "headers": [(b"host", b"registry.test"), (b"content-length", b"100")],
        "client": ("127.0.0.1", 1234),
        "server": ("registry.test", 80),
    }
    async with lifespan(app):
        await app(scope, receive, send)
        start = sent[0]
        assert start["status"] == 400
        assert b"BLOB_UPLOAD_INVALID" in b"".join(m.get("body", b"") for m in sent[1:])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.head(f"/v2/a/blobs/{blob.digest}")).status_code == 404


@contextlib.asynccontextmanager
async def tolerant_client(
    driver_kind: str, root: Path, driver: StorageDriver
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on ``driver``. The app answers a failure with a 500 and does not re-raise
    it, so httpx's default of raising the app's exceptions checks that too."""
    app = create_app(parse_config(config_for(driver_kind, root)), driver=driver)
    transport = httpx.ASGITransport(app=app)
    async with (
        lifespan(app),
        httpx.AsyncClient(transport=transport, base_url="http://registry.test") as client,
    ):
        yield client


async def test_an_unexpected_failure_is_unknown_500_without_internals(
    driver_kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "root"
    driver = FlakyDriver(
        driver_for(parse_config(config_for(driver_kind, root))), operations=frozenset({"stat"})
    )
    driver.error = RuntimeError("secret internal detail")
    async with tolerant_client(driver_kind, root, driver) as client:
        driver.failing = True
        response = await client.get(f"/v2/a/blobs/{sha256(b'x')}")
    error = assert_envelope(response, 500, "UNKNOWN")
    assert "secret" not in response.text
    assert error["message"]
    assert "secret internal detail" in caplog.text


async def test_unknown_routes_are_404_in_the_envelope(client: httpx.AsyncClient) -> None:
    for path in ["/nothing", "/v2/a/unknown/x", "/v1/_ping", "/v2/a/manifests"]:
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["docker-distribution-api-version"] == "registry/2.0"
        assert response.headers["content-type"].startswith("application/json")
        assert error_codes(response)


async def test_a_method_a_route_does_not_serve_is_405_unsupported_with_allow(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(f"/v2/a/blobs/{sha256(b'x')}")
    assert_envelope(response, 405, "UNSUPPORTED")
    # Starlette names the methods of the first route on the path (GET, HEAD), not DELETE's route.
    assert {"GET", "HEAD"} <= set(response.headers["allow"].replace(" ", "").split(","))


async def test_head_errors_carry_no_body(client: httpx.AsyncClient) -> None:
    response = await client.head(f"/v2/a/blobs/{sha256(b'x')}")
    assert response.status_code == 404
    assert response.content == b""
    response = await client.head("/v2/a/manifests/latest")
    assert response.status_code == 404
    assert response.content == b""
