"""Stable person ids: known answers for re-runs, new records, merges, splits and retirements."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from totalplace.link.stable_ids import assign, match_round_sql, max_sequence_sql
from totalplace.store import Store

AT = dt.datetime(2025, 3, 1)


def clusters(groups: dict[str, list[str]]) -> pa.Table:
    """{cluster_id: ["agency|source_id", ...]} -> the clusters table assign() takes."""
    rows = [(u.split("|")[0], u.split("|")[1], u, c) for c, us in groups.items() for u in us]
    return pa.table(
        {
            k: [r[i] for r in rows]
            for i, k in enumerate(["agency", "source_id", "unique_id", "cluster_id"])
        }
    )


def run(store: Store, groups: dict[str, list[str]], run_id: str) -> tuple[dict[str, str], list]:
    """Assign ids, publish them as the link stage would, return {unique_id: person_id}."""
    mapping, history = assign(clusters(groups), store, run_id, at=AT)
    store.publish({"person_links": mapping, "person_id_history": history})
    ids = dict(
        zip(
            mapping.column("unique_id").to_pylist(),
            mapping.column("person_id").to_pylist(),
            strict=True,
        )
    )
    new_events = [
        (r["person_id"], r["event"], r["related_person_id"])
        for r in history.to_pylist()
        if r["run_id"] == run_id
    ]
    return ids, sorted(new_events, key=str)


@pytest.fixture
def store():
    s = Store.open(":memory:")
    yield s
    s.close()


FIRST = {"c1": ["a|1", "b|1", "c|1"], "c2": ["a|2", "b|2"], "c3": ["a|3"]}


def test_first_run_numbers_clusters_by_smallest_record(store):
    ids, events = run(store, FIRST, "r1")
    assert ids == {
        "a|1": "P0000001",
        "b|1": "P0000001",
        "c|1": "P0000001",
        "a|2": "P0000002",
        "b|2": "P0000002",
        "a|3": "P0000003",
    }
    assert events == [
        ("P0000001", "created", None),
        ("P0000002", "created", None),
        ("P0000003", "created", None),
    ]


def test_identical_rerun_keeps_every_id_and_records_nothing(store):
    first, _ = run(store, FIRST, "r1")
    # Different (arbitrary) cluster ids this time, as Splink gives.
    again, events = run(store, {"zz": FIRST["c3"], "yy": FIRST["c1"], "xx": FIRST["c2"]}, "r2")
    assert again == first
    assert events == []


def test_new_records_keep_ids_and_new_people_continue_the_sequence(store):
    first, _ = run(store, FIRST, "r1")
    grown = {"k": FIRST["c1"] + ["d|1"], "l": FIRST["c2"], "m": FIRST["c3"], "n": ["d|9", "e|9"]}
    ids, events = run(store, grown, "r2")
    for u, pid in first.items():
        assert ids[u] == pid
    assert ids["d|1"] == "P0000001"
    assert ids["d|9"] == ids["e|9"] == "P0000004"
    assert events == [("P0000004", "created", None)]


def test_merge_keeps_the_plurality_id_and_records_the_merge(store):
    run(store, FIRST, "r1")
    merged = {"m": FIRST["c1"] + FIRST["c2"], "s": FIRST["c3"]}
    ids, events = run(store, merged, "r2")
    assert {ids[u] for u in FIRST["c1"] + FIRST["c2"]} == {"P0000001"}  # 3 records beat 2
    assert ids["a|3"] == "P0000003"
    assert events == [("P0000002", "merged_into", "P0000001")]


def test_split_keeps_the_bigger_part_and_records_the_split(store):
    run(store, FIRST, "r1")
    split = {"big": ["a|1", "b|1"], "small": ["c|1"], "x": FIRST["c2"], "y": FIRST["c3"]}
    ids, events = run(store, split, "r2")
    assert ids["a|1"] == ids["b|1"] == "P0000001"
    assert ids["c|1"] == "P0000004"
    assert events == [("P0000004", "created", None), ("P0000004", "split_from", "P0000001")]


def test_tied_split_is_deterministic(store):
    run(store, {"c": ["a|1", "a|2"]}, "r1")
    ids, events = run(store, {"q": ["a|2"], "p": ["a|1"]}, "r2")
    # Equal shares: the cluster whose smallest unique_id sorts first keeps the id.
    assert ids == {"a|1": "P0000001", "a|2": "P0000002"}
    assert ("P0000002", "split_from", "P0000001") in events


def test_second_choice_when_plurality_id_is_taken(store):
    run(store, {"c1": ["a|1", "a|2", "a|3", "a|4", "a|5"], "c2": ["b|1"]}, "r2a")
    # Cluster y's plurality id (P1, 2 records) goes to x (3 records); y takes P2 instead.
    ids, events = run(store, {"x": ["a|1", "a|2", "a|3"], "y": ["a|4", "a|5", "b|1"]}, "r2b")
    assert ids["a|1"] == "P0000001" and ids["a|4"] == ids["b|1"] == "P0000002"
    assert events == []


def test_retired_ids_are_never_reused(store):
    run(store, FIRST, "r1")
    ids, events = run(store, {"c1": FIRST["c1"], "c2": FIRST["c2"], "n": ["z|1"]}, "r2")
    assert ("P0000003", "retired", None) in events
    assert ids["z|1"] == "P0000004"
    # Even after P0000004 disappears, the next new person is P0000005.
    ids, events = run(store, {"c1": FIRST["c1"], "c2": FIRST["c2"], "n": ["y|1"]}, "r3")
    assert ids["y|1"] == "P0000005"
    assert ("P0000004", "retired", None) in events


def test_history_accumulates_over_runs(store):
    run(store, FIRST, "r1")
    run(store, {"m": FIRST["c1"] + FIRST["c2"], "s": FIRST["c3"]}, "r2")
    hist = store.table("person_id_history").to_pylist()
    assert [r["run_id"] for r in hist].count("r1") == 3
    second = [(r["event"], r["run_id"]) for r in hist if r["run_id"] == "r2"]
    assert second == [("merged_into", "r2")]
    assert all(r["at"] == AT for r in hist)


def test_missing_columns_are_named(store):
    with pytest.raises(ValueError, match=r"missing \['cluster_id'\]"):
        assign(pa.table({"agency": ["a"], "source_id": ["1"], "unique_id": ["a|1"]}), store, "r")


def test_sql_builders_are_pure():
    assert "NOT IN" in match_round_sql("v", "a")
    assert "FROM (SELECT CAST(NULL AS VARCHAR)" in max_sequence_sql([])


@pytest.mark.slow
def test_next_months_extracts_keep_person_ids(tmp_path):
    """Link 90% of the records, then all of them: people already seen keep their ids."""
    try:
        from totalplace import Place
        from totalplace.link import Link  # noqa: F401
        from totalplace.synth import generate
    except ImportError as e:
        pytest.skip(f"synth, ingest or link not available: {e}")
    out = tmp_path / "town"
    generate(residents=2000, seed=4, out=out, activity=False)
    with Place.open(out) as place:
        place.ingest.run()
        store = place.store
        full = store.table("source_people")
        store.publish(
            {"source_people": "SELECT * FROM source_people WHERE hash(source_id) % 10 <> 0"}
        )
        place.link.run()
        before = store.table("person_links")
        store.publish({"source_people": full})
        place.link.run()
        after = store.table("person_links")
        history = store.table("person_id_history").to_pylist()
    old = dict(
        zip(
            before.column("unique_id").to_pylist(),
            before.column("person_id").to_pylist(),
            strict=True,
        )
    )
    new = dict(
        zip(
            after.column("unique_id").to_pylist(),
            after.column("person_id").to_pylist(),
            strict=True,
        )
    )
    kept = sum(new[u] == p for u, p in old.items()) / len(old)
    first_run = history[0]["run_id"]
    events = [h["event"] for h in history if h["run_id"] != first_run]
    n_new_people = len(set(new.values()) - set(old.values()))
    print(
        f"\n{len(old)} -> {len(new)} records; person ids kept for {kept:.2%} of the first "
        f"run's records; {n_new_people} new people; events "
        f"{ {e: events.count(e) for e in sorted(set(events))} }"
    )
    assert len(new) > len(old)
    assert kept >= 0.99
    assert events.count("created") == n_new_people
    # New ids continue the sequence rather than reusing old ones.
    assert min(set(new.values()) - set(old.values())) > max(old.values())
