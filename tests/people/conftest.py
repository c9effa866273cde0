"""Fixtures for the people stage: the linked Anytown with the people stage run once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def people_place(anytown_linked: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of ``anytown_linked`` on which ``people.run()`` has run (read-only)."""
    from totalplace.place import Place

    dst = tmp_path_factory.mktemp("people") / "anytown"
    shutil.copytree(anytown_linked, dst)
    with Place.open(dst) as place:
        place.people.run()
    return dst


@pytest.fixture
def people_open(people_place: Path):
    """The place opened (close it when done)."""
    from totalplace.place import Place

    place = Place.open(people_place)
    yield place
    place.close()
