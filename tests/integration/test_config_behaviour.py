"""Config keys that change what the API does: read-only mode, deletes, ``http.headers``, ``http.prefix``,
``http.relativeurls`` and ``http.host``."""

from __future__ import annotations

import pytest

from tests.helpers import OCI_MANIFEST, error_codes, push_blob, push_image, random_blob, sha256
from tests.integration.conftest import ClientFactory
from wharf.storage.driver import StorageDriver

HEADERS = {"X-Content-Type-Options": ["nosniff"], "X-Served-By": ["wharf-a", "wharf-b"]}


# storage.maintenance.readonly


async def test_read_only_refuses_every_write_and_serves_every_read(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    writable = await client_factory(driver=storage)
    body, blobs = await push_image(writable, "a", "v1")
    session = (await writable.post("/v2/a/blobs/uploads/")).headers["location"]
    client = await client_factory(driver=storage, **{"storage.maintenance.readonly.enabled": True})
    new = random_blob()
    writes = [
        ("POST", "/v2/a/blobs/uploads/", {}),
        ("POST", "/v2/a/blobs/uploads/", {"params": {"digest": new.digest}, "content": new.data}),
        ("POST", "/v2/b/blobs/uploads/", {"params": {"mount": blobs[0].digest, "from": "a"}}),
        ("PATCH", session, {"content": b"x"}),
        ("PUT", session, {"params": {"digest": new.digest}, "content": new.data}),
        ("DELETE", session, {}),
        ("PUT", "/v2/a/manifests/v2", {"content": body, "headers": {"content-type": OCI_MANIFEST}}),
        ("DELETE", "/v2/a/manifests/v1", {}),
        ("DELETE", f"/v2/a/manifests/{sha256(body)}", {}),
        ("DELETE", f"/v2/a/blobs/{blobs[1].digest}", {}),
    ]
    for method, url, kwargs in writes:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 405, (method, url, response.text)
        assert error_codes(response) == ["UNSUPPORTED"]
    reads = [
        "/v2/",
        "/v2/_catalog",
        "/v2/a/tags/list",
        "/v2/a/manifests/v1",
        f"/v2/a/manifests/{sha256(body)}",
        f"/v2/a/blobs/{blobs[0].digest}",
    ]
    for url in reads:
        assert (await client.get(url)).status_code == 200, url
    assert (await client.head("/v2/a/manifests/v1")).status_code == 200
    assert (await client.get(session)).status_code == 204
    # nothing changed underneath
    assert (await writable.get("/v2/a/manifests/v1")).content == body
    assert (await writable.head(f"/v2/a/blobs/{new.digest}")).status_code == 404
    assert (await writable.get("/v2/b/tags/list")).status_code == 404


# storage.delete.enabled


async def test_deletes_are_off_unless_enabled(client_factory: ClientFactory) -> None:
    client = await client_factory(**{"storage.delete.enabled": False})
    body, blobs = await push_image(client, "a", "v1")
    for url in ("/v2/a/manifests/v1", f"/v2/a/manifests/{sha256(body)}", f"/v2/a/blobs/{blobs[0].digest}"):
        response = await client.delete(url)
        assert response.status_code == 405, url
        assert error_codes(response) == ["UNSUPPORTED"]
    # but cancelling one's own upload is not a delete of content
    session = (await client.post("/v2/a/blobs/uploads/")).headers["location"]
    assert (await client.delete(session)).status_code == 204


# http.headers


async def test_configured_headers_are_on_every_response(client_factory: ClientFactory) -> None:
    client = await client_factory(**{"http.headers": HEADERS})
    body, blobs = await push_image(client, "a", "v1")
    responses = [
        await client.get("/v2/"),
        await client.head("/v2/"),
        await client.get("/v2/a/manifests/v1"),
        await client.head(f"/v2/a/blobs/{blobs[0].digest}"),
        await client.get(f"/v2/a/blobs/{blobs[0].digest}"),
        await client.get(f"/v2/a/blobs/{blobs[0].digest}", headers={"range": "bytes=0-3"}),
        await client.post("/v2/a/blobs/uploads/"),
        await client.get("/v2/a/tags/list"),
        await client.get("/v2/_catalog"),
        await client.get("/debug/health"),
        # errors of every origin: a registry error, a 404 route, a 405 method, a 416
        await client.get(f"/v2/a/blobs/{sha256(b'absent')}"),
        await client.get("/v2/a/manifests/nope"),
        await client.get("/no/such/route"),
        await client.get("/v2/a/unknown"),
        await client.post("/v2/a/manifests/v1"),
        await client.get(f"/v2/a/blobs/{blobs[0].digest}", headers={"range": "bytes=999999-"}),
        await client.get("/v2/_catalog?n=-1"),
    ]
    for response in responses:
        where = (response.request.method, response.request.url.path, response.status_code)
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], where
        assert response.headers.get_list("x-served-by") == ["wharf-a", "wharf-b"], where
        assert response.headers["docker-distribution-api-version"] == "registry/2.0", where


async def test_the_header_form_of_the_seed_config_is_accepted(client_factory: ClientFactory) -> None:
    client = await client_factory(**{"http.headers": {"X-Content-Type-Options": "nosniff"}})
    assert (await client.get("/v2/")).headers["x-content-type-options"] == "nosniff"


# http.prefix


@pytest.mark.parametrize("prefix", ["/registry/", "/registry", "registry/"])
async def test_the_api_is_served_under_the_prefix(client_factory: ClientFactory, prefix: str) -> None:
    client = await client_factory(**{"http.prefix": prefix})
    base = await client.get("/registry/v2/")
    assert base.status_code == 200
    assert base.headers["docker-distribution-api-version"] == "registry/2.0"
    assert (await client.get("/v2/")).status_code == 404


