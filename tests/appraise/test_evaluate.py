"""The programme evaluation on data simulated with a known effect and regression to the mean.

People have a persistent intensity plus a half-year shock; the programme picks people with
recent high use (the shock inflates their look-back count) and cuts their later rate by a
known ratio. The matched estimate must find the ratio; the naive before/after must not.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from totalplace.appraise.evaluate import (
    ProgrammeData,
    ages_sql,
    eligible,
    evaluate,
    match,
    needs_sql,
    participants_sql,
    person_events_sql,
)
from totalplace.appraise.settings import Programme

START, LB_END, END = dt.date(2023, 4, 1), dt.date(2023, 9, 30), dt.date(2026, 3, 31)
SPEC = {
    "name": "hiu",
    "participants": {"agency": "substance", "activity": "Enrolled"},
    "enrolment": {"start": "2023-10-01", "end": "2024-03-31"},
    "eligibility": {
        "outcome": "ae",
        "at_least": 2,
        "look_back": {"start": START.isoformat(), "end": LB_END.isoformat()},
    },
    "outcomes": [{"name": "ae", "agency": "acute", "activity": "A&E attendance"}],
}


def simulate(n: int = 20_000, ratio: float = 0.6, seed: int = 4) -> ProgrammeData:
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 1.0, n)  # persistent events per year
    shock = rng.gamma(2.0, 0.5, n)  # this half-year only: selection on it is regression to the mean
    prior = rng.poisson(base * shock * 0.5)
    age = rng.integers(18, 90, n)
    p_join = np.where(prior >= 2, np.minimum(0.8, 0.1 * prior), 0.0)
    joined = rng.random(n) < p_join
    join = pd.Timestamp("2023-10-01") + pd.to_timedelta(rng.integers(0, 120, n), "D")
    # Everyone's later events fall from October to the period end; a joiner's events after
    # joining are each kept with probability ``ratio`` (the true effect).
    later_days = (END - dt.date(2023, 10, 1)).days + 1
    later = rng.poisson(base * later_days / 365.25)
    lb_days = (LB_END - START).days + 1
    rows = []
    for i in np.flatnonzero((prior > 0) | (later > 0)):
        rows += [(f"P{i}", pd.Timestamp(START) + pd.Timedelta(days=int(d)))
                 for d in rng.integers(0, lb_days, prior[i])]  # fmt: skip
        days = pd.Timestamp("2023-10-01") + pd.to_timedelta(
            rng.integers(0, later_days, later[i]), "D"
        )
        keep = ~(joined[i] & (days >= join[i]) & (rng.random(len(days)) > ratio))
        rows += [(f"P{i}", d) for d in days[keep]]
    events = pd.DataFrame(rows, columns=["person_id", "day"])
    people = pd.DataFrame(
        {
            "person_id": [f"P{i}" for i in range(n)],
            "prior": prior,
            "age": age,
            "join_date": pd.Series(join).where(joined),
        }
    )
    people = people[people["prior"] > 0]
    return ProgrammeData(people, {"ae": events}, END, int(joined.sum()))


@pytest.fixture(scope="module")
def result():
    # A 99% interval, so that this one simulated place misses the truth 1 time in 100.
    return evaluate(Programme.model_validate({**SPEC, "confidence_level": 0.99}), simulate())


def test_recovers_the_known_effect_with_an_interval(result):
    e = result.effects[0]
    assert e.ci_low < -0.4 < e.ci_high
    assert e.effect == pytest.approx(-0.4, abs=0.05)


def test_naive_before_after_overstates_it(result):
    e = result.effects[0]
    assert e.naive_change < e.ci_low  # regression to the mean on top of the effect
    assert e.rate_before > e.comparison_rate_before * 0.9  # participants were heavier users


def test_counts_and_method(result):
    e = result.effects[0]
    assert result.participants_matched == e.participants > 500
    assert e.comparison_size > 500
    assert "difference-in-differences" in e.method and "99%" in e.method


def test_negative_binomial_agrees():
    spec = Programme.model_validate({**SPEC, "method": "negbin", "confidence_level": 0.99})
    e = evaluate(spec, simulate(n=8_000, seed=5)).effects[0]
    assert e.ci_low < -0.4 < e.ci_high


def test_matching_keeps_strata_and_join_dates():
    spec = Programme.model_validate(
        {**SPEC, "matching": {"method": "nearest", "controls_per_participant": 3}}
    )
    d = simulate(n=3_000)
    m = match(spec, eligible(spec, d))
    t, c = m[m["treated"]], m[~m["treated"]]
    assert len(c) == 3 * len(t)
    assert set(c["stratum"]) <= set(t["stratum"])
    assert set(c["join_date"]) <= set(t["join_date"])


def test_sql_builders_are_plain_strings():
    spec = Programme.model_validate(SPEC)
    sql = participants_sql(spec)
    assert "e.activity IN ('Enrolled')" in sql and "DATE '2023-10-01'" in sql
    assert "O''Brien" in person_events_sql(
        spec.outcomes[0].model_copy(update={"activity": "O'Brien"})
    )
    assert "DATE '2023-09-30'" in ages_sql(LB_END)


def test_needs_from_the_people_stage_split_the_strata():
    spec = Programme.model_validate({**SPEC, "matching": {"needs": ["alcohol"]}})
    d = simulate(n=2_000)
    d.people["need_alcohol"] = d.people["prior"] % 2 == 0
    pool = eligible(spec, d)
    assert pool["stratum"].str.endswith("|1").sum() == pool["need_alcohol"].sum()
    assert "from_date <= DATE '2023-09-30'" in needs_sql("alcohol", LB_END)
