"""``GET /v2/<name>/tags/list``: the sorted tags, ``n``/``last`` pagination and the ``Link`` header."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.helpers import error_codes, push_blob, push_image, push_manifest, random_blob, sha256

TAGS = ["1.0", "B", "a", "latest", "v1", "v10", "v2"]  # ASCIIbetical: digits, upper, lower


@pytest.fixture
async def tagged(client: httpx.AsyncClient) -> list[str]:
    body, _ = await push_image(client, "team/app", "latest")
    for tag in TAGS:
        assert (await push_manifest(client, "team/app", tag, body)).status_code == 201
    return sorted(TAGS)


def next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match[1]


async def test_tags_are_listed_in_ascii_order(client: httpx.AsyncClient, tagged: list[str]) -> None:
    response = await client.get("/v2/team/app/tags/list")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"name": "team/app", "tags": tagged}
    assert tagged == ["1.0", "B", "a", "latest", "v1", "v10", "v2"]
    assert "link" not in response.headers


async def test_n_limits_the_page_and_link_leads_to_the_next(
    client: httpx.AsyncClient, tagged: list[str]
) -> None:
    response = await client.get("/v2/team/app/tags/list", params={"n": 3})
    assert response.json()["tags"] == tagged[:3]
    assert response.headers["link"] == '</v2/team/app/tags/list?last=a&n=3>; rel="next"'


async def test_following_links_visits_every_tag_once(client: httpx.AsyncClient, tagged: list[str]) -> None:
    seen: list[str] = []
    url: str | None = "/v2/team/app/tags/list?n=2"
    pages = 0
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200
        page = response.json()["tags"]
        assert len(page) <= 2
        seen += page
        url = next_link(response)
        pages += 1
    assert seen == tagged
    assert pages == 4


async def test_last_starts_after_the_named_tag(client: httpx.AsyncClient, tagged: list[str]) -> None:
    response = await client.get("/v2/team/app/tags/list", params={"n": 2, "last": "B"})
    assert response.json()["tags"] == ["a", "latest"]
    response = await client.get("/v2/team/app/tags/list", params={"last": "latest"})
    assert response.json()["tags"] == ["v1", "v10", "v2"]
    assert "link" not in response.headers


async def test_last_need_not_be_an_existing_tag(client: httpx.AsyncClient, tagged: list[str]) -> None:
    response = await client.get("/v2/team/app/tags/list", params={"last": "b"})
    assert response.json()["tags"] == ["latest", "v1", "v10", "v2"]


async def test_the_last_page_has_no_link(client: httpx.AsyncClient, tagged: list[str]) -> None:
    response = await client.get("/v2/team/app/tags/list", params={"n": 2, "last": "v1"})
    assert response.json()["tags"] == ["v10", "v2"]
    assert "link" not in response.headers
    response = await client.get("/v2/team/app/tags/list", params={"n": 100})
    assert response.json()["tags"] == tagged
    assert "link" not in response.headers


async def test_last_after_every_tag_is_an_empty_page(client: httpx.AsyncClient, tagged: list[str]) -> None:
    response = await client.get("/v2/team/app/tags/list", params={"n": 2, "last": "zzz"})
    assert response.json() == {"name": "team/app", "tags": []}
    assert "link" not in response.headers


async def test_n_zero_is_an_empty_list_without_link(client: httpx.AsyncClient, tagged: list[str]) -> None:
    response = await client.get("/v2/team/app/tags/list", params={"n": 0})
    assert response.status_code == 200
    assert response.json() == {"name": "team/app", "tags": []}
    assert "link" not in response.headers


@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "0x10", " 2", "9" * 30, "١٠", "１０", "1０", "²"])
async def test_a_bad_n_is_pagination_number_invalid(
    client: httpx.AsyncClient, tagged: list[str], n: str
) -> None:
    response = await client.get("/v2/team/app/tags/list", params={"n": n})
    assert response.status_code == 400
    assert error_codes(response) == ["PAGINATION_NUMBER_INVALID"]


async def test_an_empty_n_means_no_limit(client: httpx.AsyncClient, tagged: list[str]) -> None:
    response = await client.get("/v2/team/app/tags/list?n=")
    assert response.json()["tags"] == tagged


async def test_an_unknown_repository_is_name_unknown(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/nobody/home/tags/list")
    assert response.status_code == 404
    assert error_codes(response) == ["NAME_UNKNOWN"]


async def test_a_repository_with_only_blobs_has_no_tags(client: httpx.AsyncClient) -> None:
    # distribution says NAME_UNKNOWN here on some drivers; an empty list is as true, and the same everywhere
    await push_blob(client, "blobs/only", random_blob())
    response = await client.get("/v2/blobs/only/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": "blobs/only", "tags": []}


async def test_a_repository_whose_tags_were_all_deleted_has_no_tags(client: httpx.AsyncClient) -> None:
    await push_image(client, "a", "only")
    await client.delete("/v2/a/manifests/only")
    response = await client.get("/v2/a/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": "a", "tags": []}


async def test_an_invalid_name_is_name_invalid(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/Team/app/tags/list")
    assert response.status_code == 400
    assert error_codes(response) == ["NAME_INVALID"]


async def test_deleted_tags_are_not_listed(client: httpx.AsyncClient, tagged: list[str]) -> None:
    await client.delete("/v2/team/app/manifests/v10")
    assert (await client.get("/v2/team/app/tags/list")).json()["tags"] == [t for t in tagged if t != "v10"]


async def test_a_moved_tag_is_listed_once(client: httpx.AsyncClient) -> None:
    first, _ = await push_image(client, "a", "latest")
    second, _ = await push_image(client, "a", "latest")
    assert first != second
    assert (await client.get("/v2/a/tags/list")).json()["tags"] == ["latest"]


async def test_repositories_are_listed_separately(client: httpx.AsyncClient) -> None:
    await push_image(client, "a", "one")
    await push_image(client, "a/b", "two")
    assert (await client.get("/v2/a/tags/list")).json() == {"name": "a", "tags": ["one"]}
    assert (await client.get("/v2/a/b/tags/list")).json() == {"name": "a/b", "tags": ["two"]}


async def test_a_tag_named_list_is_listed(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, "a", "list")
    assert (await client.get("/v2/a/tags/list")).json()["tags"] == ["list"]
    assert (await client.get("/v2/a/manifests/list")).content == body
    assert (await client.get(f"/v2/a/manifests/{sha256(body)}")).status_code == 200