async def test_urls_under_a_prefix_include_it(client_factory: ClientFactory) -> None:
    client = await client_factory(**{"http.prefix": "/a/b/"})
    root = "http://registry.test/a/b"
    blob = random_blob()
    start = await client.post("/a/b/v2/team/app/blobs/uploads/")
    assert start.status_code == 202
    location = start.headers["location"]
    assert location.startswith(f"{root}/v2/team/app/blobs/uploads/")
    patched = await client.patch(location, content=blob.data)
    assert patched.headers["location"] == location
    assert (await client.get(location)).headers["location"] == location
    done = await client.put(location, params={"digest": blob.digest})
    assert done.status_code == 201
    assert done.headers["location"] == f"{root}/v2/team/app/blobs/{blob.digest}"
    assert (await client.get(done.headers["location"])).content == blob.data
    mounted = await client.post(
        "/a/b/v2/other/blobs/uploads/", params={"mount": blob.digest, "from": "team/app"}
    )
    assert mounted.headers["location"] == f"{root}/v2/other/blobs/{blob.digest}"


async def test_a_whole_push_and_pull_works_under_a_prefix(client_factory: ClientFactory) -> None:
    prefixed = await client_factory(base_url="http://registry.test/registry", **{"http.prefix": "/registry/"})
    body, blobs = await push_image(prefixed, "team/app", "v1")
    manifest = await prefixed.get("/v2/team/app/manifests/v1")
    assert manifest.content == body
    for blob in blobs:
        assert (await prefixed.get(f"/v2/team/app/blobs/{blob.digest}")).content == blob.data
    assert (await prefixed.get("/v2/team/app/tags/list")).json()["tags"] == ["v1"]
    assert (await prefixed.get("/v2/_catalog")).json()["repositories"] == ["team/app"]
    put = await prefixed.put(
        f"/v2/team/app/manifests/{sha256(body)}", content=body, headers={"content-type": OCI_MANIFEST}
    )
    assert put.headers["location"] == f"http://registry.test/registry/v2/team/app/manifests/{sha256(body)}"


async def test_link_headers_under_a_prefix_include_it(client_factory: ClientFactory) -> None:
    prefixed = await client_factory(base_url="http://registry.test/registry", **{"http.prefix": "/registry/"})
    body, _ = await push_image(prefixed, "a", "one")
    await prefixed.put("/v2/a/manifests/two", content=body, headers={"content-type": OCI_MANIFEST})
    await push_image(prefixed, "b", "one")
    tags = await prefixed.get("/v2/a/tags/list", params={"n": 1})
    assert tags.headers["link"] == '</registry/v2/a/tags/list?last=one&n=1>; rel="next"'
    catalog = await prefixed.get("/v2/_catalog", params={"n": 1})
    assert catalog.headers["link"] == '</registry/v2/_catalog?last=a&n=1>; rel="next"'


async def test_unknown_routes_under_a_prefix_are_404_with_headers(client_factory: ClientFactory) -> None:
    client = await client_factory(**{"http.prefix": "/registry/", "http.headers": HEADERS})
    for path in ("/registry/nothing", "/elsewhere", "/v2/"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["docker-distribution-api-version"] == "registry/2.0"


# http.relativeurls and http.host


async def test_relative_urls(client_factory: ClientFactory) -> None:
    client = await client_factory(**{"http.relativeurls": True})
    blob = random_blob()
    start = await client.post("/v2/a/blobs/uploads/")
    assert start.headers["location"].startswith("/v2/a/blobs/uploads/")
    done = await client.put(start.headers["location"], params={"digest": blob.digest}, content=blob.data)
    assert done.headers["location"] == f"/v2/a/blobs/{blob.digest}"
    body, _ = await push_image(client, "a", "v1")
    put = await client.put("/v2/a/manifests/v1", content=body, headers={"content-type": OCI_MANIFEST})
    assert put.headers["location"] == f"/v2/a/manifests/{sha256(body)}"


async def test_relative_urls_under_a_prefix(client_factory: ClientFactory) -> None:
    client = await client_factory(**{"http.relativeurls": True, "http.prefix": "/registry/"})
    start = await client.post("/registry/v2/a/blobs/uploads/")
    assert start.headers["location"].startswith("/registry/v2/a/blobs/uploads/")


async def test_absolute_urls_follow_the_request_host(client_factory: ClientFactory) -> None:
    client = await client_factory()
    start = await client.post("/v2/a/blobs/uploads/", headers={"host": "reg.example:5000"})
    assert start.headers["location"].startswith("http://reg.example:5000/v2/a/blobs/uploads/")


async def test_absolute_urls_follow_the_forwarded_headers(client_factory: ClientFactory) -> None:
    client = await client_factory()
    start = await client.post(
        "/v2/a/blobs/uploads/",
        headers={"x-forwarded-proto": "https", "x-forwarded-host": "public.example, proxy.internal"},
    )
    assert start.headers["location"].startswith("https://public.example/v2/a/blobs/uploads/")


async def test_http_host_names_the_registry_in_urls(client_factory: ClientFactory) -> None:
    client = await client_factory(**{"http.host": "https://registry.example.com"})
    start = await client.post("/v2/a/blobs/uploads/", headers={"x-forwarded-host": "ignored.example"})
    assert start.headers["location"].startswith("https://registry.example.com/v2/a/blobs/uploads/")
    blob = random_blob()
    await push_blob(client, "b", blob)
    mounted = await client.post("/v2/c/blobs/uploads/", params={"mount": blob.digest, "from": "b"})
    assert mounted.headers["location"] == f"https://registry.example.com/v2/c/blobs/{blob.digest}"
