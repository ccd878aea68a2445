"""``GET /v2/``: the API version check."""

from __future__ import annotations

import httpx

from tests.helpers import error_codes


async def test_get_v2_answers_200_with_the_api_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/")
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}
    assert response.headers["content-length"] == str(len(response.content))


async def test_head_v2_answers_200_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/v2/")
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"
    assert response.content == b""


async def test_v2_without_the_slash_reaches_the_same_endpoint(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2", follow_redirects=True)
    assert response.status_code == 200
    assert response.json() == {}


async def test_a_slash_redirect_keeps_the_query(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/_catalog/?n=1&last=a%2Fb")
    assert response.status_code == 307
    assert response.headers["location"] == "/v2/_catalog?n=1&last=a%2Fb"


async def test_writes_to_v2_are_unsupported(client: httpx.AsyncClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = await client.request(method, "/v2/")
        assert response.status_code == 405, method
        assert error_codes(response) == ["UNSUPPORTED"]
        assert response.headers["docker-distribution-api-version"] == "registry/2.0"
