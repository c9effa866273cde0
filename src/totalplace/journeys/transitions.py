"""Transitions in SQL: find each trigger, its follow-up and adverse outcomes, then measure.

``transitions_sql`` turns one library entry (``library.Transition``) into a SELECT over
``journey_steps`` giving one row per transition: person_id, kind, at, agency and event_id
of the trigger, followed_up, days_to_follow_up, adverse_outcome, observed_days. Days are
calendar days in the place's time zone (``journey_steps.start_day``/``end_day``).

``summarise`` turns the published rows into the numbers a reader needs per kind: volume,
follow-up rate, the adverse-outcome rate with and without follow-up, each with a Wilson 95%
confidence interval, and the plain warning that the difference is an association.

>>> from totalplace.journeys.library import load_library
>>> sql = transitions_sql(load_library()["prison_release"], "2023-04-01", "2026-03-31")
>>> "'prison_release' AS kind" in sql
True
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from totalplace.journeys.library import Match, Transition, Within

ASSOCIATION_WARNING = (
    "The difference between people with and without follow-up is an association, not "
    "proof that the follow-up caused it: people who get a follow-up may differ in other "
    "ways. Only a comparison design (a trial, or a matched comparison) can say more."
)


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _pattern_sql(col: str, patterns: list[str]) -> str:
    parts = []
    for p in patterns:
        p = p.lower()
        if "*" in p:
            parts.append(f"lower({col}) LIKE {_lit(p.replace('*', '%'))}")
        else:
            parts.append(f"lower({col}) = {_lit(p)}")
    return "(" + " OR ".join(parts) + ")"


def match_sql(m: Match, alias: str = "s") -> str:
    """SQL condition: the event ``alias`` matches every field ``m`` gives."""
    conds = [
        _pattern_sql(f"{alias}.{col}", getattr(m, col))
        for col in ("agency", "service", "activity", "outcome")
        if getattr(m, col)
    ]
    return " AND ".join(conds) if conds else "TRUE"


def age_sql(dob: str, on: str) -> str:
    """Exact age in whole years of someone born on ``dob`` on the date ``on``."""
    return (
        f"(year({on}) - year({dob}) - CASE WHEN month({on}) < month({dob}) OR "
        f"(month({on}) = month({dob}) AND day({on}) < day({dob})) THEN 1 ELSE 0 END)"
    )


def _date(d: str | dt.date) -> str:
    return f"DATE {_lit(str(d))}"


def _window_cte(name: str, spec: Within, trig: str, steps: str, latest: bool) -> str:
    """First day (from the trigger) an event matching ``spec`` falls in its window."""
    only = " AND (t.next_at IS NULL OR c.start_day <= t.next_at)" if latest else ""
    return f"""{name} AS (
  SELECT t.agency, t.event_id, min(date_diff('day', t."at", c.start_day)) AS d
  FROM {trig} t
  JOIN (SELECT person_id, agency, event_id, start_day FROM "{steps}" s
        WHERE {match_sql(spec)}) c
    ON c.person_id = t.person_id
  WHERE date_diff('day', t."at", c.start_day) BETWEEN {spec.from_day} AND {spec.within_days}
    AND NOT (c.agency = t.agency AND c.event_id = t.event_id){only}
  GROUP BY t.agency, t.event_id
)"""


def transitions_sql(
    tr: Transition,
    period_start: str | dt.date,
    period_end: str | dt.date,
    steps: str = "journey_steps",
    persons: str = "persons",
) -> str:
    """One row per transition of kind ``tr`` (see the module docstring for the columns)."""
    t = tr.trigger
    at = "s.end_day" if t.at == "end" else "s.start_day"
    where = [
        match_sql(t),
        f"{at} IS NOT NULL",
        f"{at} BETWEEN {_date(period_start)} AND {_date(period_end)}",
    ]
    join = ""
    if t.age is not None and (t.age.min is not None or t.age.max is not None):
        join = f'JOIN "{persons}" p ON p.person_id = s.person_id'
        on = at if t.age.when == "at" else _date(period_start)
        age = age_sql("p.dob", on)
        if t.age.min is not None:
            where.append(f"{age} >= {int(t.age.min)}")
        if t.age.max is not None:
            where.append(f"{age} <= {int(t.age.max)}")
    if t.known_to is not None:
        where.append(
            f'''s.person_id IN (SELECT person_id FROM "{steps}" k WHERE {match_sql(t.known_to, "k")})'''
        )
    if t.cohort:
        where.append(f'''s.person_id IN (SELECT person_id FROM "{t.cohort}")''')
    trig = f"""trig0 AS (
  SELECT s.person_id, s.agency, s.event_id, {at} AS "at", s.start_at
  FROM "{steps}" s {join}
  WHERE {" AND ".join(where)}
)"""
    order = 'PARTITION BY person_id ORDER BY "at", start_at, event_id'
    if t.once_per_person:
        first = f"""trig AS (
  SELECT person_id, agency, event_id, "at", CAST(NULL AS DATE) AS next_at FROM (
    SELECT *, row_number() OVER ({order}) AS rn FROM trig0) x
  WHERE rn = 1
)"""
    else:
        first = f"""trig AS (
  SELECT person_id, agency, event_id, "at", lead("at") OVER ({order}) AS next_at FROM trig0
)"""
    latest = tr.attribution == "latest"
    ctes = [trig, first]
    fu = [f"fu{i}" for i in range(len(tr.follow_up.contacts))]
    for name, spec in zip(fu, tr.follow_up.contacts, strict=True):
        ctes.append(_window_cte(name, spec, "trig", steps, latest))
    adv = [f"adv{i}" for i in range(len(tr.adverse))]
    for name, spec in zip(adv, tr.adverse, strict=True):
        ctes.append(_window_cte(name, spec, "trig", steps, latest))
    joins = "\n".join(
        f"LEFT JOIN {n} ON {n}.agency = t.agency AND {n}.event_id = t.event_id" for n in fu + adv
    )
    if tr.follow_up.require == "all":
        followed = " AND ".join(f"{n}.d IS NOT NULL" for n in fu)
        days = f"CASE WHEN {followed} THEN greatest({', '.join(n + '.d' for n in fu)}) END"
    else:
        followed = " OR ".join(f"{n}.d IS NOT NULL" for n in fu)
        days = f"least({', '.join(n + '.d' for n in fu)})" if len(fu) > 1 else f"{fu[0]}.d"
    adverse = " OR ".join(f"{n}.d IS NOT NULL" for n in adv) if adv else "FALSE"
    return f"""
