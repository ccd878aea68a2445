"""Registry operations the workloads are made of: blob uploads, manifests, small images.

Images are OCI image manifests; ``nonce`` annotations and configs make every image
distinct, so no push is answered by "already there" and every collection has
something to free.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, TypeVar
from urllib.parse import quote

from bench.wire import AsyncConn, FileSlice, Response, SyncConn, target_of

__all__ = [
    "ACCEPT",
    "MANIFEST_TYPE",
    "BenchError",
    "Blob",
    "Image",
    "expect",
    "make_image",
    "pull_image",
    "manifest_for",
    "push_blob",
    "push_bytes",
    "push_file_chunked",
    "push_file_monolithic",
    "push_image",
    "put_manifest",
    "put_manifest_sync",
    "run_pool",
    "sha256_file",
]

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
OCTETS = {"Content-Type": "application/octet-stream"}
ACCEPT = {"Accept": MANIFEST_TYPE}

T = TypeVar("T")


class BenchError(RuntimeError):
    """A registry answered something a workload did not expect."""


def expect(response: Response, *statuses: int, what: str) -> Response:
    if response.status not in statuses:
        raise BenchError(f"{what}: HTTP {response.status}, expected {statuses}: {response.body[:300]!r}")
    return response


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _with_digest(location: str, digest: str) -> str:
    target = target_of(location)
    return f"{target}{'&' if '?' in target else '?'}digest={quote(digest)}"


@dataclass(frozen=True, slots=True)
class Blob:
    data: bytes
    media_type: str = LAYER_TYPE

    @property
    def digest(self) -> str:
        return _digest(self.data)

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True, slots=True)
class Image:
    config: Blob
    layers: tuple[Blob, ...]
    manifest: bytes

    @property
    def digest(self) -> str:
        return _digest(self.manifest)

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (self.config, *self.layers)


def make_image(nonce: str, *, layer_size: int = 1024, shared: Sequence[Blob] = ()) -> Image:
    """An image with ``shared`` layers plus one unique random layer (none if ``layer_size`` is 0)."""
    layers = (*shared, Blob(os.urandom(layer_size))) if layer_size else tuple(shared)
    config = Blob(
        json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
                "config": {"Labels": {"bench.nonce": nonce}},
            }
        ).encode(),
        CONFIG_TYPE,
    )
    return Image(config, layers, manifest_for(config, layers, {"bench.nonce": nonce}))


def manifest_for(config: Blob, layers: Sequence[Blob], annotations: dict[str, str]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": config.descriptor(),
            "layers": [layer.descriptor() for layer in layers],
            "annotations": annotations,
        }
    ).encode()


# --------------------------------------------------------------------------- asyncio


async def push_blob(conn: AsyncConn, repo: str, blob: Blob) -> None:
    started = await conn.request("POST", f"/v2/{repo}/blobs/uploads/")
    location = expect(started, 202, what=f"start upload to {repo}").header("location")
    if location is None:
        raise BenchError(f"start upload to {repo}: no Location header")
    done = await conn.request("PUT", _with_digest(location, blob.digest), headers=OCTETS, body=blob.data)
    expect(done, 201, what=f"finish upload of {blob.digest} to {repo}")


async def put_manifest(conn: AsyncConn, repo: str, reference: str, manifest: bytes) -> None:
    response = await conn.request(
        "PUT", f"/v2/{repo}/manifests/{reference}", headers={"Content-Type": MANIFEST_TYPE}, body=manifest
    )
    expect(response, 201, what=f"put manifest {repo}:{reference}")


async def push_image(conn: AsyncConn, repo: str, tag: str, image: Image, *, skip: int = 0) -> None:
    """Push the image's blobs (after the first ``skip`` layers, already pushed) and its manifest."""
    await push_blob(conn, repo, image.config)
    for layer in image.layers[skip:]:
        await push_blob(conn, repo, layer)
    await put_manifest(conn, repo, tag, image.manifest)


