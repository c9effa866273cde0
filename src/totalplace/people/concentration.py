"""Concentration of cost: Lorenz curve, Gini, top shares; persistence and regression to the
mean.

Everyone counts: people (or households) with no cost at all are part of the population
(``people.population`` in place.yaml, default the linked persons), so "the top 1%" is 1% of
residents, not of service users. All SQL; it runs on DuckDB and (transpiled) on Spark.

Regression to the mean: people selected *because* their cost was high in one year cost less
the next year with no intervention at all (Finkelstein et al., NEJM 2020, REFERENCE.md).
``persistence_sql`` measures that fall, the one a naive before/after evaluation would credit
to a programme.
"""

from __future__ import annotations

SHARES = (0.001, 0.01, 0.05, 0.1)


def unit_totals_sql(unit: str, year: str | None, person_costs: str, household_costs: str) -> str:
    """Total cost per person (or household) in a financial year, or over all years."""
    where = f"WHERE year = '{year}'" if year else ""
    if unit == "person":
        return f"SELECT person_id AS id, sum(cost_gbp) AS c FROM {person_costs} {where} GROUP BY 1"
    return (
        f"SELECT household_id AS id, sum(cost_gbp) AS c FROM {household_costs} {where} GROUP BY 1"
    )


def all_unit_totals_sql(person_costs: str, household_costs: str, years: list[str]) -> str:
    """Every person's and household's total cost over all years ('all') and in each of
    ``years``, those above zero only: ``unit_totals_sql`` for them all in one pass per unit."""
    keep = ", ".join(f"'{y}'" for y in years) or "NULL"
    # ``part`` numbers each (unit, year): an integer to partition and group by.
    part = "CASE WHEN year IS NULL THEN 0 " + " ".join(
        f"WHEN year = '{y}' THEN {i}" for i, y in enumerate(years, start=1)
    )
    parts = [
        f"SELECT {u * 1000} + {part} END AS part, '{unit}' AS unit, "
        f"coalesce(year, 'all') AS year, {key} AS id, "
        f"sum(cost_gbp) AS c FROM {table} GROUP BY GROUPING SETS (({key}, year), ({key})) "
        f"HAVING sum(cost_gbp) > 0 AND (year IS NULL OR year IN ({keep}))"
        for u, (unit, key, table) in enumerate(
            (("person", "person_id", person_costs), ("household", "household_id", household_costs))
        )
    ]
    return "\nUNION ALL\n".join(parts)


def concentration_sql(totals: str, population: int, label: str, unit: str) -> str:
    """Top shares and the Gini coefficient over ``population`` units (zeros included).

    Gini = 2 sum(i x_i) / (N sum x) - (N + 1) / N with x ascending over all N units; units
    with no cost come first, so a unit with cost has rank (N - n_with_cost) + its rank among
    those with cost.
    """
    n = int(population)
    tops = ",\n  ".join(
        f"sum(c) FILTER (WHERE j > npos - {round(n * q)}) / tot AS top_{_pct(q)}" for q in SHARES
    )
    return f"""
WITH t AS (SELECT id, CAST(c AS DOUBLE) AS c FROM ({totals}) WHERE c > 0),
r AS (SELECT c, row_number() OVER (ORDER BY c, id) AS j FROM t),
s AS (SELECT count(*) AS npos, sum(c) AS tot FROM t)
SELECT '{unit}' AS unit, '{label}' AS year, {n} AS population, any_value(npos) AS with_cost,
  any_value(tot) AS total_gbp,
  2 * sum(({n} - npos + j) * c) / ({n} * tot) - ({n} + 1.0) / {n} AS gini,
  {tops}
FROM r CROSS JOIN s GROUP BY npos, tot
"""


def _pct(q: float) -> str:
    return f"{q * 100:g}".replace(".", "_")


def lorenz_sql(totals: str, population: int, label: str, unit: str, points: int = 100) -> str:
    """The Lorenz curve: share of cost held by the poorest-to-costliest p% of units."""
    n = int(population)
    return f"""
WITH t AS (SELECT id, CAST(c AS DOUBLE) AS c FROM ({totals}) WHERE c > 0),
r AS (SELECT j, sum(c) OVER (ORDER BY j ROWS UNBOUNDED PRECEDING) AS cum FROM
       (SELECT c, row_number() OVER (ORDER BY c, id) AS j FROM t)),
s AS (SELECT count(*) AS npos, sum(c) AS tot FROM t),
p AS (SELECT CAST(range AS INTEGER) AS pct FROM range(0, {points + 1})),
m AS (SELECT pct, greatest(0, CAST(floor({n} * pct / {points}.0) AS BIGINT) - npos_zero) AS k
      FROM p CROSS JOIN (SELECT {n} - npos AS npos_zero FROM s))
SELECT '{unit}' AS unit, '{label}' AS year, m.pct * 100.0 / {points} AS population_pct,
  coalesce(r.cum, 0) / (SELECT tot FROM s) AS cost_share
FROM m LEFT JOIN r ON r.j = m.k ORDER BY m.pct
"""


