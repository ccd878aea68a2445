"""This machine's ceilings, measured in the same run: sha256, loopback TCP, disk write and read.

All figures are bytes per second. The disk is measured in the benchmark's own
temporary directory, which is where both registries keep their data.
"""

from __future__ import annotations

import hashlib
import os
import socket
import statistics
import threading
import time
from pathlib import Path

__all__ = ["disk", "loopback", "sha256"]

_CHUNK = 8 << 20


def sha256(total: int, *, repeats: int = 3) -> float:
    """hashlib's sha256 over ``total`` bytes fed 8 MiB at a time; the median of ``repeats``."""
    block = memoryview(os.urandom(_CHUNK))
    rates = []
    for _ in range(repeats):
        hasher = hashlib.sha256()
        started = time.perf_counter()
        for _ in range(max(1, total // _CHUNK)):
            hasher.update(block)
        rates.append(max(1, total // _CHUNK) * _CHUNK / (time.perf_counter() - started))
    return statistics.median(rates)


def loopback(total: int, *, repeats: int = 3) -> float:
    """One TCP connection over 127.0.0.1, 4 MiB sends into 4 MiB receives; the median of ``repeats``."""
    return statistics.median(_loopback_once(total) for _ in range(repeats))


def _loopback_once(total: int) -> float:
    chunk = 4 << 20
    total = max(chunk, total // chunk * chunk)
    received = [0]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(30)

        def receive() -> None:
            conn, _ = listener.accept()
            conn.settimeout(60)
            view = memoryview(bytearray(chunk))
            with conn:
                while received[0] < total:
                    got = conn.recv_into(view)
                    if got == 0:
                        break
                    received[0] += got

        receiver = threading.Thread(target=receive, daemon=True)
        receiver.start()
        payload = memoryview(os.urandom(chunk))
        started = time.perf_counter()
        with socket.create_connection(listener.getsockname(), timeout=60) as sender:
            for _ in range(total // chunk):
                sender.sendall(payload)
            receiver.join(60)
        elapsed = time.perf_counter() - started
    return received[0] / elapsed


def disk(directory: Path, total: int) -> dict[str, float]:
    """Write ``total`` bytes, fdatasync; read them back cold (fadvise evicts them), then page-cached."""
    path = directory / "disk-probe"
    block = memoryview(os.urandom(_CHUNK))
    count = max(1, total // _CHUNK)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            started = time.perf_counter()
            for _ in range(count):
                os.write(fd, block)
            os.fdatasync(fd)
            write = count * _CHUNK / (time.perf_counter() - started)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        cold = _read_all(path)
        cached = _read_all(path)
    finally:
        path.unlink(missing_ok=True)
    return {"disk_write": write, "disk_read_cold": cold, "page_cache_read": cached}


def _read_all(path: Path) -> float:
    buffer = memoryview(bytearray(_CHUNK))
    done = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        started = time.perf_counter()
        while (got := os.readv(fd, [buffer])) > 0:
            done += got
        return done / (time.perf_counter() - started)
    finally:
        os.close(fd)
