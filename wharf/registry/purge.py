"""Upload purging: deleting upload sessions that were started long ago and never finished.

distribution's ``storage.maintenance.uploadpurging`` (``purgeuploads.go``): every
``repositories/<name>/_uploads/<id>/`` whose ``startedat`` (an RFC 3339 time) is
older than the cutoff is deleted with everything in it. A client that abandons a
push leaves such a directory behind, with the bytes it had sent.

One difference: distribution never deletes a session whose ``startedat`` is
missing or unreadable. wharf falls back to the newest modification time of the
session's files, so a half-written session cannot hold its bytes forever, while
one still receiving data (its ``data`` file keeps changing) is kept.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from wharf.errors import NameInvalid
from wharf.reference import RepositoryName
from wharf.registry import paths
from wharf.storage.driver import PathNotFound, StorageDriver, StorageError

__all__ = ["PurgeReport", "parse_started_at", "purge_uploads"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one purge found. In a dry run, ``deleted`` lists what would have been deleted."""

    #: the session directories deleted, as storage paths
    deleted: tuple[str, ...]
    #: sessions younger than the cutoff, left alone
    kept: int
    #: one line per session that could not be judged or deleted
    errors: tuple[str, ...]
    dry_run: bool


async def purge_uploads(driver: StorageDriver, *, older_than: datetime, dry_run: bool) -> PurgeReport:
    """Delete every upload session started before ``older_than`` (an aware datetime).

    Sessions are judged by ``startedat``, else by the newest mtime of their files.
    Errors on one session are reported and do not stop the walk.
    """
    if older_than.tzinfo is None:
        raise ValueError("older_than must be timezone-aware")
    cutoff = older_than.timestamp()
    deleted: list[str] = []
    errors: list[str] = []
    kept = 0
    async for name, session in _sessions(driver):
        try:
            if await _started(driver, name, session) >= cutoff:
                kept += 1
                continue
            directory = paths.upload_dir(name, session)
            if not dry_run:
                await _delete(driver, directory)
            deleted.append(directory)
        except StorageError as exc:
            errors.append(f"{name}: upload {session}: {exc}")
    return PurgeReport(deleted=tuple(deleted), kept=kept, errors=tuple(errors), dry_run=dry_run)


async def _sessions(driver: StorageDriver) -> AsyncIterator[tuple[RepositoryName, str]]:
    """``(repository, upload id)`` for every upload directory, repository by repository."""
    async for name in _repositories_with_uploads(driver, paths.REPOSITORIES):
        for child in await _list(driver, paths.uploads(name)):
            yield name, child.rsplit("/", 1)[-1]


async def _repositories_with_uploads(driver: StorageDriver, directory: str) -> AsyncIterator[RepositoryName]:
    """Repositories with an ``_uploads`` directory below ``directory``.

    Unlike the catalog, this includes repositories that hold nothing but
    uploads: an abandoned first push is exactly what purging is for.
    ``_``-prefixed directories (``_layers``, ``_manifests``) are never entered.
    """
    children = await _list(driver, directory)
    names = {child.rsplit("/", 1)[-1] for child in children}
    if paths.UPLOADS_DIR in names:
        text = directory[len(paths.REPOSITORIES) + 1 :]
        try:
            yield RepositoryName.parse(text)
        except NameInvalid:
            _log.warning("upload purge: skipping %s, not a valid repository name", directory)
    for child in children:
        if not child.rsplit("/", 1)[-1].startswith("_"):
            async for name in _repositories_with_uploads(driver, child):
                yield name


async def _started(driver: StorageDriver, name: RepositoryName, session: str) -> float:
    """When the session started, in seconds since the epoch."""
    try:
        text = await driver.get_content(paths.upload_started_at(name, session))
        return parse_started_at(text).timestamp()
    except (PathNotFound, ValueError):
        return await _last_modified(driver, paths.upload_dir(name, session))


def parse_started_at(content: bytes) -> datetime:
    """The time in a ``startedat`` file: RFC 3339, as distribution and wharf write it.

    distribution writes whole seconds, wharf microseconds. Raises ``ValueError``
    for anything else, including a time without a zone.
    """
    text = content.decode("ascii").strip()
    # fromisoformat takes "Z" and up to 9 fractional digits (Go's RFC3339Nano) from 3.11 on.
    started = datetime.fromisoformat(text)
    if started.tzinfo is None:
        raise ValueError(f"startedat {text!r} has no time zone")
    return started.astimezone(UTC)


async def _last_modified(driver: StorageDriver, directory: str) -> float:
    """The newest mtime of ``directory`` and the files directly in it."""
    newest = (await driver.stat(directory)).mtime
    for child in await _list(driver, directory):
        try:
            newest = max(newest, (await driver.stat(child)).mtime)
        except PathNotFound:
            continue
    return newest


async def _delete(driver: StorageDriver, directory: str) -> None:
    try:
        await driver.delete(directory)
    except PathNotFound:
        pass  # committed or cancelled while we looked


async def _list(driver: StorageDriver, directory: str) -> list[str]:
    try:
        return await driver.list(directory)
    except PathNotFound:
        return []
