"""The report's own SQL (place at a glance, linkage quality) gives the same on both engines."""

from __future__ import annotations

import datetime as dt
import decimal
import shutil

import pyarrow as pa
import pytest

from totalplace.link import section as link_section
from totalplace.report import glance

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime on PATH")

TABLES = {
    "source_people": pa.table({"agency": ["a", "a", "b"], "source_id": ["1", "2", "9"]}),
    "events": pa.table(
        {
            "agency": ["a", "a", "b", "b"],
            "start_at": [
                dt.datetime(2024, 4, 3, 10),
                dt.datetime(2024, 4, 30, 23),
                dt.datetime(2024, 5, 1, 0),
                dt.datetime(2023, 1, 1),  # before the period
            ],
        }
    ),
    "spend": pa.table(
        {
            "agency": ["a", "a", "b"],
            "year": ["2024/25", "2024/25", "2024/25"],
            "amount_gbp": pa.array(
                [decimal.Decimal("1.25"), decimal.Decimal("2.50"), decimal.Decimal("7.00")],
                pa.decimal128(18, 2),
            ),
        }
    ),
    "persons": pa.table({"person_id": ["P1", "P2"], "n_records": [2, 1], "n_agencies": [2, 1]}),
    "linkage_pairs": pa.table(
        {"match_weight": [1.5, -2.2, 1.1], "match_key": ["1", "2", "deterministic"]}
    ),
}
SQLS = {
    "records": glance.records_by_agency_sql(),
    "months": glance.events_by_month_sql("2024-04-01", "2025-03-31"),
    "spend": glance.spend_by_agency_sql(),
    "agencies": glance.agencies_per_person_sql(),
    "sizes": link_section.cluster_sizes_sql(),
    "histogram": link_section.histogram_sql(),
}
EXPECTED_MONTHS = [("2024-04", "a", 2), ("2024-05", "b", 1)]


def results(store) -> dict:
    store.publish(TABLES)
    out = {}
    for k, sql in SQLS.items():
        rows = store.engine.query(sql).to_pylist()
        out[k] = sorted(
            tuple(str(v) if isinstance(v, decimal.Decimal) else v for v in r.values()) for r in rows
        )
    return out


def test_duckdb(tmp_path):
    from totalplace.store import Store

    with Store.open(tmp_path / "place.duckdb") as store:
        got = results(store)
    assert got["months"] == EXPECTED_MONTHS
    assert got["spend"] == [("a", "2024/25", "3.75"), ("b", "2024/25", "7.00")]
    assert got["histogram"] == [(-3.0, 1), (1.0, 1)]


@pytest.mark.spark
@needs_java
def test_spark_agrees_with_duckdb(tmp_path):
    pytest.importorskip("pyspark")
    from totalplace.store import Store

    with Store.open(tmp_path / "d" / "place.duckdb") as store:
        want = results(store)
    store = Store.open(tmp_path / "s" / "place.duckdb", engine="spark")
    try:
        got = results(store)
    finally:
        store.close()
    assert got == want
