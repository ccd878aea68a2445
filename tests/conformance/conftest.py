"""Fixtures of the conformance suites: each parametrized over every implementation that must pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wharf.storage.cache import BlobDescriptorCache, MemoryCache
from wharf.storage.driver import FilesystemDriver, MemoryDriver, StorageDriver

# The suite's asserts live outside a test_*.py module; rewrite them so failures say what differed.
pytest.register_assert_rewrite("tests.conformance.driver_suite")

#: driver name -> a fresh, empty driver given a scratch directory
DRIVER_FACTORIES: dict[str, Callable[[Path], StorageDriver]] = {
    "inmemory": lambda tmp_path: MemoryDriver(),
    "filesystem": lambda tmp_path: FilesystemDriver(tmp_path / "root"),
}

#: cache name -> a fresh, empty blob descriptor cache
CACHE_FACTORIES: dict[str, Callable[[], BlobDescriptorCache]] = {
    "memory": MemoryCache,
}


@pytest.fixture(params=sorted(DRIVER_FACTORIES))
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    return DRIVER_FACTORIES[request.param](tmp_path)


@pytest.fixture(params=sorted(CACHE_FACTORIES))
def cache(request: pytest.FixtureRequest) -> BlobDescriptorCache:
    return CACHE_FACTORIES[request.param]()
