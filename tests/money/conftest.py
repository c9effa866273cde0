"""Real public spending files (``../shared/data/spending``), read in place, never copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SPENDING = REPO_ROOT.parent / "shared" / "data" / "spending"


@pytest.fixture(scope="session")
def spending() -> Path:
    if not SPENDING.is_dir():
        pytest.skip(f"the public spending test data is not at {SPENDING}")
    return SPENDING
