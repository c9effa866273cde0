"""The journeys stage on linked Anytown (20,000 residents, seed 11) against its truth."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from totalplace.place import Place


@pytest.fixture(scope="module")
def journeyed(anytown_linked, tmp_path_factory):
    """A private copy of linked Anytown with the journeys stage run once for this module."""
    import shutil

    dst = tmp_path_factory.mktemp("journeys") / "anytown"
    shutil.copytree(anytown_linked, dst)
    with Place.open(dst) as place:
        result = place.journeys.run()
    return dst, result


def _truth(place_dir) -> dict[str, dict]:
    t = pq.read_table(place_dir / "truth" / "transitions.parquet").to_pylist()
    out: dict[str, dict] = {}
    for r in t:
        k = out.setdefault(r["kind"], {"n": 0, "fu": 0, "adv": 0, "keys": set()})
        k["n"] += 1
        k["fu"] += r["followed_up"]
        k["adv"] += r["adverse_outcome"]
        k["keys"].add((r["agency"], r["event_id"]))
    return out


def _share(rows: list[dict], col: str) -> float:
    return sum(bool(r[col]) for r in rows) / len(rows) if rows else 0.0


def test_every_true_transition_is_found_with_its_rates(journeyed):
    place_dir, result = journeyed
    truth = _truth(place_dir)
    truth_rows = pq.read_table(place_dir / "truth" / "transitions.parquet").to_pylist()
    with Place.open(place_dir) as place:
        library = place.journeys.library()
        summary = {r["kind"]: r for r in place.store.table("transition_summary").to_pylist()}
        rows = place.store.table("transitions").to_pylist()
    assert set(truth) <= set(summary)
    for kind, t in truth.items():
        s = summary[kind]
        found = {(r["agency"], r["event_id"]) for r in rows if r["kind"] == kind}
        # A trigger is missed only when linkage leaves the event unlinked or the person's
        # date of birth (the most common among their records) puts them outside the ages.
        missed = len(t["keys"] - found)
        assert missed <= 0.005 * t["n"], f"{kind}: {missed} true transitions missed"
        assert abs(s["volume"] - t["n"]) <= 0.02 * t["n"], kind
        # Follow-up rates over the transitions whose follow-up window ends inside the period
        # (the truth also counts follow-ups it scheduled after the period end, which no
        # extract can show); the same transitions on both sides.
        w = library[kind].follow_up_days
        ours_obs = [r for r in rows if r["kind"] == kind and r["observed_days"] >= w]
        true_obs = [r for r in truth_rows if r["kind"] == kind and r["observed_days"] >= w]
        assert _share(ours_obs, "followed_up") == pytest.approx(
            _share(true_obs, "followed_up"), abs=0.02
        ), kind
        assert s["adverse_rate"] == pytest.approx(t["adv"] / t["n"], abs=0.02), kind
    assert "association" in summary["hospital_discharge"]["warning"]
    hd = summary["hospital_discharge"]
    lo, hi = hd["adverse_rate_not_followed_up_lo"], hd["adverse_rate_not_followed_up_hi"]
    assert lo < hd["adverse_rate_not_followed_up"] < hi
    # The built-in effect shows: worse without follow-up, and the intervals do not overlap.
    assert hd["adverse_rate_followed_up_hi"] < lo
    assert result.tables["transitions"] == len(rows)


@pytest.mark.slow
def test_journey_steps_are_each_persons_events_in_time_order(journeyed):
    place_dir, result = journeyed
    with Place.open(place_dir) as place:
        eng = place.store.engine
        linked = eng.scalar(
            "SELECT count(*) FROM events e JOIN person_links pl "
            "ON pl.agency = e.agency AND pl.source_id = e.source_id"
        )
        assert result.tables["journey_steps"] == linked
        bad = eng.scalar(
            """SELECT count(*) FROM (
                 SELECT seq, lag(seq) OVER (PARTITION BY person_id ORDER BY seq) AS p,
                   start_at, lag(start_at) OVER (PARTITION BY person_id ORDER BY seq) AS pt,
                   agency, lag(agency) OVER (PARTITION BY person_id ORDER BY seq) AS pa,
                   crosses_agency, gap_prev_s
                 FROM journey_steps) x
               WHERE (p IS NOT NULL AND (seq <> p + 1 OR start_at < pt
                      OR crosses_agency <> (agency <> pa)
                      OR gap_prev_s <> date_diff('second', pt, start_at)))
                  OR (p IS NULL AND (seq <> 1 OR crosses_agency))"""
        )
        assert bad == 0
        h = place.store.table("handoffs").to_pylist()
        assert h and all(r["from_agency"] != r["to_agency"] for r in h)
        assert all(0 <= r["median_wait_days"] <= 28 for r in h)
        assert place.store.last_run("journeys")["outcome"] == "ok"


@pytest.mark.slow
def test_cohort_round_trips_through_pm4py(journeyed, tmp_path):
    pm4py = pytest.importorskip("pm4py")
    from totalplace.journeys import interop
    from totalplace.journeys.logfile import analyse_place_cohort

    place_dir, _ = journeyed
    where = "agency = 'probation'"
    with Place.open(place_dir) as place:
        steps = interop.cohort_steps(place.store, where=where)
        summary = analyse_place_cohort(place.store, tmp_path / "flow", where=where)
    people = set(steps.column("person_id").to_pylist())
    assert summary["cases"] == len(people) > 10

    xes = tmp_path / "cohort.xes.gz"
    assert interop.write_xes(steps, xes) == steps.num_rows
    back = pm4py.read_xes(str(xes), show_progress_bar=False)
    assert len(back) == steps.num_rows
    assert set(back["case:concept:name"]) == people
    dfg, start, end = pm4py.discover_dfg(back)
    import csv

    with open(tmp_path / "flow" / "dfg.csv", newline="") as f:
        ours = {(r["source"], r["target"]): int(r["count"]) for r in csv.DictReader(f)}
    assert ours == dict(dfg)
    assert summary["start_activities"] == dict(start)

    frame = interop.pm4py_frame(steps)
    assert dict(pm4py.discover_dfg(frame)[0]) == ours

    ocel_path = tmp_path / "cohort.jsonocel"
    interop.write_ocel(steps, ocel_path)
    ocel = pm4py.read_ocel2_json(str(ocel_path))
    assert len(ocel.events) == steps.num_rows
    assert set(ocel.objects["ocel:type"]) == {"person", "agency"}
    assert (ocel.objects["ocel:type"] == "person").sum() == len(people)


@pytest.mark.slow
def test_section_headlines_come_from_the_data(journeyed):
    from totalplace.disclosure import Disclosure
    from totalplace.journeys import section

    place_dir, _ = journeyed
    with Place.open(place_dir) as place:
        s = section(place, Disclosure())
        hd = {r["kind"]: r for r in place.store.table("transition_summary").to_pylist()}[
            "hospital_discharge"
        ]
    missed = 1 - hd["follow_up_rate"]
    text = next(h for h in s.headlines if "aged 65+" in h)
    assert text.startswith(f"{missed:.0%} of ")
    assert f"was {hd['adverse_rate_not_followed_up']:.0%}, against " in text
    assert f"{hd['adverse_rate_followed_up']:.0%} for those who were followed up" in text
    titles = " ".join(f.title for f in s.figures)
    assert "Handoffs between agencies" in titles and "XmR" in titles and "waited" in titles
    assert any("association" in n for n in s.notes)
    # Disclosure: every count in the tables is rounded to 5 (or suppressed).
    for row in s.tables[1].rows:
        assert all(v is None or v % 5 == 0 for v in row[4:8])


def test_section_not_run(minitown):
    from totalplace.disclosure import Disclosure
    from totalplace.journeys import section

    with Place.open(minitown) as place:
        assert section(place, Disclosure()).status == "not run"
