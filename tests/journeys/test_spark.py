"""The same journeys SQL on Spark gives what it gives on DuckDB."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest

from tests.journeys.test_transitions import DOB, EVENTS, LIBRARY, LINKS
from totalplace.engine import open_engine
from totalplace.journeys import flow
from totalplace.journeys import steps as steps_sql
from totalplace.journeys import transitions as tr_sql
from totalplace.journeys.library import load_library

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime on PATH")


def _load(eng):
    import datetime as dt

    eng.register("events", pa.Table.from_pylist(EVENTS))
    links = {(e["agency"], e["source_id"]) for e in EVENTS}
    eng.register(
        "person_links",
        pa.Table.from_pylist(
            [{"agency": a, "source_id": s, "person_id": LINKS[s]} for a, s in sorted(links)]
        ),
    )
    eng.register(
        "persons",
        pa.Table.from_pylist(
            [{"person_id": p, "dob": dt.date.fromisoformat(d)} for p, d in DOB.items()]
        ),
    )
    sql = steps_sql.journey_steps_sql("Europe/London", eng.dialect)
    eng.run(f"CREATE OR REPLACE TEMP TABLE journey_steps AS {sql}")


def _results(eng, library):
    d = eng.dialect
    trans = tr_sql.all_transitions_sql(library, "2023-04-01", "2025-03-31")
    eng.run(f"CREATE OR REPLACE TEMP TABLE transitions AS {steps_sql.for_engine(trans, d)}")
    out = {
        "steps": eng.query(
            "SELECT person_id, seq, event_id, start_day, gap_prev_s, crosses_agency "
            "FROM journey_steps ORDER BY person_id, seq"
        ).to_pylist(),
        "transitions": eng.query("SELECT * FROM transitions ORDER BY event_id").to_pylist(),
        "counts": eng.query(steps_sql.for_engine(tr_sql.counts_sql(), d)).to_pylist(),
        "handoffs": eng.query(steps_sql.for_engine(steps_sql.handoffs_sql(), d)).to_pylist(),
    }
    source = (
        "(SELECT person_id AS case_id, activity, start_at AS ts, agency AS org, "
        "seq AS ord FROM journey_steps)"
    )
    a = flow.analyse(eng, source, text_time=False, with_org=True)
    out["dfg"] = sorted(a.dfg.to_pylist(), key=lambda r: (r["source"], r["target"]))
    out["variants"] = sorted(a.variants.to_pylist(), key=lambda r: r["variant"])
    out["summary"] = a.summary
    return out


@pytest.mark.spark
@pytest.mark.slow
@needs_java
def test_spark_equals_duckdb(tmp_path):
    pytest.importorskip("pyspark")
    p = tmp_path / "lib.yaml"
    p.write_text(LIBRARY)
    library = load_library(p, defaults=False)
    duck = open_engine("duckdb", ":memory:")
    try:
        _load(duck)
        want = _results(duck, library)
    finally:
        duck.close()
    spark = open_engine("spark", ":memory:")
    try:
        _load(spark)
        got = _results(spark, library)
    finally:
        spark.close()
    assert len(want["transitions"]) == 5
    for key in want:
        assert got[key] == want[key], key


@pytest.mark.spark
@pytest.mark.slow
@needs_java
def test_cli_log_spark_equals_duckdb(tmp_path):
    """`journeys log --engine spark` writes what the DuckDB engine writes, on a log with
    ties, an 'NA' case, offsets, out-of-order rows and rows that cannot be used."""
    pytest.importorskip("pyspark")
    from click.testing import CliRunner

    from tests.journeys.test_log import HAND_MADE
    from totalplace.cli import main

    src = tmp_path / "log.csv"
    src.write_text(HAND_MADE)
    cols = ["--case-col", "case", "--activity-col", "activity", "--time-col", "time"]
    written = {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / engine
        args = ["journeys", "log", str(src), *cols, "--org-col", "who", "--engine", engine]
        result = CliRunner().invoke(main, [*args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        written[engine] = {p.name: p.read_text() for p in sorted(out.iterdir())}
    assert set(written["spark"]) == {
        "dfg.csv",
        "variants.csv",
        "rework.csv",
        "handoffs.csv",
        "rejects.csv",
        "summary.json",
    }
    assert written["spark"] == written["duckdb"]
    assert '"register","check",2' in written["spark"]["dfg.csv"]  # the tie kept file order
