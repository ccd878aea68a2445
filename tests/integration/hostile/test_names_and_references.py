"""Hostile repository names, digests and tags (issue 4, "Hostile input"): every one is refused with the
OCI envelope, the right code and a 4xx, on every kind of route, and nothing is written anywhere."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.integration.hostile.conftest import RawSender, assert_error, nothing_written
from tests.integration.oci.support import config, layer, manifest_of, push, push_image, put_manifest

GOOD_DIGEST = "sha256:" + hashlib.sha256(b"x").hexdigest()
MANIFEST = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}'

BAD_NAMES = {
    "dot-dot": "..",
    "traversal": "../x",
    "deep traversal": "../../../../../../etc",
    "inner traversal": "a/../b",
    "trailing traversal": "a/..",
    "dot component": "a/./b",
    "leading dot": "./a",
    "encoded traversal": "%2e%2e/x",
    "encoded slash": "..%2f..%2fetc",
    "absolute": "/etc/passwd",
    "upper case": "Library/Ubuntu",
    "empty component": "a//b",
    "trailing slash": "a/",
    "too long": "a" * 256,
    "too long in components": "/".join(["abcdefg"] * 40),
    "NUL": "a\x00b",
    "control byte": "a\x01b",
    "newline": "a\nb",
    "carriage return": "a\rb",
    "tab": "a\tb",
    "DEL": "a\x7fb",
    "unicode": "caf\u00e9",
    "fullwidth": "\uff41",
    "rtl override": "a\u202eb",
    "backslash": "a\\b",
    "tilde": "~root",
    "space": "a b",
    "separator at the end": "a-",
    "triple underscore": "a___b",
}

# method, path after the name (with {digest}), whether it takes a body
ROUTES = [
    ("GET", "/tags/list"),
    ("GET", "/manifests/latest"),
    ("HEAD", "/manifests/latest"),
    ("PUT", "/manifests/latest"),
    ("DELETE", "/manifests/{digest}"),
    ("GET", "/blobs/{digest}"),
    ("DELETE", "/blobs/{digest}"),
    ("POST", "/blobs/uploads/"),
    ("POST", "/blobs/uploads/?digest={digest}"),
    ("POST", "/blobs/uploads/?mount={digest}"),
    ("GET", "/blobs/uploads/0a0a0a0a-0000-4000-8000-000000000000"),
    ("PATCH", "/blobs/uploads/0a0a0a0a-0000-4000-8000-000000000000"),
    ("GET", "/referrers/{digest}"),
]


@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
async def test_a_bad_repository_name_is_refused_on_every_route(raw: RawSender, root: Path, name: str) -> None:
    """Names: path traversal (`../`, `%2e%2e`, `a/../b`), absolute paths, upper case, empty components,
    names over 255 characters, NUL and other control bytes, unicode."""
    with nothing_written(root):
        for method, rest in ROUTES:
            path, _, query = f"/v2/{name}{rest.format(digest=GOOD_DIGEST)}".partition("?")
            response = await raw(
                method,
                quote(path, safe="/%").encode(),
                query=query.encode(),
                body=MANIFEST if method in ("PUT", "POST", "PATCH") else b"",
                headers=[(b"content-type", b"application/vnd.oci.image.index.v1+json")],
            )
            if method == "HEAD":
                assert 400 <= response.status < 500, (method, path, response.status)
                continue
            assert_error(response, (400, 404))
            if response.status == 400:
                assert response.json()["errors"][0]["code"] == "NAME_INVALID", (method, path, response.body)


async def test_the_longest_valid_name_works(client: httpx.AsyncClient) -> None:
    """Names: the limit is 255 characters, so a name of exactly 255 is served."""
    name = "/".join(["a" * 63] * 4)
    assert len(name) == 255
    manifest = await push_image(client, name, "v1")
    assert (await client.get(f"/v2/{name}/manifests/v1")).content == manifest.data


BAD_DIGESTS = {
    "unknown algorithm": "md5:" + "a" * 32,
    "unregistered algorithm": "sha384:" + "a" * 96,
    "upper-case algorithm": "SHA256:" + "a" * 64,
    "short": "sha256:" + "a" * 63,
    "long": "sha256:" + "a" * 65,
    "sha512 length for sha256": "sha256:" + "a" * 128,
    "sha256 length for sha512": "sha512:" + "a" * 64,
    "non-hex": "sha256:" + "g" * 64,
    "upper-case hex": "sha256:" + "A" * 64,
    "traversal": "sha256:../../x",
    "encoded traversal": "sha256:..%2f..%2fx",
    "no algorithm": ":" + "a" * 64,
    "no hex": "sha256:",
    "NUL": "sha256:" + "a" * 63 + "\x00",
    "unicode": "sha256:" + "\u0430" * 64,
    "enormous": "sha256:" + "a" * 20000,
}


@pytest.mark.parametrize("digest", list(BAD_DIGESTS.values()), ids=list(BAD_DIGESTS))
async def test_a_bad_digest_is_refused_everywhere(client: httpx.AsyncClient, root: Path, digest: str) -> None:
    """Digests: unknown algorithm, wrong length, non-hex, `sha256:../../x`."""
    await push_image(client, "app", "v1")
    location = (await client.post("/v2/app/blobs/uploads/")).headers["location"]
    encoded = quote(digest, safe=":")
    with nothing_written(root):
        for method, url, body in [
            ("GET", f"/v2/app/blobs/{encoded}", None),
            ("DELETE", f"/v2/app/blobs/{encoded}", None),
            ("GET", f"/v2/app/manifests/{encoded}", None),
            ("DELETE", f"/v2/app/manifests/{encoded}", None),
            ("PUT", f"/v2/app/manifests/{encoded}", MANIFEST),
            ("GET", f"/v2/app/referrers/{encoded}", None),
        ]:
            response = await client.request(method, url, content=body)
            assert_error(response, (400, 404))
        for params in ({"digest": digest}, {"mount": digest}):
            assert_error(
                await client.post("/v2/app/blobs/uploads/", params=params, content=b"x"),
                400,
                "DIGEST_INVALID",
            )
        assert_error(
            await client.put(location, params={"digest": digest}, content=b"x"), 400, "DIGEST_INVALID"
        )
    assert_error(await client.put(location, params={"digest": digest}), 400, "DIGEST_INVALID")


async def test_a_digest_in_a_manifest_descriptor_is_validated(client: httpx.AsyncClient, root: Path) -> None:
    """Digests inside a manifest are parsed like those in URLs: a hostile one is MANIFEST_INVALID."""
    for digest in BAD_DIGESTS.values():
        body = (
            b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
            b'"config":{"mediaType":"a/b","size":1,"digest":'
            + repr(digest).replace("'", '"').encode()
            + b"},"
            b'"layers":[]}'
        )
        with nothing_written(root):
            response = await client.put(
                "/v2/app/manifests/v1",
                content=body,
                headers={"content-type": "application/vnd.oci.image.manifest.v1+json"},
            )
        assert_error(response, 400)


BAD_TAGS = {
    "129 characters": "a" * 129,
    "leading dash": "-latest",
    "leading dot": ".latest",
    "dollar": "v$1",
    "colon-less at": "v@1",
    "plus": "v1+build",
    "space": "v 1",
    "unicode": "v\u00e9",
    "NUL": "v\x00",
    "newline": "v\n",
    "tilde": "~v",
    "percent": "v%",
}


@pytest.mark.parametrize("tag", list(BAD_TAGS.values()), ids=list(BAD_TAGS))
async def test_a_bad_tag_is_refused_everywhere(client: httpx.AsyncClient, root: Path, tag: str) -> None:
    """Tags: over 128 characters, leading `-` or `.`, bad characters."""
    cfg, lay = config(), layer()
    await push(client, "app", cfg, lay)
    manifest = manifest_of(cfg, [lay])
    encoded = quote(tag, safe="")
    with nothing_written(root):
        for method in ("GET", "DELETE"):
            assert_error(await client.request(method, f"/v2/app/manifests/{encoded}"), 400, "TAG_INVALID")
        assert_error(
            await client.put(
                f"/v2/app/manifests/{encoded}",
                content=manifest.data,
                headers={"content-type": manifest.media_type},
            ),
            400,
            "TAG_INVALID",
        )
        response = await put_manifest(client, "app", manifest.digest, manifest, params={"tag": tag})
        assert_error(response, 400, "TAG_INVALID")


async def test_a_tag_with_a_slash_reaches_no_manifest_route(client: httpx.AsyncClient, root: Path) -> None:
    """Tags: a `/` in a tag makes the URL one of no endpoint, which is a 404 in the envelope."""
    with nothing_written(root):
        for method in ("GET", "PUT", "DELETE"):
            response = await client.request(method, "/v2/app/manifests/a/../../x", content=MANIFEST)
            assert 400 <= response.status_code < 500
            assert response.json()["errors"]


@pytest.mark.parametrize(
    "upload_id", ["..", "../../../etc", ".", "a" * 500, "%00", "sess\x00ion", "\u00e9", "-leading", "a.b"]
)
async def test_a_hostile_upload_id_is_unknown(raw: RawSender, root: Path, upload_id: str) -> None:
    """Uploads: a session id that is not one of ours is BLOB_UPLOAD_UNKNOWN, never a path."""
    with nothing_written(root):
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            path = quote(f"/v2/app/blobs/uploads/{upload_id}", safe="/%").encode()
            response = await raw(method, path, query=f"digest={GOOD_DIGEST}".encode(), body=b"data")
            assert_error(response, (400, 404, 405))
