"""The checks the style guide asks for, run as tests so a change that breaks them fails here:
ruff (pycodestyle, pyflakes, import order, pyupgrade) over the whole tree, and mypy --strict over wharf/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--output-format", "concise", "wharf", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing() -> None:
    result = _run("mypy", "wharf")
    assert result.returncode == 0, result.stdout + result.stderr
