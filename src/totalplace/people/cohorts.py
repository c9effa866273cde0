"""Cohorts: who met a definition at an index date, their baseline, a comparison group and
their outcomes period by period.

A cohort is defined in YAML (or Python) and validated: every problem is reported at once
with its key path (unknown need, impossible age range, unknown agency, a date outside the
data). The same definition gives the same members on every run: selection is SQL over the
published tables, ordered by person_id, and matching uses a fixed seed.

>>> spec = CohortSpec(
...     name="older_frequent_ae",
...     age={"min": 65},
...     activity=[{"agency": "acute", "activity": "A&E attendance", "min_count": 3}],
...     living_alone=True,
... )
>>> spec.lookback_days
365

With a place whose people stage has run::

    from totalplace.people.cohorts import load_cohorts, select_cohort, comparison_group
    from totalplace.people.cohorts import person_period_outcomes
    specs = load_cohorts("cohorts.yaml", place=place)          # validated against the place
    members = select_cohort(place, specs[0], "2024-04-01")      # person_id, index_date, baseline
    comp = comparison_group(place, specs[0], "2024-04-01", method="matched")
    out = person_period_outcomes(place, members, period_days=365, before=1, after=1)

Tables (pyarrow) carry only the pseudonymous ``person_id``.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from totalplace.errors import ManifestError
from totalplace.people.costs import _lit, glob_sql

MATCH = ("agency", "service", "activity", "outcome", "channel")
# Each linked person's events with their cost and lower-cased descriptions; the stage
# materialises it once (``tables={"person_events": ...}``), otherwise it is a subquery.
PERSON_EVENTS_SQL = """
SELECT c.person_id, c.agency, c.start_date, c.end_date, c.cost_gbp, c.basis, c.days_in_period,
  lower(c.agency) AS agency_l, lower(e.service) AS service_l, lower(e.activity) AS activity_l,
  lower(e.outcome) AS outcome_l, lower(e.channel) AS channel_l
FROM event_costs c JOIN events e ON e.agency = c.agency AND e.event_id = c.event_id
WHERE c.person_id IS NOT NULL
"""
BASELINE = ("age", "is_female", "n_needs", "events_before", "cost_before", "agencies_before")


class CohortError(ManifestError):
    """A cohort definition is invalid; ``problems`` lists every problem with its key path."""

    def __init__(self, path: str, problems: list[str]):
        super().__init__(path, problems)
        n = len(self.problems)
        lines = "\n".join(f"  - {q}" for q in self.problems)
        self.args = (
            f"{path}: {n} problem{'s' if n != 1 else ''} in the cohort definitions:\n{lines}",
        )


class ActivityCriterion(BaseModel):
    """Events of a kind, counted in a window before the index date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agency: str | None = None
    service: str | None = None
    activity: str | None = None
    outcome: str | None = None
    channel: str | None = None
    min_count: int = Field(1, ge=0)
    max_count: int | None = Field(None, ge=0)
    window_days: int | None = Field(None, ge=1, description="default: the cohort's lookback")
    per: Literal["window", "month"] = Field(
        "window", description="'month': the count in any one calendar month of the window"
    )

    @model_validator(mode="after")
    def _counts(self) -> ActivityCriterion:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError(f"max_count {self.max_count} is below min_count {self.min_count}")
        return self


class AgeRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int | None = Field(None, ge=0, le=120)
    max: int | None = Field(None, ge=0, le=120)


