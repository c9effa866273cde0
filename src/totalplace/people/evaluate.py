"""Measure the people stage against a synthetic place's truth (``truth/``): for tests and docs.

Never used by the stage itself. Each linked person is mapped to the true person most of its
records belong to (``truth/source_records.parquet``).

>>> q = needs_quality(place, "anytown/truth")          # doctest: +SKIP
>>> q["precision"] >= 0.95                             # doctest: +SKIP
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


def _con(place) -> duckdb.DuckDBPyConnection:
    return place.store.engine.con  # DuckDB only: the truth is parquet on disk


def _true_person_sql(truth: Path) -> str:
    return f"""
SELECT person_id, arg_max(tpid, n) AS tpid FROM (
  SELECT l.person_id, s.person_id AS tpid, count(*) AS n
  FROM person_links l
  JOIN read_parquet('{truth}/source_records.parquet') s
    ON s.agency = l.agency AND s.source_id = l.source_id
  GROUP BY l.person_id, s.person_id
) GROUP BY person_id
"""


def needs_quality(place, truth: str | Path) -> dict[str, Any]:
    """Precision of the needs the stage asserts, and recall per need, against the truth."""
    truth = Path(truth)
    con = _con(place)
    rows = con.sql(
        f"""
WITH tp AS ({_true_person_sql(truth)}),
ours AS (SELECT DISTINCT tp.tpid, n.need FROM person_needs n JOIN tp USING (person_id)),
truth AS (SELECT DISTINCT person_id AS tpid, need
          FROM read_parquet('{truth}/needs.parquet'))
SELECT coalesce(o.need, t.need) AS need,
  count(*) FILTER (WHERE o.tpid IS NOT NULL) AS asserted,
  count(*) FILTER (WHERE o.tpid IS NOT NULL AND t.tpid IS NOT NULL) AS correct,
  count(*) FILTER (WHERE t.tpid IS NOT NULL) AS true_pairs
FROM ours o FULL JOIN truth t ON o.tpid = t.tpid AND o.need = t.need
GROUP BY 1 ORDER BY 1
"""
    ).fetchall()
    per_need = {
        need: {
            "asserted": a,
            "correct": c,
            "true": t,
            "precision": c / a if a else None,
            "recall": c / t if t else None,
        }
        for need, a, c, t in rows
    }
    asserted = sum(v["asserted"] for v in per_need.values())
    correct = sum(v["correct"] for v in per_need.values())
    return {"precision": correct / asserted if asserted else None, "per_need": per_need}


def top_shares(values: list[float], population: int, shares=(0.001, 0.01, 0.05, 0.1)) -> dict:
    """Share of the total held by the top x% of ``population`` people (zeros included)."""
    v = sorted(values, reverse=True)
    tot = sum(v)
    return {q: sum(v[: int(round(population * q))]) / tot for q in shares}


def truth_top_shares(truth: str | Path, year: str | None = None) -> dict:
    """Top shares of cost from ``truth/person_costs.parquet`` among all true residents."""
    truth = Path(truth)
    where = f"WHERE year = '{year}'" if year else ""
    v = [
        float(r[0])
        for r in duckdb.sql(
            f"SELECT sum(cost_gbp) FROM read_parquet('{truth}/person_costs.parquet') {where} "
            "GROUP BY person_id"
        ).fetchall()
    ]
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{truth}/people.parquet')").fetchall()[0][0]
    return top_shares(v, n)


def truth_rtm(truth: str | Path, y1: str, y2: str, share: float = 0.05) -> dict[str, float]:
    """The true year-two change in cost of the top ``share`` of residents by year-one cost."""
    truth = Path(truth)
    rows = duckdb.sql(
        f"""
WITH p AS (SELECT person_id FROM read_parquet('{truth}/people.parquet')),
c AS (SELECT person_id,
        sum(cost_gbp) FILTER (WHERE year = '{y1}') AS c1,
        sum(cost_gbp) FILTER (WHERE year = '{y2}') AS c2
      FROM read_parquet('{truth}/person_costs.parquet') GROUP BY person_id),
a AS (SELECT p.person_id, coalesce(c1, 0) AS c1, coalesce(c2, 0) AS c2
      FROM p LEFT JOIN c USING (person_id)),
r AS (SELECT *, row_number() OVER (ORDER BY c1 DESC, person_id) AS rk FROM a)
SELECT sum(c1), sum(c2), count(*) FROM r WHERE rk <= round({share} * (SELECT count(*) FROM a))
"""
    ).fetchall()[0]
    c1, c2, n = float(rows[0]), float(rows[1]), rows[2]
    return {"cost_year1": c1, "cost_year2": c2, "change": c2 / c1 - 1, "people": n}
