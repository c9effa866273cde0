"""The programme's SQL gives the same people, ages and counts on DuckDB and on Spark."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow as pa
import pytest

from tests.appraise.test_evaluate import SPEC
from totalplace.appraise.evaluate import programme_data
from totalplace.appraise.settings import Programme
from totalplace.store import Store

T = dt.datetime


def tables() -> dict[str, pa.Table]:
    events = [
        ("acute", "a1", "A&E attendance", T(2023, 5, 1, 10)),
        ("acute", "a1", "A&E attendance", T(2023, 6, 1, 23)),
        ("acute", "a1", "A&E attendance", T(2024, 6, 1, 9)),
        ("acute", "a2", "A&E attendance", T(2023, 7, 1, 9)),
        ("acute", "a2", "A&E attendance", T(2023, 9, 30, 22)),
        ("acute", "a3", "Emergency - via A&E", T(2023, 5, 1, 9)),
        ("substance", "s1", "Enrolled", T(2023, 11, 2)),
        ("substance", "s1", "Enrolled", T(2024, 1, 2)),
    ]
    links = [
        ("acute", "a1", "P1"),
        ("acute", "a2", "P2"),
        ("acute", "a3", "P3"),
        ("substance", "s1", "P1"),
    ]
    people = [
        ("acute", "a1", dt.date(1980, 2, 1)),
        ("substance", "s1", dt.date(1980, 2, 1)),
        ("acute", "a2", dt.date(2010, 10, 1)),
        ("acute", "a3", dt.date(1950, 1, 1)),
    ]
    return {
        "events": pa.table(dict(zip(["agency", "source_id", "activity", "start_at"],
                                    zip(*events, strict=True), strict=True))),
        "person_links": pa.table(dict(zip(["agency", "source_id", "person_id"],
                                          zip(*links, strict=True), strict=True))),
        "source_people": pa.table(dict(zip(["agency", "source_id", "dob"],
                                           zip(*people, strict=True), strict=True))),
    }  # fmt: skip


def read(engine: str, tmp_path) -> dict:
    store = Store.open(tmp_path / engine / "place.duckdb", engine=engine)
    try:
        store.publish(tables())
        d = programme_data(store.engine, Programme.model_validate(SPEC), dt.date(2026, 3, 31))
    finally:
        store.close()
    people = d.people.sort_values("person_id")
    return {
        "people": [
            (r.person_id, int(r.prior), int(r.age), str(r.join_date)[:10])
            for r in people.itertuples()
        ],
        "events": sorted((p, str(day)[:10]) for p, day in d.events["ae"].itertuples(index=False)),
        "participants": d.participants_total,
    }


def test_duckdb(tmp_path):
    got = read("duckdb", tmp_path)
    assert got["people"] == [("P1", 2, 43, "2023-11-02"), ("P2", 2, 12, "NaT")]
    assert got["participants"] == 1
    assert len(got["events"]) == 5


@pytest.mark.spark
@pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime on PATH")
def test_spark_agrees_with_duckdb(tmp_path):
    pytest.importorskip("pyspark")
    assert read("spark", tmp_path) == read("duckdb", tmp_path)
