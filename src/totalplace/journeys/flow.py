"""Flow measures of an event log in SQL window functions: DFG, variants, handoffs, times.

Every function here returns SQL text (DuckDB dialect) and touches no database; ``analyse``
runs them through an engine, so the same code runs on DuckDB and on Spark. Inputs are a
table (or parenthesised subquery) with the columns ``case_id``, ``activity``, ``ts``,
``org`` and ``ord`` (a tie-breaker: events with equal timestamps keep this order, which is
file order for a log file).

The conventions match pm4py's (checked in ``tests/journeys/test_log.py``): events are
ordered by case, timestamp, then file order; a directly-follows pair is two consecutive
events of one case; a variant is a case's activity sequence; throughput time is the last
timestamp minus the first; gaps are in seconds (microsecond precision); medians and
percentiles interpolate between the two middle values, as numpy does.

>>> "PARTITION BY case_key ORDER BY ts, ord" in steps_sql("events_clean")
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from totalplace.engine import Engine
from totalplace.journeys.steps import for_engine

# Why a row cannot be an event, in the order the checks are made.
PROBLEMS = ("no case id", "no activity", "no time", "unparseable time")


def _q(name: str) -> str:
    """A table name quoted, or a parenthesised subquery as it is."""
    return name if name.lstrip().startswith("(") else f'"{name}"'


def ts_expr(col: str = "ts", text: bool = True, time_format: str | None = None) -> str:
    """SQL turning ``col`` into a UTC TIMESTAMP (NULL when it cannot be read)."""
    if not text:
        return f"CAST({col} AS TIMESTAMP)"
    if time_format:
        fmt = time_format.replace("'", "''")
        return f"TRY_STRPTIME(trim({col}), '{fmt}')"
    # With an offset (+02:00 or Z) the instant is converted to UTC; without one it is UTC.
    return f"CAST(TRY_CAST(trim({col}) AS TIMESTAMPTZ) AS TIMESTAMP)"


def clean_sql(
    raw: str, text_time: bool = True, time_format: str | None = None, case_key: bool = False
) -> str:
    """Every row of ``raw`` with its time parsed and ``problem`` (NULL for a good event).

    ``case_key``: ``raw`` has a ``case_key`` column (an integer per case id, which sorts
    and partitions faster than text); otherwise the case id itself is the key."""
    ts = ts_expr("ts", text_time, time_format)
    key = "case_key" if case_key else "case_id"
    blank_time = "ts IS NULL OR trim(ts) = ''" if text_time else "ts IS NULL"
    return f"""
SELECT case_id, {key} AS case_key, activity, {ts} AS ts, org, ord,
  CASE
    WHEN case_id IS NULL OR trim(case_id) = '' THEN '{PROBLEMS[0]}'
    WHEN activity IS NULL OR trim(activity) = '' THEN '{PROBLEMS[1]}'
    WHEN {blank_time} THEN '{PROBLEMS[2]}'
    WHEN {ts} IS NULL THEN '{PROBLEMS[3]}'
  END AS problem
FROM {_q(raw)} src"""


def steps_sql(clean: str) -> str:
    """Good events in case order, each with its successor (activity, time, org) and the gap."""
    w = "OVER (PARTITION BY case_key ORDER BY ts, ord)"
    return f"""
SELECT case_id, case_key, activity, ts, org, ord,
  row_number() {w} AS seq,
  lead(activity) {w} AS next_activity,
  lead(ts) {w} AS next_ts,
  lead(org) {w} AS next_org,
  date_diff('microsecond', ts, lead(ts) {w}) / 1e6 AS gap_s
FROM {_q(clean)} c
WHERE problem IS NULL"""


def dfg_counts_sql(events: str, key: str = "case_key") -> str:
    """Directly-follows counts only, from clean events (``key``, activity, ts, ord)."""
    return f"""
