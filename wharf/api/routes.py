"""The URL table, and nothing else (cf. distribution's ``registry/api/v2/routes.go``).

``{name:path}`` takes a repository name with its slashes; the fixed words
after it (``blobs``, ``manifests``, ``tags``, ``referrers``) anchor the match.
The upload routes come before the blob routes so ``blobs/uploads/`` is never
read as a blob digest.
"""

from __future__ import annotations

from starlette.routing import Route

from wharf.api import blobs, listings, manifests, system, uploads

NAME = "/v2/{name:path}"

ROUTES = [
    Route("/v2/", system.api_version, methods=["GET", "HEAD"]),
    Route("/v2/_catalog", listings.catalog, methods=["GET"]),
    Route(f"{NAME}/tags/list", listings.list_tags, methods=["GET"]),
    Route(f"{NAME}/referrers/{{digest}}", listings.list_referrers, methods=["GET"]),
    Route(f"{NAME}/manifests/{{reference}}", manifests.get_manifest, methods=["GET", "HEAD"]),
    Route(f"{NAME}/manifests/{{reference}}", manifests.put_manifest, methods=["PUT"]),
    Route(f"{NAME}/manifests/{{reference}}", manifests.delete_manifest, methods=["DELETE"]),
    Route(f"{NAME}/blobs/uploads/", uploads.start_upload, methods=["POST"]),
    Route(f"{NAME}/blobs/uploads/{{uuid}}", uploads.patch_upload, methods=["PATCH"]),
    Route(f"{NAME}/blobs/uploads/{{uuid}}", uploads.finish_upload, methods=["PUT"]),
    Route(f"{NAME}/blobs/uploads/{{uuid}}", uploads.upload_status, methods=["GET"]),
    Route(f"{NAME}/blobs/uploads/{{uuid}}", uploads.cancel_upload, methods=["DELETE"]),
    Route(f"{NAME}/blobs/{{digest}}", blobs.get_blob, methods=["GET", "HEAD"]),
    Route(f"{NAME}/blobs/{{digest}}", blobs.delete_blob, methods=["DELETE"]),
    Route("/debug/health", system.health, methods=["GET", "HEAD"]),
]