def ranked_sql(totals: str) -> str:
    """Every unit with a cost, ranked within its (unit, year) from the cheapest: rank ``j`` and
    the running total ``cum``. ``totals`` has part (an integer per unit and year, see
    ``all_unit_totals_sql``), unit, year, id and c (> 0). Ties in cost need no order of their
    own: every figure below is the same whichever way they fall."""
    return f"""
SELECT part, c,
  row_number() OVER (PARTITION BY part ORDER BY c) AS j,
  sum(c) OVER (PARTITION BY part ORDER BY c ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    AS cum
FROM (SELECT part, CAST(c AS DOUBLE) AS c FROM {totals})
"""


def _parts_sql(totals: str, ranked: str, populations: dict[str, int]) -> str:
    """SQL: per part, its unit, year, population ``n``, units with a cost (``npos``), their
    total (``tot``) and the number of units in each top share (``k_<share>``)."""

    def by_unit(f) -> str:
        return (
            "CASE l.unit "
            + " ".join(f"WHEN '{u}' THEN {f(int(v))}" for u, v in populations.items())
            + " END"
        )

    ks = "".join(f", {by_unit(lambda v, q=q: round(v * q))} AS k_{_pct(q)}" for q in SHARES)
    return f"""
SELECT l.part, l.unit, l.year, {by_unit(lambda v: v)} AS n, t.npos, t.tot{ks}
FROM (SELECT part, any_value(unit) AS unit, any_value(year) AS year FROM {totals}
      GROUP BY part) l
JOIN (SELECT part, count(*) AS npos, sum(c) AS tot FROM {ranked} GROUP BY part) t USING (part)
"""


def concentration_all_sql(totals: str, ranked: str, populations: dict[str, int]) -> str:
    """``concentration_sql`` for every (unit, year) of a ``ranked_sql`` table at once.

    ``populations``: units per kind of unit, e.g. {"person": 20000, "household": 8000}.
    """
    tops = ",\n  ".join(
        f"sum(r.c) FILTER (WHERE r.j > s.npos - s.k_{_pct(q)}) / s.tot AS top_{_pct(q)}"
        for q in SHARES
    )
    return f"""
WITH s AS ({_parts_sql(totals, ranked, populations)})
SELECT any_value(s.unit) AS unit, any_value(s.year) AS year, any_value(s.n) AS population,
  any_value(s.npos) AS with_cost, any_value(s.tot) AS total_gbp,
  2 * sum((s.n - s.npos + r.j) * r.c) / any_value(s.n * s.tot)
    - (any_value(s.n) + 1.0) / any_value(s.n) AS gini,
  {tops.replace("/ s.tot AS", "/ any_value(s.tot) AS")}
FROM {ranked} r JOIN s USING (part) GROUP BY part
"""


def lorenz_all_sql(totals: str, ranked: str, populations: dict[str, int], points: int = 100) -> str:
    """``lorenz_sql`` for every (unit, year) of a ``ranked_sql`` table at once."""
    return f"""
WITH s AS ({_parts_sql(totals, ranked, populations)}),
p AS (SELECT CAST(range AS INTEGER) AS pct FROM range(0, {points + 1})),
m AS (SELECT s.part, s.unit, s.year, s.tot, p.pct,
        greatest(0, CAST(floor(s.n * p.pct / {points}.0) AS BIGINT) - (s.n - s.npos)) AS k
      FROM s CROSS JOIN p)
SELECT m.unit, m.year, m.pct * 100.0 / {points} AS population_pct,
  coalesce(r.cum, 0) / m.tot AS cost_share
FROM m LEFT JOIN {ranked} r ON r.part = m.part AND r.j = m.k
ORDER BY m.unit, m.year, m.pct
"""


