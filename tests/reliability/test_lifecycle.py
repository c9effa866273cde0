"""The run lifecycle: running -> ok in the swap's transaction, failed / interrupted / killed."""

from __future__ import annotations

import os
import signal
import socket
import time

import duckdb
import pytest

from totalplace.errors import StoreError
from totalplace.lifecycle import Terminated
from totalplace.store import Store, StoreWarning

from .helpers import run_python


@pytest.fixture
def path(tmp_path):
    return tmp_path / "place.duckdb"


def _run(store: Store, run_id: str) -> dict:
    (r,) = [r for r in store.runs() if r["run_id"] == run_id]
    return r


def test_a_run_is_running_with_its_process_then_ok_with_the_swap(path):
    with Store.open(path) as store:
        with store.stage_run("ingest") as run:
            r = _run(store, run.run_id)
            assert (r["outcome"], r["pid"], r["host"]) == (
                "running",
                os.getpid(),
                socket.gethostname(),
            )
            assert r["finished_at"] is None
            store.publish({"source_people": "SELECT 1 AS x"})
            # ok, with the table's record, as soon as the swap commits (before the stage ends)
            assert _run(store, run.run_id)["outcome"] == "ok"
            assert store.published()["source_people"]["run_id"] == run.run_id
            run.rows["source_people"] = {"out": 1}
        r = _run(store, run.run_id)
        assert r["outcome"] == "ok" and r["rows"] == {"source_people": {"out": 1}}
        assert r["finished_at"] >= r["started_at"]


def test_lineage_records_the_runs_of_the_tables_a_stage_read(path):
    with Store.open(path) as store:
        with store.stage_run("ingest") as first:
            store.publish({"source_people": "SELECT 1 AS x", "events": "SELECT 2 AS y"})
        with store.stage_run("link") as second:
            n = store.engine.scalar('SELECT count(*) FROM "source_people"')
            store.publish({"persons": f"SELECT {n} AS n"})
        with store.stage_run("demand", reads=["persons", "events"]) as third:
            store.publish({"demand": "SELECT 1 AS d"})
        assert _run(store, second.run_id)["reads"] == {"source_people": first.run_id}
        assert _run(store, third.run_id)["reads"] == {
            "persons": second.run_id,
            "events": first.run_id,
        }
        pub = store.published()
        assert {t: (p["stage"], p["run_id"], p["rows"]) for t, p in pub.items()} == {
            "source_people": ("ingest", first.run_id, 1),
            "events": ("ingest", first.run_id, 1),
            "persons": ("link", second.run_id, 1),
            "demand": ("demand", third.run_id, 1),
        }


def test_a_stage_may_publish_twice_and_each_publish_is_recorded(path):
    with Store.open(path) as store:
        with store.stage_run("link") as run:
            store.publish({"a": "SELECT 1 AS x"})
            store.publish({"b": "SELECT 2 AS x", "a": "SELECT 3 AS x"})
        assert store.table("a").to_pylist() == [{"x": 3}]
        assert {t: p["run_id"] for t, p in store.published().items()} == {
            "a": run.run_id,
            "b": run.run_id,
        }
        assert store.engine.count("published_tables") == 3  # one row per table per publish


def test_a_failure_records_its_real_cause_not_the_runs_insert(path):
    with Store.open(path) as store:
        store.publish({"a": "SELECT 1 AS x"})
        with pytest.raises(StoreError, match="no_such_table"):
            with store.stage_run("link") as run:
                store.publish({"a": "SELECT * FROM no_such_table"})
        outcome = _run(store, run.run_id)["outcome"]
        assert outcome.startswith("failed: StoreError: CatalogException: Catalog Error")
        assert "no_such_table" in outcome and "runs" not in outcome
        assert "while running" in _run(store, run.run_id)["detail"]["error"]


def test_a_failure_after_publishing_says_so(path):
    with Store.open(path) as store:
        with pytest.raises(ValueError):
            with store.stage_run("link") as run:
                store.publish({"a": "SELECT 1 AS x"})
                raise ValueError("review file not written")
        r = _run(store, run.run_id)
        assert r["outcome"] == "failed: ValueError: review file not written (after publishing a)"
        assert store.published()["a"]["run_id"] == run.run_id


def test_when_the_outcome_cannot_be_written_the_stage_error_still_surfaces(path, monkeypatch):
    with Store.open(path) as store:

        def broken(*a, **k):
            raise StoreError("INSERT INTO runs failed: disk I/O error")

        with pytest.raises(RuntimeError, match="the real cause") as info:
            with store.stage_run("link") as run:
                monkeypatch.setattr(store, "_set_run", broken)
                raise RuntimeError("the real cause")
        assert "could not be recorded" in " ".join(info.value.__notes__)
        monkeypatch.undo()
        run_id = run.run_id
    pending = path.parent / ".totalplace" / "outcomes" / run_id
    assert pending.read_text().strip() == "failed: RuntimeError: the real cause"
    with Store.open(path) as store:
        assert _run(store, run_id)["outcome"] == "running"  # its process (this one) is alive
        gone = run_python("import os; print(os.getpid())").stdout.strip()
        with store.engine.writing():
            store.engine.run("UPDATE runs SET pid = ? WHERE run_id = ?", [int(gone), run_id])
    # once its process is gone, the next open applies the outcome that could not be written
    with Store.open(path) as store:
        assert _run(store, run_id)["outcome"] == "failed: RuntimeError: the real cause"
    assert not pending.exists()


