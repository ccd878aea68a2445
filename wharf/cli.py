"""The command line: ``wharf serve``, ``garbage-collect``, ``rm``, ``ls`` (also installed as ``registry``).

Parses arguments, loads the config, calls in. No registry logic lives here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, TypeVar

from wharf import __version__
from wharf.config import Config, ConfigError, load_config
from wharf.log import configure_logging

if TYPE_CHECKING:
    from wharf.client import ImageRef, RegistryClient
    from wharf.registry.gc import GCProgress, GCReport

__all__ = ["main"]

_T = TypeVar("_T")

_log = logging.getLogger("wharf")

#: One worker, in the wharf process itself. Blob bytes are hashed and written in threads, which
#: use the other cores already; on two cores a second worker process added 10-20% to small
#: requests and 2.5 times the memory (issue 5's benchmark). Bigger machines may want more.
_DEFAULT_WORKERS = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wharf",
        description="wharf: a container image registry (Docker Registry HTTP API V2 and OCI "
        "Distribution 1.1). It reads distribution's config.yml and serves distribution's storage layout.",
    )
    parser.add_argument("--version", action="version", version=f"wharf {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the registry",
        description="Run the registry. CONFIG is a distribution config.yml; without it, "
        "$REGISTRY_CONFIGURATION_PATH, else the embedded default (listen on :5000, filesystem "
        "storage in ./data, deletes enabled). REGISTRY_* environment variables override config keys "
        "(REGISTRY_HTTP_ADDR=:6000, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/srv/registry).",
    )
    serve.add_argument("config", nargs="?", metavar="CONFIG", help="path to config.yml")
    serve.add_argument(
        "--workers",
        type=_worker_count,
        # A string, which argparse reads with _worker_count only for `serve` without --workers.
        default=os.environ.get("WHARF_WORKERS") or "0",
        help=f"worker processes (default: $WHARF_WORKERS, else {_DEFAULT_WORKERS}: the server runs "
        "in this process; with more, each runs in a child process of its own, sharing the port; the "
        "inmemory driver always runs one)",
    )
    _add_gc_command(commands)
    _add_client_commands(commands)
    return parser


def _worker_count(text: str) -> int:
    """``--workers`` or ``$WHARF_WORKERS``, 0 for the default; ``int`` alone also reads "١٢" and "１２"."""
    if text.isascii():
        with contextlib.suppress(ValueError):
            return int(text) or _DEFAULT_WORKERS
    raise argparse.ArgumentTypeError(f"invalid int value: {text!r}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        sys.exit(2)
    if args.command in _CLIENT_COMMANDS:
        sys.exit(_CLIENT_COMMANDS[args.command](args))
    try:
        config = load_config(args.config, os.environ)
    except ConfigError as exc:
        print(f"wharf: configuration error: {exc}", file=sys.stderr)
        sys.exit(1)
    configure_logging(config.log)
    for warning in config.warnings:
        _log.warning("config: %s", warning)
    if args.command == "serve":
        _serve(config, args)
    elif args.command == "garbage-collect":
        sys.exit(_garbage_collect(config, args))


def _serve(config: Config, args: argparse.Namespace) -> None:
    from wharf.api import memory

    memory.configure(os.environ)  # before granian loads: its allocator reads its options then
    from wharf.api.server import ServeError, serve

    try:
        serve(config, config_path=args.config, workers=max(args.workers, 1))
    except ServeError as exc:
        _log.error("%s", exc)
        sys.exit(1)


# --------------------------------------------------------------------------- garbage-collect


def _add_gc_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gc = commands.add_parser(
        "garbage-collect",
        help="delete the blobs no manifest references (safe while the registry serves)",
        description="Mark every blob a manifest of any repository references, delete the rest, and "
        "print how many blobs and manifests went and the bytes freed. distribution's semantics and "
        "flags; unlike distribution, it is safe to run while `wharf serve` serves the same storage: "
        "no push that overlaps it ends with missing blobs.",
    )
    gc.add_argument("config", metavar="CONFIG", help="the registry's config.yml")
    gc.add_argument("-d", "--dry-run", action="store_true", help="only list what would be deleted")
    gc.add_argument(
        "-m",
        "--delete-untagged",
        action="store_true",
        help="also delete manifests no tag reaches (an index's platform manifests and the "
        "referrers of a kept manifest, such as signatures, are kept)",
    )
    gc.add_argument("-q", "--quiet", action="store_true", help="print no progress and no list")


def _garbage_collect(config: Config, args: argparse.Namespace) -> int:
    if config.storage.inmemory is not None:
        return _fail(
            ConfigError(
                f"{args.config}: storage.inmemory lives inside the registry process; another process "
                "cannot collect it (use storage.filesystem, or the gc section to collect while serving)"
            )
        )
    return _run_collection(
        config, dry_run=args.dry_run, delete_untagged=args.delete_untagged, quiet=args.quiet
    )


def _run_collection(
    config: Config, *, dry_run: bool = False, delete_untagged: bool = False, quiet: bool = False
) -> int:
    """One collection on ``config``'s storage, printing its report (also ``wharf rm --gc``)."""
    from wharf.registry.factory import open_registry
    from wharf.registry.fence import CollectionInterrupted, CollectionRunning
    from wharf.registry.gc import GCError, collect

    progress = None if quiet else _GCProgressPrinter()
    try:
        report = asyncio.run(
            collect(
                open_registry(config), dry_run=dry_run, delete_untagged=delete_untagged, progress=progress
            )
        )
    except (CollectionRunning, CollectionInterrupted, GCError, OSError) as exc:
        return _fail(RuntimeError(f"garbage collection failed: {exc}"))
    for line in _gc_report_lines(report, listing=not quiet):
        print(line)
    return 0


