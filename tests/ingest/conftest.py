"""Fixtures for the ingest tests: run ingest on a place and read back what it published."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from totalplace.place import Place


@dataclass
class Ingested:
    """What one ingest run published, as plain Python rows."""

    result: Any
    tables: dict[str, list[dict[str, Any]]]
    runs: list[dict[str, Any]]

    @property
    def reasons(self) -> list[str]:
        return [r["reason"] for r in self.tables["rejects"]]

    def file(self, name: str) -> dict[str, Any]:
        return next(f for f in self.result.detail["files"] if f["file"] == name)


def ingest_place(root: Path) -> Ingested:
    """Run ingest on ``root`` and return its tables (the store is closed afterwards)."""
    with Place.open(root) as place:
        result = place.ingest.run()
        tables = {
            t: place.store.table(t).to_pylist()
            for t in ("source_people", "events", "spend", "rejects")
        }
        runs = place.store.runs("ingest")
    # Every file: rows read = rows loaded + rows rejected, on screen and in runs.
    for f in result.detail["files"]:
        assert f["read"] == f["loaded"] + f["rejected"], f
        assert runs[-1]["rows"][f["file"]] == {k: f[k] for k in ("read", "loaded", "rejected")}
    return Ingested(result, tables, runs)


@pytest.fixture
def ingest():
    """``ingest(place_dir) -> Ingested``."""
    return ingest_place
