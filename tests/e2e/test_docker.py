"""Docker as a client: push, pull by tag and by digest, run, tag again, mount across repositories."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import DockerEngine, LocalImage, RegistryServer

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass(frozen=True)
class PushedImage:
    repository: str  # 127.0.0.1:PORT/team/app
    digest: str
    image_id: str
    files: dict[str, str]
    layers: int


@pytest.fixture(scope="module")
def pushed(
    dockerd: DockerEngine, image_factory: Callable[..., LocalImage], registry_server: RegistryServer
) -> PushedImage:
    """team/app:1, three layers, pushed and then removed from the engine so that pulls fetch every blob."""
    image = image_factory(files=2)
    repository = f"{registry_server.addr}/team/app"
    dockerd.docker("tag", image.tag, f"{repository}:1")
    digest = dockerd.push(f"{repository}:1").digest
    image_id = dockerd.docker("inspect", "--format", "{{.Id}}", image.tag).stdout.strip()
    dockerd.docker("rmi", image.tag, f"{repository}:1")
    return PushedImage(repository, digest, image_id, image.files, layers=len(image.files) + 1)


@pytest.fixture
def image(dockerd: DockerEngine, pushed: PushedImage) -> Iterator[PushedImage]:
    """The pushed image; whatever a test pulls of it is removed from the engine afterwards."""
    yield pushed
    dockerd.docker("rmi", "--force", pushed.image_id, check=False)


def test_pull_by_tag_fetches_every_layer_and_runs(dockerd: DockerEngine, image: PushedImage) -> None:
    out = dockerd.docker("pull", f"{image.repository}:1").stdout

    # The busybox layer is shared with every image the session built, so the engine may still have it.
    assert out.count("Pull complete") >= len(image.files), out
    assert out.count("Pull complete") + out.count("Already exists") == image.layers, out
    assert f"Digest: {image.digest}" in out
    assert dockerd.read_files(f"{image.repository}:1", image.files) == image.files


def test_pull_by_digest(dockerd: DockerEngine, image: PushedImage) -> None:
    ref = f"{image.repository}@{image.digest}"

    dockerd.docker("pull", ref)

    repo_digests = dockerd.docker("inspect", "--format", "{{json .RepoDigests}}", ref).stdout
    assert ref in repo_digests
    assert dockerd.read_files(ref, image.files) == image.files


def test_manifest_digest_matches_push(image: PushedImage, http: httpx.Client) -> None:
    response = http.head("/v2/team/app/manifests/1", headers={"Accept": DOCKER_MANIFEST})

    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == image.digest
    assert response.headers["Content-Type"] == DOCKER_MANIFEST


def test_push_second_tag_reuses_layers(dockerd: DockerEngine, image: PushedImage, http: httpx.Client) -> None:
    dockerd.docker("pull", f"{image.repository}:1")
    dockerd.docker("tag", f"{image.repository}:1", f"{image.repository}:2")

    pushed = dockerd.push(f"{image.repository}:2")

    assert pushed.output.count("Layer already exists") == image.layers, pushed.output
    assert pushed.digest == image.digest
    tags = http.get("/v2/team/app/tags/list").json()
    assert tags["name"] == "team/app"
    assert sorted(tags["tags"]) == ["1", "2"]  # distribution 2.8 lists tags unsorted


def test_push_to_another_repository_mounts_layers(
    dockerd: DockerEngine, image: PushedImage, registry_server: RegistryServer, http: httpx.Client
) -> None:
    dockerd.docker("pull", f"{image.repository}:1")
    other = f"{registry_server.addr}/other/app"
    dockerd.docker("tag", f"{image.repository}:1", f"{other}:1")

    pushed = dockerd.push(f"{other}:1")

    assert pushed.output.count("Mounted from team/app") == image.layers, pushed.output
    assert pushed.digest == image.digest
    dockerd.docker("rmi", f"{image.repository}:1", f"{other}:1")
    dockerd.docker("pull", f"{other}:1")
    assert dockerd.read_files(f"{other}:1", image.files) == image.files
    assert http.get("/v2/other/app/tags/list").json() == {"name": "other/app", "tags": ["1"]}


def test_tags_list(image: PushedImage, http: httpx.Client) -> None:
    response = http.get("/v2/team/app/tags/list")

    assert response.status_code == 200
    assert response.json()["name"] == "team/app"
    assert "1" in response.json()["tags"]


def test_pull_unknown_tag_reports_manifest_unknown(dockerd: DockerEngine, image: PushedImage) -> None:
    out = dockerd.docker("pull", f"{image.repository}:no-such-tag", check=False)

    assert out.returncode != 0
    assert "manifest unknown" in out.stderr
