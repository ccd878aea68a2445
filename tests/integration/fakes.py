"""Test doubles for the integration tests: a storage driver wrapper whose failures a test switches on."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from wharf.storage.driver import FileInfo, FileWriter, StorageDriver


class FlakyDriver:
    """Wraps a real driver; while ``failing`` is set, the chosen operations raise ``error``.

    ``calls`` counts calls per operation name, so a test can wait for a health check to run.
    """

    def __init__(self, inner: StorageDriver, *, operations: frozenset[str] = frozenset({"stat"})) -> None:
        self.inner = inner
        self.name = inner.name
        self.operations = operations
        self.failing = False
        self.error: Exception = OSError("storage unreachable")
        self.calls: dict[str, int] = {}

    def _enter(self, operation: str) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1
        if self.failing and operation in self.operations:
            raise self.error

    async def get_content(self, path: str) -> bytes:
        self._enter("get_content")
        return await self.inner.get_content(path)

    async def put_content(self, path: str, data: bytes) -> None:
        self._enter("put_content")
        await self.inner.put_content(path, data)

    async def reader(
        self, path: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        self._enter("reader")
        return await self.inner.reader(path, offset=offset, length=length)

    async def writer(self, path: str, *, append: bool = False) -> FileWriter:
        self._enter("writer")
        return await self.inner.writer(path, append=append)

    async def stat(self, path: str) -> FileInfo:
        self._enter("stat")
        return await self.inner.stat(path)

    async def list(self, path: str) -> list[str]:
        self._enter("list")
        return await self.inner.list(path)

    async def move(self, source: str, dest: str, *, replace: bool = True) -> None:
        self._enter("move")
        await self.inner.move(source, dest, replace=replace)

    async def delete(self, path: str) -> None:
        self._enter("delete")
        await self.inner.delete(path)
