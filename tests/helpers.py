"""Small builders shared by the tests: blobs, manifests and pushes over the HTTP API."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    data: bytes
    media_type: str = OCI_LAYER

    @property
    def digest(self) -> str:
        return sha256(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data), **extra}


def random_blob(size: int = 1024, media_type: str = OCI_LAYER) -> Blob:
    return Blob(os.urandom(size), media_type)


def image_manifest(
    config: Blob, layers: list[Blob], *, media_type: str = OCI_MANIFEST, **extra: Any
) -> bytes:
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
        **extra,
    }
    return json.dumps(document).encode()


def index_manifest(children: list[tuple[bytes, str]], *, media_type: str = OCI_INDEX, **extra: Any) -> bytes:
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            {"mediaType": mt, "digest": sha256(body), "size": len(body),
             "platform": {"architecture": f"arch{i}", "os": "linux"}}
            for i, (body, mt) in enumerate(children)
        ],
        **extra,
    }
    return json.dumps(document).encode()


async def push_blob(client: httpx.AsyncClient, name: str, blob: Blob) -> httpx.Response:
    response = await client.post(
        f"/v2/{name}/blobs/uploads/", params={"digest": blob.digest}, content=blob.data
    )
    assert response.status_code == 201, response.text
    return response


async def push_manifest(
    client: httpx.AsyncClient, name: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST
) -> httpx.Response:
    return await client.put(
        f"/v2/{name}/manifests/{reference}", content=body, headers={"content-type": media_type}
    )


async def push_image(
    client: httpx.AsyncClient, name: str, tag: str, *, layers: int = 2, media_type: str = OCI_MANIFEST
) -> tuple[bytes, list[Blob]]:
    """Push a config and ``layers`` random layers, then a manifest tagged ``tag``."""
    config = Blob(json.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(4).hex()}).encode(),
                  DOCKER_CONFIG if media_type == DOCKER_MANIFEST else OCI_CONFIG)
    blobs = [random_blob(512 + i, DOCKER_LAYER if media_type == DOCKER_MANIFEST else OCI_LAYER)
             for i in range(layers)]
    for blob in [config, *blobs]:
        await push_blob(client, name, blob)
    body = image_manifest(config, blobs, media_type=media_type)
    response = await push_manifest(client, name, tag, body, media_type)
    assert response.status_code == 201, response.text
    return body, [config, *blobs]


def error_codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]
