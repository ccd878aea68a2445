"""oras (oras-py, driven as a library) as a client: OCI 1.1 artifacts with an artifactType, and referrers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import oras.oci
import pytest

if TYPE_CHECKING:
    from conftest import OrasClient, RegistryServer

pytestmark = pytest.mark.e2e

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
NOTES_TYPE = "application/vnd.wharf.e2e.notes.v1"
SIGNATURE_TYPE = "application/vnd.wharf.e2e.signature.v1"


def write_file(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)
    return directory / name


def test_push_and_pull_file_artifact(
    oras_client: OrasClient, registry_server: RegistryServer, tmp_path: Path
) -> None:
    data = os.urandom(100_000)
    note = write_file(tmp_path / "push", "notes.bin", data)
    target = f"{registry_server.addr}/oras/notes:v1"

    oras_client.push_artifact(target, [(note, "application/vnd.wharf.e2e.blob")], artifact_type=NOTES_TYPE)
    pulled = oras_client.pull(target=target, outdir=str(tmp_path / "pull"))

    assert pulled == [str(tmp_path / "pull" / "notes.bin")]
    assert (tmp_path / "pull" / "notes.bin").read_bytes() == data
    manifest = oras_client.get_manifest(target)
    assert manifest["artifactType"] == NOTES_TYPE
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert manifest["layers"][0]["mediaType"] == "application/vnd.wharf.e2e.blob"


def test_referrers_list_an_artifact_pushed_with_a_subject(
    oras_client: OrasClient, registry_server: RegistryServer, http: httpx.Client, tmp_path: Path
) -> None:
    target = f"{registry_server.addr}/oras/signed"
    subject_file = write_file(tmp_path, "image.txt", b"the subject\n")
    signature_file = write_file(tmp_path, "image.sig", b"a signature\n")
    pushed = oras_client.push_artifact(
        f"{target}:v1", [(subject_file, "text/plain")], artifact_type=NOTES_TYPE
    )
    subject_digest = pushed.headers["Docker-Content-Digest"]
    subject_bytes = http.get(f"/v2/oras/signed/manifests/{subject_digest}", headers={"Accept": OCI_MANIFEST})
    subject = oras.oci.Subject(mediaType=OCI_MANIFEST, digest=subject_digest, size=len(subject_bytes.content))

    signature = oras_client.push_artifact(
        f"{target}:signature", [(signature_file, "text/plain")], artifact_type=SIGNATURE_TYPE, subject=subject
    )

    response = http.get(f"/v2/oras/signed/referrers/{subject_digest}")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith(OCI_INDEX)
    referrers = response.json()["manifests"]
    assert [(r["digest"], r["artifactType"]) for r in referrers] == [
        (signature.headers["Docker-Content-Digest"], SIGNATURE_TYPE)
    ]
