"""What only the filesystem driver promises: confinement to its root, atomic files, clean failures.

The shared behaviour is in ``tests/conformance/driver_suite.py``.
"""

from __future__ import annotations

import errno
import gc
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio.to_thread
import pytest

from wharf.storage.driver import (
    FilesystemDriver,
    InvalidPath,
    LocalFiles,
    StorageError,
    StorageFull,
    filesystem,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def driver(root: Path) -> FilesystemDriver:
    return FilesystemDriver(root)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret").write_bytes(b"do not serve")
    return secret


def temp_files(root: Path) -> list[str]:
    return [
        name for _, _, names in os.walk(root) for name in names if name.startswith(filesystem.TEMP_PREFIX)
    ]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def fail_after(written: int) -> Callable[[int, bytes], None]:
    """A ``_write_all`` that writes ``written`` bytes and then runs out of space."""

    def write_all(fd: int, data: bytes) -> None:
        os.write(fd, data[:written])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write_all


# confinement


async def test_symlinked_directory_escaping_the_root_is_refused(
    driver: FilesystemDriver, root: Path, outside: Path
) -> None:
    await driver.put_content("/a/placeholder", b"x")
    (root / "a" / "link").symlink_to(outside, target_is_directory=True)
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: driver.get_content("/a/link/secret"),
        lambda: driver.stat("/a/link/secret"),
        lambda: driver.list("/a/link"),
        lambda: driver.reader("/a/link/secret"),
        lambda: driver.put_content("/a/link/planted", b"x"),
        lambda: driver.put_contents({"/a/fine": b"x", "/a/link/planted": b"x"}),
        lambda: driver.writer("/a/link/planted"),
        lambda: driver.move("/a/placeholder", "/a/link/planted"),
        lambda: driver.move("/a/link/secret", "/a/stolen"),
        lambda: driver.delete("/a/link/secret"),
        lambda: driver.delete("/a/link"),
    ]
    for call in calls:
        with pytest.raises(InvalidPath):
            await call()
    with pytest.raises(InvalidPath):
        driver.local_path("/a/link/secret")
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").read_bytes() == b"do not serve"


async def test_symlinked_file_escaping_the_root_is_refused(
    driver: FilesystemDriver, root: Path, outside: Path
) -> None:
    root.mkdir()
    (root / "link").symlink_to(outside / "secret")
    with pytest.raises(InvalidPath):
        await driver.get_content("/link")
    with pytest.raises(InvalidPath):
        await driver.delete("/link")
    assert (outside / "secret").exists()


async def test_delete_all_removes_whatever_a_directory_holds_besides_the_usual_file(
    driver: FilesystemDriver, root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one worker, so each directory after the first is tried for the file the first held ("data")
    monkeypatch.setattr(filesystem, "_DELETE_THREADS", 1)
    await driver.put_content("/d/1/data", b"1")
    await driver.put_content("/d/2/data", b"22")
    await driver.put_content("/d/2/extra", b"333")
    await driver.put_content("/d/3/data/inside", b"4444")  # "data" is a directory here
    await driver.put_content("/d/4/other", b"55555")  # no "data" at all
    (root / "d" / "5").mkdir()
    (root / "d" / "5" / "data").symlink_to(outside / "secret")  # removed, never followed

    freed = await driver.delete_all([f"/d/{n}" for n in range(1, 6)])

    assert freed == 1 + 2 + 3 + 4 + 5 + len(os.fsencode(outside / "secret"))
    assert os.listdir(root / "d") == []
    assert (outside / "secret").read_bytes() == b"do not serve"


async def test_a_dangling_symlink_out_of_the_root_is_refused_and_nothing_is_created_outside(
    driver: FilesystemDriver, root: Path, outside: Path
) -> None:
    await driver.put_content("/a/placeholder", b"x")
    (root / "a" / "gone").symlink_to(outside / "missing", target_is_directory=True)
    (root / "a" / "file").symlink_to(outside / "planted")
    for call in (
        lambda: driver.put_content("/a/gone/x/planted", b"x"),
        lambda: driver.writer("/a/gone/planted"),
        lambda: driver.writer("/a/file", append=True),
        lambda: driver.move("/a/placeholder", "/a/gone/planted"),
    ):
        with pytest.raises(InvalidPath):
            await call()
    assert sorted(os.listdir(outside)) == ["secret"]


def _tree(root: Path, outside: Path) -> None:
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "e" / "f").write_bytes(b"f")
    (root / "in").symlink_to(root / "d", target_is_directory=True)
    (root / "chain").symlink_to(root / "in", target_is_directory=True)
    (root / "relative").symlink_to("d/e", target_is_directory=True)
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "dangling").symlink_to(outside / "nowhere")
    (root / "dangling-in").symlink_to(root / "d" / "later")
    (root / "loop").symlink_to(root / "loop")
    (root / "d" / "e" / "f-link").symlink_to(root / "d" / "e" / "f")


