"""``wharf serve`` as a process: one worker in one process, several under a parent, a taken port, signals."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.conftest import free_port, read_log, server_command, spawn, terminate

if TYPE_CHECKING:
    from conftest import RegistryServer, ServerFactory

pytestmark = pytest.mark.e2e

EXIT_TIMEOUT = 20.0


def children(pid: int) -> list[int]:
    """The pids of ``pid``'s child processes (Linux's ``/proc/<pid>/task/*/children``)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def push_and_pull(server: RegistryServer, repository: str) -> None:
    """A blob pushed chunked and read back whole and by range: bodies cross the server both ways."""
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        started = http.post(f"/v2/{repository}/blobs/uploads/")
        assert started.status_code == 202
        location, half = started.headers["location"], len(data) // 2
        for start, end in [(0, half), (half, len(data))]:
            patched = http.patch(
                location,
                content=data[start:end],
                headers={"content-range": f"{start}-{end - 1}", "content-type": "application/octet-stream"},
            )
            assert patched.status_code == 202, patched.text
            location = patched.headers["location"]
        finished = http.put(location, params={"digest": digest})
        assert finished.status_code == 201, finished.text
        assert http.get(f"/v2/{repository}/blobs/{digest}").content == data
        ranged = http.get(f"/v2/{repository}/blobs/{digest}", headers={"range": "bytes=1000-2999999"})
        assert ranged.status_code == 206
        assert ranged.content == data[1000:3_000_000]


@pytest.mark.parametrize("workers", [1, 2])
def test_serves_and_stops_cleanly_on_sigterm(server_factory: ServerFactory, workers: int) -> None:
    """One worker runs in the process itself (no parent to pay for); several run as its children."""
    server = server_factory("wharf", workers=workers)
    assert server.proc is not None
    assert len(children(server.proc.pid)) == (0 if workers == 1 else workers)
    push_and_pull(server, f"serve/w{workers}")

    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=EXIT_TIMEOUT) == 0
    assert "Embedded server is experimental" not in read_log(server.log_path)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_port_already_served_is_refused(
    registry_server: RegistryServer, tmp_path: Path, workers: int
) -> None:
    """A second registry on a taken port exits with an error instead of sharing it (granian binds with
    SO_REUSEPORT, which would otherwise split the clients between the two)."""
    config = tmp_path / "config.yml"
    text = registry_server.config_path.read_text()
    config.write_text(text.replace(str(registry_server.root), str(tmp_path / "root")))
    log = tmp_path / "second.log"
    proc = spawn([*server_command("wharf", config), "--workers", str(workers)], log)
    try:
        assert proc.wait(timeout=EXIT_TIMEOUT) == 1
    except subprocess.TimeoutExpired:
        pytest.fail(f"the second server kept running on a taken port:\n{read_log(log)}")
    finally:
        terminate(proc)
    assert f"cannot serve on {registry_server.addr}" in read_log(log)
    assert "in use" in read_log(log)
    # The first one serves on, alone.
    for _ in range(20):
        assert httpx.get(f"{registry_server.url}/v2/", timeout=10).status_code == 200


def test_a_startup_failure_exits_non_zero(tmp_path: Path, registry_server: RegistryServer) -> None:
    """A root the server cannot create is reported, and the process ends with status 1, not 0."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config = tmp_path / "config.yml"
    text = registry_server.config_path.read_text().replace(str(registry_server.root), str(blocker / "root"))
    config.write_text(text.replace(registry_server.addr, f"127.0.0.1:{free_port()}"))
    log = tmp_path / "server.log"
    started = time.monotonic()
    proc = spawn([*server_command("wharf", config), "--workers", "1"], log)
    try:
        assert proc.wait(timeout=EXIT_TIMEOUT) == 1
    finally:
        terminate(proc)
    assert time.monotonic() - started < EXIT_TIMEOUT
    assert "Not a directory" in read_log(log)
