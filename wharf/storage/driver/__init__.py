"""Storage drivers. Choose one with ``DRIVERS`` (an explicit table, no import-time registration)."""

from __future__ import annotations

from collections.abc import Callable

from wharf.storage.driver.base import (
    BulkDeleter,
    BulkReader,
    BulkStatter,
    BulkWriter,
    FileInfo,
    FileWalker,
    FileWriter,
    InvalidOffset,
    InvalidPath,
    LocalFiles,
    Locker,
    PathNotFound,
    StorageDriver,
    StorageError,
    StorageFull,
    delete_all,
    files_under,
    put_all,
    read_all,
    stat_all,
    walk,
)
from wharf.storage.driver.filesystem import FilesystemDriver
from wharf.storage.driver.memory import MemoryDriver

__all__ = [
    "DRIVERS",
    "BulkDeleter",
    "BulkReader",
    "BulkStatter",
    "BulkWriter",
    "FileInfo",
    "FileWalker",
    "FileWriter",
    "FilesystemDriver",
    "InvalidOffset",
    "InvalidPath",
    "LocalFiles",
    "Locker",
    "MemoryDriver",
    "PathNotFound",
    "StorageDriver",
    "StorageError",
    "StorageFull",
    "delete_all",
    "files_under",
    "put_all",
    "read_all",
    "stat_all",
    "walk",
]

#: driver name (distribution's config key) -> constructor taking that driver's parameters
DRIVERS: dict[str, Callable[..., StorageDriver]] = {
    FilesystemDriver.name: FilesystemDriver,
    MemoryDriver.name: MemoryDriver,
}
