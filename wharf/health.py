"""Health checks: the storage driver check of distribution's ``health.storagedriver``.

The checker runs every ``interval`` seconds; after ``threshold`` consecutive
failures it reports the storage as down (``/debug/health`` and every API
request answer 503) until a check passes again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from wharf.registry import paths
from wharf.storage.driver import PathNotFound, StorageDriver

__all__ = ["HealthChecker", "storage_check"]

_log = logging.getLogger("wharf.health")

Check = Callable[[], Awaitable[None]]


def storage_check(driver: StorageDriver) -> Check:
    """Stat the storage root; a root not yet created is healthy (nothing pushed yet)."""

    async def check() -> None:
        try:
            await driver.stat(paths.ROOT)
        except PathNotFound:
            pass

    return check


class HealthChecker:
    def __init__(self) -> None:
        self._checks: dict[str, tuple[Check, float, int]] = {}
        self._failures: dict[str, tuple[int, str]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def register(self, name: str, check: Check, *, interval: float, threshold: int) -> None:
        self._checks[name] = (check, interval, max(threshold, 1))

    def failures(self) -> dict[str, str]:
        """The checks that have failed ``threshold`` times in a row, with their last error."""
        return {
            name: error
            for name, (count, error) in self._failures.items()
            if count >= self._checks[name][2]
        }

    @property
    def healthy(self) -> bool:
        return not self.failures()

    async def run_once(self, name: str) -> None:
        check = self._checks[name][0]
        try:
            await asyncio.wait_for(check(), timeout=max(self._checks[name][1], 1.0))
        except Exception as exc:  # any failure of the check is a health failure
            count = self._failures.get(name, (0, ""))[0] + 1
            self._failures[name] = (count, f"{type(exc).__name__}: {exc}")
            _log.warning("health check %s failed (%d in a row): %s", name, count, exc)
        else:
            if self._failures.pop(name, None) is not None:
                _log.info("health check %s passes again", name)

    async def start(self) -> None:
        for name in self._checks:
            await self.run_once(name)
            self._tasks.append(asyncio.create_task(self._loop(name)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # ``wait`` rather than awaiting each task under ``suppress(CancelledError)``:
            # that would also swallow a cancellation of the caller itself.
            await asyncio.wait(self._tasks)
        self._tasks.clear()

    async def _loop(self, name: str) -> None:
        interval = self._checks[name][1]
        while True:
            await asyncio.sleep(interval)
            await self.run_once(name)