class CohortSpec(BaseModel):
    """A cohort definition. Criteria are ANDed; ``any_activity`` needs one of its items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    description: str = ""
    age: AgeRange | None = None
    sex: list[Literal["F", "M", "X"]] | None = None
    needs: list[str] = Field(default_factory=list, description="all of these, in the lookback")
    any_needs: list[str] = Field(default_factory=list, description="at least one of these")
    activity: list[ActivityCriterion] = Field(default_factory=list)
    any_activity: list[ActivityCriterion] = Field(default_factory=list)
    living_alone: bool | None = None
    min_cost_gbp: Decimal | None = Field(None, ge=0, description="cost in the lookback")
    top_cost_share: float | None = Field(
        None, gt=0, lt=1, description="the top share of people by cost in the lookback"
    )
    lookback_days: int = Field(365, ge=1)
    followup_days: int = Field(365, ge=1)
    index_date: dt.date | None = None


# --- loading and validation ---------------------------------------------------------------
def _context(place) -> dict[str, Any]:
    if place is None:
        return {}
    from totalplace.people.needs import load_needs_mapping

    stage = place.stage("people")
    m = place.manifest
    return {
        "agencies": [a.id for a in m.agencies],
        "needs": list(load_needs_mapping(stage.settings.path(m.root, "needs")).needs),
        "period": (m.period.start, m.period.end),
    }


def spec_problems(spec: CohortSpec, where: str, ctx: dict[str, Any]) -> list[str]:
    """Problems a valid-looking spec has against a place (needs, agencies, dates, ages)."""
    out = []
    if spec.age and spec.age.min is not None and spec.age.max is not None:
        if spec.age.min > spec.age.max:
            out.append(
                f"{where}.age: impossible age range: min {spec.age.min} is above max {spec.age.max}"
            )
    known = ctx.get("needs")
    if known is not None:
        for key in ("needs", "any_needs"):
            for j, n in enumerate(getattr(spec, key)):
                if n not in known:
                    out.append(
                        f"{where}.{key}[{j}]: unknown need {n!r}; expected one of: "
                        f"{', '.join(known)}"
                    )
    agencies = ctx.get("agencies")
    if agencies is not None:
        for key in ("activity", "any_activity"):
            for j, c in enumerate(getattr(spec, key)):
                if c.agency and not any(
                    fnmatch.fnmatchcase(a.lower(), c.agency.lower()) for a in agencies
                ):
                    out.append(
                        f"{where}.{key}[{j}].agency: unknown agency {c.agency!r}; this place "
                        f"has: {', '.join(agencies)}"
                    )
    period = ctx.get("period")
    if period is not None and spec.index_date is not None:
        p0, p1 = period
        if not (p0 <= spec.index_date <= p1):
            out.append(f"{where}.index_date: {spec.index_date} is outside the data ({p0} to {p1})")
    return out


def load_cohorts(
    source: str | Path | list[dict[str, Any]] | dict[str, Any] | None = None, place=None
) -> list[CohortSpec]:
    """Cohort definitions from a YAML file, a list of dicts or ``{"cohorts": [...]}``.

    With ``place``, each is also checked against it (its needs, agencies and period). All
    problems are raised together in one ``CohortError``, each with its key path, e.g.
    ``cohorts[1].age: impossible age range: min 70 is above max 60``.
    """
    where = "cohorts"
    if source is None:
        text = resources.files("totalplace.people.data").joinpath("cohorts.yaml").read_text("utf-8")
        data, where = yaml.safe_load(text), "totalplace/people/data/cohorts.yaml"
    elif isinstance(source, str | Path):
        p = Path(source)
        if not p.exists():
            raise CohortError(str(p), ["cohort definitions file not found"])
        data, where = yaml.safe_load(p.read_text(encoding="utf-8")), str(p)
    else:
        data = source
    items = data.get("cohorts") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise CohortError(where, ["expected a list of cohorts (or a 'cohorts:' key holding one)"])
    ctx = _context(place)
    specs, problems, seen = [], [], {}
    for i, item in enumerate(items):
        key = f"cohorts[{i}]"
        try:
            spec = CohortSpec.model_validate(item)
        except ValidationError as e:
            for err in e.errors():
                loc = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in err["loc"])
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = "unknown key (check its spelling)"
                problems.append(f"{key}{loc}: {msg}")
            # Context checks on the raw item too, so every problem shows at once.
            problems += _raw_context_problems(item, key, ctx)
            continue
        if spec.name in seen:
            problems.append(
                f"{key}.name: duplicate cohort name {spec.name!r} (also {seen[spec.name]})"
            )
        seen.setdefault(spec.name, key)
        problems += spec_problems(spec, key, ctx)
        specs.append(spec)
    if problems:
        raise CohortError(where, list(dict.fromkeys(problems)))
    return specs


def _raw_context_problems(item: Any, key: str, ctx: dict[str, Any]) -> list[str]:
    """Context checks on an item pydantic refused (so needs and agencies still get checked)."""
    if not isinstance(item, dict):
        return []
    out: list[str] = []
    for k in ("needs", "any_needs", "activity", "any_activity", "index_date", "age"):
        if k not in item:
            continue
        try:  # each key on its own, so one bad key does not hide the others' problems
            spec = CohortSpec.model_validate({"name": "x", k: item[k]})
        except ValidationError:
            continue
        out += spec_problems(spec, key, ctx)
    return out


# --- sources --------------------------------------------------------------------------------
class _Source:
    """A Place or an Engine, and the names of the tables to read (the stage passes its
    unpublished ones while it runs)."""

    def __init__(self, source, tables: dict[str, str] | None = None):
        self.tables = dict(tables or {})
        if hasattr(source, "store"):
            m = source.manifest
            self.eng, self.period = source.store.engine, (m.period.start, m.period.end)
        else:
            self.eng = source
            t = self.eng.query(
                self.sql("SELECT min(start_date) AS a, max(start_date) AS b FROM event_costs")
            )
            self.period = (t.column("a")[0].as_py(), t.column("b")[0].as_py())

    def sql(self, sql: str) -> str:
        pev = self.tables.get("person_events") or f"({PERSON_EVENTS_SQL})"
        sql = re.sub(r"\bperson_events\b", lambda _: pev, sql)
        for name, actual in self.tables.items():
            if name == "person_events":
                continue
            sql = re.sub(rf"\b{name}\b", actual, sql)
        return sql

    def query(self, sql: str) -> pa.Table:
        return self.eng.query(self.sql(sql))


def _engine_and_period(source, tables: dict[str, str] | None = None) -> _Source:
    return source if isinstance(source, _Source) else _Source(source, tables)


def _date(d: str | dt.date | None) -> dt.date | None:
    if d is None or isinstance(d, dt.date):
        return d
    return dt.date.fromisoformat(str(d))


def default_index_date(spec: CohortSpec, period: tuple[dt.date, dt.date]) -> dt.date:
    """The spec's index date, else the first of the month one full lookback after the data
    start (e.g. 1 April 2024 for data from 1 April 2023 and a 365-day lookback)."""
    if spec.index_date:
        return spec.index_date
    d = period[0] + dt.timedelta(days=spec.lookback_days)
    if d.day != 1:
        d = (d.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return min(d, period[1])


def _match(c: ActivityCriterion, e: str = "e") -> str:
    parts = [glob_sql(f"{e}.{f}_l", getattr(c, f)) for f in MATCH if getattr(c, f) is not None]
    return " AND ".join(parts) or "TRUE"


def _d(x: dt.date) -> str:
    return f"DATE '{x.isoformat()}'"


def window_cost_sql(w0: str, w1: str, period: tuple[dt.date, dt.date], c: str = "c") -> str:
    """SQL: an event's cost falling in [w0, w1): episodes (basis 'day') pro rata by days."""
    pe = f"({_d(period[1])} + 1)"
    days = (
        f"greatest(0, date_diff('day', greatest({c}.start_date, {w0}, {_d(period[0])}), "
        f"least(least(coalesce({c}.end_date, {pe}), {pe}), {w1})))"
    )
    return (
        f"CASE WHEN {c}.cost_gbp IS NULL THEN 0 "
        f"WHEN {c}.basis = 'day' AND {c}.days_in_period > 0 "
        f"THEN CAST({c}.cost_gbp AS DOUBLE) * {days} / {c}.days_in_period "
        f"WHEN {c}.start_date >= {w0} AND {c}.start_date < {w1} "
        f"THEN CAST({c}.cost_gbp AS DOUBLE) ELSE 0 END"
    )


