"""``wharf.maintenance``: the schedule, the one-runner lock, and which jobs a config asks for."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from wharf.config import parse_config
from wharf.maintenance import SCHEDULED_GC, UPLOAD_PURGE, FileLock, Maintenance, NoLock, maintenance_for
from wharf.registry.factory import open_registry

# Short enough that a test sees several rounds in well under a second.
INTERVAL = 0.02


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_a_job_runs_after_its_first_delay_then_every_interval() -> None:
    runs: list[float] = []

    async def job() -> None:
        runs.append(asyncio.get_running_loop().time())

    maintenance = Maintenance()
    maintenance.add("job", job, interval=INTERVAL, lock=NoLock(), first_delay=0.0)
    await maintenance.start()
    try:
        await until(lambda: len(runs) >= 3)
    finally:
        await maintenance.stop()
    assert all(b - a >= INTERVAL * 0.9 for a, b in zip(runs, runs[1:], strict=False))


async def test_the_first_delay_is_random_up_to_the_interval() -> None:
    maintenance = Maintenance()
    for _ in range(20):
        maintenance.add("job", _nothing, interval=5.0, lock=NoLock())
    delays = [job.first_delay for job in maintenance.jobs]
    assert all(0.0 <= delay <= 5.0 for delay in delays)
    assert len(set(delays)) > 1
    capped = Maintenance()
    capped.add("job", _nothing, interval=7 * 24 * 3600.0, lock=NoLock())
    assert capped.jobs[0].first_delay <= 3600.0


async def test_a_failing_round_is_logged_and_the_schedule_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    attempts = 0

    async def job() -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("storage hiccup")

    maintenance = Maintenance()
    maintenance.add("flaky", job, interval=INTERVAL, lock=NoLock(), first_delay=0.0)
    with caplog.at_level(logging.ERROR, logger="wharf.maintenance"):
        await maintenance.start()
        try:
            await until(lambda: attempts >= 2)
        finally:
            await maintenance.stop()
    assert "flaky failed" in caplog.text
    assert "storage hiccup" in caplog.text


async def test_stop_cancels_a_run_in_progress_and_releases_the_lock(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(3600)

    lock = FileLock(str(tmp_path / "job.lock"))
    maintenance = Maintenance()
    maintenance.add("slow", slow, interval=INTERVAL, lock=lock, first_delay=0.0)
    await maintenance.start()
    await asyncio.wait_for(started.wait(), 5)
    await maintenance.stop()
    assert FileLock(lock.path).try_acquire()


async def test_only_the_lock_holder_runs_a_job(tmp_path: Path) -> None:
    runs = {"a": 0, "b": 0}
    path = str(tmp_path / "locks" / "job.lock")
    workers = [Maintenance(), Maintenance()]
    for name, worker in zip(runs, workers, strict=True):

        async def job(name: str = name) -> None:
            runs[name] += 1

        worker.add("job", job, interval=INTERVAL, lock=FileLock(path), first_delay=0.0)
    await workers[0].start()
    await until(lambda: runs["a"] >= 1)
    await workers[1].start()
    await until(lambda: runs["a"] >= 4)
    assert runs["b"] == 0
    # The runner goes away: the other worker takes over at its next round.
    await workers[0].stop()
    await until(lambda: runs["b"] >= 2)
    await workers[1].stop()


def test_file_lock_excludes_another_process(tmp_path: Path) -> None:
    path = str(tmp_path / "job.lock")
    holder = FileLock(path)
    assert holder.try_acquire()
    assert holder.try_acquire()  # re-entrant for its holder
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        assert pool.apply(_try_lock, (path,)) is False
        holder.release()
        assert pool.apply(_try_lock, (path,)) is True


def _try_lock(path: str) -> bool:
    lock = FileLock(path)
    try:
        return lock.try_acquire()
    finally:
        lock.release()


async def _nothing() -> None:
    pass


# --------------------------------------------------------------------------- maintenance_for


def _config(tmp_path: Path, driver: str = "filesystem", **sections: Any) -> Any:
    storage: dict[str, Any] = {driver: {"rootdirectory": str(tmp_path)} if driver == "filesystem" else {}}
    storage.update(sections.pop("storage", {}))
    return parse_config({"version": "0.1", "storage": storage, **sections})


def test_by_default_only_upload_purging_runs_weekly_age_daily(tmp_path: Path) -> None:
    config = _config(tmp_path)
    [job] = maintenance_for(config, open_registry(config)).jobs
    assert (job.name, job.interval) == (UPLOAD_PURGE, 24 * 3600.0)
    assert isinstance(job.lock, FileLock)
    assert job.lock.path.startswith(str(tmp_path))


def test_gc_section_adds_scheduled_collection(tmp_path: Path) -> None:
    config = _config(tmp_path, gc={"enabled": True, "interval": "6h"})
    jobs = {job.name: job for job in maintenance_for(config, open_registry(config)).jobs}
    assert set(jobs) == {UPLOAD_PURGE, SCHEDULED_GC}
    assert jobs[SCHEDULED_GC].interval == 6 * 3600.0
    assert jobs[SCHEDULED_GC].lock.path != jobs[UPLOAD_PURGE].lock.path  # type: ignore[attr-defined]


def test_purging_can_be_turned_off(tmp_path: Path) -> None:
    config = _config(tmp_path, storage={"maintenance": {"uploadpurging": {"enabled": False}}})
    assert maintenance_for(config, open_registry(config)).jobs == []


def test_read_only_turns_both_jobs_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = _config(tmp_path, gc={"enabled": True}, storage={"maintenance": {"readonly": {"enabled": True}}})
    with caplog.at_level(logging.INFO, logger="wharf.maintenance"):
        assert maintenance_for(config, open_registry(config)).jobs == []
    assert "upload purging is off: the registry is read-only" in caplog.text
    assert "scheduled garbage collection is off" in caplog.text


def test_inmemory_storage_needs_no_lock(tmp_path: Path) -> None:
    config = _config(tmp_path, driver="inmemory", gc={"enabled": True})
    jobs = maintenance_for(config, open_registry(config)).jobs
    assert all(isinstance(job.lock, NoLock) for job in jobs)
