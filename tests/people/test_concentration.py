"""Concentration, persistence and regression to the mean against the truth."""

from __future__ import annotations

import pytest

from totalplace.people import concentration as conc
from totalplace.people.evaluate import truth_rtm


def test_concentration_sql_counts_people_with_no_cost():
    import duckdb

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE pc AS SELECT 'p' || range AS person_id, 10.0 AS cost_gbp, "
        "'2024/25' AS year FROM range(2)"
    )
    totals = conc.unit_totals_sql("person", None, "pc", "hc")
    row = con.sql(conc.concentration_sql(totals, 4, "all", "person")).fetchall()[0]
    cols = [d[0] for d in con.sql(conc.concentration_sql(totals, 4, "all", "person")).description]
    r = dict(zip(cols, row, strict=True))
    # Two of four people hold everything equally: Gini 0.5.
    assert r["gini"] == pytest.approx(0.5)
    lorenz = con.sql(conc.lorenz_sql(totals, 4, "all", "person", points=4)).fetchall()
    assert [round(x[3], 2) for x in lorenz] == [0.0, 0.0, 0.0, 0.5, 1.0]


@pytest.mark.slow
def test_regression_to_the_mean_matches_truth(people_open, people_place):
    """Top 5% by cost in year one: their year-two fall, with no intervention, as the truth."""
    rows = people_open.store.engine.query(
        "SELECT * FROM persistence ORDER BY from_year"
    ).to_pylist()
    assert rows
    for r in rows:
        truth = truth_rtm(people_place / "truth", r["from_year"], r["to_year"], 0.05)
        assert r["change"] < -0.2  # they really do cost much less a year later
        assert abs(r["change"] - truth["change"]) <= 0.02, (r, truth)


@pytest.mark.slow
def test_stage_tables_hold_only_pseudonymous_ids(people_open):
    eng = people_open.store.engine
    for t in ("event_costs", "person_costs", "person_needs", "cohort_members", "segments"):
        cols = set(eng.columns(t))
        assert not cols & {"given_name", "family_name", "dob", "nhs_number", "postcode", "address"}
        assert eng.scalar(f"SELECT count(*) FROM {t} WHERE person_id NOT LIKE 'P%'") == 0


@pytest.mark.slow
def test_section_has_headlines_from_the_data(people_open):
    from totalplace.disclosure import Disclosure
    from totalplace.people import section

    s = section(people_open, Disclosure())
    assert s.status == "ok"
    assert s.headlines[0].startswith("1% of Anytown residents account for")
    assert "with no programme at all" in s.headlines[1]
    assert len(s.figures) >= 4 and all(f.figure.layout.title.text for f in s.figures)


def test_section_before_the_stage_runs(minitown):
    from totalplace.people import section
    from totalplace.place import Place

    with Place.open(minitown) as place:
        assert section(place).status == "not run"


@pytest.mark.slow
def test_segments_partition_the_linked_people(people_open):
    eng = people_open.store.engine
    assert eng.count("segments") == eng.count("persons")
    assert eng.scalar("SELECT count(*) FROM segments WHERE segment IS NULL") == 0
    total = eng.scalar("SELECT sum(cost_gbp) FROM segments")
    assert total == eng.scalar("SELECT sum(cost_gbp) FROM person_costs")


@pytest.mark.slow
def test_cohort_command_reports_bad_definitions(people_place, tmp_path):
    from click.testing import CliRunner

    from totalplace.cli import main

    bad = tmp_path / "c.yaml"
    bad.write_text("cohorts:\n  - {name: x, age: {min: 70, max: 2}, needs: [gambling]}\n")
    r = CliRunner().invoke(main, ["people", "cohort", str(people_place), str(bad)])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "2 problems in the cohort definitions" in r.output
    good = tmp_path / "g.yaml"
    good.write_text(
        "cohorts:\n  - name: ae\n    activity: [{agency: acute, activity: 'A&E*', min_count: 4}]\n"
    )
    out = tmp_path / "m.csv"
    r = CliRunner().invoke(
        main,
        [
            "people",
            "cohort",
            str(people_place),
            str(good),
            "--compare",
            "coarsened",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert out.read_text().count("\n") > 10


@pytest.mark.slow
def test_ranking_only_people_with_a_cost_gives_the_same_persistence_figures(people_open):
    """The fast path (people with a cost only) equals every person's row in every year."""
    eng = people_open.store.engine
    ys = people_open.people.years
    k = round(people_open.people.population() * 0.05)
    eng.run(
        "CREATE OR REPLACE TEMP TABLE _t_totals AS "
        + conc.all_unit_totals_sql("person_costs", "household_costs", ys)
    )
    eng.run(
        "CREATE OR REPLACE TEMP TABLE _t_fast AS "
        + conc.cost_groups_sql("_t_totals", "persons", len(ys))
    )
    pc = "(SELECT person_id, year, cost_gbp FROM person_costs)"
    eng.run(
        "CREATE OR REPLACE TEMP TABLE _t_all AS " + conc.person_year_groups_sql(ys, pc, "persons")
    )
    for i in range(len(ys) - 1):
        fast = eng.query(
            f"SELECT * FROM ({conc.transitions_from_groups_sql(ys, i, '_t_fast')}) ORDER BY ALL"
        ).to_pylist()
        full = eng.query(
            f"SELECT * FROM ({conc.decile_transitions_from_sql(ys, i, '_t_all')}) ORDER BY ALL"
        ).to_pylist()
        assert fast == full and sum(r["people"] for r in fast) == eng.count("persons")
        fast = eng.query(conc.persistence_from_groups_sql(ys, i, k, 0.05, "_t_fast")).to_pylist()
        full = eng.query(conc.persistence_from_sql(ys, i, k, 0.05, "_t_all")).to_pylist()
        assert fast == full
