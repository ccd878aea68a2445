"""Background maintenance in ``wharf serve --workers N``: each job runs in one worker process, not N."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port, read_log, server_command, spawn, terminate, wait_until_serving

pytestmark = pytest.mark.e2e

WORKERS = 3
INTERVAL = 1.0
WATCH = 5.0

CONFIG = """\
version: 0.1
log:
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      age: 1h
      interval: {interval}s
gc:
  enabled: true
  interval: {interval}s
http:
  addr: {addr}
"""


@pytest.fixture
def server_log(tmp_path: Path) -> Iterator[Path]:
    """``wharf serve --workers 3`` with both jobs every second; yields its log once it answers."""
    addr = f"127.0.0.1:{free_port()}"
    config = tmp_path / "config.yml"
    config.write_text(CONFIG.format(root=json.dumps(str(tmp_path / "root")), addr=addr, interval=INTERVAL))
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    proc = spawn([*server_command("wharf", config), "--workers", str(WORKERS)], log, env)
    try:
        wait_until_serving(proc, f"http://{addr}", log, title=f"wharf {addr}")
        yield log
    finally:
        terminate(proc)


def test_each_job_runs_in_one_worker_only(server_log: Path) -> None:
    time.sleep(WATCH)
    log = read_log(server_log)
    # Every worker schedules both jobs...
    assert len(re.findall(r"gc: first run in", log)) == WORKERS, log
    # ...but one of them runs each: about WATCH / INTERVAL rounds, where every worker running would make
    # WORKERS times as many. (Slow machines only lower the count.)
    for line in ("scheduled garbage collection: deleted", "upload purge: deleted"):
        rounds = log.count(line)
        assert 1 <= rounds <= WATCH / INTERVAL + 2, (line, rounds, log)
