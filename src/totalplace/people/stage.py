"""``People``: the place stage (see the package docstring for what it publishes)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from totalplace.errors import ManifestError
from totalplace.people import concentration as conc
from totalplace.people import costs, needs, segments
from totalplace.people.cohorts import (
    CohortSpec,
    _Source,
    base_key,
    base_sql,
    comparison_group,
    default_index_date,
    load_cohorts,
    person_period_outcomes,
    select_cohort,
)
from totalplace.people.costs import fy_bounds
from totalplace.people.matching import default_other_index_date
from totalplace.people.settings import PeopleSettings, load_settings
from totalplace.place import StageResult
from totalplace.prices import load_deflator

INPUTS = ("events", "person_links", "persons", "households", "household_members")
# Unpublished tables while the stage runs (published together at the end).
T = {
    "person_events": "_people_person_events",
    "event_costs": costs.WORKING_TABLE,
    "person_costs": "_people_person_costs",
    "household_costs": "_people_household_costs",
    "person_needs": "_people_person_needs",
}


class People:
    """The people stage of one place: ``place.people.run()``."""

    def __init__(self, place):
        self.place = place
        self._settings: PeopleSettings | None = None

    # --- settings -------------------------------------------------------------------------
    @property
    def settings(self) -> PeopleSettings:
        if self._settings is None:
            self._settings = load_settings(self.place.manifest)
        return self._settings

    @property
    def price_year(self) -> str:
        return self.place.manifest.price_year or max(load_deflator())

    @property
    def period(self):
        p = self.place.manifest.period
        return (p.start, p.end)

    @property
    def years(self) -> list[str]:
        """Financial years wholly inside the analysis period."""
        p0, p1 = self.period
        return [
            y for y, a, b in fy_bounds(p0, p1) if a >= p0 and b.toordinal() - 1 <= p1.toordinal()
        ]

    def population(self) -> int:
        """Residents: ``people.population`` in place.yaml, else the linked persons."""
        if self.settings.population:
            return int(self.settings.population)
        return int(self.place.store.engine.count("persons"))

    def unit_costs(self) -> dict[str, costs.UnitCost]:
        root = self.place.manifest.root
        return costs.load_unit_cost_table(self.settings.path(root, "unit_costs"), self.price_year)

    def cost_rules(self, table: dict[str, costs.UnitCost] | None = None) -> list[costs.CostRule]:
        root = self.place.manifest.root
        path = self.settings.path(root, "cost_rules")
        rules = costs.load_cost_rules(path)
        problems = costs.check_rules(rules, table if table is not None else self.unit_costs())
        if problems:
            raise ManifestError(str(path or "totalplace/people/data/cost_rules.yaml"), problems)
        return rules

    def needs_mapping(self) -> needs.NeedsMapping:
        return needs.load_needs_mapping(self.settings.path(self.place.manifest.root, "needs"))

    def cohort_specs(self) -> list[CohortSpec]:
        """The default cohorts, then the place's own (``people: {cohorts: ...}``)."""
        specs = load_cohorts(None, place=self.place)
        own = self.settings.cohorts
        if own is not None:
            src = (
                own
                if isinstance(own, list)
                else self.settings.path(self.place.manifest.root, "cohorts")
            )
            mine = load_cohorts(src, place=self.place)
            names = {s.name for s in mine}
            specs = [s for s in specs if s.name not in names] + mine
        return specs

    # --- the run ----------------------------------------------------------------------------
    def run(self, **options: Any) -> StageResult:
        """Cost, needs, concentration, persistence, cohorts and segments, published at once."""
        store = self.place.store
        eng = store.engine
        store.require(*INPUTS)
        table = self.unit_costs()
        rules = self.cost_rules(table)
        mapping = self.needs_mapping()
        specs = self.cohort_specs()
        pop = self.population()
        timings: dict[str, float] = {}
        with store.stage_run("people") as run:
            eng.register(costs.RULES_TABLE, costs.rules_table(rules, table))
            tz = self.place.manifest.timezone
            with _timed(timings, "costs"):
                steps = costs.event_costs_sqls(
                    rules,
                    self.period,
                    tz,
                    dialect=eng.dialect,
                    keep_reason=needs.reason_kinds_sql(mapping),
                )
                for step in steps:
                    if step.output_table == "event_costs":
                        published_event_costs = step.sql  # written once, at publish
                    else:
                        _temp(eng, step.output_table, step.sql)
                _temp(eng, T["person_costs"], costs.person_costs_sql(self.period, T["event_costs"]))
                _temp(eng, T["household_costs"], costs.household_costs_sql(T["person_costs"]))
            with _timed(timings, "needs"):
                _temp(
                    eng,
                    T["person_needs"],
                    needs.person_needs_sql(
                        mapping, self.period[1], T["event_costs"], kinds=costs.KINDS
                    ),
                )
                traced = {
                    r["need"]
                    for r in eng.query(needs.traced_needs_sql(mapping, costs.KINDS)).to_pylist()
                }
            tables: dict[str, Any] = {
                k: f'SELECT * FROM "{v}"' for k, v in T.items() if k != "person_events"
            }
            tables["event_costs"] = published_event_costs
            with _timed(timings, "concentration"):
                for name, sql in self._concentration_tables(eng, pop).items():
                    _temp(eng, f"_people_{name}", sql)
                    tables[name] = f'SELECT * FROM "_people_{name}"'
            with _timed(timings, "cohorts"):
                _temp(eng, "_people_person_events", _PERSON_EVENTS.format(ec=T["event_costs"]))
                cohorts_t, members_t = self._cohort_tables(specs)
            tables["cohorts"] = cohorts_t
            tables["cohort_members"] = members_t
            with _timed(timings, "segments"):
                _temp(
                    eng,
                    "_people_segments",
                    segments.segments_sql(
                        self.period[1],
                        person_needs=T["person_needs"],
                        person_events="_people_person_events",
                    ),
                )
            tables["segments"] = 'SELECT * FROM "_people_segments"'
            with _timed(timings, "publish"):
                counts = store.publish(tables)
            detail = self._cost_detail(eng)
            detail["no_cost_by_activity"] = eng.query(
                _NO_COST_SQL.format(ec=T["event_costs"])
            ).to_pylist()
            detail["no_cost_rule_by_agency"] = {
                r["agency"]: r["events"]
                for r in eng.query(
                    "SELECT agency, count(*) AS events FROM event_costs WHERE reason = "
                    f"{costs._lit(costs.NO_RULE_REASON)} GROUP BY agency ORDER BY agency"
                ).to_pylist()
            }
            detail["population"] = pop
            detail["timings"] = {k: round(v, 2) for k, v in timings.items()}
            detail["untraced_needs"] = needs.untraced_needs(mapping, traced)
            detail["people_per_need"] = {
                r["need"]: r["people"] for r in eng.query(needs.needs_summary_sql()).to_pylist()
            }
            # A place with one year of data has no year-to-year persistence to show.
            detail["persistence"] = (
                eng.query("SELECT * FROM persistence").to_pylist()
                if "persistence" in counts
                else []
            )
            run.rows = {k: {"out": v} for k, v in counts.items()}
            run.detail = detail
        summary = [
            f"{detail['events']:,} events: {detail['costed']:,} costed "
            f"(£{detail['total_gbp']:,.0f} in {self.price_year} prices), "
            f"{detail['no_unit_cost']:,} with no unit cost (reasons in event_costs)",
            f"needs for {counts['person_needs']:,} person-need spells; not evidenced by any "
            f"extract: {', '.join(detail['untraced_needs']) or 'none'}",
            f"{counts['cohorts']} cohorts, {counts['cohort_members']:,} members and comparators",
        ]
        unmatched = detail["no_cost_rule_by_agency"]
        if unmatched:
            summary.insert(
                1,
                f"{sum(unmatched.values()):,} events match no cost rule ("
                + ", ".join(f"{a}: {n:,}" for a, n in sorted(unmatched.items()))
                + "); the default rules are written for Anytown's agencies and activities: "
                "give this place's own with people: {cost_rules: ..., unit_costs: ...} in "
                "place.yaml (each event's reason is in event_costs; the run's detail lists "
                "them by activity in no_cost_by_activity)",
            )
        top = eng.query("SELECT top_1 FROM concentration WHERE unit = 'person' AND year = 'all'")
        headline = summary[0]
        if top.num_rows and top.column(0)[0].as_py() is not None:
            headline = (
                f"1% of residents account for {top.column(0)[0].as_py():.0%} of the cost; "
                + summary[0]
            )
        return StageResult("people", counts, summary, detail, headline)

    def _concentration_tables(self, eng, pop: int) -> dict[str, str | pa.Table]:
        pc, hc = T["person_costs"], T["household_costs"]
        n_households = int(eng.count("households"))
        # Each unit's totals per year and over all years, added up once and ranked once for
        # every figure (top shares, Gini, Lorenz curve).
        _temp(eng, "_people_unit_totals", conc.all_unit_totals_sql(pc, hc, self.years))
        _temp(eng, "_people_ranked", conc.ranked_sql("_people_unit_totals"))
        populations = {"person": pop, "household": n_households}
        out: dict[str, str | pa.Table] = {
            "concentration": conc.concentration_all_sql(
                "_people_unit_totals", "_people_ranked", populations
            ),
            "lorenz": conc.lorenz_all_sql("_people_unit_totals", "_people_ranked", populations),
        }
        # Each person's cost per year (the persistence figures' input on a small place).
        pc_years = (
            "(SELECT id AS person_id, year, c AS cost_gbp FROM _people_unit_totals "
            "WHERE unit = 'person' AND year <> 'all')"
        )
        ys = self.years
        pairs = list(zip(ys, ys[1:], strict=False))
        k = round(pop * self.settings.high_use_share)
        if pairs:
            share = self.settings.high_use_share
            with_cost = {
                r["part"]: r["n"]
                for r in eng.query(
                    "SELECT part, count(*) AS n FROM _people_unit_totals "
                    f"WHERE unit = 'person' AND part BETWEEN 1 AND {len(ys)} GROUP BY part"
                ).to_pylist()
            }
            g = "_people_person_years"
            if all(with_cost.get(i, 0) >= k for i in range(1, len(ys) + 1)):
                # Each year's top share is all people with a cost: rank only them.
                _temp(eng, g, conc.cost_groups_sql("_people_unit_totals", "persons", len(ys)))
                trans = [conc.transitions_from_groups_sql(ys, i, g) for i in range(len(pairs))]
                pers = [
                    conc.persistence_from_groups_sql(ys, i, k, share, g) for i in range(len(pairs))
                ]
            else:  # a small place: every person's row in every year
                _temp(eng, g, conc.person_year_groups_sql(ys, pc_years, "persons"))
                trans = [conc.decile_transitions_from_sql(ys, i, g) for i in range(len(pairs))]
                pers = [conc.persistence_from_sql(ys, i, k, share, g) for i in range(len(pairs))]
            out["decile_transitions"] = "\nUNION ALL\n".join(f"SELECT * FROM ({q})" for q in trans)
            out["persistence"] = "\nUNION ALL\n".join(f"SELECT * FROM ({q})" for q in pers)
        return out

    def _cohort_tables(self, specs: list[CohortSpec]) -> tuple[pa.Table, pa.Table]:
        """Each cohort and its comparison group with their year before and after, in SQL."""
        eng = self.place.store.engine
        # The criteria-free baseline at each index date (and lookback) is computed once and
        # shared by every cohort selected there.
        tables = dict(T)
        src = _Source(self.place, T)
        for spec in specs:
            idx = default_index_date(spec, self.period)
            for d in (idx, default_other_index_date(spec, idx, self.period)):
                key = base_key(d, spec.lookback_days)
                if key not in tables:
                    tables[key] = f"_people_{key}"
                    _temp(eng, tables[key], src.sql(base_sql(d, spec.lookback_days, self.period)))
        cohort_rows, member_parts = [], []
        for spec in specs:
            idx = default_index_date(spec, self.period)
            mem = select_cohort(self.place, spec, idx, tables=tables)
            comp = comparison_group(
                self.place, spec, idx, method="other_index_date", members=mem, tables=tables
            )
            people = pa.concat_tables(
                [
                    t.select(["person_id", "index_date"])
                    .append_column("grp", pa.array([grp] * t.num_rows, pa.string()))
                    .append_column(
                        "matched_to",
                        t.column("matched_to")
                        if "matched_to" in t.column_names
                        else pa.nulls(t.num_rows, pa.string()),
                    )
                    for grp, t in (("cohort", mem), ("comparison", comp))
                ]
            )
            eng.register("_people_cohort_people", people)
            out = person_period_outcomes(
                self.place,
                people,
                period_days=spec.followup_days,
                before=1,
                after=1,
                tables=tables,
            )
            eng.register("_people_cohort_outcomes", out)
            rows = eng.query(_cohort_members_sql(spec.name))
            member_parts.append(rows.select(_MEMBERS.names).cast(_MEMBERS))
            eng.register("_people_cohort_members", rows)
            stats = {r["grp"]: r for r in eng.query(_COHORT_STATS).to_pylist()}
            n, b, a = (stats.get("cohort", {}).get(k) for k in ("n", "before", "after"))
            cn, cb, ca = (stats.get("comparison", {}).get(k) for k in ("n", "before", "after"))
            cohort_rows.append(
                {
                    "cohort": spec.name,
                    "description": spec.description,
                    "index_date": idx,
                    "members": n or 0,
                    "cost_before": b,
                    "cost_after": a,
                    "change": (a / b - 1) if (a is not None and b) else None,
                    "comparison_method": "other_index_date",
                    "comparison_people": cn or 0,
                    "comparison_cost_before": cb,
                    "comparison_cost_after": ca,
                    "comparison_change": (ca / cb - 1) if (ca is not None and cb) else None,
                    "definition": spec.model_dump_json(exclude_none=True),
                }
            )
        cohorts_t = pa.Table.from_pylist(cohort_rows, schema=_COHORTS)
        members_t = pa.concat_tables(member_parts) if member_parts else _MEMBERS.empty_table()
        return cohorts_t, members_t

    def _cost_detail(self, eng) -> dict[str, Any]:
        t = eng.query(
            "SELECT count(*) AS n, count(cost_gbp) AS costed, "
            "count(*) FILTER (WHERE cost_gbp IS NOT NULL AND person_id IS NULL) AS unlinked, "
            "count(*) FILTER (WHERE estimate) AS estimated, "
            "CAST(coalesce(sum(cost_gbp), 0) AS VARCHAR) AS total FROM event_costs"
        ).to_pylist()[0]
        reasons = eng.query(
            "SELECT reason, count(*) AS n FROM event_costs WHERE reason IS NOT NULL "
            "GROUP BY reason ORDER BY n DESC, reason"
        ).to_pylist()
        return {
            "events": t["n"],
            "costed": t["costed"],
            "no_unit_cost": t["n"] - t["costed"],
            "costed_unlinked": t["unlinked"],
            "estimated": t["estimated"],
            "total_gbp": float(t["total"]),
            "total_gbp_exact": t["total"],
            "price_year": self.price_year,
            "no_cost_reasons": {r["reason"]: r["n"] for r in reasons},
        }