class _GCProgressPrinter:
    """Progress on stderr, for collections long enough to need it: at most a line a second."""

    def __init__(self, *, every: float = 1.0) -> None:
        self._started = self._printed = time.monotonic()
        self._every = every

    def __call__(self, progress: GCProgress) -> None:
        now = time.monotonic()
        if now - self._printed < self._every:
            return
        self._printed = now
        elapsed = now - self._started
        print(
            f"garbage-collect: {progress.phase}: {progress.done}/{progress.total} ({elapsed:.0f} s)",
            file=sys.stderr,
        )


def _gc_report_lines(report: GCReport, *, listing: bool) -> list[str]:
    would = "would delete" if report.dry_run else "deleted"
    lines = (
        [f"{would} manifest {m.repository}@{m.digest}" for m in report.deleted_manifests] if listing else []
    )
    if report.dry_run and listing:
        lines += [f"{would} blob {digest}" for digest in report.deleted_blobs]
    lines.append(
        f"{'dry run: ' if report.dry_run else ''}{would} {report.manifests_deleted} manifest(s) and "
        f"{report.blobs_deleted} blob(s), {'freeing' if report.dry_run else 'freed'} "
        f"{_human_size(report.bytes_freed)} ({report.bytes_freed} bytes); {report.blobs_kept} blob(s) "
        f"{'would remain' if report.dry_run else 'remain'} in {report.repositories} repositories"
    )
    if report.blobs_protected:
        lines.append(
            f"kept {report.blobs_protected} unreferenced blob(s) that pushes relied on during the "
            "collection; a later collection frees them if nothing references them by then"
        )
    if report.links_removed:
        verb = "would remove" if report.dry_run else "removed"
        lines.append(f"{verb} {report.links_removed} repository link(s) to blobs already gone")
    return lines


# --------------------------------------------------------------------------- rm and ls: registry clients


def _add_client_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scheme_help = (
        "talk plain HTTP to a registry that is not on localhost (loopback addresses use plain HTTP "
        "already; others HTTPS); `http://registry:5000/...` in REF does the same"
    )
    rm = commands.add_parser(
        "rm",
        help="delete an image from a running registry",
        description="Delete an image through the API of a running registry: REF is "
        "<registry>/<repository>:<tag>, <registry>/<repository>@<digest>, or <registry>/<repository> "
        "with --all-tags. The manifest is deleted by digest, so every tag that points at it goes too "
        "(they are listed). The registry must allow deletes (storage.delete.enabled: true). "
        "The layers' space is freed by garbage collection: --gc, or `wharf garbage-collect CONFIG`.",
    )
    rm.add_argument("ref", metavar="REF", help="<registry>/<repository>:<tag> or ...@<digest>")
    rm.add_argument("--all-tags", action="store_true", help="delete every tagged manifest of the repository")
    rm.add_argument(
        "--gc",
        action="store_true",
        help="collect garbage right after, in this process, on the storage of --config",
    )
    rm.add_argument(
        "--config",
        metavar="CONFIG",
        help="the registry's config.yml, for --gc (default: $REGISTRY_CONFIGURATION_PATH)",
    )
    rm.add_argument("--plain-http", "--insecure", dest="plain_http", action="store_true", help=scheme_help)
    ls = commands.add_parser(
        "ls",
        help="list the repositories, or a repository's tags, of a running registry",
        description="With <registry>, list its repositories (the catalog). With <registry>/<repository>, "
        "list its tags with digest, media type and size (manifest, config and layers; for an index, "
        "every platform's too). <registry>/<repository>:<tag> shows one tag.",
    )
    ls.add_argument("ref", metavar="REF", help="<registry> or <registry>/<repository>[:<tag>]")
    ls.add_argument("--bytes", action="store_true", help="print sizes in bytes")
    ls.add_argument("--plain-http", "--insecure", dest="plain_http", action="store_true", help=scheme_help)


