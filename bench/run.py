#!/usr/bin/env python3
"""wharf against distribution, side by side on this machine: the benchmark of issue 5.

    python bench/run.py [--rounds 3] [--only 1,2,...] [--json out.json] [--blob-size 1G]
                        [--workers N] [--quick] [--keep]

Starts ``wharf serve`` and, where /usr/bin/docker-registry exists, distribution,
each on its own port and empty directory; runs every workload against both,
alternating A B A B over the rounds; prints this machine's limits and a table of
medians, min–max and ratios wharf/distribution against the issue's targets.
See bench/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# Run as a script, bench/ is on sys.path first; the package is imported from the repository root instead.
if sys.path and Path(sys.path[0]).resolve() == _HERE:
    sys.path[0] = str(_HERE.parent)
elif str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from types import FrameType  # noqa: E402

from bench import limits  # noqa: E402
from bench.loadgen import INSTALL_HINT, missing_tools  # noqa: E402
from bench.results import Results  # noqa: E402
from bench.servers import DISTRIBUTION, REPO_ROOT, compile_wharf, stop_all  # noqa: E402
from bench.workloads import QUICK, WORKLOADS, Bench, Sizes, log  # noqa: E402

_UNITS = {
    "": 1,
    "B": 1,
    "K": 1 << 10,
    "KIB": 1 << 10,
    "M": 1 << 20,
    "MIB": 1 << 20,
    "G": 1 << 30,
    "GIB": 1 << 30,
}


def parse_size(text: str) -> int:
    """``1G``, ``64M``, ``512KiB`` or a number of bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 1G, 64M, 512K)")
    size = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if size <= 0:
        raise argparse.ArgumentTypeError("a size must be more than 0")
    return size