async def pull_image(conn: AsyncConn, repo: str, reference: str, image: Image) -> bool:
    """Whether the manifest and every blob come back with the right bytes."""
    response = await conn.request("GET", f"/v2/{repo}/manifests/{reference}", headers=ACCEPT)
    if response.status != 200 or response.body != image.manifest:
        return False
    for blob in image.blobs:
        response = await conn.request("GET", f"/v2/{repo}/blobs/{blob.digest}")
        if response.status != 200 or _digest(response.body) != blob.digest:
            return False
    return True


async def run_pool(
    port: int, jobs: Sequence[Callable[[AsyncConn], Awaitable[T]]], concurrency: int
) -> list[T]:
    """Run ``jobs`` over ``concurrency`` keep-alive connections; results in job order."""
    results: list[T | None] = [None] * len(jobs)
    pending = iter(range(len(jobs)))

    async def worker() -> None:
        conn = AsyncConn(port)
        try:
            for index in pending:
                results[index] = await jobs[index](conn)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(jobs))))))
    return results  # type: ignore[return-value]


# --------------------------------------------------------------------------- blocking, from files


def sha256_file(file: BinaryIO, offset: int, count: int) -> str:
    hasher = hashlib.sha256()
    buffer = bytearray(8 << 20)
    view = memoryview(buffer)
    remaining = count
    while remaining > 0:
        got = os.preadv(file.fileno(), [view[: min(remaining, len(view))]], offset + count - remaining)
        if got <= 0:
            raise BenchError("short read while hashing")
        hasher.update(view[:got])
        remaining -= got
    return "sha256:" + hasher.hexdigest()


def _start_upload(conn: SyncConn, repo: str) -> str:
    started = expect(conn.request("POST", f"/v2/{repo}/blobs/uploads/"), 202, what=f"start upload to {repo}")
    location = started.header("location")
    if location is None:
        raise BenchError(f"start upload to {repo}: no Location header")
    return location


def push_file_monolithic(conn: SyncConn, repo: str, body: FileSlice, digest: str) -> None:
    """POST, then one PUT ?digest= carrying the whole blob."""
    location = _start_upload(conn, repo)
    done = conn.request("PUT", _with_digest(location, digest), headers=OCTETS, body=body)
    expect(done, 201, what=f"monolithic upload to {repo}")


def push_file_chunked(conn: SyncConn, repo: str, body: FileSlice, digest: str, *, chunk: int) -> None:
    """POST, PATCH ``chunk`` bytes at a time with Content-Range, then PUT ?digest= with no body."""
    location = _start_upload(conn, repo)
    for start in range(0, body.count, chunk):
        size = min(chunk, body.count - start)
        headers = {**OCTETS, "Content-Range": f"{start}-{start + size - 1}"}
        patched = conn.request(
            "PATCH",
            target_of(location),
            headers=headers,
            body=FileSlice(body.file, body.offset + start, size),
        )
        location = (
            expect(patched, 202, what=f"PATCH {start}-{start + size - 1}").header("location") or location
        )
    expect(conn.request("PUT", _with_digest(location, digest)), 201, what=f"chunked upload to {repo}")


def push_bytes(conn: SyncConn, repo: str, blob: Blob) -> None:
    """POST, then one PUT ?digest= carrying a small blob from memory."""
    location = _start_upload(conn, repo)
    done = conn.request("PUT", _with_digest(location, blob.digest), headers=OCTETS, body=blob.data)
    expect(done, 201, what=f"upload of {blob.digest} to {repo}")


def put_manifest_sync(conn: SyncConn, repo: str, reference: str, manifest: bytes) -> None:
    response = conn.request(
        "PUT", f"/v2/{repo}/manifests/{reference}", headers={"Content-Type": MANIFEST_TYPE}, body=manifest
    )
    expect(response, 201, what=f"put manifest {repo}:{reference}")
