"""Fixtures for every kind of test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from wharf.log import LOGGER, SERVER_LOGGER


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """``configure_logging`` (the CLI's, or a test's) stops wharf's loggers from propagating,
    which would hide their records from ``caplog`` in every later test: undo it after each test."""
    loggers = [logging.getLogger(name) for name in (LOGGER, SERVER_LOGGER)]
    saved = [(lg, lg.propagate, lg.level, list(lg.handlers)) for lg in loggers]
    yield
    for lg, propagate, level, handlers in saved:
        lg.propagate, lg.level, lg.handlers[:] = propagate, level, handlers