@pytest.mark.parametrize(
    "relative",
    [
        "d/e/f",
        "d/e/new",
        "d/new/deeper/still",
        "in/e/f",
        "chain/e/f",
        "chain/e/new/x",
        "relative/f",
        "out/secret",
        "out/new/x",
        "dangling",
        "dangling/x",
        "dangling-in",
        "dangling-in/x",
        "loop",
        "loop/x",
        "d/e/f/below-a-file",
        "d/e/f-link",
        "",
    ],
)
def test_confinement_resolves_as_realpath_does(root: Path, outside: Path, relative: str) -> None:
    _tree(root, outside)
    full = os.path.join(root, relative) if relative else str(root)
    assert filesystem._resolve(full) == os.path.realpath(full)


@pytest.mark.parametrize(
    "relative",
    [
        "d/e/new",
        "d/new/deeper/still",
        "in/e/new",
        "chain/e/new/x",
        "relative/new",
        "out/new",
        "out/new/x",
        "dangling",
        "dangling/x",
        "dangling-in",
        "dangling-in/x",
        "loop/x",
        "d/e/f-link",
    ],
)
async def test_a_write_goes_where_realpath_says_or_is_refused(
    driver: FilesystemDriver, root: Path, outside: Path, relative: str
) -> None:
    _tree(root, outside)
    before = sorted(os.listdir(outside))
    real = os.path.realpath(root / relative)
    if not real.startswith(f"{root}/"):
        with pytest.raises(InvalidPath):
            await driver.put_content(f"/{relative}", b"new")
        with pytest.raises(InvalidPath):
            await driver.put_contents({"/d/fine": b"x", f"/{relative}": b"new"})
        assert sorted(os.listdir(outside)) == before
        return
    try:
        await driver.put_content(f"/{relative}", b"new")
    except StorageError:
        assert relative in ("loop/x", "dangling-in/x")  # a link that is no directory is in the way
        return
    assert (root / relative).read_bytes() == b"new"  # a link there is replaced, as a rename does
    assert sorted(os.listdir(outside)) == before


async def test_a_write_makes_its_directories_again_if_a_parent_goes_meanwhile(
    driver: FilesystemDriver, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "a").mkdir(parents=True)
    mkdir = os.mkdir
    removed: list[Path] = []

    def mkdir_after_a_delete(path: str, *args: object, **kwargs: object) -> None:
        if not removed:
            (root / "a").rmdir()  # an emptied directory deleted by someone else
            removed.append(root / "a")
        mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "mkdir", mkdir_after_a_delete)
    await driver.put_content("/a/b/c/file", b"x")
    assert removed and (root / "a" / "b" / "c" / "file").read_bytes() == b"x"


async def test_a_bulk_stat_finds_missing_paths_and_refuses_what_resolves_outside(
    driver: FilesystemDriver, root: Path, outside: Path
) -> None:
    _tree(root, outside)
    found = await driver.stat_all(["/d/e/f", "/d/e/missing", "/nowhere/at/all", "/in/e/f", "/dangling"])
    assert [info.size if info else None for info in found] == [1, None, None, 1, None]
    with pytest.raises(InvalidPath):
        await driver.stat_all(["/out/secret"])


async def test_symlink_within_the_root_is_followed(driver: FilesystemDriver, root: Path) -> None:
    await driver.put_content("/real/file", b"inside")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert await driver.get_content("/alias/file") == b"inside"


async def test_temporary_names_are_reserved(driver: FilesystemDriver) -> None:
    with pytest.raises(InvalidPath):
        await driver.put_content(f"/a/{filesystem.TEMP_PREFIX}x", b"x")


