"""The place store: atomic publish, staging clean-up, the runs table, missing-table errors."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from totalplace.engine import SqlStep
from totalplace.errors import StoreError
from totalplace.store import Store


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "place.duckdb") as s:
        yield s


def test_publish_replaces_all_tables_and_returns_counts(store):
    counts = store.publish({"a": "SELECT range AS x FROM range(5)", "b": pa.table({"y": [1, 2]})})
    assert counts == {"a": 5, "b": 2}
    counts = store.publish({"a": "SELECT 42 AS x"})
    assert counts == {"a": 1}
    assert store.table("a").to_pylist() == [{"x": 42}]


def test_publish_with_steps_builds_intermediates(store):
    steps = [
        SqlStep("SELECT range AS x FROM range(10)", "nums"),
        SqlStep("SELECT sum(x) AS total FROM nums"),
    ]
    assert store.publish({"totals": steps}) == {"totals": 1}
    assert store.table("totals").to_pylist() == [{"total": 45}]


def test_failed_publish_keeps_previous_tables_and_leaves_no_staging(store):
    store.publish({"a": "SELECT 1 AS x", "b": "SELECT 2 AS y"})
    with pytest.raises(StoreError, match="no_such_table"):
        store.publish({"a": "SELECT 99 AS x", "b": "SELECT * FROM no_such_table"})
    assert store.table("a").to_pylist() == [{"x": 1}]
    assert store.table("b").to_pylist() == [{"y": 2}]
    assert not [t for t in store.engine.tables() if t.startswith("_tp_new_")]


def test_staging_left_by_a_killed_run_is_dropped_on_open(tmp_path):
    path = tmp_path / "place.duckdb"
    with Store.open(path) as s:
        s.publish({"a": "SELECT 1 AS x"})
        s.engine.run('CREATE TABLE "_tp_new_a_deadbeef" AS SELECT 2 AS x')
    with Store.open(path) as s:
        assert s.engine.tables() == ["a", "published_tables", "runs"]
        assert s.table("a").to_pylist() == [{"x": 1}]


def test_stage_run_records_ok_and_failed_runs_with_hashes(store, tmp_path):
    f = tmp_path / "input.csv"
    f.write_text("a,b\n1,2\n")
    with store.stage_run("ingest", inputs=[f]) as run:
        run.rows["t"] = {"in": 1, "out": 1, "rejected": 0}
    with pytest.raises(RuntimeError):
        with store.stage_run("link"):
            raise RuntimeError("boom")
    runs = store.runs()
    assert [r["stage"] for r in runs] == ["ingest", "link"]
    assert runs[0]["outcome"] == "ok"
    assert runs[0]["rows"] == {"t": {"in": 1, "out": 1, "rejected": 0}}
    assert runs[0]["inputs"][str(f)] == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert runs[1]["outcome"] == "failed: RuntimeError: boom"
    assert runs[0]["package_version"]
    assert runs[0]["finished_at"] >= runs[0]["started_at"]
    assert store.last_run("link") is None


def test_require_names_the_missing_table_and_the_stage_that_makes_it(store):
    with pytest.raises(StoreError, match=r"no table person_links \(run `totalplace link`\)"):
        store.require("person_links")


def test_store_timestamps_are_utc(store):
    assert store.engine.scalar("SELECT current_setting('TimeZone')") == "UTC"
