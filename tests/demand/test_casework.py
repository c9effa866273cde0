"""Real casework: New York City council constituent-services cases and a 311 sample.

Loaded through a place.yaml like any agency's extract (no people: each case is its own
chain), then end-to-end times, cross-office handoffs and weekly XmR charts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from totalplace.place import Place

pytestmark = pytest.mark.slow


def _data(repo_root: Path) -> Path:
    d = repo_root.parent / "shared" / "data" / "contacts"
    if not (d / "nyc_council_constituent_services.parquet").exists():
        pytest.skip(f"the public test data folder {d} is absent")
    return d


def casework_manifest(data: Path) -> dict:
    """place.yaml for the NYC council cases and the 311 sample."""
    return {
        "name": "New York City casework",
        "period": {"start": "2010-01-01", "end": "2025-12-31"},
        "timezone": "America/New_York",
        "agencies": [
            {
                "id": "nycc",
                "name": "NYC Council district offices",
                "sector": "council",
                "files": [
                    {
                        "table": "events",
                        "path": str(data / "nyc_council_constituent_services.parquet"),
                        "format": "parquet",
                        "columns": {
                            "event_id": "unique_key",
                            "service": "complaint_type",
                            "activity": {"value": "Constituent services case"},
                            "start_at": {"column": "opendate", "format": "%Y-%m-%d"},
                            "end_at": {"column": "closedate", "format": "%Y-%m-%d"},
                            # The office that opened the case, and the constituent's own
                            # district office: when they differ the case was handed across.
                            "channel": "account",
                            "outcome": "council_dist",
                            "reason_text": "descriptor",
                        },
                    }
                ],
            },
            {
                "id": "nyc311",
                "name": "NYC 311",
                "sector": "council",
                "files": [
                    {
                        "table": "events",
                        "path": str(data / "nyc311_subset_2000.csv"),
                        "columns": {
                            "event_id": "Unique Key",
                            "service": "Agency",
                            "activity": "Complaint Type",
                            "start_at": {
                                "column": "Created Date",
                                "format": "%m/%d/%Y %I:%M:%S %p",
                            },
                            "end_at": {"column": "Closed Date", "format": "%m/%d/%Y %I:%M:%S %p"},
                            "channel": "Open Data Channel Type",
                            "outcome": "Resolution Description",
                            "reason_text": "Descriptor",
                        },
                    }
                ],
            },
        ],
        "demand": {
            "contacts": {"require_text": False},
            "front_door": {"resolved": "%resolved%", "handoff": "%referred%"},
        },
    }


@pytest.fixture(scope="module")
def casework(repo_root, tmp_path_factory) -> Path:
    data = _data(repo_root)
    root = tmp_path_factory.mktemp("nyc")
    (root / "place.yaml").write_text(yaml.safe_dump(casework_manifest(data), sort_keys=False))
    with Place.open(root) as place:
        place.ingest.run()
        place.demand.run()
    return root


def test_every_case_is_a_chain_with_its_end_to_end_time(casework):
    with Place.open(casework) as place:
        q = place.store.engine.query
        n_events = place.store.engine.scalar("SELECT count(*) FROM events")
        ch = q("SELECT * FROM demand_chains").to_pandas()
        ev = q(
            "SELECT event_id, start_at, end_at FROM events WHERE agency = 'nycc' "
            "AND end_at IS NOT NULL AND end_at >= start_at LIMIT 1000"
        ).to_pandas()
    assert len(ch) == n_events > 300_000
    got = ch.set_index("chain_id").loc[ev["event_id"], "end_to_end_days"].to_numpy()
    want = ((ev["end_at"] - ev["start_at"]).dt.total_seconds() / 86400).round(3).to_numpy()
    assert (abs(got - want) < 1e-6).all()
    nycc = ch[ch["agency"] == "nycc"]["end_to_end_days"]
    # Capability, not an average: the tail is long (measured: median 6, p95 about 790 days).
    assert nycc.median() < nycc.quantile(0.8) < nycc.quantile(0.95)


def test_cross_office_handoffs(casework):
    with Place.open(casework) as place:
        r = place.store.engine.query(
            "SELECT avg(CASE WHEN channel <> outcome THEN 1.0 ELSE 0.0 END) AS share, count(*) AS n "
            "FROM events WHERE agency = 'nycc' AND outcome IS NOT NULL"
        ).to_pylist()[0]
    assert r["n"] > 200_000
    assert 0.05 < r["share"] < 0.5  # measured: 15.5% opened by another district's office


def test_weekly_xmr_charts(casework):
    with Place.open(casework) as place:
        wk = place.store.table("demand_weekly").to_pandas()
    tot = wk[
        (wk["agency"] == "nycc")
        & (wk["service"] == "All services")
        & (wk["channel"] == "All channels")
        & (wk["measure"] == "end_to_end_median_days")
    ]
    assert len(tot) > 100
    assert (tot["ucl"] >= tot["mean"]).all() and (tot["lcl"] <= tot["mean"]).all()
    assert tot["special_cause"].any()
    assert set(wk["agency"]) == {"nycc", "nyc311"}
