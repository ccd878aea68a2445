"""``wharf garbage-collect CONFIG [-d|--dry-run] [-m|--delete-untagged] [-q]``: what it prints and returns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.helpers import push_blob, push_image, random_blob, sha256
from tests.integration.conftest import config_for, lifespan
from wharf import cli
from wharf.api.app import create_app
from wharf.config import parse_config
from wharf.registry.factory import open_registry
from wharf.registry.gc import GCProgress


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A filesystem registry holding a kept image, a deleted one, an untagged one and a stray blob."""
    root = tmp_path / "root"

    async def build() -> None:
        app = create_app(parse_config(config_for("filesystem", root)))
        async with lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
                await push_image(client, "app", "kept")
                gone, _ = await push_image(client, "app", "gone")
                assert (await client.delete(f"/v2/app/manifests/{sha256(gone)}")).status_code == 202
                await push_image(client, "app", "moved")
                await push_image(client, "app", "moved")
                await push_blob(client, "app", random_blob(10))

    asyncio.run(build())
    path = tmp_path / "config.yml"
    path.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["garbage-collect", *args])
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_a_dry_run_lists_what_would_go(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--dry-run", str(config))

    assert code == 0
    lines = out.splitlines()
    assert sum(line.startswith("would delete blob sha256:") for line in lines) == 5
    assert lines[-1].startswith("dry run: would delete 0 manifest(s) and 5 blob(s), freeing ")
    assert run(capsys, "-d", str(config))[1] == out  # nothing was deleted


def test_a_collection_says_what_it_deleted(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(config))

    assert code == 0
    assert out.startswith("deleted 0 manifest(s) and 5 blob(s), freed ")
    assert "blob(s) remain in 1 repositories" in out
    assert run(capsys, str(config))[1].startswith("deleted 0 manifest(s) and 0 blob(s), freed 0 B (0 bytes)")


def test_delete_untagged_lists_the_manifests_it_deleted(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "-m", str(config))

    assert code == 0
    assert sum(line.startswith("deleted manifest app@sha256:") for line in out.splitlines()) == 1
    assert "deleted 1 manifest(s) and 9 blob(s)" in out
    assert run(capsys, "-q", "--delete-untagged", str(config))[1].startswith("deleted 0 manifest(s)")


def test_a_missing_config_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.yml"))

    assert code == 1
    assert "configuration error" in err and "nope.yml" in err


def test_an_invalid_config_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yml"
    path.write_text("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /x\n  inmemory:\n")

    code, _, err = run(capsys, str(path))

    assert code == 1
    assert "exactly one storage driver" in err


def test_in_memory_storage_cannot_be_collected_from_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yml"
    path.write_text("version: 0.1\nstorage:\n  inmemory:\n")

    code, _, err = run(capsys, str(path))

    assert code == 1
    assert "storage.inmemory" in err


def test_a_second_collection_is_refused(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = open_registry(cli.load_config(str(config)))

    async def while_collecting() -> tuple[int, str, str]:
        async with registry.fence.collection():
            return await asyncio.to_thread(run, capsys, str(config))

    code, _, err = asyncio.run(while_collecting())

    assert code == 1
    assert "another garbage collection is running" in err


def test_progress_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    printer = cli._GCProgressPrinter(every=0.0)

    printer(GCProgress("sweep", 256, 1000))

    assert capsys.readouterr().err.startswith("garbage-collect: sweep: 256/1000")