def parse_only(text: str) -> list[int]:
    try:
        chosen = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--only takes workload numbers 1-8, like 1,3,8: {text!r}") from None
    if not chosen or not set(chosen) <= set(range(1, 9)):
        raise argparse.ArgumentTypeError(f"--only takes workload numbers 1-8, like 1,3,8: {text!r}")
    return chosen


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python bench/run.py",
        description="wharf vs distribution, side by side (issue 5). Workloads: 1 blob push, 2 blob pull, "
        "3 small requests, 4 tags, 5 catalog, 6 concurrent pushes, 7 garbage collection, "
        "8 peak memory (measured during 3 and 6).",
    )
    p.add_argument("--rounds", type=int, help="rounds per workload, A B A B (default 3; 1 with --quick)")
    p.add_argument("--only", type=parse_only, help="workloads to run, like 1,2,8 (default: all)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    p.add_argument("--workers", type=int, help="wharf serve --workers N (default: wharf's own default)")
    p.add_argument(
        "--quick", action="store_true", help="small sizes and short runs (< 2 min), to check the script"
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs, data)")
    p.add_argument("--tmpdir", type=Path, help="where the work directory goes (default: $TMPDIR or /tmp)")
    sizes = p.add_argument_group("sizes (defaults as issue 5 gives them)")
    sizes.add_argument("--blob-size", type=parse_size, help="workloads 1-2 blob (1G)")
    sizes.add_argument("--chunk-size", type=parse_size, help="workload 1 PATCH size (16M)")
    sizes.add_argument("--seconds", type=float, help="workload 3 duration of each endpoint (10)")
    sizes.add_argument("--connections", type=int, help="workload 3 connections (32)")
    sizes.add_argument("--tags", type=int, help="workload 4 tags (5000)")
    sizes.add_argument("--repos", type=int, help="workload 5 repositories (1000)")
    sizes.add_argument("--clients", type=int, help="workload 6 clients (16)")
    sizes.add_argument("--layer-size", type=parse_size, help="workload 6 layer size (8M)")
    sizes.add_argument("--gc-images", type=int, help="workload 7 images (2000)")
    sizes.add_argument("--gc-repos", type=int, help="workload 7 repositories (100)")
    return p


def _sizes(args: argparse.Namespace) -> Sizes:
    overrides = {
        "blob": args.blob_size,
        "chunk": args.chunk_size,
        "seconds": args.seconds,
        "connections": args.connections,
        "tags": args.tags,
        "repos": args.repos,
        "clients": args.clients,
        "layer": args.layer_size,
        "gc_images": args.gc_images,
        "gc_repos": args.gc_repos,
    }
    return dataclasses.replace(QUICK if args.quick else Sizes(), **{k: v for k, v in overrides.items() if v})


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _version(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, cwd=REPO_ROOT, check=False)
    except OSError:
        return "unknown"
    return (done.stdout or done.stderr).strip() or "unknown"


def _measure_limits(results: Results, workdir: Path, quick: bool) -> None:
    log("machine limits: sha256, loopback TCP, disk")
    scale = 1 if quick else 8
    results.limits["sha256"] = limits.sha256(scale * (128 << 20))
    results.limits["loopback"] = limits.loopback(scale * (256 << 20))
    results.limits.update(limits.disk(workdir, scale * (128 << 20)))
    results.context["loopback_MBps"] = results.limits["loopback"] / 1e6
    log(results.limits_line())


def _run_workloads(bench: Bench, chosen: Sequence[int], rounds: int) -> None:
    for number in chosen:
        workload = WORKLOADS.get(number)
        if workload is None:
            continue
        workload.define(bench)
        log(f"workload {number}: {workload.title}")
        try:
            workload.setup(bench)
            for round_ in range(rounds):
                for kind in bench.kinds:
                    log(f" round {round_ + 1}/{rounds}, {kind}")
                    try:
                        workload.run(bench, kind, round_)
                    except Exception as exc:  # one failed run leaves the others standing
                        bench.results.note(f"workload {number}, round {round_ + 1}, {kind}: {exc}")
                        log(f"  FAILED: {exc}\n{traceback.format_exc(limit=4)}")
        except Exception as exc:
            bench.results.note(f"workload {number}: setup failed: {exc}")
            log(f"  FAILED: {exc}\n{traceback.format_exc(limit=4)}")
        finally:
            workload.teardown(bench)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = _sizes(args)
    rounds = args.rounds or (1 if args.quick else 3)
    chosen = args.only or list(range(1, 9))
    if 8 in chosen:  # memory is measured during workloads 3 and 6
        chosen = sorted({*chosen, 3, 6} - {8})
    kinds = ["wharf", "distribution"] if DISTRIBUTION.exists() else ["wharf"]
    results = Results()
    if not DISTRIBUTION.exists():
        results.note(f"{DISTRIBUTION} not found: wharf only, no ratios (apt-get install docker-registry)")
    if missing := missing_tools():
        uses = {"wrk": "wrk (the GETs of workload 3)", "hey": "hey (HEAD manifest in workload 3)"}
        message = f"not installed: {', '.join(uses[t] for t in missing)}; install with `{INSTALL_HINT}`"
        results.note(message)
        log(message)
    results.info = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "wharf": _version(["git", "describe", "--always", "--dirty"]),
        "distribution": _version([str(DISTRIBUTION), "--version"]) if DISTRIBUTION.exists() else None,
        "rounds": rounds,
        "workers": args.workers,
        "workloads": chosen,
        "sizes": dataclasses.asdict(sizes),
    }
    workdir = Path(tempfile.mkdtemp(prefix="wharf-bench-", dir=args.tmpdir))
    signal.signal(signal.SIGTERM, _interrupt)
    bench = Bench(sizes, workdir, kinds, results, workers=args.workers)
    log(f"{' vs '.join(kinds)}: {rounds} round(s), workloads {chosen}, work directory {workdir}")
    interrupted = False
    try:
        compile_wharf()
        _measure_limits(results, workdir, args.quick)
        _run_workloads(bench, chosen, rounds)
    except KeyboardInterrupt:
        interrupted = True
        results.note("interrupted: the table holds what was measured until then")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        stop_all()
        for file in bench.files.values():
            file.close()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _report(results, kinds, args, rounds)
    return 130 if interrupted else 0


def _report(results: Results, kinds: list[str], args: argparse.Namespace, rounds: int) -> None:
    info = results.info
    workers = f", wharf --workers {args.workers}" if args.workers else ""
    print(
        f"\n## wharf {info['wharf']} vs {info['distribution'] or 'nothing'}"
        f" — {info['date']}, {rounds} round(s){workers}, {info['machine']['cpus']} CPUs\n"
    )
    print(results.limits_line() + "\n")
    print(results.table(kinds))
    if results.notes:
        print("\nNotes:")
        for note in results.notes:
            print(f"- {note}")
    if args.json:
        results.write_json(args.json)
        print(f"\nJSON written to {args.json}")


if __name__ == "__main__":
    sys.exit(main())