# atomicity and temporary files


async def test_put_content_leaves_no_temporary_files(driver: FilesystemDriver, root: Path) -> None:
    for n in range(5):
        await driver.put_content("/a/b", str(n).encode())
    writer = await driver.writer("/a/c")
    await writer.write(b"x")
    await writer.commit()
    writer = await driver.writer("/a/d")
    await writer.write(b"x")
    await writer.cancel()
    assert temp_files(root) == []
    assert sorted(os.listdir(root / "a")) == ["b", "c"]


async def test_pending_writer_is_a_hidden_temporary_file(driver: FilesystemDriver, root: Path) -> None:
    await driver.put_content("/dir/visible", b"x")
    writer = await driver.writer("/dir/pending")
    await writer.write(b"x")
    assert len(temp_files(root)) == 1
    assert await driver.list("/dir") == ["/dir/visible"]
    await writer.cancel()


async def test_list_hides_names_outside_the_path_grammar(driver: FilesystemDriver, root: Path) -> None:
    await driver.put_content("/dir/ok", b"x")
    (root / "dir" / "lost+found").mkdir()
    assert await driver.list("/dir") == ["/dir/ok"]


async def test_abandoned_writer_closes_and_removes_its_file(driver: FilesystemDriver, root: Path) -> None:
    gc.collect()  # earlier tests' garbage (registries with mapped files) holds descriptors too
    before = open_fds()
    writer = await driver.writer("/a/b")
    await writer.write(b"x")
    del writer
    # anyio's worker thread keeps its last job (a bound method of the writer) until it takes
    # the next one; give the idle threads a job each so that only this test holds the writer.
    for _ in range(4):
        await anyio.to_thread.run_sync(int)
    gc.collect()
    assert temp_files(root) == []
    assert open_fds() == before


# failures while writing


async def test_put_content_failure_removes_the_temporary_file(
    driver: FilesystemDriver, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await driver.put_content("/a/b", b"old")
    monkeypatch.setattr(filesystem, "_write_all", fail_after(2))
    with pytest.raises(StorageFull) as raised:
        await driver.put_content("/a/b", b"new content")
    assert isinstance(raised.value.__cause__, OSError) and raised.value.__cause__.errno == errno.ENOSPC
    assert temp_files(root) == []
    assert await driver.get_content("/a/b") == b"old"


async def test_writer_failure_removes_the_temporary_file(
    driver: FilesystemDriver, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = open_fds()
    writer = await driver.writer("/a/b")
    await writer.write(b"first")
    monkeypatch.setattr(filesystem, "_write_all", fail_after(3))
    with pytest.raises(StorageFull) as raised:
        await writer.write(b"second")
    assert isinstance(raised.value.__cause__, OSError) and raised.value.__cause__.errno == errno.ENOSPC
    assert temp_files(root) == []
    assert not (root / "a" / "b").exists()
    assert open_fds() == before
    with pytest.raises(StorageError):
        await writer.commit()
    await writer.cancel()  # still safe


async def test_appending_writer_failure_restores_the_file(
    driver: FilesystemDriver, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await driver.put_content("/up/data", b"abc")
    writer = await driver.writer("/up/data", append=True)
    await writer.write(b"def")
    monkeypatch.setattr(filesystem, "_write_all", fail_after(2))
    with pytest.raises(StorageFull):
        await writer.write(b"ghi")
    assert (root / "up" / "data").read_bytes() == b"abc"


# local files and resources


def test_local_path(driver: FilesystemDriver, root: Path) -> None:
    assert isinstance(driver, LocalFiles)
    assert driver.local_path("/a/b") == str(root.resolve() / "a" / "b")
    with pytest.raises(InvalidPath):
        driver.local_path("/a/../b")


async def test_reader_closes_its_file(driver: FilesystemDriver) -> None:
    await driver.put_content("/blob", b"x" * (3 * filesystem.CHUNK_SIZE))
    before = open_fds()
    exhausted = await driver.reader("/blob")
    assert len(b"".join([chunk async for chunk in exhausted])) == 3 * filesystem.CHUNK_SIZE
    closed_early = await driver.reader("/blob")
    await anext(closed_early)
    await closed_early.aclose()
    assert open_fds() == before
