"""Cost per event, person and household: activity x unit cost, in one price year.

Two pieces of data drive it, both editable without code:

* the **unit-cost table** (``totalplace/data/unit_costs.csv`` by default, or the place's own
  through ``people: {unit_costs: path}`` in ``place.yaml``): cost_id, item, unit (event, day,
  week, year), cost_gbp, price_year, bears, source. Every value is uprated to the place's
  ``price_year`` with the GDP deflator (``totalplace.prices``);
* the **cost rules** (``people/data/cost_rules.yaml``, or ``people: {cost_rules: path}``):
  which events a unit cost applies to (see the file's header).

Events whose extract carries a cost keep it. Every other event gets a unit cost or an explicit
reason why it has none (``cost_source`` = 'extract', 'unit cost' or 'none'); nothing is
silently zero. Money is integer pence on the way and DECIMAL(18,2) in the tables.

>>> rules = load_cost_rules()                       # the default rules
>>> table = load_unit_cost_table(price_year="2025/26")
>>> check_rules(rules, table)
[]
>>> table["ae_not_admitted"].pence > 9500           # £95 in 2011/12 prices, uprated
True
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Literal

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from totalplace.engine import SqlStep
from totalplace.errors import ManifestError
from totalplace.prices import financial_year, load_deflator, uprate

UNIT_DAYS = {"event": None, "day": Decimal(1), "week": Decimal(7), "year": Decimal("365.25")}
RULES_TABLE = "_people_cost_rules"
NO_RULE_REASON = "no unit cost: no cost rule matches this activity"
MATCH_FIELDS = ("agency", "service", "activity", "outcome", "channel")


# --- the unit-cost table ------------------------------------------------------------------
@dataclass(frozen=True)
class UnitCost:
    """One unit cost, with its value uprated to the place's price year."""

    cost_id: str
    item: str
    unit: str
    cost_gbp: Decimal
    price_year: str
    bears: str
    source: str
    uprated_gbp: Decimal

    @property
    def pence(self) -> int:
        return int(self.uprated_gbp * 100)


def load_unit_cost_table(
    path: str | Path | None = None, price_year: str | None = None
) -> dict[str, UnitCost]:
    """Read a unit-cost CSV (default: the shipped one) and uprate it to ``price_year``.

    ``price_year`` defaults to the latest year of the GDP deflator. Every bad row is reported
    at once (a ``ManifestError`` naming the file, row and column).
    """
    deflator = load_deflator()
    price_year = price_year or max(deflator)
    if path is None:
        text = resources.files("totalplace.data").joinpath("unit_costs.csv").read_text("utf-8")
        where = "totalplace/data/unit_costs.csv"
    else:
        p = Path(path)
        if not p.exists():
            raise ManifestError(str(p), ["unit-cost table not found"])
        text = p.read_text(encoding="utf-8-sig")
        where = str(p)
    rows = list(csv.DictReader(text.splitlines()))
    need = ("cost_id", "unit", "cost_gbp", "price_year")
    problems: list[str] = []
    if rows and (missing := [c for c in need if c not in rows[0]]):
        raise ManifestError(
            where, [f"columns {missing} are missing; the header has {list(rows[0])}"]
        )
    out: dict[str, UnitCost] = {}
    for i, row in enumerate(rows, start=2):
        cid = (row.get("cost_id") or "").strip()
        if not cid:
            problems.append(f"line {i}: cost_id is empty")
            continue
        if cid in out:
            problems.append(f"line {i}: cost_id {cid!r} appears twice")
        unit = (row.get("unit") or "").strip()
        if unit not in UNIT_DAYS:
            problems.append(
                f"line {i} ({cid}): unit must be one of {', '.join(UNIT_DAYS)}; found {unit!r}"
            )
            continue
        try:
            cost = Decimal(row["cost_gbp"])
        except (InvalidOperation, TypeError):
            problems.append(f"line {i} ({cid}): cost_gbp {row.get('cost_gbp')!r} is not a number")
            continue
        py = (row.get("price_year") or "").strip()
        if py not in deflator:
            problems.append(
                f"line {i} ({cid}): price_year {py!r} is not in the GDP deflator "
                f"({min(deflator)} to {max(deflator)})"
            )
            continue
        out[cid] = UnitCost(
            cost_id=cid,
            item=row.get("item", ""),
            unit=unit,
            cost_gbp=cost,
            price_year=py,
            bears=row.get("bears", "") or "",
            source=row.get("source", "") or "",
            uprated_gbp=uprate(cost, py, price_year, deflator),
        )
    if problems:
        raise ManifestError(where, problems)
    return out


