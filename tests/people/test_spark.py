"""The people stage's costing SQL gives the same answer on DuckDB and Spark."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import pyarrow as pa
import pytest

from totalplace.people import costs

PERIOD = (dt.date(2023, 4, 1), dt.date(2026, 3, 31))


def _inputs() -> dict[str, pa.Table]:
    ts = lambda s: dt.datetime.fromisoformat(s) if s else None  # noqa: E731
    rows = [
        (
            "acute",
            "A1",
            "p1",
            "Emergency department",
            "A&E attendance",
            "Admitted",
            "Ambulance",
            "2024-03-31 23:30:00",
            "2024-04-01 02:00:00",
            None,
        ),
        (
            "acute",
            "A2",
            "p2",
            "Emergency department",
            "A&E attendance",
            "Discharged home",
            "Walk-in",
            "2024-06-01 10:00:00",
            "2024-06-01 13:00:00",
            None,
        ),
        (
            "housing",
            "H1",
            "h1",
            "Housing options",
            "Rough sleeping verified",
            None,
            None,
            "2025-12-01 00:00:00",
            None,
            None,
        ),
        (
            "adult_social_care",
            "S1",
            "s1",
            "Adult social care",
            "Review",
            None,
            None,
            "2024-05-01 00:00:00",
            None,
            None,
        ),
        (
            "substance",
            "T1",
            "t1",
            "Alcohol",
            "Structured treatment episode",
            None,
            None,
            "2023-01-01 00:00:00",
            "2023-06-01 00:00:00",
            Decimal("123.45"),
        ),
    ]
    cols = [
        "agency",
        "event_id",
        "source_id",
        "service",
        "activity",
        "outcome",
        "channel",
        "start_at",
        "end_at",
        "cost_gbp",
    ]
    data = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    events = pa.table(
        {
            **{c: pa.array(data[c], pa.string()) for c in cols[:7]},
            "start_at": pa.array([ts(x) for x in data["start_at"]], pa.timestamp("us")),
            "end_at": pa.array([ts(x) for x in data["end_at"]], pa.timestamp("us")),
            "cost_gbp": pa.array(data["cost_gbp"], pa.decimal128(18, 2)),
            "reason_text": pa.nulls(len(rows), pa.string()),
        }
    )
    links = pa.table(
        {
            "agency": [r[0] for r in rows],
            "source_id": [r[2] for r in rows],
            "person_id": ["P1", "P2", "P3", "P4", "P5"],
        }
    )
    return {"events": events, "person_links": links}


def _run(engine) -> tuple[list, list]:
    table = costs.load_unit_cost_table(price_year="2025/26")
    rules = costs.load_cost_rules()
    for name, t in _inputs().items():
        engine.register(name, t)
    engine.register(costs.RULES_TABLE, costs.rules_table(rules, table))
    for step in costs.event_costs_sqls(rules, PERIOD, "Europe/London", dialect=engine.dialect):
        engine.run(f'CREATE OR REPLACE TEMP TABLE "{step.output_table}" AS {step.sql}')
    ev = engine.query(
        "SELECT event_id, cost_gbp, cost_source, reason FROM event_costs ORDER BY event_id"
    ).to_pylist()
    pc = engine.query(
        f"SELECT * FROM ({costs.person_costs_sql(PERIOD)}) ORDER BY person_id, year"
    ).to_pylist()
    return ev, pc


def test_costs_on_duckdb():
    from totalplace.engine import open_engine

    eng = open_engine("duckdb", ":memory:")
    ev, pc = _run(eng)
    got = {r["event_id"]: r for r in ev}
    assert got["S1"]["cost_gbp"] is None and got["S1"]["reason"].startswith("no unit cost")
    assert got["T1"]["cost_source"] == "extract"
    # The 23:30 UTC arrival is 00:30 on 1 April in London: a 2024/25 attendance, costed once.
    assert [r["year"] for r in pc if r["person_id"] == "P1"] == ["2024/25"]
    # Rough sleeping from 1 December 2025, still open: 121 days to the period end.
    rough = next(r for r in pc if r["person_id"] == "P3")["cost_gbp"]
    per_day = costs.load_unit_cost_table()["rough_sleeper"].uprated_gbp * 100 / Decimal("365.25")
    assert rough == (per_day * 121 / 100).quantize(Decimal("0.01"))
    eng.close()


@pytest.mark.spark
@pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime on PATH")
def test_costs_same_on_spark(tmp_path):
    pytest.importorskip("pyspark")
    from totalplace.engine import open_engine

    duck = open_engine("duckdb", ":memory:")
    want = _run(duck)
    duck.close()
    spark = open_engine("spark", str(tmp_path / "place.duckdb"))
    try:
        got = _run(spark)
    finally:
        spark.close()
    assert got == want