def base_key(index_date: dt.date, lookback_days: int) -> str:
    """The name under which a precomputed ``base_sql`` table is passed in ``tables``."""
    return f"cohort_base_{index_date:%Y%m%d}_{lookback_days}"


def base_sql(index_date: dt.date, lookback_days: int, period: tuple[dt.date, dt.date]) -> str:
    """SQL: every linked person's baseline at ``index_date`` that does not depend on a
    cohort's criteria (age, sex, household, needs, events, agencies and cost in the
    lookback), with ``cost_rank`` (1 = costliest, ties by person_id) and ``n_all``. Cohorts
    with the same index date and lookback share it (the stage computes it once)."""
    idx = _d(index_date)
    lb = f"({idx} - {lookback_days})"
    return f"""
WITH pe AS (
  SELECT * FROM person_events c
  WHERE c.start_date < {idx} AND (c.start_date >= {lb} OR c.basis = 'day')
), agg AS (
  SELECT person_id,
    count(*) FILTER (WHERE start_date >= {lb}) AS events_before,
    count(DISTINCT agency) FILTER (WHERE start_date >= {lb}) AS agencies_before,
    sum({window_cost_sql(lb, idx, period, "e")}) AS cost_before
  FROM pe e GROUP BY person_id
), nd AS (
  SELECT person_id, list_sort(list(DISTINCT need)) AS needs
  FROM person_needs WHERE from_date < {idx} AND to_date >= {lb} GROUP BY person_id
), hh AS (
  SELECT m.person_id, m.household_id, h.n_current_persons
  FROM household_members m JOIN households h USING (household_id) WHERE m.is_current
), b AS (
  SELECT p.person_id, {idx} AS index_date,
    date_diff('year', p.dob, {idx})
      - CASE WHEN strftime({idx}, '%m%d') < strftime(p.dob, '%m%d') THEN 1 ELSE 0 END AS age,
    p.sex, CASE WHEN p.sex = 'F' THEN 1 ELSE 0 END AS is_female,
    hh.household_id, hh.n_current_persons = 1 AS living_alone,
    coalesce(nd.needs, []) AS needs, coalesce(len(nd.needs), 0) AS n_needs,
    coalesce(a.events_before, 0) AS events_before,
    coalesce(a.agencies_before, 0) AS agencies_before,
    round(coalesce(a.cost_before, 0), 2) AS cost_before
  FROM persons p
  LEFT JOIN agg a USING (person_id)
  LEFT JOIN nd USING (person_id)
  LEFT JOIN hh USING (person_id)
)
SELECT *, row_number() OVER (ORDER BY cost_before DESC, person_id) AS cost_rank,
  count(*) OVER () AS n_all
FROM b
"""


