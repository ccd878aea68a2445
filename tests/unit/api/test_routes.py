"""wharf.api.routes.find: which handler serves a method on a path, as the URL table orders them."""

from __future__ import annotations

import pytest

from wharf.api import blobs, listings, manifests, system, uploads
from wharf.api.routes import MethodNotAllowed, NoEndpoint, find, matches_any, routes

TABLE = routes()
DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("method", "path", "handler", "params"),
    [
        ("GET", "/v2/", system.api_version, {}),
        ("HEAD", "/v2/", system.api_version, {}),
        ("GET", "/v2/_catalog", listings.catalog, {}),
        ("GET", "/v2/a/b/c/tags/list", listings.list_tags, {"name": "a/b/c"}),
        ("GET", f"/v2/a/referrers/{DIGEST}", listings.list_referrers, {"name": "a", "digest": DIGEST}),
        ("PUT", "/v2/a/manifests/v1", manifests.put_manifest, {"name": "a", "reference": "v1"}),
        # a name may hold the fixed words; the last ones anchor the match
        (
            "GET",
            "/v2/blobs/manifests/x/manifests/v1",
            manifests.get_manifest,
            {"name": "blobs/manifests/x", "reference": "v1"},
        ),
        ("POST", "/v2/a/blobs/uploads/", uploads.start_upload, {"name": "a"}),
        ("PATCH", "/v2/a/blobs/uploads/u-1", uploads.patch_upload, {"name": "a", "uuid": "u-1"}),
        # uploads come first: "uploads" is never read as a digest
        ("GET", "/v2/a/blobs/uploads/u-1", uploads.upload_status, {"name": "a", "uuid": "u-1"}),
        ("GET", f"/v2/a/blobs/{DIGEST}", blobs.get_blob, {"name": "a", "digest": DIGEST}),
        ("GET", "/v2//manifests/v1", manifests.get_manifest, {"name": "", "reference": "v1"}),
        ("GET", "/debug/health", system.health, {}),
    ],
)
def test_a_path_finds_its_handler(method: str, path: str, handler: object, params: dict[str, str]) -> None:
    found = find(TABLE, method, path)
    assert found.handler is handler
    assert found.params == params


@pytest.mark.parametrize(
    "path", ["/", "/v2", "/v2/a/manifests", "/v2/a/manifests/", "/v2/a/tags/list/x", "/x/v2/"]
)
def test_a_path_no_route_serves_is_no_endpoint(path: str) -> None:
    with pytest.raises(NoEndpoint) as caught:
        find(TABLE, "GET", path)
    assert caught.value.status == 404


def test_a_method_the_route_does_not_serve_names_the_ones_it_does() -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        find(TABLE, "POST", f"/v2/a/blobs/{DIGEST}")
    assert caught.value.status == 405
    assert caught.value.headers == {"allow": "GET, DELETE, HEAD"}


def test_a_prefix_is_part_of_every_route() -> None:
    prefixed = routes("/registry")
    assert find(prefixed, "GET", "/registry/v2/a/tags/list").params == {"name": "a"}
    with pytest.raises(NoEndpoint):
        find(prefixed, "GET", "/v2/a/tags/list")
    assert matches_any(prefixed, "/registry/v2/") and not matches_any(prefixed, "/v2/")
