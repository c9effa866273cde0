"""The demand stage's SQL gives the same rows on DuckDB and Spark."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow as pa
import pytest

from totalplace.demand.linked import contacts_sql, structural_sql
from totalplace.demand.settings import STRUCTURAL


def _tables():
    ts = [dt.datetime(2024, 1, d, 9) for d in (1, 3, 9, 2, 4)]
    events = pa.table(
        {
            "agency": ["cc", "cc", "acute", "acute", "police"],
            "event_id": ["c1", "c2", "a1", "a2", "p1"],
            "source_id": ["1", "2", "9", "9", "5"],
            "service": ["Tax", "Bins", "Emergency department", "Emergency department", "Response"],
            "activity": [
                "Customer contact",
                "Customer contact",
                "A&E attendance",
                "A&E attendance",
                "Theft",
            ],
            "start_at": pa.array(ts, pa.timestamp("us")),
            "end_at": pa.array([None] * 5, pa.timestamp("us")),
            "channel": ["Telephone", "Web form", None, None, None],
            "reason_text": ["chasing my refund", "new bin please", None, None, None],
            "outcome": ["Resolved", "Passed to back office", None, None, None],
        }
    )
    links = pa.table(
        {
            "agency": ["cc", "cc", "acute", "police"],
            "source_id": ["1", "2", "9", "5"],
            "person_id": ["P1", "P1", "P1", "P2"],
        }
    )
    return events, links


def _rows(engine_name, tmp_path):
    from totalplace.store import Store

    events, links = _tables()
    store = Store.open(tmp_path / engine_name / "place.duckdb", engine=engine_name)
    try:
        store.publish({"events": events, "person_links": links})
        q = store.engine.query
        c = sorted(q(contacts_sql(["cc"])).to_pylist(), key=lambda r: r["event_id"])
        s = sorted(q(structural_sql(list(STRUCTURAL))).to_pylist(), key=lambda r: r["event_id"])
        return c, s
    finally:
        store.close()


def test_sql_on_duckdb(tmp_path):
    c, s = _rows("duckdb", tmp_path)
    assert [r["event_id"] for r in c] == ["c1", "c2"]
    assert {r["person_id"] for r in c} == {"P1"}
    assert [r["event_id"] for r in s] == ["a1", "a2", "p1"]


@pytest.mark.spark
@pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime on PATH")
def test_sql_same_on_spark(tmp_path):
    pytest.importorskip("pyspark")
    duck = _rows("duckdb", tmp_path)
    spark = _rows("spark", tmp_path)

    def norm(rows):
        # Spark hands timestamps back as UTC-aware datetimes, DuckDB as naive UTC ones.
        return [
            {k: (str(v).removesuffix("+00:00") if v is not None else None) for k, v in r.items()}
            for r in rows
        ]

    assert norm(spark[0]) == norm(duck[0])
    assert norm(spark[1]) == norm(duck[1])
    from pyspark.sql import SparkSession

    assert SparkSession.getActiveSession() is None