def _criteria(spec: CohortSpec) -> list[tuple[str, ActivityCriterion]]:
    return [
        (f"{k}_{j}", c)
        for k in ("activity", "any_activity")
        for j, c in enumerate(getattr(spec, k))
    ]


def criteria_sql(spec: CohortSpec, index_date: dt.date) -> str | None:
    """SQL: per person with any matching event, the count for each of the spec's activity
    criteria (``activity_0``, ``any_activity_0``, ...); None when the spec has none."""
    crits = _criteria(spec)
    if not crits:
        return None
    idx = _d(index_date)
    widest = max(c.window_days or spec.lookback_days for _, c in crits)
    any_match = " OR ".join(f"({_match(c)})" for _, c in crits)
    cols, month_ctes, month_joins = [], [], []
    for name, c in crits:
        w = c.window_days or spec.lookback_days
        cond = f"{_match(c)} AND e.start_date >= {idx} - {w}"
        if c.per == "window":
            cols.append(f"count(*) FILTER (WHERE {cond}) AS {name}")
        else:
            month_ctes.append(
                f"{name} AS (SELECT person_id, max(n) AS {name} FROM (SELECT person_id, "
                f"date_trunc('month', start_date) AS mth, count(*) AS n FROM pe e "
                f"WHERE {cond} GROUP BY 1, 2) GROUP BY 1)"
            )
            month_joins.append(f"LEFT JOIN {name} USING (person_id)")
    ctes = "".join(f",\n{x}" for x in month_ctes)
    win = ", ".join(["person_id", *cols])
    out = ", ".join(f"coalesce({n}, 0) AS {n}" for n, _ in crits)
    return f"""
WITH pe AS (
  SELECT * FROM person_events e
  WHERE e.start_date < {idx} AND e.start_date >= {idx} - {widest} AND ({any_match})
), w AS (SELECT {win} FROM pe e GROUP BY person_id){ctes}
SELECT person_id, {out}
FROM (SELECT DISTINCT person_id FROM pe) ids
LEFT JOIN w USING (person_id)
{" ".join(month_joins)}
"""


