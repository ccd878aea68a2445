"""``/v2/<name>/manifests/<reference>``: HEAD, GET, PUT and DELETE by tag or digest."""

from __future__ import annotations

from wharf.api import params
from wharf.api.messages import Request, Response
from wharf.api.responses import url_for
from wharf.reference import Tag

__all__ = ["MAX_MANIFEST_BYTES", "delete_manifest", "get_manifest", "put_manifest"]

#: the spec's floor ("at least 4 megabytes"); larger manifests are refused with 413
MAX_MANIFEST_BYTES = 4 << 20


async def get_manifest(request: Request) -> Response:
    repo = params.repository(request)
    manifest = await repo.manifests.get(params.reference(request))
    headers = {
        "docker-content-digest": str(manifest.digest),
        "etag": f'"{manifest.digest}"',
        "content-type": manifest.media_type,
    }
    if request.method == "HEAD":
        headers["content-length"] = str(len(manifest.body))
        return Response(status_code=200, headers=headers)
    return Response(manifest.body, status_code=200, headers=headers)


async def put_manifest(request: Request) -> Response:
    params.require_writable(request)
    repo = params.repository(request)
    reference = params.reference(request)
    # Validate ?tag= before storing anything, so a bad tag leaves nothing behind.
    extra_tags = [Tag.parse(t) for t in request.query_params.getlist("tag")]
    body = await params.read_limited(request, limit=MAX_MANIFEST_BYTES)
    manifest = await repo.manifests.put(reference, body, content_type=request.headers.get("content-type"))
    for tag in extra_tags:
        await repo.manifests.tag(tag, manifest.digest)
    headers = {
        "location": url_for(request, f"/v2/{repo.name}/manifests/{manifest.digest}"),
        "docker-content-digest": str(manifest.digest),
        "content-length": "0",
    }
    if extra_tags:
        # The spec: a registry that honours ``?tag=`` names each accepted tag in ``OCI-Tag``.
        headers["oci-tag"] = ", ".join(str(tag) for tag in extra_tags)
    if manifest.subject is not None:
        headers["oci-subject"] = str(manifest.subject.digest)
    return Response(status_code=201, headers=headers)


async def delete_manifest(request: Request) -> Response:
    """By digest: the manifest and every tag pointing at it; by tag: only that tag."""
    params.require_delete(request)
    repo = params.repository(request)
    reference = params.reference(request)
    if reference.tag is not None:
        await repo.tags.untag(reference.tag)
    else:
        assert reference.digest is not None
        await repo.manifests.delete(reference.digest)
    return Response(status_code=202, headers={"content-length": "0"})
