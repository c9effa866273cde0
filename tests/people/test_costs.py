"""Costs: unit costs as data, every event costed or given a reason, exact against the truth."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from totalplace.errors import ManifestError
from totalplace.people import costs
from totalplace.people.evaluate import top_shares, truth_top_shares


def test_default_rules_name_only_known_unit_costs():
    rules = costs.load_cost_rules()
    assert costs.check_rules(rules, costs.load_unit_cost_table()) == []


def test_unknown_cost_id_and_bad_basis_are_reported_together():
    table = costs.load_unit_cost_table()
    rules = [
        costs.CostRule(agency="acute", cost_id="no_such_cost"),
        costs.CostRule(agency="acute", cost_id="ae_admitted", basis="day"),
    ]
    problems = costs.check_rules(rules, table)
    assert len(problems) == 2
    assert "rules[0].cost_id: unknown cost_id 'no_such_cost'" in problems[0]
    assert "rules[1].basis" in problems[1]


def test_bad_unit_cost_table_reports_every_row(tmp_path):
    p = tmp_path / "uc.csv"
    p.write_text(
        "cost_id,unit,cost_gbp,price_year\n"
        "a,fortnight,10,2020/21\n"
        "b,event,ten,2020/21\n"
        "c,event,10,1850/51\n",
        encoding="utf-8",
    )
    with pytest.raises(ManifestError) as e:
        costs.load_unit_cost_table(p)
    assert len(e.value.problems) == 3
    assert "line 2 (a): unit must be one of" in e.value.problems[0]


def test_uprating_follows_the_price_year():
    a = costs.load_unit_cost_table(price_year="2025/26")["ae_admitted"]
    b = costs.load_unit_cost_table(price_year="2011/12")["ae_admitted"]
    assert b.uprated_gbp == Decimal("147.00")
    assert a.uprated_gbp > b.uprated_gbp


def test_rule_without_cost_needs_a_reason(tmp_path):
    p = tmp_path / "rules.yaml"
    p.write_text("rules:\n  - {agency: acute, cost_id: null}\n  - {agency: x, basis: week}\n")
    with pytest.raises(ManifestError) as e:
        costs.load_cost_rules(p)
    assert any("must give a reason" in q for q in e.value.problems)
    assert any("rules[1].cost_id" in q for q in e.value.problems)
    assert any("rules[1].basis" in q for q in e.value.problems)


def test_match_is_a_case_insensitive_glob():
    r = costs.CostRule(agency="acute", activity="A&E*", cost_id="x")
    assert r.matches(agency="acute", activity="a&e attendance")
    assert not r.matches(agency="police", activity="A&E attendance")
    sql = costs.match_sql(r)
    assert "e.agency_l = 'acute'" in sql and "starts_with(e.activity_l, 'a&e')" in sql
    assert costs.glob_sql("x", "*care*") == "x LIKE '%care%' ESCAPE '\\'"
    assert costs.glob_sql("x", "mental_health") == "x = 'mental_health'"


def test_financial_years_of_a_period():
    got = costs.fy_bounds(dt.date(2023, 4, 1), dt.date(2026, 3, 31))
    assert [g[0] for g in got] == ["2023/24", "2024/25", "2025/26"]


@pytest.mark.slow
def test_every_event_has_a_cost_or_a_reason(people_open):
    eng = people_open.store.engine
    n_events = eng.count("events")
    t = eng.query(
        "SELECT count(*) AS n, count(*) FILTER (WHERE cost_gbp IS NULL AND reason IS NULL) AS "
        "silent, count(*) FILTER (WHERE cost_gbp IS NOT NULL AND reason IS NOT NULL) AS both "
        "FROM event_costs"
    ).to_pylist()[0]
    assert t == {"n": n_events, "silent": 0, "both": 0}


@pytest.mark.slow
def test_event_costs_reconcile_with_truth_to_the_penny(people_open, people_place):
    con = people_open.store.engine.con
    truth = people_place / "truth" / "event_costs.parquet"
    rows = con.sql(
        f"""