def baseline_sql(
    spec: CohortSpec,
    index_date: dt.date,
    period: tuple[dt.date, dt.date],
    base: str | None = None,
    ranks: bool = False,
) -> str:
    """SQL: every linked person with the baseline measures and the spec's criteria counts.

    ``base``: a table holding ``base_sql`` for this index date and lookback (else inline).
    ``ranks`` keeps ``cost_rank`` and ``n_all`` (for ``top_cost_share``)."""
    b = base or f"({base_sql(index_date, spec.lookback_days, period)})"
    crit = criteria_sql(spec, index_date)
    names = [n for n, _ in _criteria(spec)]
    keep = "" if ranks else " EXCLUDE (cost_rank, n_all)"
    if crit is None:
        return f"SELECT *{keep} FROM {b} b"
    cols = "".join(f", coalesce(c.{n}, 0) AS {n}" for n in names)
    return f"""
SELECT b.*{cols} FROM (SELECT *{keep} FROM {b}) b
LEFT JOIN ({crit}) c USING (person_id)
"""


def where_sql(spec: CohortSpec) -> str:
    """SQL condition over ``baseline_sql``'s columns: the person meets the definition."""
    conds = []
    if spec.age and spec.age.min is not None:
        conds.append(f"age >= {spec.age.min}")
    if spec.age and spec.age.max is not None:
        conds.append(f"age <= {spec.age.max}")
    if spec.sex:
        conds.append("sex IN (" + ", ".join(_lit(s) for s in spec.sex) + ")")
    for n in spec.needs:
        conds.append(f"list_contains(needs, {_lit(n)})")
    if spec.any_needs:
        conds.append(
            "(" + " OR ".join(f"list_contains(needs, {_lit(n)})" for n in spec.any_needs) + ")"
        )

    def one(key: str, j: int, c: ActivityCriterion) -> str:
        s = f"{key}_{j} >= {c.min_count}"
        if c.max_count is not None:
            s += f" AND {key}_{j} <= {c.max_count}"
        return f"({s})"

    conds += [one("activity", j, c) for j, c in enumerate(spec.activity)]
    if spec.any_activity:
        conds.append(
            "("
            + " OR ".join(one("any_activity", j, c) for j, c in enumerate(spec.any_activity))
            + ")"
        )
    if spec.living_alone is not None:
        conds.append(f"coalesce(living_alone, FALSE) = {str(spec.living_alone).upper()}")
    if spec.min_cost_gbp is not None:
        conds.append(f"cost_before >= {spec.min_cost_gbp}")
    if spec.top_cost_share is not None:
        conds.append(f"cost_rank <= ceil({spec.top_cost_share} * n_all) AND cost_before > 0")
    return " AND ".join(conds) or "TRUE"


def _select_sql(spec: CohortSpec, index_date: dt.date, period, base: str | None = None) -> str:
    return f"""
WITH r AS ({baseline_sql(spec, index_date, period, base, ranks=True)})
SELECT * EXCLUDE (cost_rank, n_all) FROM r WHERE {where_sql(spec)} ORDER BY person_id
"""