def year_totals_sql(y1: str, y2: str, person_costs: str, persons: str) -> str:
    """Every linked person's cost in two financial years (zeros included)."""
    return f"""
SELECT p.person_id,
  coalesce(sum(c.cost_gbp) FILTER (WHERE c.year = '{y1}'), 0) AS c1,
  coalesce(sum(c.cost_gbp) FILTER (WHERE c.year = '{y2}'), 0) AS c2
FROM {persons} p LEFT JOIN {person_costs} c ON c.person_id = p.person_id
GROUP BY p.person_id
"""


def decile_transitions_sql(y1: str, y2: str, person_costs: str, persons: str) -> str:
    """People moving between cost groups from one year to the next.

    Group 0 is no cost that year; 1-10 are deciles among the people with a cost (10 = the
    costliest tenth).
    """
    return f"""
WITH a AS ({year_totals_sql(y1, y2, person_costs, persons)}),
g AS (
  SELECT person_id,
    CASE WHEN c1 > 0 THEN ntile(10) OVER (PARTITION BY c1 > 0 ORDER BY c1, person_id) ELSE 0 END
      AS g1,
    CASE WHEN c2 > 0 THEN ntile(10) OVER (PARTITION BY c2 > 0 ORDER BY c2, person_id) ELSE 0 END
      AS g2
  FROM a
)
SELECT '{y1}' AS from_year, '{y2}' AS to_year, CAST(g1 AS INTEGER) AS from_group,
  CAST(g2 AS INTEGER) AS to_group, count(*) AS people
FROM g GROUP BY g1, g2
"""


def persistence_sql(y1: str, y2: str, k: int, share: float, person_costs: str, persons: str) -> str:
    """The ``k`` costliest people of year one (the top ``share`` of residents) a year later.

    ``change`` is their year-two cost over their year-one cost, minus one: the fall a
    before/after evaluation of a programme for them would credit to the programme, though
    nothing was done. ``stayed`` is how many of them are still in the top ``k`` in year two.
    """
    return f"""
WITH a AS ({year_totals_sql(y1, y2, person_costs, persons)}),
r AS (SELECT *, row_number() OVER (ORDER BY c1 DESC, person_id) AS rk1,
        row_number() OVER (ORDER BY c2 DESC, person_id) AS rk2 FROM a)
SELECT '{y1}' AS from_year, '{y2}' AS to_year, {share} AS top_share, count(*) AS people,
  sum(c1) AS cost_year1, sum(c2) AS cost_year2,
  CAST(sum(c2) AS DOUBLE) / CAST(sum(c1) AS DOUBLE) - 1 AS change,
  count(*) FILTER (WHERE rk2 <= {k}) AS stayed_in_top,
  count(*) FILTER (WHERE c2 = 0) AS no_cost_year2
FROM r WHERE rk1 <= {k}
"""


def person_year_groups_sql(years: list[str], person_costs: str, persons: str) -> str:
    """Every linked person's cost in each year (``c<i>`` for ``years[i]``), their cost group
    that year (``g<i>``: 0 no cost, 1-10 deciles among people with a cost, as in
    ``decile_transitions_sql``) and their rank from the costliest (``rk<i>``, ties by
    person_id, as in ``persistence_sql``): one pass for every pair of years."""
    costs = ",\n  ".join(
        f"coalesce(sum(c.cost_gbp) FILTER (WHERE c.year = '{y}'), 0) AS c{i}"
        for i, y in enumerate(years)
    )
    groups = ",\n  ".join(
        f"CASE WHEN c{i} > 0 THEN ntile(10) OVER (PARTITION BY c{i} > 0 ORDER BY c{i}, "
        f"person_id) ELSE 0 END AS g{i},\n"
        f"  row_number() OVER (ORDER BY c{i} DESC, person_id) AS rk{i}"
        for i, _ in enumerate(years)
    )
    return f"""
WITH a AS (
  SELECT p.person_id,
  {costs}
  FROM {persons} p LEFT JOIN {person_costs} c ON c.person_id = p.person_id
  GROUP BY p.person_id
)
SELECT *,
  {groups}
FROM a
"""


def decile_transitions_from_sql(years: list[str], i: int, groups: str) -> str:
    """``decile_transitions_sql`` for ``years[i]`` to the next from ``person_year_groups_sql``."""
    return f"""
SELECT '{years[i]}' AS from_year, '{years[i + 1]}' AS to_year,
  CAST(g{i} AS INTEGER) AS from_group, CAST(g{i + 1} AS INTEGER) AS to_group, count(*) AS people
FROM {groups} GROUP BY g{i}, g{i + 1}
"""


