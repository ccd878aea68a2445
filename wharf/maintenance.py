"""Background maintenance while serving: upload purging and scheduled garbage collection.

Both are periodic jobs started and stopped by the app's lifespan:

- **upload purging** (``storage.maintenance.uploadpurging``, on by default, as in
  distribution) deletes upload sessions started more than ``age`` ago
  (``wharf.registry.purge``);
- **scheduled collection** (``gc``, wharf's own section, off by default) runs
  ``wharf.registry.gc.collect`` on the serving process's own ``Registry``, the same
  code path as ``wharf garbage-collect``, so the server's caches see what it deletes.

Timing. A job first runs after a random delay of up to ``min(interval, 1 h)``,
then every ``interval`` after the end of the previous run. distribution waits a
random 0–60 min before its first purge so that replicas started together do not
all walk storage at once; capping the delay at the interval keeps short test
intervals short.

One runner among worker processes. ``wharf serve --workers N`` starts N processes,
each with this lifespan. On the filesystem driver each job takes an exclusive,
non-blocking ``flock`` on its own file in the storage root
(``paths.maintenance_lock``) before a round, and keeps it once it has it: the first
worker to get it becomes that job's runner for as long as it lives, and the others
skip their rounds. If the runner dies, the kernel drops its lock and another
worker takes over at its next round. So a job runs once per interval, not once per
worker. (The lock is for workers on one host; replicas on several hosts sharing
a network filesystem should enable scheduled collection on one of them only.)
The inmemory driver is private to its one process, so it needs no lock.

Read-only mode (``storage.maintenance.readonly``) turns both jobs off: it promises
that nothing in storage changes (distribution also skips purging then).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import anyio.to_thread

from wharf.config import Config
from wharf.registry import paths
from wharf.registry.fence import CollectionInterrupted, CollectionRunning
from wharf.registry.gc import GCError, GCReport, collect
from wharf.registry.namespace import Registry
from wharf.registry.purge import PurgeReport, purge_uploads
from wharf.storage.driver import LocalFiles, StorageDriver

__all__ = [
    "MAX_FIRST_DELAY",
    "SCHEDULED_GC",
    "UPLOAD_PURGE",
    "FileLock",
    "Maintenance",
    "NoLock",
    "RunLock",
    "lock_for",
    "maintenance_for",
]

_log = logging.getLogger(__name__)

#: how long shutdown waits for a cancelled job to wind down
STOP_TIMEOUT = 10.0

#: the longest wait before a job's first run (distribution's purge jitter is 0–60 min)
MAX_FIRST_DELAY = 3600.0

UPLOAD_PURGE = "upload-purge"
SCHEDULED_GC = "gc"


class RunLock(Protocol):
    """Decides which of several processes runs a job. Never blocks."""

    def try_acquire(self) -> bool:
        """True if this process holds the lock now (it keeps it until ``release``)."""
        ...

    def release(self) -> None: ...


class NoLock:
    """For storage private to this process: it always runs the job."""

    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class FileLock:
    """An exclusive ``flock`` on ``path``, taken without waiting and held until ``release``.

    ``flock`` locks belong to an open file, so two ``FileLock`` objects on one path
    exclude each other even within a process; the kernel drops the lock when its
    holder exits, however it exits.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the lock
            self._fd = None


def lock_for(driver: StorageDriver, job: str) -> RunLock:
    """A file lock in the storage root if storage is local files, else none (private storage)."""
    if isinstance(driver, LocalFiles):
        return FileLock(driver.local_path(paths.maintenance_lock(job)))
    return NoLock()


@dataclass(slots=True)
class _Job:
    name: str
    run: Callable[[], Awaitable[None]]
    interval: float
    lock: RunLock
    first_delay: float


