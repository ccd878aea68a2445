"""Runs the driver conformance suite (``driver_suite.py``) for every driver in ``DRIVER_FACTORIES``."""

from __future__ import annotations

from tests.conformance.driver_suite import *  # noqa: F403 -- pytest collects the imported test functions