# --- the cost rules -----------------------------------------------------------------------
class CostRule(BaseModel):
    """One rule of the cost mapping (see ``people/data/cost_rules.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agency: str | None = None
    service: str | None = None
    activity: str | None = None
    outcome: str | None = None
    channel: str | None = None
    cost_id: str | None = Field(description="unit-cost id; null = no unit cost (give a reason)")
    reason: str | None = None
    basis: Literal["event", "day"] = "event"
    factor: Decimal = Decimal(1)
    share: Decimal = Field(Decimal(1), gt=0, le=1)
    add: bool = False
    when: Literal["always", "starts_in_period"] = "always"
    value: Literal["fiscal", "economic", "social"] = "fiscal"
    bears: str | None = None
    note: str | None = None

    def matches(self, **event: str | None) -> bool:
        """Does an event (agency=..., activity=..., ...) match? (the SQL does the same)"""
        for f in MATCH_FIELDS:
            pat = getattr(self, f)
            if pat is None:
                continue
            v = event.get(f)
            if v is None or not fnmatch.fnmatchcase(v.lower(), pat.lower()):
                return False
        return True


def load_cost_rules(path: str | Path | None = None) -> list[CostRule]:
    """The cost rules from YAML (default: the shipped ones); every problem reported at once."""
    if path is None:
        text = (
            resources.files("totalplace.people.data").joinpath("cost_rules.yaml").read_text("utf-8")
        )
        where = "totalplace/people/data/cost_rules.yaml"
    else:
        p = Path(path)
        if not p.exists():
            raise ManifestError(str(p), ["cost rules file not found"])
        text, where = p.read_text(encoding="utf-8"), str(p)
    data = yaml.safe_load(text) or {}
    raw = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise ManifestError(where, ["expected a top-level key 'rules' holding a list of rules"])
    rules, problems = [], []
    for i, r in enumerate(raw):
        try:
            rules.append(CostRule.model_validate(r))
        except ValidationError as e:
            for err in e.errors():
                loc = ".".join(str(x) for x in err["loc"])
                problems.append(f"rules[{i}].{loc}: {err['msg']}")
            continue
        if r.get("cost_id") is None and not r.get("reason"):
            problems.append(f"rules[{i}]: a rule with no cost_id must give a reason")
    if problems:
        raise ManifestError(where, problems)
    return rules


def check_rules(rules: list[CostRule], table: dict[str, UnitCost]) -> list[str]:
    """Problems between the rules and the unit-cost table (unknown cost ids, bad bases)."""
    problems = []
    for i, r in enumerate(rules):
        if r.cost_id is None:
            continue
        if r.cost_id not in table:
            problems.append(
                f"rules[{i}].cost_id: unknown cost_id {r.cost_id!r}; "
                f"the unit-cost table has: {', '.join(sorted(table))}"
            )
        elif r.basis == "day" and table[r.cost_id].unit == "event":
            problems.append(
                f"rules[{i}].basis: 'day' needs a cost per day, week or year; "
                f"{r.cost_id!r} is per event"
            )
    return problems


def rules_table(rules: list[CostRule], table: dict[str, UnitCost]) -> pa.Table:
    """The rules as rows for SQL: rule_no, amounts in pence (per event, or per day)."""
    rows: dict[str, list] = {
        k: []
        for k in (
            "rule_no",
            "cost_id",
            "basis",
            "event_pence",
            "day_pence",
            "add_on",
            "starts_in_period",
            "value_type",
            "bears",
            "reason",
            "estimate",
        )
    }
    for i, r in enumerate(rules, start=1):
        u = table.get(r.cost_id) if r.cost_id else None
        event_pence, day_pence = None, None
        if u is not None:
            base = u.uprated_gbp * 100 * r.factor * r.share
            if r.basis == "day":
                day_pence = float(base / UNIT_DAYS[u.unit])
            else:
                event_pence = int(base.quantize(Decimal(1), ROUND_HALF_UP))
        rows["rule_no"].append(i)
        rows["cost_id"].append(r.cost_id)
        rows["basis"].append(r.basis)
        rows["event_pence"].append(event_pence)
        rows["day_pence"].append(day_pence)
        rows["add_on"].append(r.add)
        rows["starts_in_period"].append(r.when == "starts_in_period")
        rows["value_type"].append(r.value)
        rows["bears"].append(r.bears or (u.bears if u else None))
        rows["reason"].append(r.reason)
        rows["estimate"].append(r.share < 1)
    return pa.table(
        rows,
        schema=pa.schema(
            [
                ("rule_no", pa.int32()),
                ("cost_id", pa.string()),
                ("basis", pa.string()),
                ("event_pence", pa.int64()),
                ("day_pence", pa.float64()),
                ("add_on", pa.bool_()),
                ("starts_in_period", pa.bool_()),
                ("value_type", pa.string()),
                ("bears", pa.string()),
                ("reason", pa.string()),
                ("estimate", pa.bool_()),
            ]
        ),
    )


# --- SQL ----------------------------------------------------------------------------------
def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def glob_sql(col: str, pat: str) -> str:
    """SQL: lower-cased ``col`` matches the glob ``pat`` (case-insensitive).

    Exact names compare with '=' and 'prefix*' with starts_with (both fast); anything else
    becomes LIKE with escaped literals.
    """
    p = pat.lower()
    if "*" not in p and "?" not in p:
        return f"{col} = {_lit(p)}"
    if p.endswith("*") and "*" not in p[:-1] and "?" not in p:
        return f"starts_with({col}, {_lit(p[:-1])})"
    like = p.replace("%", r"\%").replace("_", r"\_").replace("*", "%").replace("?", "_")
    return f"{col} LIKE {_lit(like)} ESCAPE '\\'"


def match_sql(rule: CostRule, alias: str = "e") -> str:
    """SQL condition over lower-cased columns ``<field>_l``: the event matches the rule."""
    parts = [
        glob_sql(f"{alias}.{f}_l", getattr(rule, f))
        for f in MATCH_FIELDS
        if getattr(rule, f) is not None
    ]
    return " AND ".join(parts) or "TRUE"


def local_sql(ts: str, tz: str, dialect: str = "duckdb") -> str:
    """A UTC TIMESTAMP as the place's local wall-clock TIMESTAMP (days and years are local).

    The one dialect difference of this stage: DuckDB's ``timezone()`` has no Spark name that
    sqlglot maps, so Spark gets its own ``from_utc_timestamp``.
    """
    if dialect == "spark":
        return f"from_utc_timestamp({ts}, {_lit(tz)})"
    return f"CAST(timezone({_lit(tz)}, timezone('UTC', {ts})) AS TIMESTAMP)"


def fy_bounds(start: dt.date, end: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """Financial years touching [start, end]: (label, first day, day after the last)."""
    out = []
    y = int(financial_year(start)[:4])
    while dt.date(y, 4, 1) <= end:
        out.append((financial_year(dt.date(y, 4, 1)), dt.date(y, 4, 1), dt.date(y + 1, 4, 1)))
        y += 1
    return out


KINDS = "_people_ev_kinds"
# The stage's working table of event costs: narrow (numbers, codes), read by its later steps;
# ``event_costs`` is published from it with the descriptive columns.
WORKING_TABLE = "_people_event_costs"


def kinds_sql(rules: list[CostRule], events: str = "events") -> str:
    """SQL: every distinct kind of event (agency, service, activity, outcome, channel).

    A place has a few hundred kinds and millions of events, so the rules are matched once per
    kind (its first matching base rule, ``rule_no``, and one flag per add-on, ``add_<n>``)
    and the events join their kind by ``kind_id``. Columns ``<field>_l`` hold the lower-cased
    descriptions for other rule sets (needs) to match on.
    """
    base = [(i, r) for i, r in enumerate(rules, start=1) if not r.add]
    adds = [(i, r) for i, r in enumerate(rules, start=1) if r.add]
    rule_case = (
        "CASE " + " ".join(f"WHEN {match_sql(r)} THEN {i}" for i, r in base) + " END"
        if base
        else "CAST(NULL AS INTEGER)"
    )
    add_cols = "".join(f", ({match_sql(r)}) AS add_{i}" for i, r in adds)
    fields = ", ".join(MATCH_FIELDS)
    return f"""
