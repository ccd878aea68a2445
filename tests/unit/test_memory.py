"""wharf.api.memory: what each allocator setting does, where it applies, and that the operator's wins."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from wharf.api import memory
from wharf.api.memory import JEMALLOC_CONF, JEMALLOC_ENV, M_ARENA_MAX, configure_jemalloc, limit_arenas

GLIBC = memory.find_mallopt() is not None


class RecordingMallopt:
    def __init__(self, answer: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.answer = answer

    def __call__(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return self.answer


@pytest.fixture
def granian_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "granian._granian", raising=False)


@pytest.mark.usefixtures("granian_not_loaded")
def test_jemalloc_gets_wharf_options_before_granian_loads() -> None:
    environ: dict[str, str] = {}
    assert configure_jemalloc(environ)
    assert environ == {JEMALLOC_ENV: JEMALLOC_CONF}


@pytest.mark.usefixtures("granian_not_loaded")
def test_the_operators_jemalloc_options_win() -> None:
    environ = {JEMALLOC_ENV: "narenas:1"}
    assert not configure_jemalloc(environ)
    assert environ == {JEMALLOC_ENV: "narenas:1"}


def test_jemalloc_options_are_left_alone_once_granian_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "granian._granian", sys)  # any module: it counts as loaded
    environ: dict[str, str] = {}
    assert not configure_jemalloc(environ)
    assert environ == {}


def test_glibc_is_limited_to_one_arena() -> None:
    mallopt = RecordingMallopt()
    assert limit_arenas({}, mallopt)
    assert mallopt.calls == [(M_ARENA_MAX, 1)]


@pytest.mark.parametrize(
    "environ", [{"MALLOC_ARENA_MAX": "4"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}]
)
def test_the_operators_arena_limit_wins(environ: dict[str, str]) -> None:
    mallopt = RecordingMallopt()
    assert not limit_arenas(environ, mallopt)
    assert mallopt.calls == []


def test_a_refused_mallopt_is_reported() -> None:
    assert not limit_arenas({}, RecordingMallopt(answer=0))


def test_without_glibc_malloc_is_left_alone_with_a_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="wharf.api.memory"):
        assert not limit_arenas({}, None)
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "not glibc" in caplog.text


def test_no_mallopt_where_the_c_library_is_not_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    def unknown_name(name: str) -> str:
        raise ValueError("unrecognized configuration name")

    monkeypatch.setattr(memory.os, "confstr", unknown_name)
    assert memory.find_mallopt() is None


def test_configure_without_glibc_still_sets_jemalloc_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "granian._granian", raising=False)
    monkeypatch.setattr(memory, "find_mallopt", lambda: None)
    environ: dict[str, str] = {}
    memory.configure(environ)
    assert environ == {JEMALLOC_ENV: JEMALLOC_CONF}


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


# Eight threads that each allocate while the others hold their blocks: glibc gives each its own
# arena unless limited. malloc_stats() prints one "Arena N:" section per arena.
_ARENAS_SCRIPT = """
    import ctypes, os, sys, threading
    if sys.argv[1:] == ["configure"]:
        from wharf.api import memory
        memory.configure(os.environ)
    import granian._granian
    barrier = threading.Barrier(8)
    def allocate():
        blocks = [bytes(4096 + i) for i in range(64)]
        barrier.wait()
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ctypes.CDLL(None).malloc_stats()
"""


def _arenas(*args: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    return _run(_ARENAS_SCRIPT, *args, env=env).count("Arena ")


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_configured_threads_share_one_arena() -> None:
    assert _arenas() > 1  # the control: unlimited, several threads, several arenas
    assert _arenas("configure") == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread names from /proc")
def test_configured_before_granian_loads_jemalloc_returns_pages_in_the_background() -> None:
    script = """
        import glob, os
        from wharf.api import memory
        os.environ.pop(memory.JEMALLOC_ENV, None)
        memory.configure(os.environ)
        import granian._granian
        print(sorted(open(p).read().strip() for p in glob.glob("/proc/self/task/*/comm")))
    """
    assert "jemalloc_bg_thd" in _run(script)


# 1 MiB blocks taken from the heap (not mapped one by one), each pinned by a block after it,
# then freed: the holes stay in the heap, resident, until malloc_trim gives their pages back.
_TRIM_SCRIPT = """
    import ctypes
    from wharf.api import memory
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    libc.mallopt(-3, 8 << 20)  # M_MMAP_THRESHOLD: 1 MiB blocks come from the heap
    def rss():
        return int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20
    blocks = []
    for _ in range(64):
        blocks.append(libc.malloc(1 << 20))
        ctypes.memset(blocks[-1], 1, 1 << 20)  # written: its pages are resident
        libc.malloc(64 << 10)  # kept: the heap cannot shrink from its top past it
    for block in blocks:
        libc.free(block)
    before = rss()
    memory.trim()
    print(before - rss())
"""


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_trim_gives_the_holes_of_freed_blocks_back() -> None:
    assert int(_run(_TRIM_SCRIPT).split()[-1]) >= 48  # MiB of the 64 freed


def test_trim_without_glibc_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_glibc_version", lambda: None)
    memory._malloc_trim.cache_clear()
    try:
        memory.trim()
        assert memory._malloc_trim() is None
    finally:
        memory._malloc_trim.cache_clear()
