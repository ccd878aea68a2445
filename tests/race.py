"""The push-while-collecting workload, shared by the in-process and the multi-process race tests.

Each client pushes like docker does (HEAD every blob, mount or upload what is missing, then PUT
the manifest), and again and again pushes an image, deletes it, and pushes another that shares
its layers: those layers are garbage between the delete and the next push, which is exactly what
a collection running at that moment must not lose.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass, field

import httpx

from tests.helpers import OCI_CONFIG, OCI_MANIFEST, Blob, image_manifest, random_blob, sha256


@dataclass(frozen=True)
class Pushed:
    name: str
    tag: str
    body: bytes
    blobs: tuple[Blob, ...]


@dataclass
class RaceLog:
    pushed: list[Pushed] = field(default_factory=list)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    attempts: int = 0

    def kept(self) -> list[Pushed]:
        return [p for p in self.pushed if (p.name, p.tag) not in self.deleted]


class PushFailed(Exception):
    pass


async def push(
    client: httpx.AsyncClient, name: str, tag: str, blobs: list[Blob], source: str | None
) -> bytes:
    """docker's way: HEAD each blob, mount it from ``source`` or upload it if missing, then the manifest."""
    for blob in blobs:
        if (await client.head(f"/v2/{name}/blobs/{blob.digest}")).status_code == 200:
            continue
        params = {"mount": blob.digest, "from": source} if source else {}
        started = await client.post(f"/v2/{name}/blobs/uploads/", params=params)
        if started.status_code == 201:
            continue
        _expect(started, 202, "start upload")
        location = started.headers["location"]
        done = await client.put(location, params={"digest": blob.digest}, content=blob.data)
        _expect(done, 201, "upload")
    body = image_manifest(blobs[0], blobs[1:])
    response = await client.put(
        f"/v2/{name}/manifests/{tag}", content=body, headers={"content-type": OCI_MANIFEST}
    )
    _expect(response, 201, "manifest")
    return body


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise PushFailed(f"{what}: {response.status_code} {response.text[:300]}")


def config_blob(rng: random.Random) -> Blob:
    return Blob(json.dumps({"architecture": "amd64", "os": "linux", "n": rng.random()}).encode(), OCI_CONFIG)


async def client_loop(
    client: httpx.AsyncClient, name: str, others: list[str], deadline: float, log: RaceLog, seed: int
) -> None:
    """Push, delete, push again sharing the deleted image's layers, until ``deadline``."""
    rng = random.Random(seed)
    pool = [random_blob(rng.randrange(500, 4000)) for _ in range(4)]
    n = 0
    while time.monotonic() < deadline:
        n += 1
        shared = rng.sample(pool, 2)
        first = await _attempt(client, name, f"t{n}a", [config_blob(rng), *shared], rng, others, log)
        if first is not None:
            response = await client.delete(f"/v2/{name}/manifests/{sha256(first.body)}")
            if response.status_code == 202:
                log.deleted.add((name, first.tag))
        await _attempt(
            client, name, f"t{n}b", [config_blob(rng), *shared, random_blob(300)], rng, others, log
        )
        if rng.random() < 0.3:
            pool[rng.randrange(len(pool))] = random_blob(rng.randrange(500, 4000))


async def _attempt(
    client: httpx.AsyncClient,
    name: str,
    tag: str,
    blobs: list[Blob],
    rng: random.Random,
    others: list[str],
    log: RaceLog,
) -> Pushed | None:
    log.attempts += 1
    try:
        body = await push(client, name, tag, blobs, rng.choice(others) if others else None)
    except PushFailed as exc:
        log.failures.append(f"{name}:{tag}: {exc}")
        return None
    pushed = Pushed(name, tag, body, tuple(blobs))
    log.pushed.append(pushed)
    return pushed


async def pulls_identical(client: httpx.AsyncClient, pushed: Pushed) -> str | None:
    """None if the image pulls byte for byte, else what is wrong."""
    manifest = await client.get(f"/v2/{pushed.name}/manifests/{pushed.tag}")
    if manifest.status_code != 200 or manifest.content != pushed.body:
        return f"{pushed.name}:{pushed.tag}: manifest {manifest.status_code}"
    for blob in pushed.blobs:
        got = await client.get(f"/v2/{pushed.name}/blobs/{blob.digest}")
        if got.status_code != 200 or got.content != blob.data:
            return f"{pushed.name}:{pushed.tag}: blob {blob.digest} {got.status_code}"
    return None


async def verify(client: httpx.AsyncClient, log: RaceLog) -> list[str]:
    """What is wrong with the images whose push succeeded (and were not deleted since)."""
    results = await asyncio.gather(*(pulls_identical(client, p) for p in log.kept()))
    return [problem for problem in results if problem is not None]


def summary(log: RaceLog, collections: int, what: str) -> str:
    return (
        f"{what}: {log.attempts} pushes attempted, {len(log.pushed)} succeeded, {len(log.failures)} failed, "
        f"{len(log.deleted)} deleted, {collections} collections (pid {os.getpid()})"
    )