SELECT CAST(row_number() OVER (ORDER BY {fields}) AS INTEGER) AS kind_id, e.*,
  {rule_case} AS rule_no{add_cols}
FROM (SELECT {fields}, {", ".join(f"lower({f}) AS {f}_l" for f in MATCH_FIELDS)}
      FROM (SELECT DISTINCT {fields} FROM {events})) e
"""


def utc_offsets(
    tz: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime | None, int]]:
    """The place's UTC offset (seconds) from each change between ``start`` and ``end`` (UTC,
    naive): ``[(None, offset at start), (first UTC minute of the next offset, offset), ...]``.

    A few rows for years of data: local times then come from a CASE on the timestamp instead
    of a time-zone lookup per event.
    """
    from zoneinfo import ZoneInfo

    z = ZoneInfo(tz)

    def off(t: dt.datetime) -> int:
        return int(t.replace(tzinfo=dt.UTC).astimezone(z).utcoffset().total_seconds())

    minute = dt.timedelta(minutes=1)
    t = start.replace(second=0, microsecond=0)
    out: list[tuple[dt.datetime | None, int]] = [(None, off(t))]
    while t < end:
        n = min(t + dt.timedelta(days=1), end.replace(second=0, microsecond=0) + minute)
        if off(n) != off(t):
            lo, hi = t, n  # off(lo) differs from off(hi): find the first minute of the new one
            while hi - lo > minute:
                mid = lo + ((hi - lo) // minute // 2) * minute
                lo, hi = (mid, hi) if off(mid) == off(lo) else (lo, mid)
            out.append((hi, off(hi)))
        t = n
    return out


def offset_local_sql(
    ts: str,
    offsets: list[tuple[dt.datetime | None, int]],
    tz: str,
    span: tuple[dt.datetime, dt.datetime],
) -> str:
    """SQL (DuckDB): the UTC TIMESTAMP ``ts`` as local wall-clock time.

    Inside ``span`` (the ``utc_offsets`` range) the offset is a short CASE on the timestamp,
    latest change first; outside it (rare: records from long before the period) each value
    is converted with ``local_sql``.
    """
    lo, hi = (f"TIMESTAMP '{t.isoformat(sep=' ')}'" for t in span)
    whens = " ".join(
        f"WHEN {ts} >= TIMESTAMP '{start.isoformat(sep=' ')}' THEN {off}"
        for start, off in reversed(offsets[1:])
    )
    offset = f"CASE {whens} ELSE {offsets[0][1]} END" if whens else str(offsets[0][1])
    return (
        f"CASE WHEN {ts} >= {lo} AND {ts} < {hi} THEN {ts} + to_seconds({offset}) "
        f"ELSE {local_sql(ts, tz)} END"
    )


def event_costs_sqls(
    rules: list[CostRule],
    period: tuple[dt.date, dt.date],
    tz: str,
    events: str = "events",
    links: str = "person_links",
    rules_name: str = RULES_TABLE,
    dialect: str = "duckdb",
    keep_reason: str | None = None,
) -> list[SqlStep]:
    """Steps ending in ``event_costs``: one row per event with its cost or its reason.

    Columns: agency, event_id, person_id (NULL when the event's record is not linked),
    start_date, end_date (local), days_in_period, cost_gbp (DECIMAL(18,2); NULL when none),
    cost_source ('extract' / 'unit cost' / 'none'), cost_id (base '+' add-ons), basis,
    bears, value_type, estimate, reason (why there is no cost). The step before it makes the
    working table ``_people_event_costs`` (the costs, ``own``, ``basis``, ``rule_no``,
    ``kind_id``, the add-ons applied and ``reason_text``, kept only for kinds matching
    ``keep_reason``, an SQL condition over ``k.<field>_l``; default all) that later steps
    read. All set-based: rules are matched per kind of event (``kinds_sql``); local times come
    from the place's UTC offsets around the period (``utc_offsets``, DuckDB) or a time-zone
    conversion per event (``local_sql``, Spark and timestamps far from the period).
    """
    p0, p1 = period
    adds = [(i, r) for i, r in enumerate(rules, start=1) if r.add]
    add_cols = "".join(f", k.add_{i}" for i, _ in adds)
    p_end = f"DATE '{p1.isoformat()}' + 1"
    days = (
        f"greatest(0, date_diff('day', greatest(start_date, DATE '{p0.isoformat()}'), "
        f"least(coalesce(end_date, {p_end}), {p_end})))"
    )

    def amount(r: str) -> str:
        return (
            f"CASE WHEN {r}.basis = 'day' THEN CAST(round(days_in_period * {r}.day_pence) "
            f"AS BIGINT) ELSE {r}.event_pence END"
        )

    def add_amount(i: int) -> str:
        return (
            f"CASE WHEN add_{i} AND (NOT a{i}.starts_in_period OR start_date >= "
            f"DATE '{p0.isoformat()}') THEN {amount(f'a{i}')} ELSE 0 END"
        )

    add_joins = "".join(f"\nLEFT JOIN {rules_name} a{i} ON a{i}.rule_no = {i}" for i, _ in adds)
    add_sum = " + ".join(add_amount(i) for i, _ in adds) or "0"
    add_ids = (
        "concat_ws('+', "
        + ", ".join(f"CASE WHEN ({add_amount(i)}) > 0 THEN a{i}.cost_id END" for i, _ in adds)
        + ")"
        if adds
        else "NULL"
    )
    kind_join = " AND ".join(f"k.{f} IS NOT DISTINCT FROM e.{f}" for f in MATCH_FIELDS)
    if dialect == "spark":
        start_local = local_sql("e.start_at", tz, dialect)
        end_local = local_sql("e.end_at", tz, dialect)
    else:
        # The place's offsets from a year before the period to a year after it.
        span = (
            dt.datetime.combine(p0, dt.time()) - dt.timedelta(days=366),
            dt.datetime.combine(p1, dt.time()) + dt.timedelta(days=367),
        )
        offsets = utc_offsets(tz, *span)
        start_local = offset_local_sql("e.start_at", offsets, tz, span)
        end_local = offset_local_sql("e.end_at", offsets, tz, span)
    reason_text = (
        "e.reason_text"
        if keep_reason is None
        else f"CASE WHEN {keep_reason} THEN e.reason_text END"
    )
    matched = f"""
SELECT e.agency, e.event_id, l.person_id, e.cost_gbp AS own_cost, {reason_text} AS reason_text,
    k.kind_id, k.rule_no{add_cols},
    CAST({start_local} AS DATE) AS start_date,
    {end_local} AS end_local,
    CAST({end_local} AS DATE) AS end_date
FROM {events} e
JOIN {KINDS} k ON {kind_join}
LEFT JOIN {links} l ON l.agency = e.agency AND l.source_id = CAST(e.source_id AS VARCHAR)
"""
    applied = "".join(f",\n    ({add_amount(i)}) > 0 AS add_on_{i}" for i, _ in adds)
    working = f"""
WITH m AS ({matched}),
p AS (SELECT m.*, {days} AS days_in_period FROM m),
x AS (
  SELECT p.agency, p.event_id, p.person_id, p.start_date, p.end_local, p.end_date,
    p.days_in_period, p.own_cost, p.kind_id, p.reason_text, r.rule_no, r.basis,
    {amount("r")} AS base_pence,
    {add_sum} AS add_pence{applied}
  FROM p
  LEFT JOIN {rules_name} r ON r.rule_no = p.rule_no{add_joins}
)
SELECT agency, event_id, person_id, start_date, end_local, end_date, days_in_period,
  CASE
    WHEN own_cost IS NOT NULL THEN CAST(own_cost AS DECIMAL(18,2))
    WHEN coalesce(base_pence, 0) + add_pence > 0
      THEN CAST(CAST(coalesce(base_pence, 0) + add_pence AS DECIMAL(18,0)) / 100
                AS DECIMAL(18,2))
  END AS cost_gbp,
  own_cost IS NOT NULL AS own, coalesce(basis, 'event') AS basis, rule_no,
  kind_id, reason_text{"".join(f", add_on_{i}" for i, _ in adds)}
FROM x
"""
    add_ids = (
        "concat_ws('+', "
        + ", ".join(f"CASE WHEN w.add_on_{i} THEN a{i}.cost_id END" for i, _ in adds)
        + ")"
        if adds
        else "NULL"
    )
    published = f"""
SELECT w.agency, w.event_id, w.person_id, w.start_date, w.end_local, w.end_date,
  w.days_in_period, w.cost_gbp,
  CASE WHEN w.own THEN 'extract' WHEN w.cost_gbp IS NOT NULL THEN 'unit cost' ELSE 'none' END
    AS cost_source,
  CASE WHEN NOT w.own THEN nullif(concat_ws('+', r.cost_id, nullif({add_ids}, '')), '')
  END AS cost_id,
  w.basis, r.bears, coalesce(r.value_type, 'fiscal') AS value_type,
  coalesce(r.estimate AND NOT w.own, FALSE) AS estimate,
  {reason_sql("w", "r")} AS reason
FROM {WORKING_TABLE} w
LEFT JOIN {rules_name} r ON r.rule_no = w.rule_no{add_joins}
"""
    return [
        SqlStep(kinds_sql(rules, events), KINDS),
        SqlStep(working, WORKING_TABLE),
        SqlStep(published, "event_costs"),
    ]


def reason_sql(w: str = "w", r: str = "r") -> str:
    """SQL: why an event of the working table ``w`` (its base rule ``r``) has no cost."""
    return f"""CASE
    WHEN {w}.cost_gbp IS NOT NULL THEN NULL
    WHEN {r}.reason IS NOT NULL THEN 'no unit cost: ' || {r}.reason
    WHEN {w}.rule_no IS NULL THEN {_lit(NO_RULE_REASON)}
    WHEN {w}.basis = 'day' THEN 'no unit cost: no days inside the analysis period'
    ELSE 'no unit cost: the unit cost is zero'
  END"""


def years_values_sql(period: tuple[dt.date, dt.date]) -> str:
    """The financial years touching the period: label, first day, day after, first year."""
    rows = ", ".join(
        f"({_lit(lbl)}, DATE '{a.isoformat()}', DATE '{b.isoformat()}', {a.year})"
        for lbl, a, b in fy_bounds(*period)
    )
    return f"(VALUES {rows}) AS fy(year, y0, y1, y)"


def fy_start_year_sql(d: str) -> str:
    """SQL: the calendar year a date's financial year (April to March) starts in."""
    return f"(year({d}) - CASE WHEN month({d}) < 4 THEN 1 ELSE 0 END)"


def person_costs_sql(period: tuple[dt.date, dt.date], event_costs: str = "event_costs") -> str:
    """Each event's cost split over the financial years its days fall in (exact pence).

    An event's days run from its start (or the period start) to its end rounded up to a whole
    day; an event with no end lasts one day, an episode (basis 'day') with no end runs to the
    period end. Each year gets floor(cost x its days / all days); the remainder goes to the
    year with most days, so a person's years add up to the penny. Events without a person
    (unlinked records) are left out here and counted in the run detail.
    """
    p0, p1 = (f"DATE '{d.isoformat()}'" for d in period)
    return f"""
WITH ev AS (
  SELECT agency, event_id, person_id, basis,
    CAST(round(cost_gbp * 100) AS BIGINT) AS pence,
    greatest(start_date, {p0}) AS s,
    CASE WHEN end_local IS NULL THEN
           CASE WHEN basis = 'day' THEN {p1} + 1 ELSE greatest(start_date, {p0}) + 1 END
         WHEN end_local > CAST(end_date AS TIMESTAMP) THEN end_date + 1
         ELSE end_date END AS e_raw
  FROM {event_costs} WHERE cost_gbp > 0 AND person_id IS NOT NULL
), ev2 AS (
  SELECT *, least(greatest(e_raw, s + 1), {p1} + 1) AS e FROM ev
), fy AS (SELECT * FROM {years_values_sql(period)}
), ev3 AS (
  SELECT ev2.agency, ev2.event_id, ev2.person_id, ev2.pence, ev2.s, ev2.e, fy.year,
    fy.y1 AS fy_end
  FROM ev2 JOIN fy ON fy.y = {fy_start_year_sql(f"least(ev2.s, {p1})")}
), one AS (
  SELECT agency, event_id, person_id, year, pence AS p FROM ev3
  WHERE e <= fy_end OR s >= {p1}
), multi AS (
  SELECT agency, event_id, person_id, pence, s, e FROM ev3
  WHERE e > fy_end AND s < {p1}
), ov AS (
  SELECT multi.*, fy.year,
    greatest(0, date_diff('day', greatest(s, y0), least(e, y1))) AS d
  FROM multi CROSS JOIN fy
), shares AS (
  SELECT agency, event_id, person_id, year, pence, d,
    sum(d) OVER (PARTITION BY agency, event_id) AS tot,
    row_number() OVER (PARTITION BY agency, event_id ORDER BY d DESC, year) AS rk
  FROM ov WHERE d > 0
), split AS (
  SELECT agency, event_id, person_id, year,
    pence * d // tot + CASE WHEN rk = 1
      THEN pence - sum(pence * d // tot) OVER (PARTITION BY agency, event_id) ELSE 0 END
      AS p
  FROM shares
  UNION ALL
  SELECT agency, event_id, person_id, year, p FROM one
)
SELECT person_id, year, agency,
  CAST(CAST(sum(p) AS DECIMAL(18,0)) / 100 AS DECIMAL(18,2)) AS cost_gbp
FROM split GROUP BY person_id, year, agency HAVING sum(p) > 0
"""


def household_costs_sql(
    person_costs: str = "person_costs", members: str = "household_members"
) -> str:
    """Person costs added up by each person's current household, year and agency.

    ``n_persons`` counts rows: person_costs has one row per person, year and agency, so each
    person counts once (no distinct count needed)."""
    return f"""
SELECT m.household_id, c.year, c.agency, sum(c.cost_gbp) AS cost_gbp,
  count(*) AS n_persons
FROM {person_costs} c JOIN {members} m ON m.person_id = c.person_id AND m.is_current
GROUP BY m.household_id, c.year, c.agency
"""
