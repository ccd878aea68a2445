"""Storage drivers. Choose one with ``DRIVERS`` (an explicit table, no import-time registration)."""

from __future__ import annotations

from collections.abc import Callable

from wharf.storage.driver.base import (
    FileInfo,
    FileWriter,
    InvalidOffset,
    InvalidPath,
    LocalFiles,
    PathNotFound,
    StorageDriver,
    StorageError,
    StorageFull,
    walk,
)
from wharf.storage.driver.filesystem import FilesystemDriver
from wharf.storage.driver.memory import MemoryDriver

__all__ = [
    "DRIVERS",
    "FileInfo",
    "FileWriter",
    "FilesystemDriver",
    "InvalidOffset",
    "InvalidPath",
    "LocalFiles",
    "MemoryDriver",
    "PathNotFound",
    "StorageDriver",
    "StorageError",
    "StorageFull",
    "walk",
]

#: driver name (distribution's config key) -> constructor taking that driver's parameters
DRIVERS: dict[str, Callable[..., StorageDriver]] = {
    FilesystemDriver.name: FilesystemDriver,
    MemoryDriver.name: MemoryDriver,
}
