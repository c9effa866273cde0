"""Real public spending files (``../shared/data/spending``), read in place, never copied."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from totalplace.place import Place

SPENDING = REPO_ROOT.parent / "shared" / "data" / "spending"


@pytest.fixture(scope="session")
def spending() -> Path:
    if not SPENDING.is_dir():
        pytest.skip(f"the public spending test data is not at {SPENDING}")
    return SPENDING


def place_folder(root: Path, files: list[dict], sector: str = "council") -> Path:
    """A place folder whose one agency has ``files`` (FileSpec dicts with absolute paths)."""
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": "Test",
        "period": {"start": "2012-01-01", "end": "2020-03-31"},
        "agencies": [{"id": "council", "name": "Council", "sector": sector, "files": files}],
    }
    (root / "place.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return root


def _manchester_files(spending: Path) -> list[Path]:
    return sorted((spending / "manchester_spend_over_500").glob("*.csv"))


def manchester_spec(path: Path) -> dict:
    return {
        "table": "payments",
        "path": str(path),
        "columns": {
            "payment_date": "Payment Date",
            "amount_gbp": "Amount",
            "service": "Organisational Unit",
            "supplier": "Beneficiary Name",
        },
    }


def manchester_truth(path: Path) -> tuple[int, Decimal]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return len(rows), sum((Decimal(r["Amount"]) for r in rows), Decimal(0))


@pytest.fixture(scope="module")
def manchester_place(spending, tmp_path_factory) -> Path:
    files = _manchester_files(spending)
    root = place_folder(tmp_path_factory.mktemp("mcr") / "mcr", [manchester_spec(p) for p in files])
    with Place.open(root) as place:
        place.ingest.run()
    return root
