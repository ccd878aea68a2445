"""The storage driver conformance suite, written once (distribution's ``driver/testsuites``).

Every test takes the ``driver`` fixture of ``conftest.py``, which is
parametrized over all drivers; ``test_drivers.py`` makes pytest collect these
tests (with ``import *``, so there is no ``__all__`` to forget a test in).
A new driver is done when the suite passes for it. The suite only
checks what the ``StorageDriver`` contract promises, so it says nothing about
empty directories (the filesystem keeps them, the memory driver has none) or
about when appended bytes become visible.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Awaitable, Callable

import pytest

from wharf.storage.driver import (
    InvalidOffset,
    InvalidPath,
    PathNotFound,
    StorageDriver,
    StorageError,
    put_all,
    walk,
)

MiB = 1 << 20

Operation = Callable[[StorageDriver, str], Awaitable[object]]

#: every driver method, as a call on one path (the other argument, if any, valid)
OPERATIONS: dict[str, Operation] = {
    "get_content": lambda d, p: d.get_content(p),
    "put_content": lambda d, p: d.put_content(p, b"x"),
    "put_all": lambda d, p: put_all(d, {"/fine": b"x", p: b"x"}),
    "reader": lambda d, p: d.reader(p),
    "writer": lambda d, p: d.writer(p),
    "writer-append": lambda d, p: d.writer(p, append=True),
    "stat": lambda d, p: d.stat(p),
    "list": lambda d, p: d.list(p),
    "move-source": lambda d, p: d.move(p, "/elsewhere"),
    "move-dest": lambda d, p: d.move("/elsewhere", p),
    "delete": lambda d, p: d.delete(p),
}

#: the methods that need the path to exist
READING = ["get_content", "reader", "stat", "list", "move-source", "delete"]

INVALID_PATHS = ["relative", "/a/../b", "/a//b", "/a/./b", "/a\x00b", "/", "", "/a/", "/..", "/a\\b", "/a b"]


async def read_all(stream: AsyncGenerator[bytes, None]) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def write_object(driver: StorageDriver, path: str, *chunks: bytes, append: bool = False) -> int:
    writer = await driver.writer(path, append=append)
    for chunk in chunks:
        await writer.write(chunk)
    await writer.commit()
    return writer.size


# put_content / get_content


@pytest.mark.parametrize("data", [b"", b"hello", bytes(range(256)) * 4096], ids=["empty", "small", "1MiB"])
async def test_get_content_round_trip(driver: StorageDriver, data: bytes) -> None:
    await driver.put_content("/a/b/c", data)
    assert await driver.get_content("/a/b/c") == data


async def test_put_content_overwrites(driver: StorageDriver) -> None:
    await driver.put_content("/a", b"a long first version")
    await driver.put_content("/a", b"short")
    assert await driver.get_content("/a") == b"short"
    assert (await driver.stat("/a")).size == 5


# errors


@pytest.mark.parametrize("operation", READING)
async def test_missing_path_raises_on_every_method(driver: StorageDriver, operation: str) -> None:
    await driver.put_content("/other/file", b"x")
    for path in ["/missing", "/other/missing", "/other/file/below"]:
        with pytest.raises(PathNotFound) as raised:
            await OPERATIONS[operation](driver, path)
        assert raised.value.path == path


@pytest.mark.parametrize("path", INVALID_PATHS)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_invalid_path_raises_on_every_method(driver: StorageDriver, operation: str, path: str) -> None:
    await driver.put_content("/elsewhere", b"x")
    with pytest.raises(InvalidPath):
        await OPERATIONS[operation](driver, path)
    assert await driver.get_content("/elsewhere") == b"x"


async def test_write_below_a_file_or_over_a_directory_fails(driver: StorageDriver) -> None:
    await driver.put_content("/f", b"file")
    await driver.put_content("/d/x", b"inside")
    for path in ["/f/below", "/d"]:
        with pytest.raises(StorageError) as raised:
            await driver.put_content(path, b"x")
        assert type(raised.value) is StorageError
    assert await driver.get_content("/f") == b"file"
    assert await driver.list("/d") == ["/d/x"]


async def test_put_all_writes_in_order_and_stops_at_the_first_failure(driver: StorageDriver) -> None:
    await driver.put_content("/f", b"file")
    with pytest.raises(StorageError):
        await put_all(driver, {"/a/one": b"1", "/f/below": b"2", "/a/three": b"3"})
    assert await driver.get_content("/a/one") == b"1"
    with pytest.raises(PathNotFound):
        await driver.stat("/a/three")
    await put_all(driver, {"/a/three": b"3", "/a/one": b"one", "/b/c/d": b""})
    assert [await driver.get_content(p) for p in ["/a/one", "/a/three", "/b/c/d"]] == [b"one", b"3", b""]
    await put_all(driver, {})


# list and stat


async def test_list_children_sorted(driver: StorageDriver) -> None:
    for path in ["/r/b/c", "/r/b/d/e", "/r/x", "/r/a", "/r/b2", "/rr"]:
        await driver.put_content(path, b"x")
    assert await driver.list("/r") == ["/r/a", "/r/b", "/r/b2", "/r/x"]
    assert await driver.list("/r/b") == ["/r/b/c", "/r/b/d"]


async def test_list_of_a_file_raises_path_not_found(driver: StorageDriver) -> None:
    await driver.put_content("/a/file", b"x")
    with pytest.raises(PathNotFound):
        await driver.list("/a/file")


async def test_stat(driver: StorageDriver) -> None:
    await driver.put_content("/a/b/file", b"12345")
    file = await driver.stat("/a/b/file")
    assert (file.path, file.size, file.is_dir) == ("/a/b/file", 5, False)
    assert file.mtime > 0
    for path in ["/a", "/a/b"]:
        directory = await driver.stat(path)
        assert (directory.path, directory.is_dir) == (path, True)


async def test_directory_has_no_content(driver: StorageDriver) -> None:
    await driver.put_content("/dir/file", b"x")
    with pytest.raises(PathNotFound):
        await driver.get_content("/dir")
    with pytest.raises(PathNotFound):
        await driver.reader("/dir")


# reader

#: what a reader's chunk may hold at most: a stream's memory stays bounded whatever the object's size
MAX_CHUNK = 4 * MiB
READER_DATA = os.urandom(2 * MAX_CHUNK + 123)


@pytest.mark.parametrize(
    "offset",
    [0, 1, MiB, MAX_CHUNK, len(READER_DATA) // 2, len(READER_DATA)],
    ids=["0", "1", "MiB", "chunk", "middle", "end"],
)
async def test_reader_offset(driver: StorageDriver, offset: int) -> None:
    await driver.put_content("/blob", READER_DATA)
    stream = await driver.reader("/blob", offset=offset)
    chunks = [chunk async for chunk in stream]
    assert b"".join(chunks) == READER_DATA[offset:]
    assert all(0 < len(chunk) <= MAX_CHUNK for chunk in chunks)


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, 0),
        (0, 1),
        (1, MiB),
        (MiB - 1, 2),
        (3, 2 * MiB + 5),
        (MAX_CHUNK - 1, 2),
        (0, len(READER_DATA)),
        (7, 3 * MAX_CHUNK),
    ],
)
async def test_reader_length(driver: StorageDriver, offset: int, length: int) -> None:
    """At most ``length`` bytes from ``offset``: a Range GET reads no further than it sends."""
    await driver.put_content("/blob", READER_DATA)
    stream = await driver.reader("/blob", offset=offset, length=length)
    chunks = [chunk async for chunk in stream]
    assert b"".join(chunks) == READER_DATA[offset : offset + length]
    assert all(0 < len(chunk) <= MAX_CHUNK for chunk in chunks)


async def test_reader_aclose_mid_stream_releases_the_object(driver: StorageDriver) -> None:
    """A reader closed while the next chunk may be in flight closes cleanly; the object stays intact."""
    await driver.put_content("/blob", READER_DATA)
    for _ in range(20):
        stream = await driver.reader("/blob", offset=1)
        await anext(stream)
        await stream.aclose()
    await driver.delete("/blob")
    with pytest.raises(PathNotFound):
        await driver.reader("/blob")


async def test_reader_offset_past_end(driver: StorageDriver) -> None:
    await driver.put_content("/blob", b"12345")
    for offset in [6, -1]:
        with pytest.raises(InvalidOffset):
            await driver.reader("/blob", offset=offset)


async def test_reader_aclose_early(driver: StorageDriver) -> None:
    await driver.put_content("/blob", READER_DATA)
    stream = await driver.reader("/blob")
    first = await anext(stream)
    assert first == READER_DATA[: len(first)]
    await stream.aclose()
    unstarted = await driver.reader("/blob")
    await unstarted.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(unstarted)


# writer


async def test_writer_commit(driver: StorageDriver) -> None:
    writer = await driver.writer("/up/data")
    for chunk in [b"a" * MiB, b"b" * MiB, b"c"]:
        await writer.write(chunk)
    assert writer.size == 2 * MiB + 1
    with pytest.raises(PathNotFound):
        await driver.stat("/up/data")
    await writer.commit()
    assert await driver.get_content("/up/data") == b"a" * MiB + b"b" * MiB + b"c"


async def test_writer_cancel_leaves_nothing(driver: StorageDriver) -> None:
    writer = await driver.writer("/up/data")
    await writer.write(b"abc")
    await writer.cancel()
    await writer.cancel()  # idempotent
    with pytest.raises(PathNotFound):
        await driver.stat("/up/data")


async def test_writer_replaces_only_on_commit(driver: StorageDriver) -> None:
    await driver.put_content("/obj", b"old")
    writer = await driver.writer("/obj")
    await writer.write(b"new!")
    assert await driver.get_content("/obj") == b"old"
    await writer.commit()
    assert await driver.get_content("/obj") == b"new!"


async def test_writer_cancel_keeps_the_old_object(driver: StorageDriver) -> None:
    await driver.put_content("/obj", b"old")
    writer = await driver.writer("/obj")
    await writer.write(b"new!")
    await writer.cancel()
    assert await driver.get_content("/obj") == b"old"


async def test_writer_observer_sees_each_write_in_order(driver: StorageDriver) -> None:
    seen: list[bytes] = []
    writer = await driver.writer("/up/data", append=True)
    for chunk in [b"a" * MiB, b"b", b"c" * MiB]:
        await writer.write(chunk, observe=seen.append)
    await writer.write(b"unobserved")
    await writer.commit()
    assert seen == [b"a" * MiB, b"b", b"c" * MiB]
    assert await driver.get_content("/up/data") == b"".join(seen) + b"unobserved"


@pytest.mark.parametrize("append", [False, True])
async def test_writer_commit_writes_a_last_piece_first(driver: StorageDriver, append: bool) -> None:
    seen: list[bytes] = []
    writer = await driver.writer("/up/data", append=append)
    await writer.write(b"a" * MiB, observe=seen.append)
    await writer.commit(b"last", observe=seen.append)
    assert seen == [b"a" * MiB, b"last"]
    assert writer.size == MiB + 4
    assert await driver.get_content("/up/data") == b"a" * MiB + b"last"


@pytest.mark.parametrize("call", ["write", "commit"])
async def test_writer_observer_that_fails_fails_the_write(driver: StorageDriver, call: str) -> None:
    await driver.put_content("/up/data", b"abc")

    def refuse(data: bytes) -> None:
        raise ValueError("no")

    writer = await driver.writer("/up/data", append=True)
    await writer.write(b"def")
    with pytest.raises(ValueError):
        await getattr(writer, call)(b"ghi", observe=refuse)  # a commit with a last piece commits nothing
    await writer.cancel()
    assert await driver.get_content("/up/data") == b"abc"


async def test_writer_is_closed_after_commit(driver: StorageDriver) -> None:
    writer = await driver.writer("/obj")
    await writer.write(b"x")
    await writer.commit()
    with pytest.raises(StorageError):
        await writer.write(b"y")
    with pytest.raises(StorageError):
        await writer.commit()
    await writer.cancel()  # a no-op once committed
    assert await driver.get_content("/obj") == b"x"


async def test_append_across_two_writers(driver: StorageDriver) -> None:
    assert await write_object(driver, "/up/data", b"abc", append=True) == 3
    writer = await driver.writer("/up/data", append=True)
    assert writer.size == 3
    await writer.write(b"def")
    assert writer.size == 6
    await writer.commit()
    assert await driver.get_content("/up/data") == b"abcdef"


async def test_append_to_missing_path_creates_it(driver: StorageDriver) -> None:
    writer = await driver.writer("/new/data", append=True)
    assert writer.size == 0
    await writer.write(b"xyz")
    await writer.commit()
    assert await driver.get_content("/new/data") == b"xyz"


async def test_append_cancel_restores_the_object(driver: StorageDriver) -> None:
    await write_object(driver, "/up/data", b"abc", append=True)
    writer = await driver.writer("/up/data", append=True)
    await writer.write(b"def")
    await writer.cancel()
    assert await driver.get_content("/up/data") == b"abc"
    assert await write_object(driver, "/up/data", b"ghi", append=True) == 6
    assert await driver.get_content("/up/data") == b"abcghi"


# move and delete


async def test_move(driver: StorageDriver) -> None:
    await driver.put_content("/uploads/u1/data", b"blob")
    await driver.move("/uploads/u1/data", "/blobs/sha256/ab/abcd/data")
    assert await driver.get_content("/blobs/sha256/ab/abcd/data") == b"blob"
    with pytest.raises(PathNotFound):
        await driver.stat("/uploads/u1/data")


async def test_move_replaces_destination(driver: StorageDriver) -> None:
    await driver.put_content("/src", b"new")
    await driver.put_content("/dst", b"old")
    await driver.move("/src", "/dst")
    assert await driver.get_content("/dst") == b"new"


async def test_move_without_replace_keeps_what_is_there(driver: StorageDriver) -> None:
    await driver.put_content("/src", b"same bytes")
    await driver.put_content("/dst", b"stored")
    await driver.move("/src", "/dst", replace=False)
    assert await driver.get_content("/dst") == b"stored"
    assert await driver.get_content("/src") == b"same bytes"  # the caller discards its copy
    await driver.move("/src", "/new/dst", replace=False)  # nothing there: a plain move
    assert await driver.get_content("/new/dst") == b"same bytes"
    with pytest.raises(PathNotFound):
        await driver.stat("/src")


async def test_move_without_replace_of_a_missing_source_is_not_found(driver: StorageDriver) -> None:
    await driver.put_content("/dst", b"stored")
    with pytest.raises(PathNotFound):
        await driver.move("/missing", "/dst", replace=False)


async def test_move_directory(driver: StorageDriver) -> None:
    await driver.put_content("/u/dir/a", b"a")
    await driver.put_content("/u/dir/b/c", b"c")
    await driver.put_content("/u/keep", b"k")
    await driver.move("/u/dir", "/v/moved")
    assert await driver.list("/v/moved") == ["/v/moved/a", "/v/moved/b"]
    assert await driver.get_content("/v/moved/b/c") == b"c"
    assert await driver.list("/u") == ["/u/keep"]


async def test_delete_file_keeps_siblings(driver: StorageDriver) -> None:
    await driver.put_content("/d/one", b"1")
    await driver.put_content("/d/two", b"2")
    await driver.delete("/d/one")
    assert await driver.list("/d") == ["/d/two"]


async def test_delete_is_recursive(driver: StorageDriver) -> None:
    for path in ["/t/a/b/c", "/t/a/d", "/t/a/e/f/g", "/t/keep"]:
        await driver.put_content(path, b"x")
    await driver.delete("/t/a")
    for path in ["/t/a", "/t/a/b/c", "/t/a/e/f/g"]:
        with pytest.raises(PathNotFound):
            await driver.stat(path)
    assert await driver.list("/t") == ["/t/keep"]
    with pytest.raises(PathNotFound):
        await driver.delete("/t/a")


# walk


async def test_walk(driver: StorageDriver) -> None:
    for path in ["/w/b/y", "/w/a", "/w/b/x/deep", "/w2"]:
        await driver.put_content(path, b"xy")
    found = [(info.path, info.is_dir) async for info in walk(driver, "/w")]
    assert found == [
        ("/w/a", False),
        ("/w/b", True),
        ("/w/b/x", True),
        ("/w/b/x/deep", False),
        ("/w/b/y", False),
    ]


async def test_walk_missing_yields_nothing(driver: StorageDriver) -> None:
    assert [info async for info in walk(driver, "/nothing")] == []
