"""The two registries under test, as subprocesses, and the memory of their process trees.

Each server gets its own port, its own empty data directory and one config.yml
in distribution's format, the same text for both apart from port and root:
filesystem storage, deletes enabled, ``blobdescriptor: inmemory``, upload purging
off (a background walk would be noise), and access logs on, as both ship, going
to a log file. ``stop_all()`` ends every server this module started.
"""

from __future__ import annotations

import compileall
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.wire import SyncConn

__all__ = ["DISTRIBUTION", "KINDS", "RssSampler", "Server", "compile_wharf", "free_port", "stop_all"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = Path("/usr/bin/docker-registry")
KINDS = ("wharf", "distribution")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

CONFIG_TEMPLATE = """\
version: 0.1
log:
  level: info
  fields:
    service: registry
  accesslog:
    disabled: false
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
"""

_LIVE: set[Server] = set()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def compile_wharf() -> None:
    """Compile wharf's bytecode into ``__pycache__``, as installing a package does.

    The servers run wharf from this checkout. Where ``PYTHONDONTWRITEBYTECODE`` is
    set (as on issue 5's machine) nothing would ever cache it, and each server
    would compile every module from source when it starts: about 1 MiB more heap
    for the life of the process than an installed wharf has, counted in the memory
    workload. Stale files are recompiled; ``.gitignore`` has ``__pycache__``.
    """
    compileall.compile_dir(REPO_ROOT / "wharf", quiet=1)


def _clean_env() -> dict[str, str]:
    """This environment without REGISTRY_*/WHARF_* overrides, which would change what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "WHARF_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


@dataclass(eq=False)
class Server:
    """One registry process: ``kind`` is ``wharf`` or ``distribution``."""

    kind: str
    name: str
    workdir: Path
    workers: int | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(CONFIG_TEMPLATE.format(root=self.root, port=self.port))

    @property
    def root(self) -> Path:
        return self.workdir / f"{self.name}-data"

    @property
    def config(self) -> Path:
        return self.workdir / f"{self.name}.yml"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self, *args: str) -> list[str]:
        """This registry's command line with ``args``: ``serve CONFIG``, ``garbage-collect CONFIG``."""
        if self.kind == "wharf":
            return [sys.executable, "-m", "wharf", *args]
        return [str(DISTRIBUTION), *args]

    def run(self, *args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
        """Run one of this registry's subcommands to completion (garbage-collect)."""
        return subprocess.run(
            self.command(*args),
            cwd=REPO_ROOT,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self) -> None:
        args = ["serve", str(self.config)]
        if self.kind == "wharf" and self.workers:
            args += ["--workers", str(self.workers)]
        with self.log.open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} $ {' '.join(self.command(*args))}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(*args),
                cwd=REPO_ROOT,
                env=_clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE.add(self)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                break
            try:
                with SyncConn(self.port, timeout=2.0) as conn:
                    if conn.request("GET", "/v2/").status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        self.stop()
        raise RuntimeError(f"{self.kind} did not start on port {self.port}; log tail:\n{tail}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _LIVE.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


# --------------------------------------------------------------------------- memory


def _tree(root: int) -> list[int]:
    """``root`` and its descendants, from the parent pids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    queue = [root]
    while queue and len(found) < 10_000:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, ()))
    return found


def _kb(path: str, key: bytes) -> int:
    try:
        with open(path, "rb") as file:
            for line in file:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class RssSampler:
    """Peak RSS and PSS, summed over a process tree, sampled every ``interval`` s while in the ``with``.

    RSS counts pages shared between forked workers once per worker; PSS shares
    them out, so the PSS sum is what the tree really holds.
    """

    def __init__(self, root: int, *, interval: float = 0.1, rescan: float = 1.0) -> None:
        self.root = root
        self.interval = interval
        self.rescan = rescan
        self.peak_rss = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._sample(_tree(self.root))

    def _sample(self, pids: list[int]) -> None:
        rss = sum(_kb(f"/proc/{pid}/status", b"VmRSS:") for pid in pids) * 1024
        pss = sum(_kb(f"/proc/{pid}/smaps_rollup", b"Pss:") for pid in pids) * 1024
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)

    def _run(self) -> None:
        pids, scanned = _tree(self.root), time.monotonic()
        while not self._stop.wait(self.interval):
            if time.monotonic() - scanned > self.rescan:
                pids, scanned = _tree(self.root), time.monotonic()
            self._sample(pids)