WITH {("," + chr(10)).join(ctes)}
SELECT t.person_id, {_lit(tr.kind)} AS kind, t."at", t.agency, t.event_id,
  ({followed}) AS followed_up,
  CAST({days} AS INTEGER) AS days_to_follow_up,
  ({adverse}) AS adverse_outcome,
  CAST(date_diff('day', t."at", {_date(period_end)}) AS INTEGER) AS observed_days
FROM trig t
{joins}"""


def all_transitions_sql(
    library: dict[str, Transition],
    period_start: str | dt.date,
    period_end: str | dt.date,
    steps: str = "journey_steps",
    persons: str = "persons",
) -> str:
    """Every kind in the library, one UNION ALL."""
    parts = [
        f"SELECT * FROM ({transitions_sql(tr, period_start, period_end, steps, persons)}) k{i}"
        for i, tr in enumerate(library.values())
    ]
    return "\nUNION ALL\n".join(parts) + '\nORDER BY kind, "at", person_id, event_id'


def counts_sql(transitions: str = "transitions") -> str:
    """Per kind: volume, followed up, adverse with and without follow-up, gap quantiles."""

    def n(cond: str) -> str:
        return f"CAST(sum(CASE WHEN {cond} THEN 1 ELSE 0 END) AS BIGINT)"

    return f"""
SELECT kind, CAST(count(*) AS BIGINT) AS volume,
  {n("followed_up")} AS followed_up,
  {n("followed_up AND adverse_outcome")} AS adverse_followed_up,
  {n("NOT followed_up")} AS not_followed_up,
  {n("NOT followed_up AND adverse_outcome")} AS adverse_not_followed_up,
  {n("adverse_outcome")} AS adverse,
  CAST(median(days_to_follow_up) AS DOUBLE) AS median_days_to_follow_up,
  CAST(quantile_cont(days_to_follow_up, 0.9) AS DOUBLE) AS p90_days_to_follow_up,
  min("at") AS first_at, max("at") AS last_at