def test_ctrl_c_is_recorded_as_interrupted(path):
    with Store.open(path) as store:
        with pytest.raises(KeyboardInterrupt):
            with store.stage_run("ingest") as run:
                raise KeyboardInterrupt
        assert _run(store, run.run_id)["outcome"] == "interrupted"


def test_an_interrupt_a_library_wrapped_is_still_an_interrupt(path):
    # Splink turns Ctrl-C inside DuckDB into its own SplinkException on the way out.
    with Store.open(path) as store:
        with pytest.raises(KeyboardInterrupt):
            with store.stage_run("link") as run:
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(5)
                except KeyboardInterrupt:
                    raise RuntimeError("SplinkException: Error executing SQL") from None
        assert _run(store, run.run_id)["outcome"] == "interrupted"


def test_sigterm_stops_the_run_cleanly_as_interrupted(path):
    with Store.open(path) as store:
        with pytest.raises(Terminated):
            with store.stage_run("link") as run:
                tmp = run.tmp
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
        assert _run(store, run.run_id)["outcome"] == "interrupted"
        assert not tmp.exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


KILLED_RUN = """
from totalplace.store import Store, StoreWarning
store = Store.open({path!r})
with store.stage_run("ingest") as run:
    store.publish({{"a": "SELECT 2 AS x", "b": "SELECT 2 AS y"}})
"""


@pytest.mark.parametrize(
    ("point", "outcome", "new"),
    [
        ("started", "killed", False),
        ("staged", "killed", False),
        ("in_swap", "killed", False),
        ("after_swap", "ok", True),
        ("published", "ok", True),
    ],
)
def test_a_killed_run_is_found_on_the_next_open(path, point, outcome, new):
    with Store.open(path) as store:
        store.publish({"a": "SELECT 1 AS x", "b": "SELECT 1 AS y"})
    proc = run_python(KILLED_RUN.format(path=str(path)), TOTALPLACE_TEST_KILL_AT=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Store.open(path) as store:
        (r,) = store.runs("ingest")
        assert r["outcome"] == outcome
        tables = store.engine.query("SELECT a.x, b.y FROM a, b").to_pylist()
        assert tables == ([{"x": 2, "y": 2}] if new else [{"x": 1, "y": 1}])
        pub = store.published()
        assert (pub.get("a", {}).get("run_id") == r["run_id"]) is new
        assert not [t for t in store.engine.tables() if t.startswith("_tp_new_")]


def test_a_failed_checkpoint_after_the_commit_does_not_fail_the_run(path, monkeypatch):
    monkeypatch.setenv("TOTALPLACE_TEST_FAIL_AT", "checkpoint")
    with Store.open(path) as store:
        with store.stage_run("ingest") as run, pytest.warns(StoreWarning, match="safe in its"):
            counts = store.publish({"a": "SELECT 1 AS x"})
        assert counts == {"a": 1}
        r = _run(store, run.run_id)
        assert r["outcome"] == "ok"
        assert "No space left on device" in r["detail"]["checkpoint_deferred"]
    monkeypatch.delenv("TOTALPLACE_TEST_FAIL_AT")
    with Store.open(path) as store:
        assert store.table("a").to_pylist() == [{"x": 1}]
        assert _run(store, run.run_id)["outcome"] == "ok"


def test_an_older_store_is_migrated_in_place(path):
    con = duckdb.connect(str(path))
    con.execute("""CREATE TABLE runs (run_id VARCHAR, stage VARCHAR, started_at TIMESTAMP,
        finished_at TIMESTAMP, outcome VARCHAR, package_version VARCHAR, rows JSON,
        inputs JSON, detail JSON)""")
    con.execute("""INSERT INTO runs VALUES ('r1', 'ingest', TIMESTAMP '2026-01-01 10:00',
        TIMESTAMP '2026-01-01 10:01', 'ok', '0.1', '{}', '{}', '{}')""")
    con.execute("CREATE TABLE source_people AS SELECT range AS x FROM range(3)")
    con.close()
    with Store.open(path, read_only=True) as store:  # read-only: not migrated, still read
        assert store.published()["source_people"]["run_id"] == "r1"
    with Store.open(path) as store:
        assert {"pid", "host", "reads", "settings"} <= set(store.engine.columns("runs"))
        pub = store.published()["source_people"]
        assert (pub["stage"], pub["run_id"], pub["rows"]) == ("ingest", "r1", 3)
        (r,) = store.runs()
        assert r["outcome"] == "ok" and r["reads"] is None