SELECT activity AS source, next_activity AS target, count(*) AS count
FROM (
  SELECT activity, lead(activity) OVER (PARTITION BY {key} ORDER BY ts, ord) AS next_activity
  FROM {_q(events)}
) x
WHERE next_activity IS NOT NULL
GROUP BY activity, next_activity"""


def dfg_perf_sql(events: str, key: str = "case_key") -> str:
    """The DFG with gap timings in one pass, from clean events (``key``, activity, ts, ord)."""
    w = f"OVER (PARTITION BY {key} ORDER BY ts, ord)"
    return f"""
SELECT activity AS source, next_activity AS target, count(*) AS count,
  median(gap_s) AS median_gap_s, quantile_cont(gap_s, 0.9) AS p90_gap_s
FROM (
  SELECT activity, lead(activity) {w} AS next_activity,
    date_diff('microsecond', ts, lead(ts) {w}) / 1e6 AS gap_s
  FROM {_q(events)}
) x
WHERE next_activity IS NOT NULL
GROUP BY activity, next_activity"""


def dfg_sql(steps: str) -> str:
    """Directly-follows graph: source, target, count, median and 90th-percentile gap (s)."""
    return f"""
SELECT activity AS source, next_activity AS target, count(*) AS count,
  median(gap_s) AS median_gap_s, quantile_cont(gap_s, 0.9) AS p90_gap_s
FROM {_q(steps)}
WHERE next_activity IS NOT NULL
GROUP BY activity, next_activity
ORDER BY count DESC, source, target"""


def case_variants_sql(steps: str) -> str:
    """One row per case (by its key): its variant (activities joined by ','), events and throughput (s)."""
    return f"""
SELECT case_key, string_agg(activity, ',' ORDER BY seq) AS variant, count(*) AS events,
  date_diff('microsecond', min(ts), max(ts)) / 1e6 AS throughput_s
FROM {_q(steps)}
GROUP BY case_key"""


def variants_sql(cases: str) -> str:
    """Variants with the number of cases following each, most frequent first."""
    return f"""
SELECT variant, count(*) AS count, median(throughput_s) AS median_throughput_s
FROM {_q(cases)}
GROUP BY variant
ORDER BY count DESC, variant"""


def start_end_sql(steps: str) -> str:
    """Start and end activities with their case counts (``kind`` 'start' or 'end')."""
    return f"""
SELECT 'start' AS kind, activity, count(*) AS count FROM {_q(steps)} WHERE seq = 1
GROUP BY activity
UNION ALL
SELECT 'end' AS kind, activity, count(*) AS count FROM {_q(steps)} WHERE next_ts IS NULL
GROUP BY activity"""


def handoffs_sql(steps: str) -> str:
    """Consecutive events of a case whose org differs: the org-to-org handoff network."""
    return f"""
SELECT org AS source, next_org AS target, count(*) AS count,
  count(DISTINCT case_key) AS cases,
  median(gap_s) AS median_gap_s, quantile_cont(gap_s, 0.9) AS p90_gap_s
FROM {_q(steps)}
WHERE next_org IS NOT NULL AND org IS NOT NULL AND org <> next_org
GROUP BY org, next_org
ORDER BY count DESC, source, target"""


def rework_sql(steps: str) -> str:
    """Rework: an activity repeated within a case (cases, repeats, and straight after itself)."""
    return f"""
WITH per_case AS (
  SELECT case_key, activity, count(*) AS n,
    sum(CASE WHEN next_activity = activity THEN 1 ELSE 0 END) AS self_loops
  FROM {_q(steps)}
  GROUP BY case_key, activity
)
SELECT activity, count(*) FILTER (WHERE n > 1) AS cases_repeated,
  sum(n - 1) AS repeats, sum(self_loops) AS self_loops, count(*) AS cases
FROM per_case
GROUP BY activity
HAVING sum(n - 1) > 0
ORDER BY repeats DESC, activity"""


def summary_sql(cases: str) -> str:
    """Cases, events, median and mean throughput time (s)."""
    return f"""
SELECT count(*) AS cases, sum(events) AS events,
  median(throughput_s) AS median_throughput_s, avg(throughput_s) AS mean_throughput_s
