"""Did a past programme work? Its effect from the place's own data, with an honest
counterfactual, beside the naive before/after change.

For each programme in ``programmes:``:

1. **Who joined**: people with the participants' activity (e.g. the drug and alcohol
   service's "Enrolled: High Intensity Use programme"); the first such event is the join date.
2. **Who could have**: the eligibility rule (age, and at least N of an outcome in the look-back
   window). Participants outside the rule are counted and left out.
3. **Comparison group** (coarsened exact matching): strata of prior use (exact, up to
   ``prior_cap``), age band, contact with each ``known_to`` agency in the look-back, and each
   of ``needs`` (the people stage's ``person_needs``) known by its end. Every eligible
   non-participant in a stratum that has a participant is a control (``method: nearest``:
   ``controls_per_participant`` drawn per participant, with replacement), and takes a
   participant's join date, so both groups are followed over the same days.
4. **Effect**: a Poisson GLM (statsmodels; quasi-likelihood, so overdispersion is allowed
   for) of each outcome's count in the look-back ("before") and from the join date to the
   period end ("after"), with the days as exposure, fixed effects for each stratum before
   and after (people selected on a higher count regress further), participant, and
   participant x after; the effect is exp(participant x after) - 1, a relative
   change, with a cluster-robust (by person) confidence interval. ``method: negbin`` fits a
   negative binomial GLM instead.
5. **Naive change**: participants' rate after over their rate before, minus one: what a
   before/after study without a comparison group reports. Because people are selected on
   recent high use, it includes their regression to the mean and overstates the effect.

Reading the data is behind :func:`programme_data` (plain SQL on ``events``,
``person_links`` and ``source_people``) so it can be swapped for the people stage's cohort
tools without touching the estimator.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from totalplace.appraise.settings import EventFilter, Programme
from totalplace.errors import TotalplaceError


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _filter_sql(f: EventFilter, alias: str = "e") -> str:
    where = f"{alias}.agency = {_lit(f.agency)}"
    if f.activities:
        where += f" AND {alias}.activity IN ({', '.join(_lit(a) for a in f.activities)})"
    return where


def person_events_sql(f: EventFilter, since: dt.date | None = None) -> str:
    """SQL: (person_id, day) for every event matching ``f`` (on or after ``since``)."""
    extra = f" AND CAST(e.start_at AS DATE) >= DATE '{since.isoformat()}'" if since else ""
    return (
        "SELECT l.person_id, CAST(e.start_at AS DATE) AS day FROM events e "
        "JOIN person_links l ON e.agency = l.agency AND e.source_id = l.source_id "
        f"WHERE {_filter_sql(f)} AND e.start_at IS NOT NULL{extra}"
    )


def participants_sql(p: Programme) -> str:
    """SQL: (person_id, join_date) — each participant's first enrolment in the window."""
    where = ""
    if p.enrolment:
        where = (
            f" WHERE day BETWEEN DATE '{p.enrolment.start.isoformat()}' "
            f"AND DATE '{p.enrolment.end.isoformat()}'"
        )
    return (
        f"SELECT person_id, min(day) AS join_date FROM ({person_events_sql(p.participants)})"
        f"{where} GROUP BY person_id"
    )


def ages_sql(at: dt.date) -> str:
    """SQL: (person_id, age in whole years at ``at``) from the most common date of birth
    among a person's records (the earliest, on a tie)."""
    return (
        "SELECT person_id, "
        f"CAST(floor(date_diff('day', dob, DATE '{at.isoformat()}') / 365.25) AS INTEGER) AS age "
        "FROM (SELECT person_id, dob, row_number() OVER (PARTITION BY person_id "
        "ORDER BY n DESC, dob) AS rank FROM (SELECT l.person_id, CAST(s.dob AS DATE) AS dob, "
        "count(*) AS n FROM source_people s "
        "JOIN person_links l ON s.agency = l.agency AND s.source_id = l.source_id "
        "WHERE s.dob IS NOT NULL GROUP BY l.person_id, CAST(s.dob AS DATE))) WHERE rank = 1"
    )


def known_to_sql(agency: str, start: dt.date, end: dt.date) -> str:
    """SQL: people with any event at ``agency`` in the window (an observable need)."""
    return (
        "SELECT DISTINCT l.person_id FROM events e JOIN person_links l "
        "ON e.agency = l.agency AND e.source_id = l.source_id "
        f"WHERE e.agency = {_lit(agency)} AND CAST(e.start_at AS DATE) "
        f"BETWEEN DATE '{start.isoformat()}' AND DATE '{end.isoformat()}'"
    )


def needs_sql(need: str, by: dt.date) -> str:
    """SQL: people the people stage found with ``need`` on or before ``by`` (never later:
    a need first seen after joining may have been found by the programme itself)."""
    return (
        f"SELECT DISTINCT person_id FROM person_needs WHERE need = {_lit(need)} "
        f"AND from_date <= DATE '{by.isoformat()}'"
    )


