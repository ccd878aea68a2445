"""End-to-end fixtures: a real registry process, a private Docker engine, and the clients that drive them.

The registry under test is chosen by ``WHARF_E2E_SERVER``: ``wharf`` (the default) runs ``wharf serve
CONFIG``; ``distribution`` runs Debian's ``docker-registry serve CONFIG`` with the same config, so the
suite can be checked against the registry that wharf replaces.

A prerequisite that is missing (root, dockerd, skopeo, the distribution binary) skips its tests on a
developer's machine and fails them under CI (``CI=true``), where ``.ci/run`` installs everything.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import oras.client
import pytest

SERVER_KINDS = ("wharf", "distribution")
DISTRIBUTION_BINARY = Path("/usr/bin/docker-registry")
BUSYBOX = Path("/bin/busybox")

SERVER_START_TIMEOUT = 20.0
DOCKERD_START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 300.0
LOG_TAIL_CHARS = 20_000

# distribution's example config as Debian ships it (/etc/docker/registry/config.yml) without htpasswd auth.
# `http.secret` is fixed so that distribution's signed upload state survives a restart.
# `root` is JSON-quoted, which YAML reads as a plain string.
CONFIG_TEMPLATE = """\
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {addr}
  secret: wharf-e2e-upload-state-secret
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(ok: bool, reason: str) -> None:
    """Skip when a prerequisite is missing, except under CI, where a missing one is a failure."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


class CommandFailed(subprocess.CalledProcessError):
    def __str__(self) -> str:
        return f"{super().__str__()}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def run(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise CommandFailed(proc.returncode, args, proc.stdout, proc.stderr)
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def spawn(args: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a process in its own process group, with stdout and stderr appended to log_path."""
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%H:%M:%S')} $ {' '.join(args)}\n".encode())
        log.flush()
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def terminate(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, wait, then SIGKILL whatever is left of the process group that spawn() made."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout)


def read_log(path: Path, offset: int = 0) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return text if len(text) <= LOG_TAIL_CHARS else "...\n" + text[-LOG_TAIL_CHARS:]


class LogSource(Protocol):
    @property
    def log_title(self) -> str: ...
    @property
    def log_path(self) -> Path: ...


def wait_until_serving(proc: subprocess.Popen[bytes], url: str, log_path: Path, *, title: str) -> None:
    """Wait until the registry at ``url`` answers ``GET /v2/``; RuntimeError with its log otherwise."""
    offset = log_path.stat().st_size if log_path.exists() else 0
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{title} exited with {proc.returncode} before answering GET /v2/:\n"
                + read_log(log_path, offset)
            )
        try:
            httpx.get(f"{url}/v2/", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(
        f"{title} did not answer GET /v2/ within {SERVER_START_TIMEOUT:.0f} s:\n" + read_log(log_path, offset)
    )


# --- the registry under test ---------------------------------------------------------------------


def server_command(kind: str, config_path: Path) -> list[str]:
    if kind == "distribution":
        return [str(DISTRIBUTION_BINARY), "serve", str(config_path)]
    script = Path(sys.executable).with_name("wharf")
    if script.exists():
        return [str(script), "serve", str(config_path)]
    return [sys.executable, "-m", "wharf", "serve", str(config_path)]


@dataclass
class RegistryServer:
    """One registry process on 127.0.0.1 serving a filesystem root; restart() keeps the port and root."""

    kind: str
    root: Path
    workdir: Path
    port: int = field(default_factory=free_port)
    #: ``wharf serve --workers``; None is wharf's default (one, in the serving process)
    workers: int | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "config.yml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def log_title(self) -> str:
        return f"{self.kind} server {self.addr}"

    def start(self) -> RegistryServer:
        if self.kind == "distribution":
            require(
                DISTRIBUTION_BINARY.exists(),
                f"{DISTRIBUTION_BINARY} is not installed (apt-get install docker-registry)",
            )
        self.root.mkdir(parents=True, exist_ok=True)
        config = CONFIG_TEMPLATE.format(root=json.dumps(str(self.root)), addr=self.addr)
        self.config_path.write_text(config)
        # distribution reads REGISTRY_* variables as config overrides; keep the file the only config.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        if self.workers is not None:
            env["WHARF_WORKERS"] = str(self.workers)
        self.proc = spawn(server_command(self.kind, self.config_path), self.log_path, env)
        self._wait_ready(self.proc)
        return self

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        try:
            wait_until_serving(proc, self.url, self.log_path, title=self.log_title)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None

    def restart(self) -> RegistryServer:
        self.stop()
        return self.start()


class ServerFactory:
    """Starts registries of any kind; `root` and `port` let a second server take over the first one's."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.servers: list[RegistryServer] = []

    def __call__(
        self, kind: str, *, root: Path | None = None, port: int | None = None, workers: int | None = 2
    ) -> RegistryServer:
        workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.base))
        server = RegistryServer(kind, root or workdir / "root", workdir, workers=workers)
        if port is not None:
            server.port = port
        self.servers.append(server)
        return server.start()

    def close(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="session")
def server_kind() -> str:
    kind = os.environ.get("WHARF_E2E_SERVER", "wharf")
    if kind not in SERVER_KINDS:
        raise pytest.UsageError(f"WHARF_E2E_SERVER={kind!r}: expected one of {', '.join(SERVER_KINDS)}")
    return kind


@pytest.fixture(scope="session")
def registry_server(server_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """The registry under test, shared by the session: tests use repository names of their own.

    It runs one worker, in one process (granian's embedded server, wharf's
    default), while the servers of ``server_factory`` run two worker processes
    unless told otherwise: real clients cover both ways of serving.
    """
    factory = ServerFactory(tmp_path_factory.mktemp("registry"))
    try:
        yield factory(server_kind, workers=1)
    finally:
        factory.close()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Private registries for tests that restart or swap servers; all are stopped after the test."""
    factory = ServerFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def http(registry_server: RegistryServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry_server.url, timeout=30.0) as client:
        yield client


# --- a private Docker engine ---------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    digest: str
    output: str


@dataclass
class DockerEngine:
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    log_title: str = "dockerd"

    @property
    def host(self) -> str:
        return f"unix://{self.workdir}/docker.sock"

    @property
    def log_path(self) -> Path:
        return self.workdir / "dockerd.log"

    @property
    def env(self) -> dict[str, str]:
        # A private DOCKER_CONFIG keeps the machine's credential helpers out of pushes to 127.0.0.1.
        return {
            **os.environ,
            "DOCKER_HOST": self.host,
            "DOCKER_CONFIG": str(self.workdir / "config"),
            "DOCKER_BUILDKIT": "0",
        }

    def docker(
        self, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return run(["docker", *args], env=self.env, check=check, timeout=timeout)

    def push(self, ref: str) -> PushResult:
        output = self.docker("push", ref).stdout
        match = re.search(r"digest: (sha256:[0-9a-f]{64}) size: \d+", output)
        assert match, output
        return PushResult(match.group(1), output)

    def read_files(self, ref: str, paths: Iterable[str]) -> dict[str, str]:
        """Each path's content as a container of `ref` prints it."""
        return {
            path: self.docker("run", "--rm", "--network", "none", ref, "/bin/busybox", "cat", path).stdout
            for path in paths
        }

    def start(self) -> DockerEngine:
        w = self.workdir
        (w / "config").mkdir()
        args = "--storage-driver vfs --iptables=false --ip6tables=false --bridge=none".split()
        paths = ["--data-root", f"{w}/data", "--exec-root", f"{w}/exec", "--pidfile", f"{w}/pid"]
        self.proc = spawn(["dockerd", *args, "-H", self.host, *paths], self.log_path)
        deadline = time.monotonic() + DOCKERD_START_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.docker("info", check=False, timeout=10).returncode == 0:
                return self
            time.sleep(0.2)
        log = read_log(self.log_path)
        self.stop()
        require(False, f"dockerd did not answer `docker info` within {DOCKERD_START_TIMEOUT:.0f} s:\n{log}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout=30)
            self.proc = None
        # A daemon killed mid-way can leave mounts under its roots; never rmtree through a mount.
        with open("/proc/self/mounts") as mounts:
            left = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{self.workdir}/")]
        for mount in sorted(left, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True, timeout=30)
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[DockerEngine]:
    require(os.geteuid() == 0, "dockerd needs root")
    for binary in ("dockerd", "docker"):
        require(shutil.which(binary) is not None, f"`{binary}` is not installed (apt-get install docker.io)")
    # unix socket paths are limited to ~100 characters, so not pytest's tmp_path.
    engine = DockerEngine(Path(tempfile.mkdtemp(prefix="wharf-e2e-", dir="/tmp")))
    try:
        yield engine.start()
    finally:
        engine.stop()


@dataclass(frozen=True)
class LocalImage:
    tag: str
    files: dict[str, str]  # path in the image -> its content, one layer each


@pytest.fixture(scope="session")
def image_factory(
    dockerd: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., LocalImage]:
    """Build `FROM scratch` images: /bin/busybox plus `files` layers of random text, tagged locally."""
    require(BUSYBOX.exists(), f"{BUSYBOX} is missing (apt-get install busybox-static)")

    def build(files: int = 1) -> LocalImage:
        name = secrets.token_hex(6)
        context = tmp_path_factory.mktemp(f"image-{name}")
        shutil.copy2(BUSYBOX, context / "busybox")
        dockerfile = ["FROM scratch", "COPY busybox /bin/busybox"]
        content = {}
        for i in range(files):
            (context / f"file{i}").write_text(text := f"{name} layer {i} {secrets.token_hex(16)}\n")
            dockerfile.append(f"COPY file{i} /data/file{i}")
            content[f"/data/file{i}"] = text
        (context / "Dockerfile").write_text("\n".join(dockerfile) + "\n")
        tag = f"wharf-e2e/{name}:latest"
        dockerd.docker("build", "--quiet", "--tag", tag, str(context))
        return LocalImage(tag, content)

    return build


# --- skopeo and oras ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Skopeo:
    authfile: Path

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "REGISTRY_AUTH_FILE": str(self.authfile)}
        return run(["skopeo", "--insecure-policy", *args], env=env, check=check)

    def copy(self, src: str, dest: str, *options: str) -> subprocess.CompletedProcess[str]:
        return self("copy", "--src-tls-verify=false", "--dest-tls-verify=false", *options, src, dest)

    def inspect(self, ref: str, *options: str) -> Any:
        return json.loads(self("inspect", "--tls-verify=false", *options, ref).stdout)

    def delete(self, ref: str) -> subprocess.CompletedProcess[str]:
        return self("delete", "--tls-verify=false", ref)


@pytest.fixture(scope="session")
def skopeo(tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    require(shutil.which("skopeo") is not None, "`skopeo` is not installed (apt-get install skopeo)")
    authfile = tmp_path_factory.mktemp("skopeo") / "auth.json"
    authfile.write_text('{"auths": {}}')
    return Skopeo(authfile)


OCI_EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"


class OrasClient(oras.client.OrasClient):  # type: ignore[misc]
    """oras-py over plain HTTP, plus what its push lacks: the OCI 1.1 manifest `artifactType`."""

    def __init__(self, addr: str, workdir: Path) -> None:
        super().__init__(hostname=addr, insecure=True)
        self.workdir = workdir
        self._artifact_type: str | None = None

    def push_artifact(
        self, target: str, files: list[tuple[Path, str]], *, artifact_type: str, subject: Any = None
    ) -> Any:
        """Push (path, media type) pairs as layers, with the empty config that OCI 1.1 artifacts use."""
        empty = self.workdir / "empty.json"
        empty.write_text("{}")
        self._artifact_type = artifact_type
        try:
            return self.push(
                target=target,
                files=[f"{path}:{media_type}" for path, media_type in files],
                manifest_config=f"{empty}:{OCI_EMPTY_MEDIA_TYPE}",
                disable_path_validation=True,
                subject=subject,
                quiet=True,
            )
        finally:
            self._artifact_type = None

    def upload_manifest(self, manifest: dict[str, Any], container: Any) -> Any:
        if self._artifact_type is not None:
            manifest = {**manifest, "artifactType": self._artifact_type}
        return super().upload_manifest(manifest, container)


@pytest.fixture
def oras_client(registry_server: RegistryServer, tmp_path: Path) -> OrasClient:
    return OrasClient(registry_server.addr, tmp_path)


# --- logs of the processes a failed test used ----------------------------------------------------

_log_offsets = pytest.StashKey[dict[int, int]]()


def _log_sources(item: pytest.Item) -> Iterator[LogSource]:
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, RegistryServer | DockerEngine):
            yield value
        elif isinstance(value, ServerFactory):
            yield from value.servers


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach to a failed test's report what each of its servers logged while it ran."""
    report = yield
    if report.when == "setup":
        item.stash[_log_offsets] = {
            id(src): src.log_path.stat().st_size for src in _log_sources(item) if src.log_path.exists()
        }
    if report.failed:
        offsets = item.stash.get(_log_offsets, {})
        for src in _log_sources(item):
            report.sections.append((f"{src.log_title} log", read_log(src.log_path, offsets.get(id(src), 0))))
    return report