def select_cohort(
    source,
    spec: CohortSpec,
    index_date: str | dt.date | None = None,
    tables: dict[str, str] | None = None,
) -> pa.Table:
    """The people who meet ``spec`` at ``index_date``, with their baseline (one row each).

    Columns: person_id, index_date, age, sex, is_female, household_id, living_alone, needs,
    n_needs, events_before, agencies_before, cost_before (the lookback window) and one count
    per activity criterion (``activity_0``, ``any_activity_0``, ...). Sorted by person_id.
    ``source`` is a Place (or its engine) whose people stage has run.
    """
    src = _engine_and_period(source, tables)
    idx = _date(index_date) or default_index_date(spec, src.period)
    base = src.tables.get(base_key(idx, spec.lookback_days))
    return src.query(_select_sql(spec, idx, src.period, base))


def everyone(source, spec: CohortSpec, index_date: str | dt.date, tables=None) -> pa.Table:
    """Every linked person's baseline at ``index_date`` (the pool comparisons come from)."""
    src = _engine_and_period(source, tables)
    idx = _date(index_date)
    base = src.tables.get(base_key(idx, spec.lookback_days))
    return src.query(baseline_sql(spec, idx, src.period, base) + " ORDER BY person_id")


# --- outcomes per period ------------------------------------------------------------------
def person_period_outcomes(
    source,
    people: pa.Table,
    period_days: int = 365,
    before: int = 1,
    after: int = 1,
    activity: ActivityCriterion | dict | None = None,
    tables: dict[str, str] | None = None,
) -> pa.Table:
    """Events and cost per person per period around each person's index date.

    ``people`` needs person_id and index_date (e.g. ``select_cohort``'s result). Period -1 is
    the ``period_days`` before the index date, 0 the ``period_days`` from it, and so on.
    ``activity`` (a criterion's patterns) narrows the events counted; cost is always all of
    the person's cost (episodes pro rata by days). ``observed`` is false for a period not
    wholly inside the data: its numbers are NULL, never a false zero.
    """
    src = _engine_and_period(source, tables)
    eng, period = src.eng, src.period
    crit = ActivityCriterion.model_validate(activity) if isinstance(activity, dict) else activity
    cond = _match(crit) if crit else "TRUE"
    t = people.select(["person_id", "index_date"])
    name = "_people_ppo_members"
    eng.register(name, t)
    p0, p1 = _d(period[0]), _d(period[1])
    w0 = f"(m.index_date + k * {period_days})"
    w1 = f"(m.index_date + (k + 1) * {period_days})"
    sql = f"""
WITH m AS (SELECT DISTINCT person_id, CAST(index_date AS DATE) AS index_date FROM {name}),
k AS (SELECT CAST(range AS INTEGER) AS k FROM range({-before}, {after})),
mk AS (SELECT m.person_id, m.index_date, k.k, {w0} AS ps, {w1} AS pe FROM m CROSS JOIN k),
pe AS (
  SELECT e.*, ({cond}) AS counted FROM person_events e
  WHERE e.person_id IN (SELECT person_id FROM m)
)
SELECT mk.person_id, mk.index_date, CAST(mk.k AS INTEGER) AS period, mk.ps AS period_start,
  mk.pe AS period_end, (mk.ps >= {p0} AND mk.pe <= {p1} + 1) AS observed,
  CASE WHEN mk.ps >= {p0} AND mk.pe <= {p1} + 1 THEN
    count(*) FILTER (WHERE c.counted AND c.start_date >= mk.ps AND c.start_date < mk.pe) END
    AS events,
  CASE WHEN mk.ps >= {p0} AND mk.pe <= {p1} + 1 THEN
    CAST(round(coalesce(sum({window_cost_sql("mk.ps", "mk.pe", period, "c")}), 0), 2)
      AS DECIMAL(18,2)) END AS cost_gbp
FROM mk LEFT JOIN pe c ON c.person_id = mk.person_id
GROUP BY mk.person_id, mk.index_date, mk.k, mk.ps, mk.pe
ORDER BY mk.person_id, mk.k
"""
    return src.query(sql)


# Comparison groups live in their own module; re-exported here so one import serves.
from totalplace.people.matching import balance, comparison_group  # noqa: E402

__all__ = [
    "ActivityCriterion",
    "CohortError",
    "CohortSpec",
    "balance",
    "comparison_group",
    "everyone",
    "load_cohorts",
    "person_period_outcomes",
    "select_cohort",
]
