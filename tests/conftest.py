"""Suite-wide checks before any test runs."""

from __future__ import annotations

import pytest

from tests.tools import describe, missing


def pytest_sessionstart(session: pytest.Session) -> None:
    """Every program a test runs must be present: a missing one stops the run with the package to install."""
    absent = missing()
    if absent:
        raise pytest.UsageError(describe(absent))