FROM {_q(cases)}"""


class _Dialected:
    """An engine whose run/query/scalar adapt the journeys SQL to its dialect first."""

    def __init__(self, engine: Engine):
        self._e = engine
        self.dialect = engine.dialect

    def run(self, sql: str) -> None:
        self._e.run(for_engine(sql, self.dialect))

    def query(self, sql: str) -> pa.Table:
        return self._e.query(for_engine(sql, self.dialect))

    def scalar(self, sql: str):
        return self._e.scalar(for_engine(sql, self.dialect))

    def __getattr__(self, name: str):
        return getattr(self._e, name)


def drop_temp(engine: Engine, name: str) -> None:
    """Drop a temp table made with CREATE TEMP TABLE (a cached view on Spark)."""
    if engine.dialect == "spark":
        engine.spark.sql(f"UNCACHE TABLE IF EXISTS `{name}`")
        engine.spark.sql(f"DROP VIEW IF EXISTS `{name}`")
    else:
        engine.run(f'DROP TABLE IF EXISTS "{name}"')


@dataclass
class LogAnalysis:
    """What ``analyse`` measured: Arrow tables and the summary (JSON-able)."""

    dfg: pa.Table
    variants: pa.Table
    handoffs: pa.Table | None
    rework: pa.Table
    rejects: pa.Table
    summary: dict[str, Any] = field(default_factory=dict)


def analyse(
    engine: Engine,
    raw: str,
    *,
    text_time: bool = True,
    time_format: str | None = None,
    with_org: bool = False,
    case_key: bool = False,
    prefix: str = "_jl",
) -> LogAnalysis:
    """Run the flow SQL over the registered table ``raw`` (see ``eventlog.read_event_log``)."""
    clean, steps, cases = f"{prefix}_clean", f"{prefix}_steps", f"{prefix}_cases"
    engine = _Dialected(engine)
    engine.run(
        f'CREATE OR REPLACE TEMP TABLE "{clean}" AS {clean_sql(raw, text_time, time_format, case_key)}'
    )
    engine.run(f'CREATE OR REPLACE TEMP TABLE "{steps}" AS {steps_sql(clean)}')
    engine.run(f'CREATE OR REPLACE TEMP TABLE "{cases}" AS {case_variants_sql(steps)}')
    dfg = engine.query(dfg_sql(steps))
    variants = engine.query(variants_sql(cases))
    ends = engine.query(start_end_sql(steps) + " ORDER BY kind, count DESC, activity").to_pylist()
    handoffs = engine.query(handoffs_sql(steps)) if with_org else None
    rework = engine.query(rework_sql(steps))
    rejects = engine.query(
        f'SELECT ord + 1 AS "row", problem AS reason, case_id, activity '
        f'FROM "{clean}" WHERE problem IS NOT NULL ORDER BY ord'
    )
    s = engine.query(summary_sql(cases)).to_pylist()[0]
    rows_in = int(engine.scalar(f'SELECT count(*) FROM "{clean}"'))
    by_reason: dict[str, int] = {}
    for r in rejects.column("reason").to_pylist():
        by_reason[r] = by_reason.get(r, 0) + 1
    summary = {
        "rows": rows_in,
        "cases": int(s["cases"] or 0),
        "events": int(s["events"] or 0),
        "activities": int(engine.scalar(f'SELECT count(DISTINCT activity) FROM "{steps}"')),
        "variants": variants.num_rows,
        "dfg_edges": dfg.num_rows,
        "start_activities": {r["activity"]: r["count"] for r in ends if r["kind"] == "start"},
        "end_activities": {r["activity"]: r["count"] for r in ends if r["kind"] == "end"},
        "median_throughput_s": s["median_throughput_s"],
        "mean_throughput_s": s["mean_throughput_s"],
        "rejected": sum(by_reason.values()),
        "rejected_by_reason": by_reason,
    }
    if with_org:
        summary["handoffs"] = handoffs.num_rows if handoffs is not None else 0
    for t in (cases, steps, clean):  # dependants first (Spark views refer back)
        drop_temp(engine, t)
    return LogAnalysis(dfg, variants, handoffs, rework, rejects, summary)