def _rm(args: argparse.Namespace) -> int:
    from wharf.client import ClientError, ImageRef, remove

    try:
        ref = ImageRef.parse(args.ref, plain_http=args.plain_http)
        config = _gc_config(args.config) if args.gc else None
        removed = asyncio.run(_with_client(ref, lambda client: remove(client, ref, all_tags=args.all_tags)))
    except (ClientError, ConfigError) as exc:
        return _fail(exc)
    repository = f"{ref.registry}/{ref.repository}"
    if not removed:
        print(f"nothing to delete: {repository} has no tags")
    for item in removed:
        tags = f" (tags: {', '.join(item.tags)})" if item.tags else ""
        print(f"deleted {repository}@{item.digest}{tags}")
    if config is not None:
        return _collect_now(config)
    return 0


def _ls(args: argparse.Namespace) -> int:
    from wharf.client import ClientError, ImageRef

    try:
        ref = ImageRef.parse(args.ref, plain_http=args.plain_http)
        if ref.digest is not None:
            raise ClientError(f"{args.ref}: ls takes a registry, a repository or a tag, not a digest")
        lines = asyncio.run(_with_client(ref, lambda client: _listing(client, ref, in_bytes=args.bytes)))
    except ClientError as exc:
        return _fail(exc)
    for line in lines:
        print(line)
    return 0


async def _listing(client: RegistryClient, ref: ImageRef, *, in_bytes: bool) -> list[str]:
    from wharf.client import describe_tags

    if ref.repository is None:
        return await client.repositories()
    tags = [str(ref.tag)] if ref.tag is not None else await client.tags(ref.repository)
    if ref.tag is not None:
        await client.head_manifest(ref.repository, ref.tag)  # NotFound, worded for a tag
    rows: list[tuple[str, ...]] = [("TAG", "DIGEST", "TYPE", "SIZE")]
    for info in await describe_tags(client, ref.repository, tags):
        size = str(info.size) if in_bytes else _human_size(info.size)
        rows.append((info.tag, str(info.digest), _type_label(info.media_type, info.platforms), size))
    return _table(rows)


async def _with_client(ref: ImageRef, call: Callable[[RegistryClient], Awaitable[_T]]) -> _T:
    from wharf.client import RegistryClient

    async with RegistryClient(ref.base_url) as client:
        return await call(client)


def _gc_config(path: str | None) -> Config:
    """The config ``--gc`` collects on, loaded before anything is deleted so a bad one stops ``rm``."""
    path = path or os.environ.get("REGISTRY_CONFIGURATION_PATH") or None
    if path is None:
        raise ConfigError(
            "--gc collects garbage on the registry's storage, so it needs the registry's config.yml: "
            "pass --config CONFIG or set REGISTRY_CONFIGURATION_PATH"
        )
    config = load_config(path, os.environ)
    if config.storage.inmemory is not None:
        raise ConfigError(
            f"{path}: storage.inmemory lives inside the registry process; another process cannot collect it"
        )
    return config


def _collect_now(config: Config) -> int:
    """``--gc``: the same collection as ``wharf garbage-collect CONFIG``, in this process."""
    configure_logging(config.log)
    return _run_collection(config)


def _fail(exc: Exception) -> int:
    print(f"wharf: {exc}", file=sys.stderr)
    return 1


_MEDIA_TYPE_LABELS: Final = MappingProxyType(
    {
        "application/vnd.docker.distribution.manifest.v2+json": "docker image",
        "application/vnd.docker.distribution.manifest.list.v2+json": "docker list",
        "application/vnd.oci.image.manifest.v1+json": "oci image",
        "application/vnd.oci.image.index.v1+json": "oci index",
    }
)


def _type_label(media_type: str, platforms: int | None) -> str:
    label = _MEDIA_TYPE_LABELS.get(media_type, media_type or "unknown")
    if platforms is not None:
        label += f" ({platforms} platform{'s' if platforms != 1 else ''})"
    return label


def _human_size(size: int) -> str:
    """Decimal units with three significant digits, as ``docker images`` prints them."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


_CLIENT_COMMANDS: Final[Mapping[str, Callable[[argparse.Namespace], int]]] = MappingProxyType(
    {"rm": _rm, "ls": _ls}
)
