"""Transition SQL on hand-made journeys with known answers; the library and its errors."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from totalplace.engine import open_engine
from totalplace.errors import ManifestError
from totalplace.journeys import steps as steps_sql
from totalplace.journeys import transitions as tr_sql
from totalplace.journeys.library import load_library

LIBRARY = """
transitions:
  discharge:
    title: Discharge, 65+
    attribution: latest
    trigger: {agency: acute, activity: ["Emergency*"], outcome: ["Home"], at: end,
              age: {min: 65}}
    follow_up:
      contacts:
        - {name: visit, agency: asc, within_days: 7}
    adverse:
      - {name: readmission, agency: acute, activity: ["Readmission"], within_days: 30,
         from_day: 1}
  release:
    title: Release
    trigger: {agency: probation, activity: ["Released"], at: end}
    follow_up:
      require: all
      contacts:
        - {name: probation, agency: probation, activity: ["Initial appointment"], within_days: 3}
        - {name: housing, agency: housing, within_days: 14}
    adverse: []
"""


def _ev(agency, eid, src, activity, start, end=None, outcome=None):
    return {
        "agency": agency,
        "event_id": eid,
        "source_id": src,
        "service": None,
        "activity": activity,
        "outcome": outcome,
        "start_at": dt.datetime.fromisoformat(start),
        "end_at": dt.datetime.fromisoformat(end) if end else None,
    }


EVENTS = [
    # Person A (70): discharged 1 March, visited 6 March (5 days), readmitted 20 March;
    # discharged again 25 March: the readmission belongs to the first (attribution latest).
    _ev("acute", "a1", "A", "Emergency", "2024-02-28 10:00", "2024-03-01 12:00", "Home"),
    _ev("asc", "v1", "a", "Reablement", "2024-03-06 10:00"),
    _ev("acute", "a2", "A", "Readmission", "2024-03-20 09:00", "2024-03-22 10:00", "Home"),
    _ev("acute", "a3", "A", "Emergency", "2024-03-24 10:00", "2024-03-25 11:00", "Home"),
    # Person B (60): too young. Person C (80): discharged at 23:30 UTC on 31 May, which is
    # 00:30 on 1 June in London; a visit on 8 June is 7 local days later: in time.
    _ev("acute", "b1", "B", "Emergency", "2024-03-01 10:00", "2024-03-02 10:00", "Home"),
    _ev("acute", "c1", "C", "Emergency", "2024-05-30 10:00", "2024-05-31 23:30", "Home"),
    _ev("asc", "v2", "c", "Review", "2024-06-08 10:00"),
    # Person D: released 1 April; probation on 3 April, housing on 20 April (too late).
    _ev("probation", "r1", "D", "Released", "2023-01-01 00:00", "2024-04-01 00:00"),
    _ev("probation", "p1", "D", "Initial appointment", "2024-04-03 10:00"),
    _ev("housing", "h1", "d", "Advice", "2024-04-20 10:00"),
    # Person E: released 1 April; probation next day, housing on day 14: followed up.
    _ev("probation", "r2", "E", "Released", "2023-06-01 00:00", "2024-04-01 00:00"),
    _ev("probation", "p2", "E", "Initial appointment", "2024-04-02 10:00"),
    _ev("housing", "h2", "e", "Advice", "2024-04-15 10:00"),
]
LINKS = {
    "A": "P1",
    "a": "P1",
    "B": "P2",
    "C": "P3",
    "c": "P3",
    "D": "P4",
    "d": "P4",
    "E": "P5",
    "e": "P5",
}
DOB = {
    "P1": "1954-01-01",
    "P2": "1964-01-01",
    "P3": "1944-01-01",
    "P4": "1990-01-01",
    "P5": "1990-01-01",
}


@pytest.fixture
def eng(tmp_path):
    e = open_engine("duckdb", ":memory:")
    e.register("events", pa.Table.from_pylist(EVENTS))
    e.register(
        "person_links",
        pa.Table.from_pylist(
            [
                {
                    "agency": ev["agency"],
                    "source_id": ev["source_id"],
                    "person_id": LINKS[ev["source_id"]],
                }
                for ev in EVENTS
            ]
        )
        .group_by(["agency", "source_id", "person_id"])
        .aggregate([]),
    )
    e.register(
        "persons",
        pa.Table.from_pylist(
            [{"person_id": p, "dob": dt.date.fromisoformat(d)} for p, d in DOB.items()]
        ),
    )
    e.run(f"CREATE TABLE journey_steps AS {steps_sql.journey_steps_sql('Europe/London')}")
    yield e
    e.close()


@pytest.fixture
def library(tmp_path):
    p = tmp_path / "lib.yaml"
    p.write_text(LIBRARY)
    return load_library(p, defaults=False)


def test_transitions_known_answers(eng, library):
    sql = tr_sql.all_transitions_sql(library, "2023-04-01", "2025-03-31")
    rows = {r["event_id"]: r for r in eng.query(sql).to_pylist()}
    assert set(rows) == {"a1", "a3", "c1", "r1", "r2"}  # b1: aged 60; a2: a readmission
    assert rows["a1"]["followed_up"] and rows["a1"]["days_to_follow_up"] == 5
    assert rows["a1"]["adverse_outcome"]  # readmitted 19 days after, before a3
    assert not rows["a3"]["followed_up"] and not rows["a3"]["adverse_outcome"]
    assert rows["c1"]["at"] == dt.date(2024, 6, 1)  # the local day, not the UTC one
    assert rows["c1"]["followed_up"] and rows["c1"]["days_to_follow_up"] == 7
    assert not rows["r1"]["followed_up"] and rows["r1"]["days_to_follow_up"] is None
    assert rows["r2"]["followed_up"] and rows["r2"]["days_to_follow_up"] == 14
    assert rows["r2"]["observed_days"] == (dt.date(2025, 3, 31) - dt.date(2024, 4, 1)).days

    eng.run(f"CREATE TABLE transitions AS {sql}")
    counts = eng.query(tr_sql.counts_sql()).to_pylist()
    summary = {r["kind"]: r for r in tr_sql.summarise(counts, library).to_pylist()}
    d = summary["discharge"]
    assert (d["volume"], d["followed_up"], d["adverse_followed_up"]) == (3, 2, 1)
    assert d["follow_up_rate_lo"] < 2 / 3 < d["follow_up_rate_hi"]
    assert "association" in d["warning"]
    gaps = {(r["kind"], r["contact"]): r for r in eng.query(tr_sql.gaps_sql(library)).to_pylist()}
    assert (gaps[("release", "housing")]["met"], gaps[("release", "housing")]["late"]) == (1, 1)


def test_journey_steps_cross_agencies(eng):
    rows = eng.query("SELECT * FROM journey_steps WHERE person_id = 'P1' ORDER BY seq").to_pylist()
    assert [r["event_id"] for r in rows] == ["a1", "v1", "a2", "a3"]
    assert [r["crosses_agency"] for r in rows] == [False, True, True, False]
    assert rows[1]["gap_prev_s"] == 7 * 86400 and rows[0]["gap_prev_s"] is None
    h = {
        (r["from_agency"], r["to_agency"]): r["handoffs"]
        for r in eng.query(steps_sql.handoffs_sql()).to_pylist()
    }
    assert h[("acute", "asc")] == 2 and h[("asc", "acute")] == 1
    assert h[("probation", "housing")] == 2


def test_default_library_ships_the_issue_list():
    lib = load_library()
    assert {
        "hospital_discharge",
        "prison_release",
        "care_leaver",
        "school_exclusion",
        "ae_substance",
    } <= set(lib)
    assert lib["prison_release"].follow_up.require == "all"


def test_library_errors_name_every_problem(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(
        "transitions:\n  x:\n    title: X\n    trigger: {agency: a, at: middle}\n"
        "    follow_up: {contacts: [{agency: b}]}\n"
    )
    with pytest.raises(ManifestError) as e:
        load_library(p)
    msg = str(e.value)
    assert "transitions.x.trigger.at" in msg and "within_days" in msg
