"""Hostile ranges and pagination (issue 4): suffix, open-ended, multiple and out-of-bounds `Range`s;
`n=0`, negative, enormous and non-numeric `n`, and a `last` that does not exist."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.hostile.conftest import assert_error
from tests.integration.oci.support import layer, push, push_image, put_manifest

SIZE = 1000


@pytest.fixture
async def blob_url(client: httpx.AsyncClient) -> tuple[str, bytes]:
    blob = layer(SIZE)
    await push(client, "app", blob)
    return f"/v2/app/blobs/{blob.digest}", blob.data


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=-1", slice(-1, None)),
        ("bytes=-1000", slice(0, None)),
        ("bytes=-999999999999", slice(0, None)),
        ("bytes=999-", slice(999, None)),
        ("bytes=0-", slice(0, None)),
        ("bytes=0-0", slice(0, 1)),
        ("bytes=500-99999999999999999999", slice(500, None)),
        (" bytes=1-2 ", slice(1, 3)),
    ],
)
async def test_satisfiable_ranges(
    client: httpx.AsyncClient, blob_url: tuple[str, bytes], header: str, expected: slice
) -> None:
    """Ranges: suffix and open-ended ranges, and last positions past the end, are served as RFC 9110 says."""
    url, data = blob_url
    response = await client.get(url, headers={"range": header})
    assert response.status_code == 206
    assert response.content == data[expected]


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=1000-1000", "bytes=5000-6000", "bytes=-0", "bytes=99999999999999999999-"]
)
async def test_out_of_bounds_ranges_are_416(
    client: httpx.AsyncClient, blob_url: tuple[str, bytes], header: str
) -> None:
    """Ranges: out of bounds (416 with `Content-Range: bytes */<size>`, in the envelope)."""
    url, _ = blob_url
    response = await client.get(url, headers={"range": header})
    assert_error(response, 416)
    assert response.headers["content-range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,2-3",
        "bytes=0-1, 5-",
        ",".join(["bytes=0-0"] + [f"{i}-{i}" for i in range(1, 2000)]),
        "bytes=" + ",".join(["0-999"] * 500),
        "bytes=abc",
        "bytes=",
        "bytes=-",
        "bytes=1-2-3",
        "bytes=0x10-0x20",
        "bytes=\u00b9-\u00b2",
        "items=0-10",
        "bytes 0-10",
        "=0-10",
        "",
    ],
)
async def test_multiple_and_malformed_ranges_get_the_whole_blob(
    client: httpx.AsyncClient, blob_url: tuple[str, bytes], header: str
) -> None:
    """Ranges: multiple ranges (even thousands, overlapping) and malformed ones are ignored, as RFC 9110
    14.2 allows: one 200 with the whole blob, never a multipart response that repeats the blob."""
    url, data = blob_url
    response = await client.get(url, headers={b"range": header.encode("latin-1")})
    assert response.status_code == 200
    assert response.content == data


async def test_a_range_on_a_manifest_is_ignored(client: httpx.AsyncClient) -> None:
    """Ranges: a `Range` on a manifest is ignored (the manifest endpoint serves whole documents)."""
    manifest = await push_image(client, "app", "v1")
    response = await client.get("/v2/app/manifests/v1", headers={"range": "bytes=0-1"})
    assert response.status_code == 200
    assert response.content == manifest.data


@pytest.fixture
async def tagged(client: httpx.AsyncClient) -> list[str]:
    tags = ["a", "b", "c", "d", "e"]
    manifest = await push_image(client, "app")
    response = await put_manifest(client, "app", manifest.digest, manifest, params=[("tag", t) for t in tags])
    assert response.status_code == 201
    return tags


@pytest.mark.parametrize("url", ["/v2/app/tags/list", "/v2/_catalog"])
@pytest.mark.parametrize(
    "n",
    [
        "-1",
        "-0",
        "abc",
        "1.5",
        "1e3",
        "0x10",
        " 1",
        "1 ",
        "+1",
        "\u0661",
        "99999999999999999999999999",
        "9" * 5000,
    ],
)
async def test_a_bad_n_is_pagination_number_invalid(
    client: httpx.AsyncClient, tagged: list[str], url: str, n: str
) -> None:
    """Pagination: negative, enormous and non-numeric `n` (`PAGINATION_NUMBER_INVALID`, 400)."""
    assert_error(await client.get(url, params={"n": n}), 400, "PAGINATION_NUMBER_INVALID")


@pytest.mark.parametrize("url", ["/v2/app/tags/list", "/v2/_catalog"])
async def test_n_zero_and_large_n(client: httpx.AsyncClient, tagged: list[str], url: str) -> None:
    """Pagination: `n=0` is an empty list without `Link`; a large `n` (beyond the list) returns it all."""
    key = "tags" if "tags" in url else "repositories"
    zero = await client.get(url, params={"n": "0"})
    assert zero.status_code == 200
    assert zero.json()[key] == []
    assert "link" not in zero.headers
    large = await client.get(url, params={"n": "999999"})
    assert large.status_code == 200
    assert "link" not in large.headers
    assert large.json()[key] == (tagged if key == "tags" else ["app"])


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        ("bb", ["c", "d", "e"]),
        ("zzz", []),
        ("0", ["a", "b", "c", "d", "e"]),
        ("-", ["a", "b", "c", "d", "e"]),
        ("\u00e9", []),
        ("a" * 10_000, ["b", "c", "d", "e"]),
        ("../../etc", ["a", "b", "c", "d", "e"]),
        ("\x00", ["a", "b", "c", "d", "e"]),
    ],
)
async def test_a_last_that_does_not_exist(
    client: httpx.AsyncClient, tagged: list[str], last: str, expected: list[str]
) -> None:
    """Pagination: `last` that does not exist (not a tag at all, even a hostile string) lists what sorts
    after it."""
    response = await client.get("/v2/app/tags/list", params={"last": last, "n": "10"})
    assert response.status_code == 200
    assert response.json()["tags"] == expected


async def test_pagination_of_an_unknown_repository_is_name_unknown(client: httpx.AsyncClient) -> None:
    """Pagination: the parameters do not change that an unknown repository is 404 NAME_UNKNOWN."""
    assert_error(
        await client.get("/v2/nothing/tags/list", params={"n": "1", "last": "x"}), 404, "NAME_UNKNOWN"
    )
