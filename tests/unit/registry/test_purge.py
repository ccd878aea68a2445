"""``wharf.registry.purge``: which upload sessions go, on both local drivers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wharf.digest import Digest
from wharf.reference import RepositoryName
from wharf.registry import paths
from wharf.registry.purge import parse_started_at, purge_uploads
from wharf.storage.driver import FilesystemDriver, MemoryDriver, PathNotFound, StorageDriver

NOW = datetime.now(UTC)
WEEK = timedelta(days=7)


@pytest.fixture(params=["inmemory", "filesystem"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    return MemoryDriver() if request.param == "inmemory" else FilesystemDriver(tmp_path)


async def session(
    driver: StorageDriver, name: str, upload_id: str, started: bytes | None, data: bytes = b"partial"
) -> str:
    repository = RepositoryName.parse(name)
    if started is not None:
        await driver.put_content(paths.upload_started_at(repository, upload_id), started)
    await driver.put_content(paths.upload_data(repository, upload_id), data)
    return paths.upload_dir(repository, upload_id)


def rfc3339(moment: datetime) -> bytes:
    """As distribution writes it: Go's time.RFC3339, whole seconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode()


async def exists(driver: StorageDriver, path: str) -> bool:
    try:
        await driver.stat(path)
    except PathNotFound:
        return False
    return True


async def test_deletes_sessions_started_before_the_cutoff_in_every_repository(driver: StorageDriver) -> None:
    old = await session(driver, "app", "old", rfc3339(NOW - 2 * WEEK))
    nested_old = await session(driver, "team/sub/app", "old2", rfc3339(NOW - 8 * timedelta(days=1)))
    young = await session(driver, "app", "young", rfc3339(NOW - timedelta(hours=1)))
    # a repository that holds nothing but an abandoned first push
    only_upload = await session(driver, "abandoned", "u1", rfc3339(NOW - 30 * WEEK))

    report = await purge_uploads(driver, older_than=NOW - WEEK, dry_run=False)

    assert sorted(report.deleted) == sorted([old, nested_old, only_upload])
    assert (report.kept, report.errors, report.dry_run) == (1, (), False)
    assert await exists(driver, young)
    for gone in report.deleted:
        assert not await exists(driver, gone)


async def test_dry_run_reports_and_deletes_nothing(driver: StorageDriver) -> None:
    old = await session(driver, "app", "old", rfc3339(NOW - 2 * WEEK))
    report = await purge_uploads(driver, older_than=NOW - WEEK, dry_run=True)
    assert (report.deleted, report.dry_run) == ((old,), True)
    assert await exists(driver, old)


async def test_wharf_and_go_time_formats(driver: StorageDriver) -> None:
    # wharf's uploads.py writes microseconds and "Z"; Go's RFC3339Nano up to nine digits; offsets are allowed.
    formats = {
        "micro": b"2020-01-02T03:04:05.123456Z",
        "nano": b"2020-01-02T03:04:05.123456789Z",
        "offset": b"2020-01-02T05:04:05+02:00",
        "newline": b"2020-01-02T03:04:05Z\n",
    }
    for upload_id, text in formats.items():
        await session(driver, "app", upload_id, text)
    cutoff = datetime(2020, 1, 2, 3, 4, 6, tzinfo=UTC)
    assert len((await purge_uploads(driver, older_than=cutoff, dry_run=True)).deleted) == 4
    earlier = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (await purge_uploads(driver, older_than=earlier, dry_run=True)).kept == 4


@pytest.mark.parametrize("started", [None, b"not a time", b"2020-01-02T03:04:05", b"\xff\xfe"])
async def test_missing_or_corrupt_startedat_falls_back_to_modification_time(
    driver: StorageDriver, started: bytes | None
) -> None:
    directory = await session(driver, "app", "odd", started)
    # just written: younger than a cutoff an hour ago, older than one an hour from now
    kept = await purge_uploads(driver, older_than=NOW - timedelta(hours=1), dry_run=False)
    assert (kept.deleted, kept.kept) == ((), 1)
    purged = await purge_uploads(driver, older_than=datetime.now(UTC) + timedelta(hours=1), dry_run=False)
    assert purged.deleted == (directory,)
    assert not await exists(driver, directory)


async def test_other_repository_directories_are_left_alone(driver: StorageDriver) -> None:
    repository = RepositoryName("app")
    link = paths.layer_link(repository, Digest("sha256", "a" * 64))
    await driver.put_content(link, b"sha256:" + b"a" * 64)
    await session(driver, "app", "old", rfc3339(NOW - 2 * WEEK))
    report = await purge_uploads(driver, older_than=NOW, dry_run=False)
    assert len(report.deleted) == 1
    assert await driver.get_content(link)


async def test_empty_storage(driver: StorageDriver) -> None:
    report = await purge_uploads(driver, older_than=NOW, dry_run=False)
    assert (report.deleted, report.kept, report.errors) == ((), 0, ())


async def test_cutoff_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await purge_uploads(MemoryDriver(), older_than=datetime.now(), dry_run=True)


def test_parse_started_at() -> None:
    assert parse_started_at(b"2024-05-06T07:08:09Z") == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    shifted = parse_started_at(b"2024-05-06T09:08:09+02:00")
    assert shifted == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert shifted.tzinfo == UTC
    with pytest.raises(ValueError):
        parse_started_at(b"2024-05-06 07:08")
