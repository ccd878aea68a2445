"""Out of disk: the push fails cleanly (507), its partial data is released, and the registry goes on serving.

The registry's root is a small tmpfs mounted by the test (root is needed to mount; CI runs as root).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import ServerFactory

pytestmark = pytest.mark.e2e

_SIZE = "16m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mountpoint = tmp_path / "tmpfs"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={_SIZE}", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr}")
        pytest.skip(f"cannot mount a tmpfs (not root?): {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _used(root: Path) -> int:
    return shutil.disk_usage(root).used


def _upload_dirs(root: Path) -> list[Path]:
    return list(root.glob("docker/registry/v2/repositories/*/*/_uploads/*"))


def test_a_push_that_fills_the_disk_fails_cleanly(server_factory: ServerFactory, small_disk: Path) -> None:
    server = server_factory("wharf", root=small_disk / "root")
    small = os.urandom(64 << 10)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        ok = client.post("/v2/disk/full/blobs/uploads/", params={"digest": _digest(small)}, content=small)
        assert ok.status_code == 201
        before = _used(small_disk)

        big = os.urandom(32 << 20)  # twice the disk
        monolithic = client.post("/v2/disk/full/blobs/uploads/", params={"digest": _digest(big)}, content=big)
        assert monolithic.status_code == 507, monolithic.text
    # A new connection from here on. After a 507 in the middle of a body the server sometimes closes
    # this one even when the app read the whole body (``Connection: close`` is sent when it did not),
    # and a request sent down it then gets no response: about one run in six, also before the
    # session that added this comment. Not understood yet; see the session notes.
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert monolithic.json()["errors"][0]["message"].startswith("insufficient storage")
        assert _upload_dirs(small_disk / "root") == []

        session = client.post("/v2/disk/full/blobs/uploads/")
        assert session.status_code == 202
        chunked = client.patch(
            session.headers["location"], content=big, headers={"content-range": f"0-{len(big) - 1}"}
        )
        assert chunked.status_code == 507, chunked.text
    with httpx.Client(base_url=server.url, timeout=30) as client:  # a new connection, as above
        # The failed session released its data, and is gone.
        assert client.get(session.headers["location"]).status_code == 404
        assert _upload_dirs(small_disk / "root") == []
        assert _used(small_disk) <= before + (256 << 10)

        # Everything else goes on working: reads, and writes that fit.
        assert client.get("/v2/").status_code == 200
        got = client.get(f"/v2/disk/full/blobs/{_digest(small)}")
        assert got.status_code == 200 and got.content == small
        again = os.urandom(1 << 20)
        fits = client.post("/v2/disk/full/blobs/uploads/", params={"digest": _digest(again)}, content=again)
        assert fits.status_code == 201
        assert client.head(f"/v2/disk/full/blobs/{_digest(big)}").status_code == 404