def persistence_from_sql(years: list[str], i: int, k: int, share: float, groups: str) -> str:
    """``persistence_sql`` for ``years[i]`` to the next from ``person_year_groups_sql``."""
    a, b = f"c{i}", f"c{i + 1}"
    return f"""
SELECT '{years[i]}' AS from_year, '{years[i + 1]}' AS to_year, {share} AS top_share,
  count(*) AS people, sum({a}) AS cost_year1, sum({b}) AS cost_year2,
  CAST(sum({b}) AS DOUBLE) / CAST(sum({a}) AS DOUBLE) - 1 AS change,
  count(*) FILTER (WHERE rk{i + 1} <= {k}) AS stayed_in_top,
  count(*) FILTER (WHERE {b} = 0) AS no_cost_year2
FROM {groups} WHERE rk{i} <= {k}
"""


def cost_groups_sql(unit_totals: str, persons: str, n_years: int) -> str:
    """The people with a cost in each year (``part`` 1..n_years of ``all_unit_totals_sql``):
    their decile among those with a cost (``g``, as ``decile_transitions_sql``) and their
    rank from the costliest (``rk``, ties by person_id, as ``persistence_sql``).

    Only people with a cost are ranked: the figures from it equal those from every person's
    row (``person_year_groups_sql``) when each year's top share is all people with a cost,
    which the stage checks before using it.
    """
    return f"""
SELECT part, id, c,
  ntile(10) OVER (PARTITION BY part ORDER BY c, id) AS g,
  row_number() OVER (PARTITION BY part ORDER BY c DESC, id) AS rk
FROM {unit_totals}
WHERE unit = 'person' AND part BETWEEN 1 AND {n_years}
  AND id IN (SELECT person_id FROM {persons})
"""


def transitions_from_groups_sql(
    years: list[str], i: int, groups: str, persons: str = "persons"
) -> str:
    """``decile_transitions_sql`` for ``years[i]`` to the next from ``cost_groups_sql``:
    people with no cost in either year make the (0, 0) cell."""
    a, b = i + 1, i + 2
    head = f"'{years[i]}' AS from_year, '{years[i + 1]}' AS to_year"
    return f"""
SELECT {head}, CAST(coalesce(x.g, 0) AS INTEGER) AS from_group,
  CAST(coalesce(y.g, 0) AS INTEGER) AS to_group, count(*) AS people
FROM (SELECT id, g FROM {groups} WHERE part = {a}) x
FULL OUTER JOIN (SELECT id, g FROM {groups} WHERE part = {b}) y ON x.id = y.id
GROUP BY 3, 4
UNION ALL
SELECT {head}, 0, 0, n FROM (
  SELECT (SELECT count(*) FROM {persons})
    - (SELECT count(DISTINCT id) FROM {groups} WHERE part IN ({a}, {b})) AS n
) WHERE n > 0
"""


def persistence_from_groups_sql(years: list[str], i: int, k: int, share: float, groups: str) -> str:
    """``persistence_sql`` for ``years[i]`` to the next from ``cost_groups_sql``."""
    a, b = i + 1, i + 2
    return f"""
SELECT '{years[i]}' AS from_year, '{years[i + 1]}' AS to_year, {share} AS top_share,
  count(*) AS people, sum(t.c) AS cost_year1, coalesce(sum(n.c), 0) AS cost_year2,
  CAST(coalesce(sum(n.c), 0) AS DOUBLE) / CAST(sum(t.c) AS DOUBLE) - 1 AS change,
  count(*) FILTER (WHERE n.rk <= {k}) AS stayed_in_top,
  count(*) FILTER (WHERE n.id IS NULL) AS no_cost_year2
FROM (SELECT id, c FROM {groups} WHERE part = {a} AND rk <= {k}) t
LEFT JOIN (SELECT id, c, rk FROM {groups} WHERE part = {b}) n ON n.id = t.id
"""


def top_agencies_sql(k: int, person_costs: str, persons: str) -> str:
    """How many agencies know each of the ``k`` costliest people (over the whole period)."""
    return f"""
WITH t AS (SELECT person_id, sum(cost_gbp) AS c FROM {person_costs} GROUP BY 1),
r AS (SELECT person_id, row_number() OVER (ORDER BY c DESC, person_id) AS rk FROM t)
SELECT p.n_agencies AS agencies, count(*) AS people
FROM r JOIN {persons} p USING (person_id) WHERE rk <= {k} GROUP BY 1 ORDER BY 1
"""
