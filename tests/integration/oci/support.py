"""Builders and checks shared by the OCI Distribution 1.1 conformance tests.

Every test in this folder checks one MUST or SHOULD of the spec's Pull, Push,
Content Discovery or Content Management section
(``/work/shared/reference/oci-distribution-spec.md``); its docstring names the
section and quotes the sentence.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any

import httpx

from tests.helpers import OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER, OCI_MANIFEST

__all__ = [
    "EMPTY",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_MANIFEST",
    "Content",
    "assert_error",
    "digest_of",
    "index_of",
    "manifest_of",
    "push",
    "push_artifact",
    "push_image",
    "put_manifest",
    "start_upload",
]

#: the spec's error ``code``: "containing only uppercase alphabetic characters and underscores"
ERROR_CODE = re.compile(r"[A-Z_]+")


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


@dataclass(frozen=True)
class Content:
    """Some bytes and the media type a descriptor gives them."""

    data: bytes
    media_type: str = OCI_LAYER
    algorithm: str = "sha256"

    @property
    def digest(self) -> str:
        return digest_of(self.data, self.algorithm)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data), **extra}


#: the image spec's empty descriptor content: ``{}`` as ``application/vnd.oci.empty.v1+json``
EMPTY = Content(b"{}", OCI_EMPTY)


def layer(size: int = 256, media_type: str = OCI_LAYER, algorithm: str = "sha256") -> Content:
    return Content(os.urandom(size), media_type, algorithm)


def config(**fields: Any) -> Content:
    document = {"architecture": "amd64", "os": "linux", "nonce": os.urandom(6).hex(), **fields}
    return Content(json.dumps(document).encode(), OCI_CONFIG)


def manifest_of(config: Content, layers: list[Content], **extra: Any) -> Content:
    """An OCI image manifest (``extra`` adds fields such as ``subject`` or ``artifactType``)."""
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [item.descriptor() for item in layers],
        **extra,
    }
    return Content(json.dumps(document, indent=1).encode(), OCI_MANIFEST)


def index_of(children: list[Content], **extra: Any) -> Content:
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [child.descriptor() for child in children],
        **extra,
    }
    return Content(json.dumps(document).encode(), OCI_INDEX)


async def push(client: httpx.AsyncClient, name: str, *blobs: Content) -> None:
    """Push blobs with single-POST uploads."""
    for blob in blobs:
        response = await client.post(
            f"/v2/{name}/blobs/uploads/",
            params={"digest": blob.digest},
            content=blob.data,
            headers={"content-type": "application/octet-stream"},
        )
        assert response.status_code == 201, response.text


async def put_manifest(
    client: httpx.AsyncClient, name: str, reference: str, manifest: Content, **kwargs: Any
) -> httpx.Response:
    headers = {"content-type": manifest.media_type, **kwargs.pop("headers", {})}
    return await client.put(
        f"/v2/{name}/manifests/{reference}", content=manifest.data, headers=headers, **kwargs
    )


async def push_image(
    client: httpx.AsyncClient, name: str, reference: str | None = None, **extra: Any
) -> Content:
    """Push a config, one layer and a manifest (by ``reference``, else by digest)."""
    cfg, lay = config(), layer()
    await push(client, name, cfg, lay)
    manifest = manifest_of(cfg, [lay], **extra)
    response = await put_manifest(client, name, reference or manifest.digest, manifest)
    assert response.status_code == 201, response.text
    return manifest


async def push_artifact(
    client: httpx.AsyncClient,
    name: str,
    *,
    artifact_type: str | None = None,
    subject: Content | None = None,
    annotations: dict[str, str] | None = None,
    config_blob: Content = EMPTY,
) -> Content:
    """An OCI 1.1 artifact: the empty config (with its ``data``), one layer, optional subject."""
    blob = layer(64, "application/vnd.example.data.v1")
    await push(client, name, config_blob, blob)
    extra: dict[str, Any] = {}
    if artifact_type is not None:
        extra["artifactType"] = artifact_type
    if subject is not None:
        extra["subject"] = subject.descriptor()
    if annotations is not None:
        extra["annotations"] = annotations
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_blob.descriptor(
            **({"data": base64.b64encode(config_blob.data).decode()} if config_blob is EMPTY else {})
        ),
        "layers": [blob.descriptor()],
        **extra,
    }
    manifest = Content(json.dumps(document).encode(), OCI_MANIFEST)
    response = await put_manifest(client, name, manifest.digest, manifest)
    assert response.status_code == 201, response.text
    return manifest


async def start_upload(client: httpx.AsyncClient, name: str, **params: str) -> str:
    """POST a new session (``Content-Length: 0``); returns its ``Location``."""
    response = await client.post(f"/v2/{name}/blobs/uploads/", params=params, headers={"content-length": "0"})
    assert response.status_code == 202, response.text
    return response.headers["location"]


def with_query(location: str, **params: str) -> str:
    """``location`` plus query parameters, keeping any the registry put there."""
    url = httpx.URL(location)
    return str(url.copy_merge_params(params))


def assert_error(
    response: httpx.Response, status: int | tuple[int, ...], *codes: str
) -> list[dict[str, Any]]:
    """A 4xx in the spec's error envelope ("API / Error Codes") whose codes include each of ``codes``."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text)
    errors = response.json()["errors"] if response.request.method != "HEAD" else None
    if errors is None:
        return []
    assert isinstance(errors, list) and errors, response.text
    for error in errors:
        assert ERROR_CODE.fullmatch(error["code"]), error
        assert isinstance(error.get("message", ""), str)
    found = [error["code"] for error in errors]
    for code in codes:
        assert code in found, (code, found)
    return list(errors)
