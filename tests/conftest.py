"""Shared fixtures for the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

ANYTOWN_RESIDENTS = 20_000
ANYTOWN_SEED = 1


@pytest.fixture(scope="session")
def anytown_20k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Anytown with 20,000 residents (seed 1), built once per test session.

    The folder holds every agency's extracts, ``place.yaml`` and ``truth/``. Treat it as
    read-only: copy it (``shutil.copytree``) before running stages that write into it.
    """
    from totalplace.synth import generate

    out = tmp_path_factory.mktemp("anytown") / "anytown"
    generate(residents=ANYTOWN_RESIDENTS, seed=ANYTOWN_SEED, out=out)
    return out
