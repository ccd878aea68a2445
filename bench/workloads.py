"""The workloads of issue 5. Each runs once per round against one server kind and records its figures.

A workload is ``define`` (its metrics and targets), optional ``setup``/``teardown``
around all rounds, and ``run(bench, kind, round)``. Workloads 1–4 and 6 share one
long-lived server per kind; 5 and 7 start their own, since a catalog must hold only
its own repositories and a collection destroys its data.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from bench.loadgen import missing_tools, run_hey, run_wrk
from bench.oci import (
    ACCEPT,
    MANIFEST_TYPE,
    Blob,
    Image,
    expect,
    make_image,
    manifest_for,
    pull_image,
    push_blob,
    push_bytes,
    push_file_chunked,
    push_file_monolithic,
    push_image,
    put_manifest,
    put_manifest_sync,
    run_pool,
    sha256_file,
)
from bench.results import Results, Target, at_least, at_most, equals, pull_target, same
from bench.servers import RssSampler, Server
from bench.wire import AsyncConn, FileSlice, SyncConn, next_link

__all__ = ["QUICK", "WORKLOADS", "Bench", "Sizes", "Workload"]

T = TypeVar("T")
MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class Sizes:
    blob: int = 1 << 30
    chunk: int = 16 * MiB
    range_size: int = MiB
    range_count: int = 32
    seconds: float = 10.0
    connections: int = 32
    tags: int = 5000
    page: int = 100
    repos: int = 1000
    clients: int = 16
    layers: int = 4
    layer: int = 8 * MiB
    gc_images: int = 2000
    gc_repos: int = 100
    gc_layer: int = 16 << 10
    #: a garbage-collect that runs longer is stopped, and that server skips the workload's later rounds
    gc_timeout: float = 180.0
    #: times a whole listing is fetched, and a paged listing walked, per round, within ``budget`` seconds each
    listings: int = 10
    walks: int = 5
    budget: float = 20.0
    #: connections used to push tags, repositories and GC images
    push_concurrency: int = 32


QUICK = Sizes(
    blob=64 * MiB,
    chunk=8 * MiB,
    range_count=8,
    seconds=2.0,
    tags=300,
    repos=100,
    layer=MiB,
    gc_images=200,
    gc_repos=10,
    gc_timeout=60.0,
    listings=5,
    walks=2,
)


@dataclass
class Bench:
    """Everything the workloads share: sizes, servers, input files, results."""

    sizes: Sizes
    workdir: Path
    kinds: list[str]
    results: Results
    workers: int | None = None
    servers: dict[str, Server] = field(default_factory=dict)
    files: dict[str, BinaryIO] = field(default_factory=dict)
    #: per kind, the (repository, digest) of the big blob last pushed, for workload 2
    pushed: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: per kind, the manifest digest of bench/small, for workload 3
    small: dict[str, str] = field(default_factory=dict)
    #: per kind, the server workload 5 lists
    catalogs: dict[str, Server] = field(default_factory=dict)
    gc_support: dict[str, bool] = field(default_factory=dict)
    _nonces: itertools.count[int] = field(default_factory=itertools.count)

    def server(self, kind: str) -> Server:
        """The long-lived server of this kind, started on first use."""
        if kind not in self.servers:
            self.servers[kind] = self.start(kind, "main")
        return self.servers[kind]

    def start(self, kind: str, name: str) -> Server:
        server = Server(kind, f"{kind}-{name}", self.workdir, workers=self.workers)
        server.start()
        return server

    def discard(self, server: Server) -> None:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)

    def file(self, name: str, size: int) -> BinaryIO:
        """A file of ``size`` random bytes in the work directory, made once."""
        if name not in self.files:
            path = self.workdir / name
            with path.open("wb") as out:
                for offset in range(0, size, 8 * MiB):
                    out.write(os.urandom(min(8 * MiB, size - offset)))
            self.files[name] = path.open("r+b")
        return self.files[name]

    def stamp(self, file: BinaryIO, offset: int) -> None:
        """Make the blob at ``offset`` new: overwrite its first 32 bytes with a nonce."""
        nonce = f"{next(self._nonces):016x}{secrets.token_hex(8)}".encode()
        os.pwrite(file.fileno(), nonce, offset)

    def settle(self) -> None:
        """Write dirty pages out before a timed transfer, so none pays for the writeback of the one before."""
        os.sync()

    def nonce(self) -> str:
        """Unique, and always as long, so the two servers store images of the same sizes."""
        return f"{next(self._nonces):010d}-{secrets.token_hex(4)}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def arun(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _noop(bench: Bench) -> None:
    pass


@dataclass(frozen=True, slots=True)
class Workload:
    number: int
    title: str
    define: Callable[[Bench], None]
    run: Callable[[Bench, str, int], None]
    setup: Callable[[Bench], None] = _noop
    teardown: Callable[[Bench], None] = _noop


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def _ms(seconds: float) -> float:
    return seconds * 1000.0


# --------------------------------------------------------------------------- 1, 2: big blobs


def _define_push(b: Bench) -> None:
    s = b.sizes
    b.results.define("w1.monolithic", f"1 push {_size(s.blob)} monolithic", "MB/s", at_least(2))
    b.results.define(
        "w1.chunked", f"1 push {_size(s.blob)} chunked ({_size(s.chunk)} PATCHes)", "MB/s", at_least(2)
    )


def _push_big(b: Bench, kind: str, mode: str) -> float:
    """Push a new big blob in ``mode``; its throughput in MB/s."""
    server, size = b.server(kind), b.sizes.blob
    blob = b.file("blob.bin", size)
    b.stamp(blob, 0)
    digest = sha256_file(blob, 0, size)
    repo = f"bench/push-{mode}"
    b.settle()
    with SyncConn(server.port) as conn:
        started = time.perf_counter()
        if mode == "monolithic":
            push_file_monolithic(conn, repo, FileSlice(blob, 0, size), digest)
        else:
            push_file_chunked(conn, repo, FileSlice(blob, 0, size), digest, chunk=b.sizes.chunk)
        elapsed = time.perf_counter() - started
    b.pushed[kind] = (repo, digest)
    return size / elapsed / 1e6


def _run_push(b: Bench, kind: str, round_: int) -> None:
    for mode in ("monolithic", "chunked"):
        rate = _push_big(b, kind, mode)
        b.results.record(f"w1.{mode}", kind, rate)
        log(f"  1 {kind}: push {mode} {rate:.0f} MB/s")


def _define_pull(b: Bench) -> None:
    b.results.define("w2.full", f"2 pull {_size(b.sizes.blob)} full GET", "MB/s", pull_target())
    b.results.define("w2.range", f"2 pull {_size(b.sizes.range_size)} Range GET, median", "ms", at_most(1))


def _setup_pull(b: Bench) -> None:
    for kind in b.kinds:
        if kind not in b.pushed:
            _push_big(b, kind, "monolithic")


def _run_pull(b: Bench, kind: str, round_: int) -> None:
    repo, digest = b.pushed[kind]
    size, span = b.sizes.blob, b.sizes.range_size
    target = f"/v2/{repo}/blobs/{digest}"
    b.settle()
    with SyncConn(b.server(kind).port) as conn:
        started = time.perf_counter()
        response = expect(conn.request("GET", target, sink=True), 200, what="GET blob")
        elapsed = time.perf_counter() - started
        if response.length != size:
            raise RuntimeError(f"GET blob returned {response.length} bytes, expected {size}")
        latencies = []
        # 1 MiB windows spread over the middle half of the blob, one after the other.
        first, room = size // 4, max(0, size // 2 - span)
        for i in range(b.sizes.range_count):
            offset = first + room * i // max(1, b.sizes.range_count - 1)
            headers = {"Range": f"bytes={offset}-{offset + span - 1}"}
            began = time.perf_counter()
            part = expect(conn.request("GET", target, headers=headers, sink=True), 206, what="Range GET")
            latencies.append(time.perf_counter() - began)
            if part.length != span:
                raise RuntimeError(f"Range GET returned {part.length} bytes, expected {span}")
    rate, median = size / elapsed / 1e6, _ms(statistics.median(latencies))
    b.results.record("w2.full", kind, rate)
    b.results.record("w2.range", kind, median)
    log(f"  2 {kind}: pull {rate:.0f} MB/s, Range median {median:.2f} ms")


# --------------------------------------------------------------------------- 3, 8: small requests

_SMALL = (
    ("head", "HEAD manifest by tag"),
    ("manifest", "GET manifest by digest"),
    ("base", "GET /v2/"),
    ("tags", "GET tags/list"),
)


def _define_small(b: Bench) -> None:
    b.results.context["zero"] = 0
    c = b.sizes.connections
    for key, label in _SMALL:
        b.results.define(f"w3.{key}.rps", f"3 {label} ({c} conns)", "req/s", at_least(5))
        b.results.define(f"w3.{key}.p50", f"3 {label}: p50", "ms")
        b.results.define(f"w3.{key}.p99", f"3 {label}: p99", "ms", at_most(1))
        b.results.define(f"w3.{key}.errors", f"3 {label}: errors", "count", equals("zero", "0"))
    _define_memory(b, "3")


def _define_memory(b: Bench, during: str) -> None:
    b.results.define(f"w8.rss{during}", f"8 peak RSS during {during} (process tree)", "MiB", at_most(1))
    b.results.define(f"w8.pss{during}", f"8 peak PSS during {during} (process tree)", "MiB")


def _setup_small(b: Bench) -> None:
    for kind in b.kinds:
        image = make_image(f"small-{b.nonce()}", layer_size=1024)

        async def push(conn: AsyncConn, image: Image = image) -> None:
            await push_image(conn, "bench/small", "latest", image)
            for i in range(1, 10):
                await put_manifest(conn, "bench/small", f"t{i}", image.manifest)

        arun(run_pool(b.server(kind).port, [push], 1))
        b.small[kind] = image.digest


def _run_small(b: Bench, kind: str, round_: int) -> None:
    server, s = b.server(kind), b.sizes
    base = f"http://127.0.0.1:{server.port}"
    missing = missing_tools()
    urls = {
        "manifest": f"{base}/v2/bench/small/manifests/{b.small[kind]}",
        "base": f"{base}/v2/",
        "tags": f"{base}/v2/bench/small/tags/list",
    }
    with RssSampler(server.pid) as memory:
        if "hey" not in missing:
            head = run_hey(
                f"{base}/v2/bench/small/manifests/latest",
                method="HEAD",
                headers=ACCEPT,
                connections=s.connections,
                seconds=s.seconds,
            )
            _record_load(b, kind, "head", head)
        if "wrk" not in missing:
            for key, url in urls.items():
                result = run_wrk(
                    url, headers=ACCEPT, connections=s.connections, seconds=s.seconds, workdir=b.workdir
                )
                _record_load(b, kind, key, result)
    if len(missing) < 2:
        _record_memory(b, kind, "3", memory)


def _record_load(b: Bench, kind: str, key: str, result: Any) -> None:
    b.results.record(f"w3.{key}.rps", kind, result.rps)
    b.results.record(f"w3.{key}.p50", kind, result.p50_ms)
    b.results.record(f"w3.{key}.p99", kind, result.p99_ms)
    b.results.record(f"w3.{key}.errors", kind, result.errors)
    log(
        f"  3 {kind}: {key} {result.rps:.0f} req/s p50 {result.p50_ms:.2f} ms p99 {result.p99_ms:.2f} ms"
        f" errors {result.errors}"
    )


def _record_memory(b: Bench, kind: str, during: str, memory: RssSampler) -> None:
    b.results.record(f"w8.rss{during}", kind, memory.peak_rss / MiB)
    b.results.record(f"w8.pss{during}", kind, memory.peak_pss / MiB)
    rss, pss = memory.peak_rss / MiB, memory.peak_pss / MiB
    log(f"  8 {kind}: peak RSS during {during} {rss:.0f} MiB (PSS {pss:.0f} MiB)")


# --------------------------------------------------------------------------- 4, 5: listings


def _define_tags(b: Bench) -> None:
    s = b.sizes
    pages = math.ceil(s.tags / s.page)
    b.results.context["tag_pages"] = pages
    honours = Target(f"{pages} pages (honours n)", lambda w, d, ctx: pages <= w <= pages + 1)
    b.results.define("w4.push", f"4 push {s.tags:,} tags ({s.push_concurrency} conns)", "s")
    b.results.define("w4.whole", f"4 tags/list of {s.tags:,}, whole", "ms", at_most(1))
    b.results.define("w4.paged", f"4 tags/list of {s.tags:,}, all pages n={s.page}", "ms")
    b.results.define("w4.pages", f"4 tags/list n={s.page}: pages", "count", honours)


def _run_tags(b: Bench, kind: str, round_: int) -> None:
    s, server = b.sizes, b.server(kind)
    repo = f"bench/tags-r{round_}"
    image = make_image(f"tags-{b.nonce()}", layer_size=1024)
    arun(run_pool(server.port, [partial(_push_blobs, repo=repo, image=image)], 1))
    manifests = [manifest_for(image.config, image.layers, {"bench.tag": b.nonce()}) for _ in range(s.tags)]
    jobs = [
        partial(put_manifest, repo=repo, reference=f"t{i:05d}", manifest=m) for i, m in enumerate(manifests)
    ]
    started = time.perf_counter()
    arun(run_pool(server.port, jobs, s.push_concurrency))
    pushed = time.perf_counter() - started
    whole, paged, pages = _measure_listing(b, server, f"/v2/{repo}/tags/list", "tags", s.tags)
    b.results.record("w4.push", kind, pushed)
    b.results.record("w4.whole", kind, whole)
    b.results.record("w4.paged", kind, paged)
    b.results.record("w4.pages", kind, pages)
    log(
        f"  4 {kind}: pushed {s.tags} tags in {pushed:.2f} s; list {whole:.1f} ms whole,"
        f" {paged:.1f} ms in {pages} pages"
    )


async def _push_blobs(conn: AsyncConn, repo: str, image: Image) -> None:
    for blob in image.blobs:
        await push_blob(conn, repo, blob)


def _measure_listing(
    b: Bench, server: Server, path: str, key: str, expected: int, *, whole: str | None = None
) -> tuple[float, float, int]:
    """Median ms of a whole listing (``whole``, else ``path``), median ms of walking ``path`` in pages,
    and the number of pages.

    Each is repeated ``listings``/``walks`` times, or fewer when a slow server uses up the time budget.
    """
    s = b.sizes
    wholes: list[float] = []
    walks: list[float] = []
    pages = 0
    with SyncConn(server.port) as conn:
        deadline = time.monotonic() + s.budget
        for _ in range(s.listings):
            if wholes and time.monotonic() > deadline:
                break
            started = time.perf_counter()
            response = expect(conn.request("GET", whole or path), 200, what=f"GET {whole or path}")
            wholes.append(time.perf_counter() - started)
            found = len(json.loads(response.body).get(key) or [])
            if found != expected:
                b.results.note(f"{server.kind}: GET {whole or path} listed {found} of {expected} {key}")
        deadline = time.monotonic() + s.budget
        for _ in range(s.walks):
            if walks and time.monotonic() > deadline:
                break
            started = time.perf_counter()
            items, pages = _walk(conn, f"{path}?n={s.page}", key, max_pages=expected // s.page + 10)
            walks.append(time.perf_counter() - started)
            if items != expected:
                b.results.note(f"{server.kind}: paging {path} n={s.page} listed {items} of {expected} {key}")
    return _ms(statistics.median(wholes)), _ms(statistics.median(walks)), pages


def _walk(conn: SyncConn, first: str, key: str, *, max_pages: int) -> tuple[int, int]:
    items, pages, target = 0, 0, first
    for pages in range(1, max_pages + 1):  # noqa: B007
        response = expect(conn.request("GET", target), 200, what=f"GET {target}")
        items += len(json.loads(response.body).get(key) or [])
        link = next_link(response)
        if link is None:
            break
        target = link
    return items, pages


def _define_catalog(b: Bench) -> None:
    s = b.sizes
    b.results.define(
        "w5.whole", f"5 _catalog of {s.repos:,} repositories, whole (n={s.repos})", "ms", at_most(1)
    )
    b.results.define("w5.paged", f"5 _catalog of {s.repos:,}, all pages n={s.page}", "ms", at_most(0.5))
    b.results.define("w5.pages", f"5 _catalog n={s.page}: pages", "count")


def _setup_catalog(b: Bench) -> None:
    s = b.sizes
    for kind in b.kinds:
        server = b.catalogs[kind] = b.start(kind, "catalog")
        images = [make_image(f"cat-{b.nonce()}", layer_size=256) for _ in range(s.repos)]
        jobs = [
            partial(push_image, repo=f"bench/cat-{i:05d}", tag="latest", image=image)
            for i, image in enumerate(images)
        ]
        started = time.perf_counter()
        arun(run_pool(server.port, jobs, s.push_concurrency))
        log(f"  5 {kind}: pushed {s.repos} repositories in {time.perf_counter() - started:.1f} s (setup)")


def _run_catalog(b: Bench, kind: str, round_: int) -> None:
    # Without n, distribution answers 100 repositories; n asks for all of them (up to catalog.maxentries).
    repos = b.sizes.repos
    whole, paged, pages = _measure_listing(
        b, b.catalogs[kind], "/v2/_catalog", "repositories", repos, whole=f"/v2/_catalog?n={repos}"
    )
    b.results.record("w5.whole", kind, whole)
    b.results.record("w5.paged", kind, paged)
    b.results.record("w5.pages", kind, pages)
    log(f"  5 {kind}: catalog {whole:.1f} ms whole, {paged:.1f} ms in {pages} pages")


def _teardown_catalog(b: Bench) -> None:
    for server in b.catalogs.values():
        b.discard(server)
    b.catalogs.clear()


# --------------------------------------------------------------------------- 6: concurrent pushes


def _define_concurrent(b: Bench) -> None:
    s = b.sizes
    what = f"{s.clients} concurrent pushes ({s.layers}×{_size(s.layer)})"
    b.results.define("w6.wall", f"6 {what}: wall", "s")
    b.results.define("w6.rate", f"6 {what}: aggregate", "MB/s", at_least(1.5))
    _define_memory(b, "6")


def _run_concurrent(b: Bench, kind: str, round_: int) -> None:
    s, server = b.sizes, b.server(kind)
    count = s.clients * s.layers
    data = b.file("layers.bin", count * s.layer)
    for i in range(count):
        b.stamp(data, i * s.layer)
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        digests = list(pool.map(lambda i: sha256_file(data, i * s.layer, s.layer), range(count)))
    b.settle()
    barrier = threading.Barrier(s.clients + 1, timeout=60)
    errors: list[BaseException] = []

    def client(c: int) -> None:
        repo = f"bench/concurrent-r{round_}-c{c:02d}"
        layers = [
            (FileSlice(data, (c * s.layers + j) * s.layer, s.layer), digests[c * s.layers + j])
            for j in range(s.layers)
        ]
        config = Blob(
            json.dumps({"bench.nonce": b.nonce()}).encode(), "application/vnd.oci.image.config.v1+json"
        )
        descriptors = [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s.layer}
            for _, d in layers
        ]
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_TYPE,
                "config": config.descriptor(),
                "layers": descriptors,
            }
        ).encode()
        try:
            with SyncConn(server.port) as conn:
                barrier.wait()
                for body, digest in layers:
                    push_file_monolithic(conn, repo, body, digest)
                push_bytes(conn, repo, config)
                put_manifest_sync(conn, repo, "latest", manifest)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(s.clients)]
    with RssSampler(server.pid) as memory:
        for thread in threads:
            thread.start()
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        started = time.perf_counter()
        for thread in threads:
            thread.join(600)
        wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    rate = count * s.layer / wall / 1e6
    b.results.record("w6.wall", kind, wall)
    b.results.record("w6.rate", kind, rate)
    log(f"  6 {kind}: {s.clients} pushes in {wall:.2f} s, {rate:.0f} MB/s")
    _record_memory(b, kind, "6", memory)


# --------------------------------------------------------------------------- 7: garbage collection


def _define_gc(b: Bench) -> None:
    s = b.sizes
    kept = sum(1 for i in range(s.gc_images) if not _gc_deleted(b, i))
    b.results.context["gc_kept"] = kept
    b.results.define("w7.time", f"7 garbage-collect {s.gc_images:,} images, half deleted", "s", at_most(1))
    b.results.define("w7.blobs", "7 garbage-collect: blobs deleted", "count", same())
    b.results.define("w7.freed", "7 garbage-collect: space freed", "MiB", same())
    b.results.define(
        "w7.kept", "7 garbage-collect: kept images that pull", "count", equals("gc_kept", f"{kept:,}")
    )


def _gc_supported(b: Bench, kind: str, server: Server) -> bool:
    if kind not in b.gc_support:
        b.gc_support[kind] = server.run("garbage-collect", "--help", timeout=60).returncode == 0
        if not b.gc_support[kind]:
            b.results.note(f"workload 7: `{kind} garbage-collect` does not exist yet, so {kind} was skipped")
    return b.gc_support[kind]


def _blob_files(root: Path) -> tuple[int, int]:
    """How many blobs the storage holds, and their bytes (distribution's layout, which wharf shares)."""
    count = size = 0
    for dirpath, _, names in os.walk(root / "docker/registry/v2/blobs"):
        if "data" in names:
            count += 1
            size += os.stat(os.path.join(dirpath, "data")).st_size
    return count, size


def _run_gc(b: Bench, kind: str, round_: int) -> None:
    s = b.sizes
    server = b.start(kind, f"gc-r{round_}")
    try:
        if not _gc_supported(b, kind, server):
            return
        images = _populate_gc(b, server, kind)
        before = _blob_files(server.root)
        if kind == "distribution":  # offline only: stop it, collect, start it again
            server.stop()
        started = time.perf_counter()
        try:
            done = server.run("garbage-collect", str(server.config), timeout=s.gc_timeout)
        except subprocess.TimeoutExpired:
            b.gc_support[kind] = False
            raise RuntimeError(
                f"{kind} garbage-collect did not finish in {s.gc_timeout:.0f} s, so later rounds skip it"
            ) from None
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{kind} garbage-collect exited {done.returncode}: {done.stderr[-2000:]}")
        if server.proc is None:
            server.start()
        after = _blob_files(server.root)
        kept = [(i, image) for i, image in enumerate(images) if not _gc_deleted(b, i)]
        jobs = [partial(pull_image, repo=_gc_repo(b, i), reference=f"v{i}", image=image) for i, image in kept]
        pulled = sum(arun(run_pool(server.port, jobs, s.push_concurrency)))
    finally:
        b.discard(server)
    b.results.record("w7.time", kind, elapsed)
    b.results.record("w7.blobs", kind, before[0] - after[0])
    b.results.record("w7.freed", kind, (before[1] - after[1]) / MiB)
    b.results.record("w7.kept", kind, pulled)
    log(
        f"  7 {kind}: garbage-collect {elapsed:.2f} s, {before[0] - after[0]} blobs deleted,"
        f" {(before[1] - after[1]) / MiB:.1f} MiB freed, {pulled}/{len(kept)} kept images pull"
    )


def _gc_repo(b: Bench, i: int) -> str:
    return f"bench/gc-{i % b.sizes.gc_repos:03d}"


def _gc_deleted(b: Bench, i: int) -> bool:
    """Every other image of each repository is deleted, so every repository keeps half of its own."""
    return (i // b.sizes.gc_repos) % 2 == 1


def _populate_gc(b: Bench, server: Server, kind: str) -> list[Image]:
    """Push the images (one shared base layer per repository), then delete half of them by digest."""
    s = b.sizes
    bases = [Blob(os.urandom(64 << 10)) for _ in range(s.gc_repos)]
    images = [
        make_image(f"gc-{b.nonce()}", layer_size=s.gc_layer, shared=[bases[i % s.gc_repos]])
        for i in range(s.gc_images)
    ]
    started = time.perf_counter()
    concurrency = s.push_concurrency
    blobs = [partial(push_blob, repo=f"bench/gc-{r:03d}", blob=bases[r]) for r in range(s.gc_repos)]
    arun(run_pool(server.port, blobs, concurrency))
    pushes = [
        partial(push_image, repo=_gc_repo(b, i), tag=f"v{i}", image=image, skip=1)
        for i, image in enumerate(images)
    ]
    arun(run_pool(server.port, pushes, concurrency))

    async def delete(conn: AsyncConn, i: int) -> None:
        target = f"/v2/{_gc_repo(b, i)}/manifests/{images[i].digest}"
        expect(await conn.request("DELETE", target), 202, what=f"DELETE {target}")

    deletes = [partial(delete, i=i) for i in range(s.gc_images) if _gc_deleted(b, i)]
    arun(run_pool(server.port, deletes, concurrency))
    took = time.perf_counter() - started
    log(f"  7 {kind}: pushed {s.gc_images} images, deleted {len(deletes)} in {took:.1f} s (setup)")
    return images


# --------------------------------------------------------------------------- the table of workloads

WORKLOADS: dict[int, Workload] = {
    w.number: w
    for w in (
        Workload(1, "blob push", _define_push, _run_push),
        Workload(2, "blob pull", _define_pull, _run_pull, setup=_setup_pull),
        Workload(3, "small requests", _define_small, _run_small, setup=_setup_small),
        Workload(4, "tags", _define_tags, _run_tags),
        Workload(
            5, "catalog", _define_catalog, _run_catalog, setup=_setup_catalog, teardown=_teardown_catalog
        ),
        Workload(6, "concurrent pushes", _define_concurrent, _run_concurrent),
        Workload(7, "garbage collection", _define_gc, _run_gc),
    )
}
