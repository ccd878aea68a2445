"""skopeo as a client: copy from Docker and from hand-made OCI layouts; inspect; multi-arch; delete."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import DockerEngine, LocalImage, RegistryServer, Skopeo

pytestmark = pytest.mark.e2e

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


# --- OCI image layouts, written by hand so that every byte is known ------------------------------


def write_blob(layout: Path, data: bytes, media_type: str) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def tar_of(name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(content), 0o644, 0
        tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def write_image(layout: Path, arch: str, content: bytes) -> dict[str, Any]:
    """One single-layer linux/<arch> image manifest; returns its descriptor."""
    tar = tar_of(f"{arch}.txt", content)
    layer = write_blob(layout, gzip.compress(tar, mtime=0), OCI_LAYER)
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(tar).hexdigest()}"]},
    }
    config_desc = write_blob(layout, json.dumps(config).encode(), OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc, "layers": [layer]}
    return write_blob(layout, json.dumps(manifest, indent=2).encode(), OCI_MANIFEST)


def write_layout(layout: Path, tag: str, top: dict[str, Any]) -> None:
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entry = {**top, "annotations": {REF_NAME: tag}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))


def single_image_layout(layout: Path, tag: str, content: bytes) -> dict[str, Any]:
    manifest = write_image(layout, "amd64", content)
    write_layout(layout, tag, manifest)
    return manifest


def multi_arch_layout(layout: Path, tag: str) -> dict[str, Any]:
    """An image index over linux/amd64 and linux/arm64 images; returns the index's descriptor."""
    manifests = []
    for arch in ("amd64", "arm64"):
        manifest = write_image(layout, arch, f"hello from {arch}\n".encode())
        manifests.append({**manifest, "platform": {"architecture": arch, "os": "linux"}})
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    descriptor = write_blob(layout, json.dumps(index, indent=2).encode(), OCI_INDEX)
    write_layout(layout, tag, descriptor)
    return descriptor


def blobs(layout: Path) -> dict[str, bytes]:
    return {f"sha256:{p.name}": p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}


def tagged_digest(layout: Path, tag: str) -> str:
    index = json.loads((layout / "index.json").read_text())
    [entry] = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) == tag]
    digest: str = entry["digest"]
    return digest


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.docker
def test_copy_from_docker_engine_and_inspect(
    skopeo: Skopeo,
    dockerd: DockerEngine,
    image_factory: Callable[..., LocalImage],
    registry_server: RegistryServer,
    http: httpx.Client,
) -> None:
    image = image_factory(files=1)
    dest = f"docker://{registry_server.addr}/skopeo/from-daemon:1"

    skopeo.copy(f"docker-daemon:{image.tag}", dest, "--src-daemon-host", dockerd.host)

    info = skopeo.inspect(dest)
    assert info["Name"] == f"{registry_server.addr}/skopeo/from-daemon"
    assert info["RepoTags"] == ["1"]
    assert len(info["Layers"]) == 2
    head = http.head(
        "/v2/skopeo/from-daemon/manifests/1",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, " + OCI_MANIFEST},
    )
    assert head.headers["Docker-Content-Digest"] == info["Digest"]
    for layer in info["Layers"]:
        assert http.head(f"/v2/skopeo/from-daemon/blobs/{layer}").status_code == 200


def test_copy_oci_layout_round_trip(skopeo: Skopeo, registry_server: RegistryServer, tmp_path: Path) -> None:
    manifest = single_image_layout(tmp_path / "src", "v1", b"single image\n")
    remote = f"docker://{registry_server.addr}/skopeo/single:v1"

    skopeo.copy(f"oci:{tmp_path / 'src'}:v1", remote)
    skopeo.copy(remote, f"oci:{tmp_path / 'out'}:v1")

    info = skopeo.inspect(remote)
    assert (info["Digest"], info["Architecture"], info["Os"]) == (manifest["digest"], "amd64", "linux")
    assert tagged_digest(tmp_path / "out", "v1") == manifest["digest"]
    assert blobs(tmp_path / "out") == blobs(tmp_path / "src")


def test_multi_arch_index_round_trip(skopeo: Skopeo, registry_server: RegistryServer, tmp_path: Path) -> None:
    index = multi_arch_layout(tmp_path / "src", "v1")
    remote = f"docker://{registry_server.addr}/skopeo/multi:v1"

    skopeo.copy(f"oci:{tmp_path / 'src'}:v1", remote, "--all")
    skopeo.copy(remote, f"oci:{tmp_path / 'out'}:v1", "--all")

    assert tagged_digest(tmp_path / "out", "v1") == index["digest"]
    source = blobs(tmp_path / "src")
    assert blobs(tmp_path / "out") == source
    raw = skopeo("inspect", "--tls-verify=false", "--raw", remote).stdout
    assert raw.encode() == source[index["digest"]]
    [arm64_manifest] = [m for m in json.loads(raw)["manifests"] if m["platform"]["architecture"] == "arm64"]
    arm64_layers = [layer["digest"] for layer in json.loads(source[arm64_manifest["digest"]])["layers"]]
    arm64 = skopeo.inspect(remote, "--override-arch", "arm64")
    # skopeo reports the index's digest, and the layers of the platform it picked
    assert (arm64["Digest"], arm64["Architecture"]) == (index["digest"], "arm64")
    assert arm64["Layers"] == arm64_layers


def test_delete_removes_manifest(
    skopeo: Skopeo, registry_server: RegistryServer, http: httpx.Client, tmp_path: Path
) -> None:
    manifest = single_image_layout(tmp_path / "src", "v1", b"to be deleted\n")
    remote = f"docker://{registry_server.addr}/skopeo/deleted:v1"
    skopeo.copy(f"oci:{tmp_path / 'src'}:v1", remote)
    manifest_url = f"/v2/skopeo/deleted/manifests/{manifest['digest']}"
    assert http.get(manifest_url, headers={"Accept": OCI_MANIFEST}).status_code == 200

    skopeo.delete(remote)

    by_digest = http.get(manifest_url, headers={"Accept": OCI_MANIFEST})
    assert by_digest.status_code == 404
    assert by_digest.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert http.get("/v2/skopeo/deleted/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 404
    assert skopeo("inspect", "--tls-verify=false", remote, check=False).returncode != 0
