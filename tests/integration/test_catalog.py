"""``GET /v2/_catalog``: every repository, sorted, with ``n``/``last`` pagination and ``maxentries``."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import (
    error_codes,
    image_manifest,
    push_blob,
    push_image,
    push_manifest,
    random_blob,
    sha256,
)
from tests.integration.conftest import ClientFactory

NAMES = ["a", "a/b", "a/b/c", "a-b", "b", "library/alpine", "z0"]


@pytest.fixture
async def populated(client: httpx.AsyncClient) -> list[str]:
    for name in NAMES:
        await push_image(client, name, "latest", layers=1)
    return sorted(NAMES)


async def test_an_empty_registry_has_an_empty_catalog(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/_catalog")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"repositories": []}
    assert "link" not in response.headers


async def test_repositories_are_listed_sorted_nested_ones_included(
    client: httpx.AsyncClient, populated: list[str]
) -> None:
    response = await client.get("/v2/_catalog")
    assert response.json() == {"repositories": populated}
    assert populated == ["a", "a-b", "a/b", "a/b/c", "b", "library/alpine", "z0"]


async def test_a_repository_with_only_blobs_or_uploads_is_not_listed(client: httpx.AsyncClient) -> None:
    await push_blob(client, "blobs/only", random_blob())
    await client.post("/v2/uploads/only/blobs/uploads/")
    await push_image(client, "real", "v1")
    assert (await client.get("/v2/_catalog")).json() == {"repositories": ["real"]}


async def test_a_repository_pushed_by_digest_only_is_listed(client: httpx.AsyncClient) -> None:
    config_and_layers = [random_blob(), random_blob()]
    for blob in config_and_layers:
        await push_blob(client, "digests/only", blob)
    manifest = image_manifest(config_and_layers[0], config_and_layers[1:])
    assert (await push_manifest(client, "digests/only", sha256(manifest), manifest)).status_code == 201
    assert "digests/only" in (await client.get("/v2/_catalog")).json()["repositories"]


async def test_n_and_link(client: httpx.AsyncClient, populated: list[str]) -> None:
    response = await client.get("/v2/_catalog", params={"n": 2})
    assert response.json() == {"repositories": populated[:2]}
    assert response.headers["link"] == f'</v2/_catalog?last={populated[1]}&n=2>; rel="next"'


async def test_following_links_visits_every_repository_once(
    client: httpx.AsyncClient, populated: list[str]
) -> None:
    seen: list[str] = []
    response = await client.get("/v2/_catalog", params={"n": 3})
    seen += response.json()["repositories"]
    while "link" in response.headers:
        url = response.headers["link"].split(";")[0].strip("<>")
        response = await client.get(url)
        seen += response.json()["repositories"]
    assert seen == populated


async def test_last_starts_after_the_named_repository(
    client: httpx.AsyncClient, populated: list[str]
) -> None:
    response = await client.get("/v2/_catalog", params={"last": "a/b"})
    assert response.json()["repositories"] == ["a/b/c", "b", "library/alpine", "z0"]
    response = await client.get("/v2/_catalog", params={"last": "a/b", "n": 1})
    assert response.json()["repositories"] == ["a/b/c"]
    assert response.headers["link"] == '</v2/_catalog?last=a%2Fb%2Fc&n=1>; rel="next"'


async def test_last_need_not_exist(client: httpx.AsyncClient, populated: list[str]) -> None:
    response = await client.get("/v2/_catalog", params={"last": "c"})
    assert response.json()["repositories"] == ["library/alpine", "z0"]


async def test_n_zero_is_empty_without_link(client: httpx.AsyncClient, populated: list[str]) -> None:
    response = await client.get("/v2/_catalog", params={"n": 0})
    assert response.status_code == 200
    assert response.json() == {"repositories": []}
    assert "link" not in response.headers


async def test_the_last_page_has_no_link(client: httpx.AsyncClient, populated: list[str]) -> None:
    response = await client.get("/v2/_catalog", params={"n": len(populated)})
    assert response.json()["repositories"] == populated
    assert "link" not in response.headers


@pytest.mark.parametrize("n", ["-1", "x", "2.0", "9" * 30, "١٠", "１０"])
async def test_a_bad_n_is_pagination_number_invalid(client: httpx.AsyncClient, n: str) -> None:
    response = await client.get("/v2/_catalog", params={"n": n})
    assert response.status_code == 400
    assert error_codes(response) == ["PAGINATION_NUMBER_INVALID"]


async def test_maxentries_bounds_every_page(client_factory: ClientFactory) -> None:
    client = await client_factory(**{"catalog.maxentries": 2})
    for name in NAMES[:5]:
        await push_image(client, name, "latest", layers=1)
    expected = sorted(NAMES[:5])
    unbounded = await client.get("/v2/_catalog")
    assert unbounded.json()["repositories"] == expected[:2]
    assert unbounded.headers["link"] == f'</v2/_catalog?last={expected[1]}&n=2>; rel="next"'
    # asking for more than the maximum gets the maximum, with a Link to go on
    more = await client.get("/v2/_catalog", params={"n": 4})
    assert more.json()["repositories"] == expected[:2]
    assert "link" in more.headers


async def test_deleted_repositories_disappear(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "gone", "v1")
    await push_image(client, "kept", "v1")
    await client.delete(f"/v2/gone/manifests/{sha256(body)}")
    assert (await client.get("/v2/_catalog")).json()["repositories"] == ["kept"]