@dataclass
class ProgrammeData:
    """What the estimator needs, whatever produced it."""

    people: pd.DataFrame  # person_id, age, prior, known_<agency>..., join_date (NaT if not)
    events: dict[str, pd.DataFrame]  # outcome -> (person_id, day)
    period_end: dt.date
    participants_total: int  # everyone with the enrolment activity


def programme_data(engine, p: Programme, period_end: dt.date) -> ProgrammeData:
    """Read a programme's people and outcome events from the published tables."""
    lb = p.eligibility.look_back
    events = {}
    for o in p.outcomes:
        ev = engine.query(person_events_sql(o, since=lb.start)).to_pandas()
        events[o.name] = ev.assign(day=pd.to_datetime(ev["day"]))
    joined = engine.query(participants_sql(p)).to_pandas()
    joined["join_date"] = pd.to_datetime(joined["join_date"])
    ages = engine.query(ages_sql(lb.end)).to_pandas()
    ev = events[p.eligibility.outcome]
    in_lb = ev[(ev["day"] >= pd.Timestamp(lb.start)) & (ev["day"] <= pd.Timestamp(lb.end))]
    prior = in_lb.groupby("person_id").size().rename("prior").reset_index()
    people = prior.merge(ages, on="person_id", how="left").merge(joined, on="person_id", how="left")
    for agency in p.matching.known_to:
        known = set(engine.query(known_to_sql(agency, lb.start, lb.end)).column(0).to_pylist())
        people[f"known_{agency}"] = people["person_id"].isin(known)
    for need in p.matching.needs:
        has = set(engine.query(needs_sql(need, lb.end)).column(0).to_pylist())
        people[f"need_{need}"] = people["person_id"].isin(has)
    return ProgrammeData(people, events, period_end, len(joined))


def _one_blas_thread():
    """Small least-squares problems run an order of magnitude faster on one BLAS thread than
    on several competing for a busy machine's cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(1, user_api="blas")


@dataclass(frozen=True)
class ProgrammeEffect:
    programme: str
    outcome: str
    participants: int
    comparison_size: int
    naive_change: float
    effect: float
    ci_low: float
    ci_high: float
    method: str
    p_value: float
    rate_before: float  # participants' events per person-year
    rate_after: float
    comparison_rate_before: float
    comparison_rate_after: float


def eligible(p: Programme, d: ProgrammeData) -> pd.DataFrame:
    """The pool: people who meet the eligibility rule, with their stratum."""
    e = p.eligibility
    pool = d.people[(d.people["prior"] >= e.at_least) & (d.people["age"] >= e.min_age)]
    if e.max_age is not None:
        pool = pool[pool["age"] <= e.max_age]
    pool = pool.copy()
    bands = np.asarray(p.matching.age_bands)
    pool["stratum"] = (
        np.minimum(pool["prior"], p.matching.prior_cap).astype(str)
        + "|"
        + np.searchsorted(bands, pool["age"].to_numpy(), side="right").astype(str)
    )
    flags = [f"known_{a}" for a in p.matching.known_to] + [f"need_{n}" for n in p.matching.needs]
    for col in flags:
        pool["stratum"] += "|" + pool[col].astype(int).astype(str)
    return pool


def match(p: Programme, pool: pd.DataFrame) -> pd.DataFrame:
    """Participants and their comparison group: unit, person_id, treated, join_date, stratum.

    ``exact`` (coarsened exact matching): every eligible non-participant in a stratum that
    has a participant, each following the join dates of that stratum's participants in turn
    (so both groups are followed over the same days). ``nearest``: ``controls_per_participant``
    drawn per participant from the stratum, with replacement, taking its join date.
    """
    rng = np.random.default_rng(p.matching.seed)
    treated = pool[pool["join_date"].notna()].sort_values("person_id")
    controls = pool[pool["join_date"].isna()].sort_values("person_id")
    by_stratum = controls.groupby("stratum")["person_id"].apply(np.asarray).to_dict()
    rows = []
    for stratum, ts in treated.groupby("stratum", sort=True):
        cands = by_stratum.get(stratum)
        if cands is None or len(cands) == 0:
            continue  # no one like them who did not join: off common support
        dates = ts["join_date"].to_numpy()
        rows += [(pid, True, jd, stratum) for pid, jd in zip(ts["person_id"], dates, strict=True)]
        if p.matching.method == "exact":
            picks = rng.permutation(len(cands))
            rows += [(cands[j], False, dates[i % len(dates)], stratum) for i, j in enumerate(picks)]
        else:
            k = p.matching.controls_per_participant
            for jd in dates:
                rows += [(c, False, jd, stratum) for c in rng.choice(cands, k, replace=True)]
    out = pd.DataFrame(rows, columns=["person_id", "treated", "join_date", "stratum"])
    out["unit"] = np.arange(len(out))
    return out


def _panel(p: Programme, d: ProgrammeData, m: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Two rows per matched unit (before, after): count and exposure days."""
    lb = p.eligibility.look_back
    end = pd.Timestamp(d.period_end)
    before_n = (lb.end - lb.start).days + 1
    x = m[["unit", "person_id", "join_date"]].merge(d.events[outcome], on="person_id")
    in_before = x["day"].between(pd.Timestamp(lb.start), pd.Timestamp(lb.end))
    in_after = (x["day"] >= x["join_date"]) & (x["day"] <= end)
    nb = x[in_before].groupby("unit").size().reindex(m["unit"], fill_value=0).to_numpy()
    na = x[in_after].groupby("unit").size().reindex(m["unit"], fill_value=0).to_numpy()
    after_n = (end - pd.to_datetime(m["join_date"])).dt.days.to_numpy() + 1
    base = m[["unit", "person_id", "treated", "stratum"]]
    before = base.assign(after=0, count=nb, days=float(before_n))
    after = base.assign(after=1, count=na, days=after_n.astype(float))
    return pd.concat([before, after], ignore_index=True)


