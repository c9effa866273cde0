"""Fixtures for the link tests: a 20,000-resident Anytown ingested and linked once."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FAKE_1000 = SHARED_DATA / "linkage" / "fake_1000.csv"


@dataclass
class LinkedPlace:
    root: Path
    result: object  # the StageResult of the link run
    truth: pa.Table  # unique_id, truth_id


def truth_of(place: Path) -> pa.Table:
    """unique_id (agency|source_id) -> true person id, from the synthetic place's truth."""
    path = place / "truth" / "source_records.parquet"
    return duckdb.sql(
        f"SELECT agency || '|' || source_id AS unique_id, CAST(person_id AS VARCHAR) AS truth_id "
        f"FROM read_parquet('{path}')"
    ).to_arrow_table()


@pytest.fixture(scope="session")
def linked_anytown(anytown_20k: Path, tmp_path_factory: pytest.TempPathFactory) -> LinkedPlace:
    """A private copy of the session's 20,000-resident Anytown, ingested and linked once."""
    from totalplace.place import Place

    root = tmp_path_factory.mktemp("linked") / "anytown"
    shutil.copytree(anytown_20k, root, ignore=shutil.ignore_patterns("*.duckdb", "*.wal"))
    truth = truth_of(root)
    with Place.open(root) as place:
        place.ingest.run()
        result = place.link.run(truth=truth)
    return LinkedPlace(root, result, truth)


@pytest.fixture
def fake_1000() -> Path:
    if not FAKE_1000.exists():
        pytest.skip(f"public test data not found at {FAKE_1000} (see ../shared/data/README.md)")
    return FAKE_1000
