"""``/v2/<name>/blobs/uploads/``: start (plain, monolithic, mount), PATCH, PUT, GET status, DELETE."""

from __future__ import annotations

from wharf.api import params
from wharf.api.messages import Request, Response
from wharf.api.responses import url_for
from wharf.digest import Digest
from wharf.errors import RegistryError
from wharf.reference import RepositoryName
from wharf.registry.namespace import Repository
from wharf.registry.uploads import ChunkRange, UploadStatus, parse_upload_id

__all__ = ["cancel_upload", "finish_upload", "patch_upload", "start_upload", "upload_status"]


async def start_upload(request: Request) -> Response:
    params.require_writable(request)
    repo = params.repository(request)
    algorithm = params.digest_algorithm(request)
    query = request.query_params
    mount = query.get("mount")
    if mount is not None:
        mounted = await _mount(request, repo, Digest.parse(mount), query.get("from"))
        if mounted is not None:
            return mounted
    elif "digest" in query:
        digest = params.digest_param(query.get("digest"))
        uploads = params.registry(request).uploads
        await uploads.monolithic(
            repo.blobs, digest, params.body_stream(request), length=params.content_length(request)
        )
        return _created(request, repo.name, digest)
    status = await params.registry(request).uploads.start(repo.name, algorithm=algorithm)
    return _accepted(request, status, code=202)


async def _mount(request: Request, repo: Repository, digest: Digest, source: str | None) -> Response | None:
    # A bad or unknown ``from`` is not an error: the spec says to fall back to an upload.
    try:
        source_repo = params.registry(request).repository(RepositoryName.parse(source)) if source else None
    except RegistryError:
        return None
    descriptor = await repo.blobs.mount(digest, source=source_repo.blobs if source_repo else None)
    return None if descriptor is None else _created(request, repo.name, digest)


async def patch_upload(request: Request) -> Response:
    params.require_writable(request)
    repo = params.repository(request)
    upload_id = parse_upload_id(request.path_params["uuid"])
    content_range = request.headers.get("content-range")
    status = await params.registry(request).uploads.append(
        repo.name,
        upload_id,
        params.body_stream(request),
        chunk=ChunkRange.parse(content_range) if content_range else None,
        length=params.content_length(request),
    )
    return _accepted(request, status, code=202)


async def finish_upload(request: Request) -> Response:
    params.require_writable(request)
    repo = params.repository(request)
    upload_id = parse_upload_id(request.path_params["uuid"])
    digest = params.digest_param(request.query_params.get("digest"))
    length = params.content_length(request)
    content_range = request.headers.get("content-range")
    has_body = bool(length) or "transfer-encoding" in request.headers
    await params.registry(request).uploads.commit(
        repo.blobs,
        upload_id,
        digest,
        params.body_stream(request) if has_body else None,
        chunk=ChunkRange.parse(content_range) if content_range and has_body else None,
        length=length if has_body else None,
    )
    return _created(request, repo.name, digest)


async def upload_status(request: Request) -> Response:
    repo = params.repository(request)
    upload_id = parse_upload_id(request.path_params["uuid"])
    status = await params.registry(request).uploads.status(repo.name, upload_id)
    return _accepted(request, status, code=204)


async def cancel_upload(request: Request) -> Response:
    params.require_writable(request)
    repo = params.repository(request)
    upload_id = parse_upload_id(request.path_params["uuid"])
    await params.registry(request).uploads.cancel(repo.name, upload_id)
    return Response(status_code=204)


def _accepted(request: Request, status: UploadStatus, *, code: int) -> Response:
    end = status.size - 1 if status.size > 0 else 0
    return Response(
        status_code=code,
        headers={
            "location": url_for(request, f"/v2/{status.name}/blobs/uploads/{status.id}"),
            "range": f"0-{end}",
            "docker-upload-uuid": status.id,
            "content-length": "0",
        },
    )


def _created(request: Request, name: RepositoryName, digest: Digest) -> Response:
    return Response(
        status_code=201,
        headers={
            "location": url_for(request, f"/v2/{name}/blobs/{digest}"),
            "docker-content-digest": str(digest),
            "content-length": "0",
        },
    )
