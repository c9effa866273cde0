"""Population segments in the spirit of NHS 'Bridges to Health' (Lynn et al., Milbank
Quarterly 2007), extended with social needs.

Each linked person falls in the first segment whose rule they meet, in the order below, so the
segments partition the population. Rules read the person's needs (``person_needs``), age at
the period end and use of services in the period (``event_costs``); they are SQL conditions,
easy to change here, and the size and cost of every segment is published in ``segments``.
"""

from __future__ import annotations

import datetime as dt

SOCIAL = ("homelessness", "drugs", "alcohol", "offending", "domestic_abuse", "unemployment")
CHAOTIC = ("homelessness", "drugs", "alcohol", "offending", "mental_health", "domestic_abuse")


def _any(needs: tuple[str, ...]) -> str:
    return "(" + " OR ".join(f"list_contains(needs, '{n}')" for n in needs) + ")"


def _count(needs: tuple[str, ...]) -> str:
    return "(" + " + ".join(f"CAST(list_contains(needs, '{n}') AS INTEGER)" for n in needs) + ")"


# (segment, description, SQL condition); the first that holds wins.
SEGMENTS: tuple[tuple[str, str, str], ...] = (
    (
        "multiple disadvantage",
        "two or more of homelessness, substance misuse, offending, mental ill-health, "
        "domestic abuse",
        f"{_count(CHAOTIC)} >= 2",
    ),
    (
        "children in care or in need",
        "looked after or a child in need",
        _any(("looked_after", "child_in_need")),
    ),
    (
        "frailty",
        "frail, or 85 and over with adult social care",
        "list_contains(needs, 'frailty') OR (age >= 85 AND asc_events > 0)",
    ),
    ("disability", "learning disability", "list_contains(needs, 'learning_disability')"),
    ("mental ill-health", "mental ill-health (alone)", "list_contains(needs, 'mental_health')"),
    (
        "social need",
        "one social need (homelessness, substance, offending, abuse, unemployment)",
        _any(SOCIAL),
    ),
    ("acutely ill", "a hospital admission in the period", "admissions > 0"),
    ("using services", "any other costed use of services", "cost > 0"),
    ("low use", "no costed use of services in the period", "TRUE"),
)


def segments_sql(
    period_end: dt.date,
    persons: str = "persons",
    person_needs: str = "person_needs",
    event_costs: str = "event_costs",
    events: str = "events",
    person_events: str | None = None,
) -> str:
    """One row per linked person: segment, age band, needs, cost over the period.

    ``person_events`` (the stage's working table with ``activity_l``) saves joining
    ``event_costs`` back to ``events`` for the activity.
    """
    case = "CASE " + " ".join(f"WHEN {cond} THEN '{name}'" for name, _, cond in SEGMENTS) + " END"
    pe = f"DATE '{period_end.isoformat()}'"
    if person_events:
        source = f"(SELECT *, activity_l AS activity FROM {person_events}) c"
        act = "c.activity"
    else:
        source = (
            f"{event_costs} c JOIN {events} e ON e.agency = c.agency AND e.event_id = c.event_id "
            "WHERE c.person_id IS NOT NULL"
        )
        act = "e.activity"
    return f"""
WITH n AS (SELECT person_id, list_sort(list(DISTINCT need)) AS needs FROM {person_needs}
           GROUP BY person_id),
u AS (
  SELECT c.person_id, coalesce(sum(c.cost_gbp), 0) AS cost,
    count(*) FILTER (WHERE c.agency = 'adult_social_care') AS asc_events,
    count(*) FILTER (WHERE c.agency = 'acute' AND {act} NOT ILIKE '%A&E%'
                     AND c.cost_gbp > 0 AND c.basis = 'event'
                     AND ({act} ILIKE '%elective%' OR {act} ILIKE '%emergency%'))
      AS admissions
  FROM {source} GROUP BY c.person_id
),
b AS (
  SELECT p.person_id, coalesce(n.needs, []) AS needs,
    date_diff('year', p.dob, {pe}) AS age,
    coalesce(u.cost, 0) AS cost, coalesce(u.asc_events, 0) AS asc_events,
    coalesce(u.admissions, 0) AS admissions
  FROM {persons} p LEFT JOIN n USING (person_id) LEFT JOIN u USING (person_id)
)
SELECT person_id, {case} AS segment,
  CASE WHEN age IS NULL THEN 'not known' WHEN age < 18 THEN '0-17' WHEN age < 65 THEN '18-64'
       WHEN age < 85 THEN '65-84' ELSE '85+' END AS age_band,
  len(needs) AS n_needs, CAST(cost AS DECIMAL(18,2)) AS cost_gbp
FROM b
"""