# Events with no cost by agency, service, activity and reason: what a place's own cost rules
# would need to cover (every kind listed, most events first).
_NO_COST_SQL = f"""
WITH w AS (
  SELECT kind_id, rule_no, basis, CAST(NULL AS DECIMAL(18,2)) AS cost_gbp, count(*) AS events
  FROM "{{ec}}" WHERE cost_gbp IS NULL GROUP BY kind_id, rule_no, basis
), x AS (
  SELECT k.agency, k.service, k.activity, {costs.reason_sql("w", "r")} AS reason, w.events
  FROM w JOIN {costs.KINDS} k ON k.kind_id = w.kind_id
  LEFT JOIN {costs.RULES_TABLE} r ON r.rule_no = w.rule_no
)
SELECT agency, service, activity, reason, sum(events) AS events FROM x
GROUP BY agency, service, activity, reason
ORDER BY events DESC, agency, service, activity
LIMIT 100
"""

# The stage's person_events (see cohorts.PERSON_EVENTS_SQL) from its working tables: the
# lower-cased descriptions come from the kinds of event, not a second join with events.
_PERSON_EVENTS = f"""
SELECT c.person_id, c.agency, c.start_date, c.end_date, c.cost_gbp, c.basis, c.days_in_period,
  k.agency_l, k.service_l, k.activity_l, k.outcome_l, k.channel_l
FROM "{{ec}}" c JOIN {costs.KINDS} k ON k.kind_id = c.kind_id
WHERE c.person_id IS NOT NULL
"""


