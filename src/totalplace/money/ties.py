"""Following the demand, not just the money: the count tied back to activity and people.

* **activity-based cost** — unit cost x activity, from the people stage's ``event_costs``
  (every costed event, linked to a person or not, split over the financial years its days
  fall in, exactly as people's ``person_costs``), set against each agency's front-line
  spend; what the activity does not explain is shown as the unexplained remainder;
* **concentration** — the share of each agency's spend that goes on the top 1% and 5% of
  residents by whole-person cost (people's ``person_costs``; ranks across all agencies);
* **failure demand** — the handling cost of failure contacts, from demand's ``demand``
  table joined to ``event_costs`` (see ``failure_demand_sql``).

The SQL is built by pure functions; money stays DECIMAL (sums) or ``Decimal`` (shares).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pyarrow as pa

from totalplace.money.count import MONEY
from totalplace.prices import uprate

ACTIVITY_COSTS = pa.schema(
    [
        ("year", pa.string()),
        ("agency", pa.string()),
        ("activity_cost_gbp", MONEY),
        ("front_line_real_gbp", MONEY),
        ("spend_real_gbp", MONEY),
        ("unexplained_gbp", MONEY),
        ("explained_pct", pa.float64()),
        ("attributable_cost_gbp", MONEY),
        ("top1_cost_gbp", MONEY),
        ("top5_cost_gbp", MONEY),
        ("top1_share_of_spend_pct", pa.float64()),
        ("top5_share_of_spend_pct", pa.float64()),
        ("top1_people", pa.int64()),
        ("top5_people", pa.int64()),
        ("price_year", pa.string()),
    ]
)


def activity_by_year_sql(period: tuple[dt.date, dt.date], event_costs: str = "event_costs") -> str:
    """Activity cost by agency and financial year, unlinked events included."""
    from totalplace.people.costs import person_costs_sql

    # people's split leaves out events without a person; here every event counts, so the
    # unlinked ones are given one stand-in person before the same split.
    view = f"(SELECT * REPLACE (coalesce(person_id, '(unlinked)') AS person_id) FROM {event_costs})"
    return (
        f"SELECT year, agency, CAST(sum(cost_gbp) AS DECIMAL(18,2)) AS activity_cost_gbp "
        f"FROM ({person_costs_sql(period, view)}) GROUP BY year, agency"
    )


def top_people(population: int, share: float) -> int:
    """How many people are the top ``share`` of ``population`` (at least one)."""
    return max(1, math.ceil(population * share))


def concentration_sql(n1: int, n5: int, person_costs: str = "person_costs") -> str:
    """Per year and agency: cost of the top n1 and n5 people by whole-person cost."""
    return f"""
        WITH tot AS (
            SELECT year, person_id, sum(cost_gbp) AS c FROM {person_costs} GROUP BY year, person_id
        ), rk AS (
            SELECT year, person_id,
                   row_number() OVER (PARTITION BY year ORDER BY c DESC, person_id) AS r
            FROM tot
        )
        SELECT pc.year, pc.agency,
               CAST(sum(pc.cost_gbp) AS DECIMAL(18,2)) AS attributable_cost_gbp,
               CAST(coalesce(sum(pc.cost_gbp) FILTER (WHERE rk.r <= {int(n1)}), 0)
                    AS DECIMAL(18,2)) AS top1_cost_gbp,
               CAST(coalesce(sum(pc.cost_gbp) FILTER (WHERE rk.r <= {int(n5)}), 0)
                    AS DECIMAL(18,2)) AS top5_cost_gbp
        FROM {person_costs} pc JOIN rk ON rk.year = pc.year AND rk.person_id = pc.person_id
        GROUP BY pc.year, pc.agency"""


def _pct(part: Decimal | None, whole: Decimal | None) -> float | None:
    if part is None or not whole:
        return None
    return float(Decimal(part) / Decimal(whole) * 100)


def activity_costs(
    count_rows: list[dict],
    activity: list[dict],
    concentration: list[dict] | None,
    people_year: str,
    price_year: str,
    n1: int | None,
    n5: int | None,
) -> pa.Table:
    """One row per agency and year: spend, activity cost, remainder, concentration."""
    spend: dict[tuple[str, str], dict[str, Decimal]] = {}
    for r in count_rows:
        if r["level"] == "agency_category":
            d = spend.setdefault((r["year"], r["agency"]), {})
            d[r["category"]] = d.get(r["category"], Decimal(0)) + r["amount_real_gbp"]
    act = {(r["year"], r["agency"]): r["activity_cost_gbp"] for r in activity}
    conc = {(r["year"], r["agency"]): r for r in (concentration or [])}
    rows = []
    for key in sorted(set(spend) | set(act)):
        year, agency = key
        parts = spend.get(key, {})
        front = parts.get("front line")
        total = sum(parts.values(), Decimal(0)) if parts else None
        a = act.get(key)
        if a is not None and people_year != price_year:
            a = uprate(a, people_year, price_year)
        c = dict(conc.get(key, {}))
        if c and people_year != price_year:
            for k in ("attributable_cost_gbp", "top1_cost_gbp", "top5_cost_gbp"):
                c[k] = uprate(c[k], people_year, price_year)
        rows.append(
            {
                "year": year,
                "agency": agency,
                "activity_cost_gbp": a,
                "front_line_real_gbp": front,
                "spend_real_gbp": total,
                "unexplained_gbp": (front - (a or Decimal(0))) if front is not None else None,
                "explained_pct": _pct(a, front),
                "attributable_cost_gbp": c.get("attributable_cost_gbp"),
                "top1_cost_gbp": c.get("top1_cost_gbp"),
                "top5_cost_gbp": c.get("top5_cost_gbp"),
                "top1_share_of_spend_pct": _pct(c.get("top1_cost_gbp"), total),
                "top5_share_of_spend_pct": _pct(c.get("top5_cost_gbp"), total),
                "top1_people": n1 if c else None,
                "top5_people": n5 if c else None,
                "price_year": price_year,
            }
        )
    return pa.Table.from_pylist(rows, schema=ACTIVITY_COSTS)


FAILURE_DEMAND_COSTS = pa.schema(
    [
        ("year", pa.string()),
        ("agency", pa.string()),
        ("service", pa.string()),
        ("contacts", pa.int64()),
        ("failure_contacts", pa.int64()),
        ("failure_handoffs", pa.int64()),
        ("contact_cost_gbp", MONEY),
        ("failure_cost_gbp", MONEY),
        ("price_year", pa.string()),
    ]
)
DEMAND_COLUMNS = ("agency", "event_id", "demand_type", "service", "start_at")


def failure_demand_sql(
    demand: str = "demand", event_costs: str = "event_costs", has: tuple[str, ...] = ()
) -> str:
    """Per year, agency and service: contacts, failure contacts and what handling them costs.

    The handling cost of a contact is its cost in ``event_costs`` (unit cost by channel);
    ``failure_handoffs`` counts failure contacts passed to a back office (outcome_class
    'handoff'), where the rework they trigger happens. ``has`` lists the optional columns
    the demand table has (``source``, ``outcome_class``).
    """
    from totalplace.prices import financial_year_sql

    contacts_only = "WHERE d.source = 'contact'" if "source" in has else ""
    handoff = (
        "count(*) FILTER (WHERE d.demand_type = 'failure' AND d.outcome_class = 'handoff')"
        if "outcome_class" in has
        else "CAST(NULL AS BIGINT)"
    )
    return f"""
        SELECT {financial_year_sql("d.start_at")} AS year, d.agency,
               coalesce(d.service, '(not given)') AS service,
               count(*) AS contacts,
               count(*) FILTER (WHERE d.demand_type = 'failure') AS failure_contacts,
               {handoff} AS failure_handoffs,
               CAST(coalesce(sum(ec.cost_gbp), 0) AS DECIMAL(18,2)) AS contact_cost_gbp,
               CAST(coalesce(sum(ec.cost_gbp) FILTER (WHERE d.demand_type = 'failure'), 0)
                    AS DECIMAL(18,2)) AS failure_cost_gbp
        FROM {demand} d
        LEFT JOIN {event_costs} ec ON ec.agency = d.agency AND ec.event_id = d.event_id
        {contacts_only}
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""


def failure_demand_costs(engine, people_year: str, price_year: str) -> pa.Table | None:
    """The failure-demand table, or None when ``demand`` lacks the columns it needs."""
    cols = set(engine.columns("demand"))
    if not set(DEMAND_COLUMNS) <= cols:
        return None
    has = tuple(c for c in ("source", "outcome_class") if c in cols)
    rows = engine.query(failure_demand_sql(has=has)).to_pylist()
    for r in rows:
        if people_year != price_year:
            for k in ("contact_cost_gbp", "failure_cost_gbp"):
                r[k] = uprate(r[k], people_year, price_year)
        r["price_year"] = price_year
    return pa.Table.from_pylist(rows, schema=FAILURE_DEMAND_COSTS)
