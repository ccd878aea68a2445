"""Listings: ``tags/list``, ``_catalog`` and ``referrers``, with ``n``/``last`` pagination."""

from __future__ import annotations

import bisect
from urllib.parse import urlencode

from wharf.api import params
from wharf.api.messages import Request, Response
from wharf.api.responses import json_response
from wharf.digest import Digest
from wharf.errors import ManifestUnknown
from wharf.registry.mediatypes import OCI_INDEX, Descriptor, parse_manifest
from wharf.registry.namespace import Repository

__all__ = ["catalog", "list_referrers", "list_tags"]


async def list_tags(request: Request) -> Response:
    repo = params.repository(request)
    page = params.page(request)
    tags = await repo.tags.all()
    selected, more = _slice(tags, page)
    headers = _link(request, selected[-1], page.n) if more else None
    return json_response({"name": str(repo.name), "tags": selected}, headers=headers)


async def catalog(request: Request) -> Response:
    page = params.page(request, maximum=request.app.state.settings.catalog_max_entries)
    names = await params.registry(request).repositories()
    selected, more = _slice(names, page)
    headers = _link(request, selected[-1], page.n) if more else None
    return json_response({"repositories": selected}, headers=headers)


def _slice(items: list[str], page: params.Page) -> tuple[list[str], bool]:
    """The page of sorted ``items`` after ``last`` (which need not exist), and whether more follow."""
    start = bisect.bisect_right(items, page.last) if page.last is not None else 0
    if page.n is None:
        return items[start:], False
    selected = items[start : start + page.n]
    return selected, bool(selected) and start + page.n < len(items)


def _link(request: Request, last: str, n: int | None) -> dict[str, str]:
    query = urlencode({"last": last, **({"n": n} if n is not None else {})})
    return {"link": f'<{request.path}?{query}>; rel="next"'}


async def list_referrers(request: Request) -> Response:
    repo = params.repository(request)
    subject = params.digest_param(request.path_params["digest"])
    wanted = request.query_params.get("artifactType")
    descriptors = []
    for digest in await repo.referrers.of(subject):
        descriptor = await _describe(repo, digest)
        if descriptor is not None and (wanted is None or descriptor.artifact_type == wanted):
            descriptors.append(descriptor.to_json())
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    headers = {"oci-filters-applied": "artifactType"} if wanted is not None else None
    return json_response(index, headers=headers, media_type=OCI_INDEX)


async def _describe(repo: Repository, digest: Digest) -> Descriptor | None:
    try:
        stored = await repo.manifests.load(digest)
    except ManifestUnknown:
        return None  # its bytes are gone: a deleted referrer
    if not await repo.manifests.exists(digest):
        return None
    manifest = parse_manifest(stored.body, content_type=stored.media_type, digest=digest)
    return Descriptor(
        media_type=manifest.media_type,
        digest=digest,
        size=len(stored.body),
        artifact_type=manifest.referrer_artifact_type(),
        annotations=manifest.annotations or None,
    )