def _cohort_members_sql(name: str) -> str:
    """One row per cohort member and comparator: the period before and after its index date
    (after: NULL when that period is not wholly inside the data)."""
    return f"""
SELECT {costs._lit(name)} AS cohort, g.person_id, CAST(g.index_date AS DATE) AS index_date, g.grp,
  g.matched_to, b.events AS events_before, b.cost_gbp AS cost_before,
  CASE WHEN a.observed THEN a.events END AS events_after,
  CASE WHEN a.observed THEN a.cost_gbp END AS cost_after,
  coalesce(a.observed, FALSE) AS observed
FROM _people_cohort_people g
LEFT JOIN _people_cohort_outcomes b ON b.person_id = g.person_id
  AND b.index_date = CAST(g.index_date AS DATE) AND b.period = -1
LEFT JOIN _people_cohort_outcomes a ON a.person_id = g.person_id
  AND a.index_date = CAST(g.index_date AS DATE) AND a.period = 0
ORDER BY CASE g.grp WHEN 'cohort' THEN 0 ELSE 1 END, g.person_id
"""


# Per group: people, cost before, cost after (NULL unless every member's year after is seen).
_COHORT_STATS = """
SELECT grp, count(*) AS n,
  CAST(coalesce(sum(cost_before), 0) AS DOUBLE) AS before,
  CASE WHEN bool_and(observed) THEN CAST(coalesce(sum(cost_after), 0) AS DOUBLE) END AS after
FROM _people_cohort_members GROUP BY grp
"""

_COHORTS = pa.schema(
    [
        ("cohort", pa.string()),
        ("description", pa.string()),
        ("index_date", pa.date32()),
        ("members", pa.int64()),
        ("cost_before", pa.float64()),
        ("cost_after", pa.float64()),
        ("change", pa.float64()),
        ("comparison_method", pa.string()),
        ("comparison_people", pa.int64()),
        ("comparison_cost_before", pa.float64()),
        ("comparison_cost_after", pa.float64()),
        ("comparison_change", pa.float64()),
        ("definition", pa.string()),
    ]
)
_MEMBERS = pa.schema(
    [
        ("cohort", pa.string()),
        ("person_id", pa.string()),
        ("index_date", pa.date32()),
        ("grp", pa.string()),
        ("matched_to", pa.string()),
        ("events_before", pa.int64()),
        ("cost_before", pa.decimal128(18, 2)),
        ("events_after", pa.int64()),
        ("cost_after", pa.decimal128(18, 2)),
    ]
)


@contextmanager
def _timed(timings: dict[str, float], name: str):
    t = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - t


def _temp(eng, name: str, sql: str) -> None:
    eng.run(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')


__all__ = ["People"]
