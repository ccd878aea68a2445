"""``wharf.client``, what ``wharf rm`` and ``wharf ls`` do, against the real app in-process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    index_manifest,
    push_image,
    push_manifest,
    sha256,
)
from tests.integration.conftest import config_for, lifespan
from wharf.api.app import create_app
from wharf.client import (
    ClientError,
    DeleteDisabled,
    ImageRef,
    NotFound,
    RegistryClient,
    RegistryUnreachable,
    describe_tags,
    remove,
)
from wharf.config import parse_config
from wharf.digest import Digest
from wharf.reference import RepositoryName
from wharf.storage.driver import StorageDriver

BASE = "http://registry.test"

Registry = tuple[httpx.AsyncClient, RegistryClient]
RegistryFactory = Callable[..., Awaitable[Registry]]


@pytest.fixture
async def registry_factory(driver_kind: str, tmp_path: Path) -> AsyncIterator[RegistryFactory]:
    """``await registry_factory(**overrides)`` → (raw HTTP client, ``RegistryClient``) on a fresh app."""
    stack = contextlib.AsyncExitStack()

    async def make(*, driver: StorageDriver | None = None, **overrides: Any) -> Registry:
        app = create_app(parse_config(config_for(driver_kind, tmp_path / "root", **overrides)), driver=driver)
        await stack.enter_async_context(lifespan(app))
        transport = httpx.ASGITransport(app=app)
        http = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url=BASE))
        client = await stack.enter_async_context(RegistryClient(BASE, transport=transport))
        return http, client

    async with stack:
        yield make


@pytest.fixture
async def registry(registry_factory: RegistryFactory) -> Registry:
    return await registry_factory()


def ref(text: str) -> ImageRef:
    return ImageRef.parse(f"http://registry.test/{text}")


async def test_catalog_follows_every_page(registry_factory: RegistryFactory) -> None:
    http, client = await registry_factory(**{"catalog.maxentries": 2})
    names = [f"team/app{i}" for i in range(5)]
    for name in names:
        await push_image(http, name, "v1", layers=1)
    assert await client.repositories() == names


async def test_rm_by_tag_deletes_the_manifest_and_reports_its_other_tags(registry: Registry) -> None:
    http, client = registry
    body, _ = await push_image(http, "app", "v1")
    assert (await push_manifest(http, "app", "latest", body)).status_code == 201
    other, _ = await push_image(http, "app", "v2")

    removed = await remove(client, ref("app:v1"))

    assert [(str(r.digest), r.tags) for r in removed] == [(sha256(body), ("latest", "v1"))]
    assert await client.tags(RepositoryName("app")) == ["v2"]
    assert (await http.get(f"/v2/app/manifests/{sha256(body)}")).status_code == 404
    assert (await http.get(f"/v2/app/manifests/{sha256(other)}")).status_code == 200


async def test_rm_by_digest(registry: Registry) -> None:
    http, client = registry
    body, _ = await push_image(http, "app", "v1", media_type=DOCKER_MANIFEST)
    removed = await remove(client, ref(f"app@{sha256(body)}"))
    assert [(str(r.digest), r.tags) for r in removed] == [(sha256(body), ("v1",))]
    assert await client.tags(RepositoryName("app")) == []


async def test_rm_all_tags_deletes_each_manifest_once(registry: Registry) -> None:
    http, client = registry
    one, _ = await push_image(http, "app", "a")
    assert (await push_manifest(http, "app", "b", one)).status_code == 201
    two, _ = await push_image(http, "app", "c")
    removed = await remove(client, ref("app"), all_tags=True)
    assert sorted((str(r.digest), r.tags) for r in removed) == sorted(
        [(sha256(one), ("a", "b")), (sha256(two), ("c",))]
    )
    assert await client.repositories() == []


async def test_rm_unknown_repository_tag_and_digest(registry: Registry) -> None:
    http, client = registry
    await push_image(http, "app", "v1")
    with pytest.raises(NotFound, match=r"^repository nope not found on registry.test$"):
        await remove(client, ref("nope:v1"))
    with pytest.raises(NotFound, match=r"^tag v9 not found in registry.test/app \(tags: v1\)$"):
        await remove(client, ref("app:v9"))
    missing = "sha256:" + "0" * 64
    with pytest.raises(NotFound, match=f"^manifest {missing} not found in registry.test/app$"):
        await remove(client, ref(f"app@{missing}"))
    with pytest.raises(NotFound, match="repository nope not found"):
        await remove(client, ref(f"nope@{missing}"))


async def test_rm_needs_a_tag_a_digest_or_all_tags(registry: Registry) -> None:
    _, client = registry
    with pytest.raises(ClientError, match="give a tag"):
        await remove(client, ref("app"))
    with pytest.raises(ClientError, match="--all-tags takes a repository"):
        await remove(client, ref("app:v1"), all_tags=True)


async def test_rm_when_deletes_are_disabled(registry_factory: RegistryFactory) -> None:
    http, client = await registry_factory(**{"storage.delete.enabled": False})
    await push_image(http, "app", "v1")
    with pytest.raises(
        DeleteDisabled, match=r"^deletes are disabled on this registry: set storage.delete.enabled: true$"
    ):
        await remove(client, ref("app:v1"))


async def test_rm_when_read_only_says_so(registry_factory: RegistryFactory, storage: StorageDriver) -> None:
    http, _ = await registry_factory(driver=storage)
    await push_image(http, "app", "v1")
    _, read_only = await registry_factory(driver=storage, **{"storage.maintenance.readonly.enabled": True})
    with pytest.raises(ClientError, match=r"^registry.test/app: the registry is read-only") as caught:
        await remove(read_only, ref("app:v1"))
    assert not isinstance(caught.value, DeleteDisabled)


async def test_describe_tags_sizes_images_and_indexes(registry: Registry) -> None:
    http, client = registry
    image, blobs = await push_image(http, "app", "v1", layers=2)
    image_size = len(image) + sum(len(blob.data) for blob in blobs)
    arm, arm_blobs = await push_image(http, "app", "arm", layers=1, media_type=DOCKER_MANIFEST)
    arm_size = len(arm) + sum(len(blob.data) for blob in arm_blobs)
    index = index_manifest([(image, OCI_MANIFEST), (arm, DOCKER_MANIFEST)], media_type=DOCKER_LIST)
    assert (await push_manifest(http, "app", "multi", index, DOCKER_LIST)).status_code == 201

    described = {
        info.tag: info for info in await describe_tags(client, RepositoryName("app"), ["v1", "multi"])
    }

    assert described["v1"].digest.hex == sha256(image).split(":")[1]
    assert (described["v1"].media_type, described["v1"].size, described["v1"].platforms) == (
        OCI_MANIFEST,
        image_size,
        None,
    )
    multi = described["multi"]
    assert (multi.media_type, multi.platforms) == (DOCKER_LIST, 2)
    assert multi.size == len(index) + image_size + arm_size


async def test_describe_index_with_a_platform_the_registry_lacks() -> None:
    """distribution stores an index whose platforms are missing; the size counts what the index says."""
    absent = b'{"schemaVersion": 2, "layers": []}'
    index = index_manifest([(absent, OCI_MANIFEST)])

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/app/manifests/multi":
            return httpx.Response(200, content=index, headers={"content-type": OCI_INDEX})
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]})

    async with RegistryClient(BASE, transport=httpx.MockTransport(serve)) as client:
        [info] = await describe_tags(client, RepositoryName("app"), ["multi"])
    assert (info.digest.hex, info.platforms, info.size) == (sha256(index)[7:], 1, len(index) + len(absent))


async def test_unreachable_registry() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        try:
            raise ConnectionRefusedError(111, "Connect call failed")
        except ConnectionRefusedError as exc:
            raise httpx.ConnectError("All connection attempts failed", request=request) from exc

    async with RegistryClient("http://127.0.0.1:9", transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(
            RegistryUnreachable, match=r"^cannot reach registry at http://127.0.0.1:9: connection refused$"
        ):
            await client.repositories()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("localhost:5000", ("http", "localhost:5000", None, None, None)),
        ("127.0.0.1:5000/a/b:v1", ("http", "127.0.0.1:5000", "a/b", "v1", None)),
        ("[::1]:5000/a", ("http", "[::1]:5000", "a", None, None)),
        ("registry.example.com/a", ("https", "registry.example.com", "a", None, None)),
        ("http://registry.example.com/a:v1", ("http", "registry.example.com", "a", "v1", None)),
        ("localhost:5000/a@sha256:" + "a" * 64, ("http", "localhost:5000", "a", None, "sha256:" + "a" * 64)),
    ],
)
def test_image_ref_parse(text: str, expected: tuple[str, str, str | None, str | None, str | None]) -> None:
    parsed = ImageRef.parse(text)
    as_text = (parsed.scheme, parsed.registry, parsed.repository, parsed.tag, parsed.digest)
    assert tuple(None if part is None else str(part) for part in as_text) == expected


def test_image_ref_plain_http_flag_and_bad_references() -> None:
    assert ImageRef.parse("registry.example.com/a", plain_http=True).base_url == "http://registry.example.com"
    with pytest.raises(ClientError, match="invalid repository name"):
        ImageRef.parse("localhost:5000/Upper:v1")
    with pytest.raises(ClientError, match="digest"):
        ImageRef.parse("localhost:5000/a@sha256:xyz")


async def test_a_405_without_a_body_may_mean_either() -> None:
    """distribution in read-only mode has no DELETE route: a bare 405."""

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(405)

    async with RegistryClient(BASE, transport=httpx.MockTransport(serve)) as client:
        with pytest.raises(DeleteDisabled, match=r"deletes are disabled \(storage.delete.enabled\) or the"):
            await client.delete_manifest(RepositoryName("app"), Digest("sha256", "0" * 64))


async def test_not_a_registry() -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>hello</html>")

    async with RegistryClient(BASE, transport=httpx.MockTransport(serve)) as client:
        with pytest.raises(ClientError, match=r"^registry.test: GET /v2/_catalog did not answer JSON"):
            await client.repositories()