def estimate(p: Programme, d: ProgrammeData, outcome: str, m: pd.DataFrame) -> ProgrammeEffect:
    """One outcome's effect, interval and naive change (see the module docstring)."""
    import statsmodels.api as sm
    from scipy import stats

    panel = _panel(p, d, m, outcome)
    treated = panel["treated"].to_numpy().astype(float)
    after = panel["after"].to_numpy().astype(float)
    # Stratum fixed effects before and after: people selected on a high prior count fall
    # back more than those with a low one, so each stratum gets its own before/after change.
    strata = pd.get_dummies(panel["stratum"], drop_first=True, dtype=float)
    strata_after = strata.mul(after, axis=0).add_suffix("|after")
    x = pd.concat(
        [
            pd.DataFrame(
                {"const": 1.0, "treated": treated, "after": after, "did": treated * after}
            ),
            strata,
            strata_after,
        ],
        axis=1,
    )
    y = panel["count"].to_numpy()
    offset = np.log(panel["days"].to_numpy())
    groups = pd.factorize(panel["person_id"])[0]
    if p.method == "negbin":
        with _one_blas_thread():
            pois = sm.GLM(y, x, family=sm.families.Poisson(), offset=offset).fit()
        mu = pois.mu
        alpha = max(1e-6, float(np.sum(((y - mu) ** 2 - y) / mu**2) / len(y)))
        family = sm.families.NegativeBinomial(alpha=alpha)
    else:
        family = sm.families.Poisson()
    with _one_blas_thread():
        fit = sm.GLM(y, x, family=family, offset=offset).fit(
            cov_type="cluster", cov_kwds={"groups": groups}
        )
    b, se = float(fit.params["did"]), float(fit.bse["did"])
    z = float(stats.norm.ppf(0.5 + p.confidence_level / 2))

    def rate(t: bool, a: int) -> float:
        s = panel[(panel["treated"] == t) & (panel["after"] == a)]
        return float(s["count"].sum() / s["days"].sum() * 365.25)

    rb, ra = rate(True, 0), rate(True, 1)
    name = "negative binomial" if p.method == "negbin" else "Poisson"
    return ProgrammeEffect(
        programme=p.name,
        outcome=outcome,
        participants=int(m["treated"].sum()),
        comparison_size=int(m.loc[~m["treated"], "person_id"].nunique()),
        naive_change=ra / rb - 1.0 if rb > 0 else float("nan"),
        effect=float(np.exp(b) - 1.0),
        ci_low=float(np.exp(b - z * se) - 1.0),
        ci_high=float(np.exp(b + z * se) - 1.0),
        method=(
            f"matched difference-in-differences, {name} GLM with stratum fixed effects, "
            f"cluster-robust {p.confidence_level:.0%} CI"
        ),
        p_value=float(fit.pvalues["did"]),
        rate_before=rb,
        rate_after=ra,
        comparison_rate_before=rate(False, 0),
        comparison_rate_after=rate(False, 1),
    )


@dataclass
class Evaluation:
    programme: Programme
    effects: list[ProgrammeEffect]
    participants_total: int
    participants_eligible: int
    participants_matched: int
    eligible_non_participants: int


def evaluate(p: Programme, d: ProgrammeData) -> Evaluation:
    """Every outcome of one programme."""
    pool = eligible(p, d)
    m = match(p, pool)
    n_treated = int(pool["join_date"].notna().sum())
    if m.empty or not m["treated"].any():
        raise TotalplaceError(
            f"programme {p.name!r}: no participant has an eligible non-participant in the same "
            f"stratum ({n_treated} eligible participants, "
            f"{int(pool['join_date'].isna().sum())} eligible non-participants); "
            "expected at least one: check participants: and eligibility:"
        )
    effects = [estimate(p, d, o.name, m) for o in p.outcomes]
    return Evaluation(
        p,
        effects,
        d.participants_total,
        n_treated,
        int(m["treated"].sum()),
        int(pool["join_date"].isna().sum()),
    )
