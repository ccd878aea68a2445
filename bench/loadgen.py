"""Small-request load from Debian's generators: ``wrk`` for GETs, ``hey`` for HEAD.

wrk waits for a body after a HEAD response that carries Content-Length and so
reports nothing for HEAD; hey does HEAD right. A small Lua ``done`` hook makes
wrk print its counts and latency percentiles as one JSON line.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["INSTALL_HINT", "LoadResult", "missing_tools", "run_hey", "run_wrk"]

INSTALL_HINT = "apt-get install wrk hey"

_WRK_DONE = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %.0f, "duration_us": %.0f, "p50_us": %.0f, "p99_us": %.0f, '
    .. '"connect": %.0f, "read": %.0f, "write": %.0f, "status": %.0f, "timeout": %.0f}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def missing_tools() -> list[str]:
    return [tool for tool in ("wrk", "hey") if shutil.which(tool) is None]


def run_wrk(
    url: str, *, headers: dict[str, str], connections: int, seconds: float, workdir: Path
) -> LoadResult:
    script = workdir / "wrk-done.lua"
    if not script.exists():
        script.write_text(_WRK_DONE)
    args = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = _run([*args, url], seconds)
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no results:\n{out[-2000:]}")
    data = json.loads(line[len("BENCH ") :])
    seconds_run = data["duration_us"] / 1e6
    errors = sum(int(data[k]) for k in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(
        requests=int(data["requests"]),
        rps=data["requests"] / seconds_run if seconds_run else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
    )


def run_hey(
    url: str, *, method: str, headers: dict[str, str], connections: int, seconds: float
) -> LoadResult:
    args = ["hey", "-z", f"{max(1, round(seconds))}s", "-c", str(connections), "-m", method, "-t", "10"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = _run([*args, url], seconds)
    rps = _number(r"Requests/sec:\s+([\d.]+)", out)
    statuses = {int(code): int(n) for code, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    _, _, error_section = out.partition("Error distribution:")
    failures = sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", error_section, re.M))
    requests = sum(statuses.values())
    return LoadResult(
        requests=requests,
        rps=rps,
        p50_ms=_number(r"50% in ([\d.]+) secs", out) * 1000,
        p99_ms=_number(r"99% in ([\d.]+) secs", out) * 1000,
        errors=failures + sum(n for code, n in statuses.items() if code >= 400),
    )


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    return float(match.group(1)) if match else float("nan")


def _run(args: list[str], seconds: float) -> str:
    proc = subprocess.run(
        args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout
