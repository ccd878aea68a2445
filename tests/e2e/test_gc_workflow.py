"""The issue's cleanup workflow end to end with the docker CLI, while the registry keeps serving:
push, list tags, HEAD for the digest, DELETE, ``wharf garbage-collect`` from a second process,
disk usage drops by the image's size, push the same image again, remove it locally, pull it.

With distribution 2.8 (``blobdescriptor: inmemory``) the second push says "Layer already exists"
for layers the collection removed, and the pull then fails; wharf must not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import DockerEngine, LocalImage, ServerFactory

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def blob_bytes(root: Path) -> int:
    """What the registry's blobs take on disk (their contents' sizes)."""
    return sum(path.stat().st_size for path in (root / "docker/registry/v2/blobs").rglob("data"))


def garbage_collect(config: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    done = subprocess.run(
        [sys.executable, "-m", "wharf", "garbage-collect", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_delete_collect_push_again_pull(
    server_factory: ServerFactory, dockerd: DockerEngine, image_factory: Callable[..., LocalImage]
) -> None:
    server = server_factory("wharf")
    image = image_factory(files=2)
    ref = f"{server.addr}/cleanup/app:1"
    dockerd.docker("tag", image.tag, ref)
    dockerd.push(ref)
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        assert http.get("/v2/cleanup/app/tags/list").json() == {"name": "cleanup/app", "tags": ["1"]}
        head = http.head("/v2/cleanup/app/manifests/1", headers={"Accept": DOCKER_MANIFEST})
        assert head.status_code == 200
        digest = head.headers["Docker-Content-Digest"]
        manifest = http.get(f"/v2/cleanup/app/manifests/{digest}", headers={"Accept": DOCKER_MANIFEST})
        document = json.loads(manifest.content)
        size = len(manifest.content) + document["config"]["size"] + sum(x["size"] for x in document["layers"])
        before = blob_bytes(server.root)

        assert http.delete(f"/v2/cleanup/app/manifests/{digest}").status_code == 202
        output = garbage_collect(server.config_path)  # a second process, the server still serving

        assert before - blob_bytes(server.root) == size, output
        assert "freed" in output and f"({size} bytes)" in output
        assert http.get("/v2/cleanup/app/tags/list").json()["tags"] in ([], None)
        for layer in document["layers"]:
            assert http.head(f"/v2/cleanup/app/blobs/{layer['digest']}").status_code == 404

    again = dockerd.push(ref)
    assert "Layer already exists" not in again.output, again.output
    assert again.digest == digest
    image_id = dockerd.docker("inspect", "--format", "{{.Id}}", ref).stdout.strip()
    dockerd.docker("rmi", image.tag, ref)
    try:
        pulled = dockerd.docker("pull", ref).stdout
        assert f"Digest: {digest}" in pulled
        assert dockerd.read_files(ref, image.files) == image.files
    finally:
        dockerd.docker("rmi", "--force", image_id, check=False)
