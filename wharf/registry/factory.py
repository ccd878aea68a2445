"""Building the registry a config describes: its driver, caches and generation.

The server (``wharf.api.app``) and the offline commands (``wharf garbage-collect``)
build theirs here, so both share one metadata generation and see each other's writes.
"""

from __future__ import annotations

from wharf.config import Config
from wharf.registry import paths
from wharf.registry.generation import Generation, LocalGeneration, SharedGeneration
from wharf.registry.namespace import Registry
from wharf.storage.cache.base import NullCache
from wharf.storage.cache.memory import MemoryCache
from wharf.storage.driver import LocalFiles, StorageDriver
from wharf.storage.driver.filesystem import FilesystemDriver
from wharf.storage.driver.memory import MemoryDriver

__all__ = ["driver_for", "generation_for", "open_registry", "registry_for"]


def driver_for(config: Config) -> StorageDriver:
    """The storage driver the config names (``storage.filesystem`` or ``storage.inmemory``)."""
    storage = config.storage
    if storage.filesystem is not None:
        return FilesystemDriver(storage.filesystem.rootdirectory, max_threads=storage.filesystem.maxthreads)
    return MemoryDriver()


def registry_for(config: Config, driver: StorageDriver) -> Registry:
    cache_config = config.storage.cache
    cache = (
        MemoryCache(max_entries=cache_config.blobdescriptorsize)
        if cache_config.blobdescriptor == "inmemory"
        else NullCache()
    )
    return Registry(driver, cache=cache, generation=generation_for(driver))


def generation_for(driver: StorageDriver) -> Generation:
    """Processes sharing a local store share a mapped generation; anything else keeps its own."""
    if isinstance(driver, LocalFiles):
        return SharedGeneration(driver.local_path(paths.generation()))
    return LocalGeneration()


def open_registry(config: Config) -> Registry:
    """The registry ``config`` describes, on its configured driver."""
    return registry_for(config, driver_for(config))
