"""A long write leaves only its last windows in the page cache, and a failed writeback fails the write."""

from __future__ import annotations

import ctypes
import errno
import gc
import mmap
import os
from pathlib import Path

import pytest

from wharf.storage.driver import FilesystemDriver, StorageFull
from wharf.storage.driver import writeback as writeback_module
from wharf.storage.driver.writeback import BEHIND, LONG, WINDOW, Tails, Writeback

MiB = 1 << 20
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def resident_pages(path: Path, start: int, end: int) -> int:
    """How many pages of bytes ``[start, end)`` of ``path`` are in the page cache (``mincore``)."""
    page = mmap.PAGESIZE
    with open(path, "rb") as file:
        length = os.fstat(file.fileno()).st_size
        address = _libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, file.fileno(), 0)
        assert address not in (None, ctypes.c_void_p(-1).value)
        try:
            pages = (length + page - 1) // page
            vector = ctypes.create_string_buffer(pages)
            assert _libc.mincore(address, length, vector) == 0, os.strerror(ctypes.get_errno())
            return sum(byte & 1 for byte in vector.raw[start // page : (end + page - 1) // page])
        finally:
            _libc.munmap(address, length)


@pytest.fixture
def dropping_filesystem(tmp_path: Path) -> Path:
    """``tmp_path``, if its filesystem gives written pages back on ``DONTNEED`` (tmpfs keeps them)."""
    probe = tmp_path / "probe"
    probe.write_bytes(b"x" * MiB)
    fd = os.open(probe, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    if resident_pages(probe, 0, MiB) > 0:
        pytest.skip("this filesystem keeps written pages in memory")
    return tmp_path


def pieces(count: int, *, start: int = 0) -> list[bytes]:
    """``count`` MiB of distinct bytes, one MiB per piece."""
    return [bytes([(start + i) % 251]) * MiB for i in range(count)]


async def test_a_long_write_keeps_only_its_last_windows_cached(dropping_filesystem: Path) -> None:
    driver = FilesystemDriver(dropping_filesystem / "root")
    data = pieces((BEHIND + 4 * WINDOW) // MiB)
    writer = await driver.writer("/blob")
    for piece in data:
        await writer.write(piece)
    await writer.commit()

    path = dropping_filesystem / "root" / "blob"
    size = len(data) * MiB
    assert resident_pages(path, 0, size - BEHIND - WINDOW) == 0
    assert path.read_bytes() == b"".join(data)


async def test_a_plain_write_of_the_same_stays_cached(dropping_filesystem: Path) -> None:
    """The control for the test above: without the writer, the kernel keeps what was written."""
    path = dropping_filesystem / "plain"
    with open(path, "wb") as file:
        for piece in pieces((BEHIND + 4 * WINDOW) // MiB):
            file.write(piece)
    assert resident_pages(path, 0, 3 * WINDOW) > 0


async def test_an_appending_writer_drops_what_the_previous_one_left(dropping_filesystem: Path) -> None:
    driver = FilesystemDriver(dropping_filesystem / "root")
    first, second = pieces(3 * WINDOW // MiB), pieces((BEHIND + 3 * WINDOW) // MiB, start=100)
    for data in (first, second):  # two PATCHes of one upload
        writer = await driver.writer("/upload/data", append=True)
        for piece in data:
            await writer.write(piece)
        await writer.commit()

    path = dropping_filesystem / "root" / "upload" / "data"
    assert resident_pages(path, 0, 3 * WINDOW) == 0  # all of the first PATCH
    assert path.read_bytes() == b"".join(first + second)


def fail_writeback(monkeypatch: pytest.MonkeyPatch, code: int) -> list[int]:
    """Make every ``sync_file_range`` fail with ``code``; returns the flags of each call made."""
    calls: list[int] = []

    def sync(fd: int, offset: int, length: int, flags: int) -> int:
        calls.append(flags)
        ctypes.set_errno(code)
        return -1

    monkeypatch.setattr(writeback_module, "_sync_file_range", lambda: sync)
    return calls


async def test_a_file_that_cannot_be_written_back_is_written_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fail_writeback(monkeypatch, errno.EINVAL)
    driver = FilesystemDriver(tmp_path)
    data = pieces(3 * WINDOW // MiB)
    writer = await driver.writer("/blob")
    for piece in data:
        await writer.write(piece)
    await writer.commit()
    assert (tmp_path / "blob").read_bytes() == b"".join(data)
    assert len(calls) == 1  # tried once, then left to the kernel


async def test_a_failed_writeback_fails_the_write_and_undoes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await FilesystemDriver(tmp_path).put_content("/upload/data", b"kept")
    fail_writeback(monkeypatch, errno.ENOSPC)
    driver = FilesystemDriver(tmp_path)
    writer = await driver.writer("/upload/data", append=True)
    with pytest.raises(StorageFull):
        for piece in pieces(WINDOW // MiB):
            await writer.write(piece)
    assert (tmp_path / "upload" / "data").read_bytes() == b"kept"


def test_writes_shorter_than_a_window_are_left_to_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fail_writeback(monkeypatch, errno.EIO)
    fd = os.open(tmp_path / "small", os.O_WRONLY | os.O_CREAT)
    try:
        tracker = Writeback(fd, start=0)
        tracker.wrote(WINDOW - 1)
        assert calls == []
        with pytest.raises(OSError) as raised:
            tracker.wrote(WINDOW)
        assert raised.value.errno == errno.EIO and calls
    finally:
        os.close(fd)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def write_blob(driver: FilesystemDriver, path: str, data: list[bytes]) -> None:
    writer = await driver.writer(path)
    for piece in data:
        await writer.write(piece)
    await writer.commit()


async def test_finished_long_writes_leave_the_cache_once_others_follow(dropping_filesystem: Path) -> None:
    """Layers of one window each: the writer never drops any of its own, ``Tails`` drops them later."""
    driver = FilesystemDriver(dropping_filesystem / "root")
    before = open_descriptors()
    blobs = [pieces(WINDOW // MiB, start=10 * i) for i in range(BEHIND // WINDOW + 3)]
    for i, data in enumerate(blobs):
        await write_blob(driver, f"/layer{i}", data)

    root = dropping_filesystem / "root"
    assert resident_pages(root / "layer0", 0, WINDOW) == 0
    assert resident_pages(root / "layer1", 0, WINDOW) == 0
    assert [(root / f"layer{i}").read_bytes() for i in range(len(blobs))] == [b"".join(d) for d in blobs]
    # The tails still kept: what the budget holds (three windows) and the newest.
    assert open_descriptors() - before <= BEHIND // WINDOW + 1


async def test_short_writes_stay_cached_and_keep_no_descriptor(dropping_filesystem: Path) -> None:
    driver = FilesystemDriver(dropping_filesystem / "root")
    before = open_descriptors()
    for i in range(8):
        await write_blob(driver, f"/config{i}", [bytes([i]) * (LONG // 2)])
    assert resident_pages(dropping_filesystem / "root" / "config0", 0, LONG // 2) > 0
    assert open_descriptors() == before


async def test_a_finished_write_that_cannot_be_written_back_is_not_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fail_writeback(monkeypatch, errno.EIO)
    driver = FilesystemDriver(tmp_path)
    writer = await driver.writer("/blob")
    await writer.write(b"x" * LONG)  # shorter than a window: nothing handed over until it ends
    assert calls == []
    with pytest.raises(OSError) as raised:
        await writer.commit()
    assert raised.value.errno == errno.EIO
    assert os.listdir(tmp_path) == []  # neither the blob nor its temporary file


def test_a_tail_that_fails_to_settle_is_logged_and_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def sync(fd: int, offset: int, length: int, flags: int) -> int:
        if flags == 2:  # handing over works; waiting for it reports the disk's failure
            return 0
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(writeback_module, "_sync_file_range", lambda: sync)
    tails = Tails(budget=0)
    first = os.open(tmp_path / "first", os.O_WRONLY | os.O_CREAT)
    second = os.open(tmp_path / "second", os.O_WRONLY | os.O_CREAT)
    tails.keep(first, start=0, end=MiB)
    tails.keep(second, start=0, end=MiB)  # over the budget: the first is settled, and fails
    assert "writeback of a finished write failed" in caplog.text
    with pytest.raises(OSError):
        os.fstat(first)  # closed all the same
    os.fstat(second)


def test_tails_close_what_they_hold_when_they_go(tmp_path: Path) -> None:
    tails = Tails()
    fd = os.open(tmp_path / "blob", os.O_WRONLY | os.O_CREAT)
    tails.keep(fd, start=0, end=0)
    os.fstat(fd)
    del tails
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)