FROM "{transitions}"
GROUP BY kind
ORDER BY kind"""


def wilson(k: int, n: int, alpha: float = 0.05) -> tuple[float | None, float | None]:
    """Wilson score interval for k successes in n (statsmodels' proportion_confint)."""
    if not n:
        return None, None
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def summarise(counts: list[dict[str, Any]], library: dict[str, Transition]) -> pa.Table:
    """``transition_summary``: one row per kind with rates and Wilson 95% intervals."""
    rows = []
    for c in counts:
        tr = library.get(c["kind"])
        n, f = c["volume"], c["followed_up"]
        nf = c["not_followed_up"]
        a_f, a_nf = c["adverse_followed_up"], c["adverse_not_followed_up"]
        fu_lo, fu_hi = wilson(f, n)
        af_lo, af_hi = wilson(a_f, f)
        anf_lo, anf_hi = wilson(a_nf, nf)
        r_f, r_nf = _rate(a_f, f), _rate(a_nf, nf)
        rows.append(
            {
                "kind": c["kind"],
                "title": tr.title if tr else c["kind"],
                "volume": n,
                "followed_up": f,
                "follow_up_rate": _rate(f, n),
                "follow_up_rate_lo": fu_lo,
                "follow_up_rate_hi": fu_hi,
                "follow_up_within_days": tr.follow_up_days if tr else None,
                "median_days_to_follow_up": c["median_days_to_follow_up"],
                "p90_days_to_follow_up": c["p90_days_to_follow_up"],
                "adverse": c["adverse"],
                "adverse_rate": _rate(c["adverse"], n),
                "adverse_followed_up": a_f,
                "adverse_rate_followed_up": r_f,
                "adverse_rate_followed_up_lo": af_lo,
                "adverse_rate_followed_up_hi": af_hi,
                "not_followed_up": nf,
                "adverse_not_followed_up": a_nf,
                "adverse_rate_not_followed_up": r_nf,
                "adverse_rate_not_followed_up_lo": anf_lo,
                "adverse_rate_not_followed_up_hi": anf_hi,
                "difference": (r_nf - r_f) if r_f is not None and r_nf is not None else None,
                "first_at": c["first_at"],
                "last_at": c["last_at"],
                "warning": ASSOCIATION_WARNING,
            }
        )
    return pa.Table.from_pylist(rows, schema=SUMMARY_SCHEMA)


SUMMARY_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("title", pa.string()),
        ("volume", pa.int64()),
        ("followed_up", pa.int64()),
        ("follow_up_rate", pa.float64()),
        ("follow_up_rate_lo", pa.float64()),
        ("follow_up_rate_hi", pa.float64()),
        ("follow_up_within_days", pa.int64()),
        ("median_days_to_follow_up", pa.float64()),
        ("p90_days_to_follow_up", pa.float64()),
        ("adverse", pa.int64()),
        ("adverse_rate", pa.float64()),
        ("adverse_followed_up", pa.int64()),
        ("adverse_rate_followed_up", pa.float64()),
        ("adverse_rate_followed_up_lo", pa.float64()),
        ("adverse_rate_followed_up_hi", pa.float64()),
        ("not_followed_up", pa.int64()),
        ("adverse_not_followed_up", pa.int64()),
        ("adverse_rate_not_followed_up", pa.float64()),
        ("adverse_rate_not_followed_up_lo", pa.float64()),
        ("adverse_rate_not_followed_up_hi", pa.float64()),
        ("difference", pa.float64()),
        ("first_at", pa.date32()),
        ("last_at", pa.date32()),
        ("warning", pa.string()),
    ]
)


def gaps_sql(
    library: dict[str, Transition], transitions: str = "transitions", steps: str = "journey_steps"
) -> str:
    """Where the gaps fall: per kind and expected contact, from the trigger's agency to the
    contact's agencies, how many were met in the window, late (after it) or never seen."""
    parts = []
    for tr in library.values():
        for i, c in enumerate(tr.follow_up.contacts):
            name = c.name or ", ".join(c.agency) or f"contact {i + 1}"
            to = ", ".join(c.agency) if c.agency else "any agency"
            parts.append(f"""
SELECT {_lit(tr.kind)} AS kind, t.agency AS from_agency, {_lit(to)} AS to_agency,
  {_lit(name)} AS contact, {c.within_days} AS within_days,
  CAST(count(*) AS BIGINT) AS transitions,
  CAST(sum(CASE WHEN f.d <= {c.within_days} THEN 1 ELSE 0 END) AS BIGINT) AS met,
  CAST(sum(CASE WHEN f.d > {c.within_days} THEN 1 ELSE 0 END) AS BIGINT) AS late,
  CAST(sum(CASE WHEN f.d IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS never,
  median(f.d) AS median_days_to_first_contact
FROM "{transitions}" t
LEFT JOIN (
  SELECT t2.agency, t2.event_id, min(date_diff('day', t2."at", s.start_day)) AS d
  FROM "{transitions}" t2
  JOIN "{steps}" s ON s.person_id = t2.person_id
  WHERE t2.kind = {_lit(tr.kind)} AND {match_sql(c)}
    AND date_diff('day', t2."at", s.start_day) >= {c.from_day}
    AND NOT (s.agency = t2.agency AND s.event_id = t2.event_id)
  GROUP BY t2.agency, t2.event_id
) f ON f.agency = t.agency AND f.event_id = t.event_id
WHERE t.kind = {_lit(tr.kind)}
GROUP BY t.agency""")
    if not parts:
        return (
            "SELECT NULL AS kind, NULL AS from_agency, NULL AS to_agency, NULL AS contact, "
            "0 AS within_days, 0 AS transitions, 0 AS met, 0 AS late, 0 AS never, "
            "NULL AS median_days_to_first_contact WHERE FALSE"
        )
    return "\nUNION ALL\n".join(parts) + "\nORDER BY kind, contact, from_agency"


def trend_sql(transitions: str = "transitions") -> str:
    """Per kind and month: volume, follow-up rate and adverse-outcome rate."""
    return f"""
SELECT kind, CAST(date_trunc('month', "at") AS DATE) AS month, count(*) AS volume,
  avg(CASE WHEN followed_up THEN 1.0 ELSE 0.0 END) AS follow_up_rate,
  avg(CASE WHEN adverse_outcome THEN 1.0 ELSE 0.0 END) AS adverse_rate
FROM "{transitions}"
GROUP BY kind, CAST(date_trunc('month', "at") AS DATE)
ORDER BY kind, month"""
