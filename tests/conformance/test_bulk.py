"""The bulk capabilities the garbage collector uses (``FileWalker``, ``BulkReader``, ``BulkDeleter``,
``BulkStatter``): each driver's own implementation and the generic fallbacks give the same answers."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

import pytest

from wharf.storage.driver import (
    BulkDeleter,
    BulkReader,
    BulkStatter,
    FileInfo,
    FileWalker,
    FileWriter,
    PathNotFound,
    StorageDriver,
    delete_all,
    files_under,
    read_all,
    stat_all,
)

TREE = {
    "/t/a/x": b"1",
    "/t/a/y/z": b"22",
    "/t/b/c/d": b"333",
    "/t/b/e": b"4444",
    "/t/f": b"55555",
}


class Plain:
    """Only the ``StorageDriver`` protocol of a driver, so the helpers take their fallback path."""

    def __init__(self, driver: StorageDriver) -> None:
        self._driver = driver
        self.name = driver.name

    async def get_content(self, path: str) -> bytes:
        return await self._driver.get_content(path)

    async def put_content(self, path: str, data: bytes) -> None:
        await self._driver.put_content(path, data)

    async def reader(self, path: str, *, offset: int = 0) -> AsyncGenerator[bytes, None]:
        return await self._driver.reader(path, offset=offset)

    async def writer(self, path: str, *, append: bool = False) -> FileWriter:
        return await self._driver.writer(path, append=append)

    async def stat(self, path: str) -> FileInfo:
        return await self._driver.stat(path)

    async def list(self, path: str) -> list[str]:
        return await self._driver.list(path)

    async def move(self, source: str, dest: str, *, replace: bool = True) -> None:
        await self._driver.move(source, dest, replace=replace)

    async def delete(self, path: str) -> None:
        await self._driver.delete(path)


@pytest.fixture(params=["native", "fallback"])
async def store(request: pytest.FixtureRequest, driver: StorageDriver) -> Any:
    for path, data in TREE.items():
        await driver.put_content(path, data)
    if request.param == "fallback":
        plain = Plain(driver)
        assert not isinstance(plain, FileWalker | BulkReader | BulkDeleter | BulkStatter)
        return plain
    for capability in (FileWalker, BulkReader, BulkDeleter, BulkStatter):
        assert isinstance(driver, capability)
    return driver


async def test_files_under_lists_every_object_sorted(store: StorageDriver) -> None:
    assert await files_under(store, "/t") == sorted(TREE)
    assert await files_under(store, "/t/b") == ["/t/b/c/d", "/t/b/e"]


async def test_files_under_a_missing_path_is_empty(store: StorageDriver) -> None:
    assert await files_under(store, "/nothing") == []


async def test_pruned_directories_are_listed_not_entered(store: StorageDriver) -> None:
    asked: list[str] = []

    def prune(directory: str) -> bool:
        asked.append(directory)
        return directory in ("/t/a", "/t/b/c")

    found = await files_under(store, "/t", prune=prune)

    assert found == ["/t/a/", "/t/b/c/", "/t/b/e", "/t/f"]
    assert "/t/a/y" not in asked


async def test_read_all_reads_each_object_and_none_for_missing_ones(store: StorageDriver) -> None:
    wanted = ["/t/f", "/t/missing", "/t/a/x", "/t/b"]  # a directory has no content

    assert await read_all(store, wanted) == [b"55555", None, b"1", None]


async def test_stat_all_stats_each_path_and_none_for_missing_ones(store: StorageDriver) -> None:
    infos = await stat_all(store, ["/t/f", "/t/missing", "/t/b"])

    assert [(info.path, info.size, info.is_dir) if info else None for info in infos] == [
        ("/t/f", 5, False),
        None,
        ("/t/b", 0, True),
    ]
    assert infos[0] == await store.stat("/t/f")


async def test_delete_all_removes_files_and_trees_and_counts_their_bytes(store: StorageDriver) -> None:
    freed = await delete_all(store, ["/t/b", "/t/f", "/t/missing"])

    assert freed == len(b"333") + len(b"4444") + len(b"55555")
    assert await files_under(store, "/t") == ["/t/a/x", "/t/a/y/z"]
    with pytest.raises(PathNotFound):
        await store.get_content("/t/b/e")


async def test_delete_all_of_nothing(store: StorageDriver) -> None:
    paths: Sequence[str] = []
    assert await delete_all(store, paths) == 0
