"""The Spark engine: dialect translation (no Spark needed) and a real local session."""

from __future__ import annotations

import datetime as dt
import decimal
import shutil

import pyarrow as pa
import pytest

from totalplace.engine import SqlStep
from totalplace.engine.spark import to_spark_sqls, warehouse_for
from totalplace.errors import StoreError
from totalplace.tables import RUNS


def test_identifiers_and_params_translate():
    assert to_spark_sqls('SELECT "a" FROM "t" WHERE x = ?') == ["SELECT `a` FROM `t` WHERE x = ?"]


def test_temp_table_becomes_a_cached_view():
    out = to_spark_sqls('CREATE OR REPLACE TEMP TABLE "s" AS SELECT 1 AS a')
    assert out[-1] == "CACHE TABLE `s` AS SELECT 1 AS a"
    assert out[0].startswith("UNCACHE TABLE IF EXISTS")


def test_json_type_becomes_string():
    (ddl,) = to_spark_sqls(RUNS.create_sql())
    assert "JSON" not in ddl and "`rows` STRING" in ddl


def test_warehouse_path():
    assert warehouse_for(":memory:") is None
    assert str(warehouse_for("x/place.duckdb")) == "x/place.spark"
    assert str(warehouse_for("x/store")) == "x/store"


needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime on PATH")


@pytest.mark.spark
@needs_java
def test_publish_query_runs_and_reopen(tmp_path):
    pytest.importorskip("pyspark")
    from totalplace.store import Store

    path = tmp_path / "place.duckdb"
    arrow = pa.table({
        "d": pa.array([dt.date(2024, 1, 1)]),
        "m": pa.array([decimal.Decimal("1.25")], pa.decimal128(18, 2)),
    })
    store = Store.open(path, engine="spark")
    try:
        eng = store.engine
        assert eng.scalar("SELECT ? + ?", [2, 3]) == 5
        with store.stage_run("test") as run:
            steps = [SqlStep("SELECT 2 AS x", "_step"), SqlStep('SELECT x * 10 AS x FROM "_step"')]
            counts = store.publish({"a": "SELECT 1 AS x, 'p' AS y", "b": arrow, "c": steps})
            run.rows["a"] = {"out": counts["a"]}
        assert counts == {"a": 1, "b": 1, "c": 1}
        assert eng.query('SELECT * FROM "b"').equals(arrow)
        assert eng.scalar('SELECT x FROM "c"') == 20
        assert {"a", "b", "c", "runs"} <= set(eng.tables())
        assert not [t for t in eng.tables() if t.startswith("_tp_new_")]
        (r,) = store.runs("test")
        assert r["outcome"] == "ok" and r["rows"] == {"a": {"out": 1}}
        with pytest.raises(StoreError, match="while running"):
            eng.query("SELECT nope FROM nowhere")
        with pytest.raises(StoreError, match="already open"):
            Store.open(tmp_path / "other.duckdb", engine="spark")
    finally:
        store.close()
    # Tables persist: a new session on the same store path sees them.
    again = Store.open(path, engine="spark")
    try:
        assert again.engine.query('SELECT * FROM "a"').to_pylist() == [{"x": 1, "y": "p"}]
        assert len(again.runs("test")) == 1
    finally:
        again.close()
    from pyspark.sql import SparkSession

    assert SparkSession.getActiveSession() is None