SELECT e.estimate, count(*) AS n,
  count(*) FILTER (WHERE t.cost_gbp = e.cost_gbp) AS same,
  count(*) FILTER (WHERE t.event_id IS NULL) AS not_in_truth
FROM event_costs e LEFT JOIN read_parquet('{truth}') t USING (agency, event_id)
WHERE e.cost_gbp IS NOT NULL GROUP BY 1
"""
    ).fetchall()
    exact = {r[0]: r for r in rows}[False]
    assert exact[1] > 50_000
    assert exact[2] == exact[1]  # every exactly-costed event, to the penny
    missed = con.sql(
        f"SELECT count(*) FROM read_parquet('{truth}') t "
        "JOIN event_costs e USING (agency, event_id) WHERE e.cost_gbp IS NULL"
    ).fetchall()[0][0]
    assert missed == 0


@pytest.mark.slow
def test_person_costs_add_up_to_linked_event_costs(people_open):
    eng = people_open.store.engine
    a = eng.scalar("SELECT sum(cost_gbp) FROM person_costs")
    b = eng.scalar("SELECT sum(cost_gbp) FROM event_costs WHERE person_id IS NOT NULL")
    assert a == b


@pytest.mark.slow
def test_top_shares_match_truth_within_a_point(people_open, people_place):
    eng = people_open.store.engine
    pop = people_open.people.population()
    v = [
        float(r["c"])
        for r in eng.query(
            "SELECT sum(cost_gbp) AS c FROM person_costs GROUP BY person_id"
        ).to_pylist()
    ]
    ours = top_shares(v, pop)
    truth = truth_top_shares(people_place / "truth")
    for q in (0.01, 0.05):
        assert abs(ours[q] - truth[q]) <= 0.01, (q, ours[q], truth[q])


def test_truth_shares_helper_counts_people_with_no_cost():
    assert top_shares([10.0, 0.0, 0.0, 0.0], 4, (0.25,)) == {0.25: 1.0}
    assert duckdb  # imported for the slow tests


@pytest.mark.slow
def test_a_place_that_is_not_anytown_gets_a_cost_or_a_reason_for_every_event(minitown):
    """Minitown's agencies and activities are not Anytown's: the default rules cost what they
    know (its own A&E costs, police domestic and anti-social behaviour incidents) and every
    other event is counted with its reason, and named by agency in the summary."""
    from totalplace.place import Place

    with Place.open(minitown) as place:
        place.ingest.run()
        place.link.run()
        result = place.people.run()
        eng = place.store.engine
        d = result.detail
        n_events = eng.count("events")
        assert eng.count("event_costs") == n_events == d["events"]
        assert d["costed"] + d["no_unit_cost"] == n_events
        assert (
            eng.scalar(
                "SELECT count(*) FROM event_costs WHERE cost_gbp IS NULL "
                "AND (reason IS NULL OR NOT starts_with(reason, 'no unit cost: '))"
            )
            == 0
        )
        assert sum(d["no_cost_reasons"].values()) == d["no_unit_cost"]
        # Costs the extract carries are kept; the police incidents the table knows are costed.
        own = eng.scalar("SELECT count(*) FROM events WHERE cost_gbp IS NOT NULL")
        assert own > 0
        assert eng.scalar("SELECT count(*) FROM event_costs WHERE cost_source = 'extract'") == own
        ids = {
            r["cost_id"] for r in eng.query("SELECT DISTINCT cost_id FROM event_costs").to_pylist()
        }
        assert {"dv_incident", "asb_incident"} <= ids
        # The council's events match no rule: counted by agency and said in the summary.
        council = eng.scalar("SELECT count(*) FROM events WHERE agency = 'council'")
        assert d["no_cost_rule_by_agency"] == {"council": council}
        assert sum(r["events"] for r in d["no_cost_by_activity"]) == d["no_unit_cost"]
        assert any(f"council: {council}" in line for line in result.summary)
        # Needs whose rules match nothing this place holds are named, not guessed.
        assert "child_in_need" in d["untraced_needs"] and "frailty" in d["untraced_needs"]
