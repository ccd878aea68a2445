"""``wharf rm`` and ``wharf ls`` as a user runs them: subprocesses against a running registry on 127.0.0.1.

With ``WHARF_E2E_SERVER=distribution`` the same commands run against distribution, which is what
they must work with too (except ``--gc``, which collects with wharf's code on the registry's storage).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    RegistryServer,
    ServerFactory,
    free_port,
    server_command,
    spawn,
    terminate,
    wait_until_serving,
)
from tests.helpers import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Blob,
    image_manifest,
    index_manifest,
    sha256,
)

pytestmark = pytest.mark.e2e

DELETE_DISABLED = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: {addr}
"""


@dataclass(frozen=True)
class Image:
    manifest: bytes
    blobs: list[Blob]

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def size(self) -> int:
        return len(self.manifest) + sum(len(blob.data) for blob in self.blobs)


def wharf(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``wharf ARGS`` with no REGISTRY_* variables from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return subprocess.run(
        [sys.executable, "-m", "wharf", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def push(url: str, name: str, tag: str, *, media_type: str = OCI_MANIFEST, layers: int = 2) -> Image:
    config = Blob(json.dumps({"os": "linux", "nonce": os.urandom(8).hex()}).encode(), "application/json")
    blobs = [Blob(os.urandom(1000 + i)) for i in range(layers)]
    with httpx.Client(base_url=url, timeout=30) as client:
        for blob in [config, *blobs]:
            # POST then PUT: distribution 2.8 does not take a whole blob in the POST.
            started = client.post(f"/v2/{name}/blobs/uploads/")
            assert started.status_code == 202, started.text
            # distribution's Location carries its own query (_state): add the digest to it.
            location = httpx.URL(started.headers["location"]).copy_merge_params({"digest": blob.digest})
            done = client.put(location, content=blob.data)
            assert done.status_code == 201, done.text
        manifest = image_manifest(config, blobs, media_type=media_type)
        put_manifest(client, name, tag, manifest, media_type)
    return Image(manifest, [config, *blobs])


def put_manifest(client: httpx.Client, name: str, tag: str, body: bytes, media_type: str) -> None:
    response = client.put(f"/v2/{name}/manifests/{tag}", content=body, headers={"content-type": media_type})
    assert response.status_code == 201, response.text


def status(url: str, path: str) -> int:
    return httpx.get(f"{url}{path}", headers={"accept": f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"}).status_code


def unique(prefix: str) -> str:
    """A repository name of this test's own: the registry is shared by the session."""
    return f"cli-{prefix}-{os.urandom(3).hex()}"


# --------------------------------------------------------------------------- ls


def test_ls_lists_repositories(registry_server: RegistryServer) -> None:
    names = sorted(unique(f"ls{i}") for i in range(3))
    for name in names:
        push(registry_server.url, name, "v1", layers=1)
    result = wharf("ls", registry_server.addr)
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split()
    assert [name for name in listed if name in names] == names


def test_ls_repository_shows_tags_digests_types_and_sizes(registry_server: RegistryServer) -> None:
    name = unique("tags")
    url = registry_server.url
    image = push(url, name, "v1")
    docker = push(url, name, "docker", media_type=DOCKER_MANIFEST, layers=1)
    index = index_manifest([(image.manifest, OCI_MANIFEST), (docker.manifest, DOCKER_MANIFEST)])
    with httpx.Client(base_url=url) as client:
        put_manifest(client, name, "multi", index, OCI_INDEX)
        put_manifest(client, name, "latest", image.manifest, OCI_MANIFEST)

    result = wharf("ls", f"{registry_server.addr}/{name}", "--bytes")

    assert result.returncode == 0, result.stderr
    header, *rows = [line.split(None, 2) for line in result.stdout.splitlines()]
    assert [*header[:2], *header[2].split()] == ["TAG", "DIGEST", "TYPE", "SIZE"]
    table = {tag: (digest, rest.rsplit(None, 1)) for tag, digest, rest in rows}
    assert table == {
        "docker": (docker.digest, ["docker image", str(docker.size)]),
        "latest": (image.digest, ["oci image", str(image.size)]),
        "multi": (sha256(index), ["oci index (2 platforms)", str(len(index) + image.size + docker.size)]),
        "v1": (image.digest, ["oci image", str(image.size)]),
    }
    human = wharf("ls", f"{registry_server.addr}/{name}:v1")
    assert human.returncode == 0, human.stderr
    assert human.stdout.splitlines()[1].split()[-2:] == [f"{image.size / 1000:.3g}", "kB"]


def test_ls_unknown_repository_and_tag(registry_server: RegistryServer) -> None:
    name = unique("ls-missing")
    push(registry_server.url, name, "v1", layers=1)
    unknown_repo = wharf("ls", f"{registry_server.addr}/{name}-nope")
    assert unknown_repo.returncode == 1
    assert unknown_repo.stderr == f"wharf: repository {name}-nope not found on {registry_server.addr}\n"
    unknown_tag = wharf("ls", f"{registry_server.addr}/{name}:v2")
    assert unknown_tag.returncode == 1
    assert unknown_tag.stderr == f"wharf: tag v2 not found in {registry_server.addr}/{name}\n"


# --------------------------------------------------------------------------- rm


def test_rm_by_tag_deletes_the_manifest_and_every_tag_on_it(registry_server: RegistryServer) -> None:
    name, url, addr = unique("rm"), registry_server.url, registry_server.addr
    image = push(url, name, "v1")
    with httpx.Client(base_url=url) as client:
        put_manifest(client, name, "latest", image.manifest, OCI_MANIFEST)
    kept = push(url, name, "v2")

    result = wharf("rm", f"{addr}/{name}:v1")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"deleted {addr}/{name}@{image.digest} (tags: latest, v1)\n"
    assert status(url, f"/v2/{name}/manifests/{image.digest}") == 404
    assert status(url, f"/v2/{name}/manifests/v2") == 200
    assert wharf("ls", f"{addr}/{name}").stdout.splitlines()[1].split()[:2] == ["v2", kept.digest]


def test_rm_by_digest(registry_server: RegistryServer) -> None:
    name, url, addr = unique("rm-digest"), registry_server.url, registry_server.addr
    image = push(url, name, "v1", media_type=DOCKER_MANIFEST)
    result = wharf("rm", f"{addr}/{name}@{image.digest}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"deleted {addr}/{name}@{image.digest} (tags: v1)\n"
    assert status(url, f"/v2/{name}/manifests/{image.digest}") == 404


def test_rm_all_tags(registry_server: RegistryServer) -> None:
    name, url, addr = unique("rm-all"), registry_server.url, registry_server.addr
    images = [push(url, name, tag, layers=1) for tag in ("a", "b", "c")]
    result = wharf("rm", f"{addr}/{name}", "--all-tags")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(
        f"deleted {addr}/{name}@{image.digest} (tags: {tag})"
        for image, tag in zip(images, "abc", strict=True)
    )
    if registry_server.kind == "wharf":  # distribution lists an emptied repository in its catalog still
        assert name not in wharf("ls", addr).stdout.split()
    assert wharf("ls", f"{addr}/{name}").stdout.splitlines() == ["TAG   DIGEST   TYPE   SIZE"]
    again = wharf("rm", f"{addr}/{name}", "--all-tags")
    assert (again.returncode, again.stdout) == (0, f"nothing to delete: {addr}/{name} has no tags\n")


def test_rm_unknown_repository_tag_and_digest(registry_server: RegistryServer) -> None:
    name, addr = unique("rm-missing"), registry_server.addr
    push(registry_server.url, name, "v1", layers=1)
    missing = "sha256:" + "0" * 64
    cases = {
        f"{addr}/{name}-nope:v1": f"repository {name}-nope not found on {addr}",
        f"{addr}/{name}:v9": f"tag v9 not found in {addr}/{name} (tags: v1)",
        f"{addr}/{name}@{missing}": f"manifest {missing} not found in {addr}/{name}",
    }
    for ref, message in cases.items():
        result = wharf("rm", ref)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", f"wharf: {message}\n"), ref


def test_rm_needs_a_tag_or_all_tags(registry_server: RegistryServer) -> None:
    result = wharf("rm", f"{registry_server.addr}/some-repo")
    assert result.returncode == 1
    assert "give a tag (:<tag>) or a digest (@sha256:…), or use --all-tags" in result.stderr


@pytest.fixture
def delete_disabled(server_kind: str, tmp_path: Path) -> Iterator[str]:
    """A registry at the returned URL with distribution's default: deletes disabled."""
    addr = f"127.0.0.1:{free_port()}"
    config = tmp_path / "config.yml"
    config.write_text(DELETE_DISABLED.format(root=json.dumps(str(tmp_path / "root")), addr=addr))
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    proc = spawn(server_command(server_kind, config), log, env)
    try:
        wait_until_serving(proc, f"http://{addr}", log, title=f"wharf {addr}")
        yield addr
    finally:
        terminate(proc)


def test_rm_when_deletes_are_disabled(delete_disabled: str) -> None:
    push(f"http://{delete_disabled}", "app", "v1", layers=1)
    result = wharf("rm", f"{delete_disabled}/app:v1")
    assert result.returncode == 1
    assert result.stderr == "wharf: deletes are disabled on this registry: set storage.delete.enabled: true\n"
    assert status(f"http://{delete_disabled}", "/v2/app/manifests/v1") == 200


def test_registry_down() -> None:
    addr = f"127.0.0.1:{free_port()}"  # nothing listens there
    for args in (["rm", f"{addr}/app:v1"], ["ls", addr], ["ls", f"{addr}/app"]):
        result = wharf(*args)
        assert result.returncode == 1, args
        assert result.stderr == f"wharf: cannot reach registry at http://{addr}: connection refused\n", args


def test_rm_gc_needs_the_registry_config_before_deleting(registry_server: RegistryServer) -> None:
    name = unique("rm-gc-noconfig")
    image = push(registry_server.url, name, "v1", layers=1)
    result = wharf("rm", f"{registry_server.addr}/{name}:v1", "--gc")
    assert result.returncode == 1
    assert "pass --config CONFIG or set REGISTRY_CONFIGURATION_PATH" in result.stderr
    assert status(registry_server.url, f"/v2/{name}/manifests/{image.digest}") == 200


def test_rm_gc_frees_the_image_while_the_registry_serves(server_factory: ServerFactory) -> None:
    pytest.importorskip("wharf.registry.gc")
    server = server_factory("wharf")
    gone = push(server.url, "app", "gone")
    kept = push(server.url, "app", "kept")
    blob_files = {blob.digest: blob_path(server.root, blob.digest) for blob in gone.blobs + kept.blobs}
    assert all(path.exists() for path in blob_files.values())

    result = wharf("rm", f"{server.addr}/app:gone", "--gc", "--config", str(server.config_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"deleted {server.addr}/app@{gone.digest} (tags: gone)\n")
    assert len(result.stdout.splitlines()) > 1  # the collection's report follows
    for blob in gone.blobs:
        assert not blob_files[blob.digest].exists()
        assert status(server.url, f"/v2/app/blobs/{blob.digest}") == 404
    for blob in kept.blobs:
        assert blob_files[blob.digest].exists()
        assert httpx.get(f"{server.url}/v2/app/blobs/{blob.digest}").content == blob.data


def blob_path(root: Path, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":")
    return root / "docker/registry/v2/blobs" / algorithm / hex_digest[:2] / hex_digest / "data"