@dataclass(slots=True)
class Maintenance:
    """The periodic jobs of one serving process."""

    jobs: list[_Job] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def add(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        *,
        interval: float,
        lock: RunLock,
        first_delay: float | None = None,
    ) -> None:
        """Run ``run`` every ``interval`` seconds (first after ``first_delay``, random by default)."""
        if first_delay is None:
            first_delay = random.uniform(0.0, min(interval, MAX_FIRST_DELAY))
        self.jobs.append(_Job(name, run, interval, lock, first_delay))

    async def start(self) -> None:
        for job in self.jobs:
            _log.info("%s: first run in %.3g s, then every %.3g s", job.name, job.first_delay, job.interval)
            self._tasks.append(asyncio.create_task(self._loop(job), name=f"wharf-{job.name}"))

    async def stop(self) -> None:
        """Cancel the jobs (a run in progress stops where it is) and release their locks."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: shutting down must not hang on a job stuck where a
            # cancellation cannot reach it (a thread, say); its lock is released
            # below either way, and a run that dies halfway leaves nothing half-done.
            _, stuck = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT)
            for task in stuck:
                _log.warning("%s did not stop within %g s of shutdown", task.get_name(), STOP_TIMEOUT)
        self._tasks.clear()
        for job in self.jobs:
            job.lock.release()

    async def _loop(self, job: _Job) -> None:
        await asyncio.sleep(job.first_delay)
        while True:
            await self.run_once(job)
            await asyncio.sleep(job.interval)

    async def run_once(self, job: _Job) -> bool:
        """One round of ``job``: False if another process holds its lock or the run failed."""
        if not await anyio.to_thread.run_sync(job.lock.try_acquire):
            _log.debug("%s: another worker process runs this job; skipping this round", job.name)
            return False
        try:
            await job.run()
        except Exception:  # one failed round must not end the schedule
            _log.exception("%s failed; next run in %.3g s", job.name, job.interval)
            return False
        return True


def maintenance_for(config: Config, registry: Registry) -> Maintenance:
    """The jobs ``config`` asks for, on ``registry`` (the serving process's own)."""
    maintenance = Maintenance()
    storage = config.storage
    read_only = storage.maintenance.readonly.enabled
    purging = storage.maintenance.uploadpurging
    if purging.enabled and read_only:
        _log.info("upload purging is off: the registry is read-only (storage.maintenance.readonly)")
    elif purging.enabled:
        maintenance.add(
            UPLOAD_PURGE,
            _purge_job(registry.driver, age=purging.age, dry_run=purging.dryrun),
            interval=purging.interval,
            lock=lock_for(registry.driver, UPLOAD_PURGE),
        )
    gc = config.gc
    if gc.enabled and read_only:
        _log.warning(
            "scheduled garbage collection is off: the registry is read-only (storage.maintenance.readonly)"
        )
    elif gc.enabled:
        maintenance.add(
            SCHEDULED_GC,
            _gc_job(registry, dry_run=gc.dryrun, delete_untagged=gc.deleteuntagged),
            interval=gc.interval,
            lock=lock_for(registry.driver, SCHEDULED_GC),
        )
    return maintenance


def _purge_job(driver: StorageDriver, *, age: float, dry_run: bool) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        cutoff = datetime.now(UTC) - timedelta(seconds=age)
        _log_purge(await purge_uploads(driver, older_than=cutoff, dry_run=dry_run), cutoff)

    return run


def _log_purge(report: PurgeReport, cutoff: datetime) -> None:
    verb = "would delete" if report.dry_run else "deleted"
    fields = {"deleted": len(report.deleted), "kept": report.kept, "dryrun": report.dry_run}
    _log.info(
        "upload purge: %s %d upload(s) started before %s, kept %d",
        verb,
        len(report.deleted),
        cutoff.isoformat(timespec="seconds"),
        report.kept,
        extra={"fields": fields},
    )
    for directory in report.deleted if report.dry_run else ():
        _log.info("upload purge: would delete %s", directory)
    for error in report.errors:
        _log.warning("upload purge: %s", error)


def _gc_job(registry: Registry, *, dry_run: bool, delete_untagged: bool) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        _log.info(
            "scheduled garbage collection: starting (dryrun=%s, deleteuntagged=%s)", dry_run, delete_untagged
        )
        try:
            report = await collect(registry, dry_run=dry_run, delete_untagged=delete_untagged)
        except CollectionRunning:
            # `wharf garbage-collect` (or `wharf rm --gc`) is collecting this storage right now.
            _log.info("scheduled garbage collection: another collection is running; skipping this round")
            return
        except (CollectionInterrupted, GCError) as exc:
            _log.warning("scheduled garbage collection stopped: %s", exc)
            return
        _log_gc(report)

    return run


def _log_gc(report: GCReport) -> None:
    verb = "would delete" if report.dry_run else "deleted"
    fields = {
        "dryrun": report.dry_run,
        "manifests_deleted": report.manifests_deleted,
        "blobs_deleted": report.blobs_deleted,
        "bytes_freed": report.bytes_freed,
        "blobs_kept": report.blobs_kept,
        "blobs_protected": report.blobs_protected,
    }
    _log.info(
        "scheduled garbage collection: %s %d manifest(s) and %d blob(s), %d bytes; %d blob(s) remain",
        verb,
        report.manifests_deleted,
        report.blobs_deleted,
        report.bytes_freed,
        report.blobs_kept,
        extra={"fields": fields},
    )
    for manifest in report.deleted_manifests:
        _log.info(
            "scheduled garbage collection: %s manifest %s@%s", verb, manifest.repository, manifest.digest
        )
