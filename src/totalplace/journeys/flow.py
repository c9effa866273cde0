"""Flow measures of an event log in SQL window functions: DFG, variants, handoffs, times.

The ``*_sql`` functions return SQL text (DuckDB dialect) and touch no database; ``load``,
``dfg`` and ``analyse`` run them through an engine, so the same code runs on DuckDB and on
Spark (``journeys log --engine spark``). Inputs are a
table (or parenthesised subquery) with the columns ``case_id``, ``activity``, ``ts``,
``org`` and ``ord`` (a tie-breaker: events with equal timestamps keep this order, which is
file order for a log file).

The conventions match pm4py's (checked in ``tests/journeys/test_log.py``): events are
ordered by case, timestamp, then file order; a directly-follows pair is two consecutive
events of one case; a variant is a case's activity sequence; throughput time is the last
timestamp minus the first; gaps are in seconds (microsecond precision); medians and
percentiles interpolate between the two middle values, as numpy does.

>>> "PARTITION BY case_key ORDER BY ts, ord" in dfg_sql("_jl_clean", "_jl_acts")
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
    raw: str,
    text_time: bool = True,
    time_format: str | None = None,
    case_key: bool = False,
    acts: str | None = None,
) -> str:
    """Every row of ``raw`` with its time parsed and ``problem`` (NULL for a good event).

    ``case_key``: ``raw`` has a ``case_key`` column (an integer per case id, which sorts
    and partitions faster than text); otherwise the case id itself is the key. ``acts``: a
    table of ``acts_sql`` whose code each row gets as ``act``."""
    ts = ts_expr("src.ts", text_time, time_format)
    key = "src.case_key" if case_key else "src.case_id"
    blank_time = "src.ts IS NULL OR trim(src.ts) = ''" if text_time else "src.ts IS NULL"
    act = ", a.act" if acts else ""
    join = f"\nLEFT JOIN {_q(acts)} a ON a.activity = src.activity" if acts else ""
    return f"""
SELECT src.case_id, {key} AS case_key, src.activity{act}, {ts} AS ts, src.org, src.ord,
  CASE
    WHEN src.case_id IS NULL OR trim(src.case_id) = '' THEN '{PROBLEMS[0]}'
    WHEN src.activity IS NULL OR trim(src.activity) = '' THEN '{PROBLEMS[1]}'
    WHEN {blank_time} THEN '{PROBLEMS[2]}'
    WHEN {ts} IS NULL THEN '{PROBLEMS[3]}'
  END AS problem
FROM {_q(raw)} src{join}"""


def acts_sql(raw: str) -> str:
    """An integer code per activity name (``act``): the window and the grouping work on
    codes, which sort, move and compare faster than text; names are joined back at the end."""
    return f"""
SELECT activity, CAST(row_number() OVER (ORDER BY activity) AS INT) AS act
FROM (SELECT DISTINCT activity FROM {_q(raw)} WHERE activity IS NOT NULL) a"""


def events_sql(clean: str) -> str:
    """The good events of a cleaned log (``clean_sql`` joined to its activity codes)."""
    return f"(SELECT * FROM {_q(clean)} WHERE problem IS NULL)"


def dfg_sql(clean: str, acts: str, gaps: bool = True) -> str:
    """The directly-follows graph in one window pass over the good events of ``clean``:
    source, target, count and (``gaps``) the median and 90th-percentile gap in seconds.

    Gaps are whole microseconds (BIGINT) until the two percentiles are taken, in one
    aggregate; the activity codes of ``acts`` become names on the few result rows."""
    w = "OVER (PARTITION BY case_key ORDER BY ts, ord)"
    gap = f",\n    date_diff('microsecond', ts, lead(ts) {w}) AS gap_us" if gaps else ""
    q = ", quantile_cont(gap_us, [0.5, 0.9]) AS q" if gaps else ""
    cols = ", g.q[1] / 1e6 AS median_gap_s, g.q[2] / 1e6 AS p90_gap_s" if gaps else ""
    return f"""
WITH pairs AS (
  SELECT act, lead(act) {w} AS next_act{gap}
  FROM {events_sql(clean)} e
), g AS (
  SELECT act, next_act, count(*) AS count{q}
  FROM pairs
  WHERE next_act IS NOT NULL
  GROUP BY act, next_act
)
SELECT s.activity AS source, t.activity AS target, g.count{cols}
FROM g
JOIN {_q(acts)} s ON s.act = g.act
JOIN {_q(acts)} t ON t.act = g.next_act
ORDER BY count DESC, source, target"""


def case_variants_sql(clean: str, dialect: str = "duckdb") -> str:
    """One row per case (by its key): its activities in order, events and throughput (s).

    On DuckDB the activities are a list of codes (``acts``), which is about twice as fast to
    build as text; ``variants_sql`` names them once per variant. Spark's ``collect_list``
    keeps no order, so there the case's ``variant`` text is built directly."""
    if dialect == "spark":
        seq = "string_agg(activity, ',' ORDER BY ts, ord) AS variant"
    else:
        seq = "list(act ORDER BY ts, ord) AS acts"
    return f"""
SELECT case_key, {seq}, count(*) AS events,
  date_diff('microsecond', min(ts), max(ts)) / 1e6 AS throughput_s
FROM {events_sql(clean)} e
GROUP BY case_key"""


def variants_sql(cases: str, acts: str, dialect: str = "duckdb") -> str:
    """Variants (activities joined by ',') with the number of cases following each, most
    frequent first."""
    if dialect == "spark":
        return f"""
SELECT variant, count(*) AS count, median(throughput_s) AS median_throughput_s
FROM {_q(cases)}
GROUP BY variant
ORDER BY count DESC, variant"""
    return f"""
WITH v AS (
  SELECT acts, count(*) AS count, median(throughput_s) AS median_throughput_s
  FROM {_q(cases)}
  GROUP BY acts
), n AS (SELECT list(activity ORDER BY act) AS names FROM {_q(acts)})
SELECT array_to_string(list_transform(v.acts, lambda x: n.names[x]), ',') AS variant,
  v.count, v.median_throughput_s
FROM v, n
ORDER BY count DESC, variant"""


def activity_counts_sql(clean: str) -> str:
    """Events per activity (the good events)."""
    return f"""
SELECT activity, count(*) AS events FROM {events_sql(clean)} e GROUP BY activity"""


def start_end(dfg: pa.Table, events: pa.Table) -> tuple[dict[str, int], dict[str, int]]:
    """Start and end activities with their case counts, from the DFG and the events per
    activity: every event but a case's first is the target of exactly one directly-follows
    pair, and every event but its last the source of one, so an activity's starts are its
    events less its incoming pairs, and its ends its events less its outgoing pairs.

    >>> dfg = pa.table({"source": ["a", "b"], "target": ["b", "b"], "count": [2, 1]})
    >>> start_end(dfg, pa.table({"activity": ["a", "b"], "events": [2, 3]}))  # abb, ab
    ({'a': 2}, {'b': 2})
    """
    into: dict[str, int] = {}
    out_of: dict[str, int] = {}
    for r in dfg.select(["source", "target", "count"]).to_pylist():
        out_of[r["source"]] = out_of.get(r["source"], 0) + r["count"]
        into[r["target"]] = into.get(r["target"], 0) + r["count"]
    starts, ends = {}, {}
    for r in events.to_pylist():
        a, n = r["activity"], r["events"]
        if n - into.get(a, 0):
            starts[a] = n - into.get(a, 0)
        if n - out_of.get(a, 0):
            ends[a] = n - out_of.get(a, 0)
    by_count = lambda d: dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))  # noqa: E731
    return by_count(starts), by_count(ends)


def handoffs_sql(clean: str) -> str:
    """Consecutive events of a case whose org differs: the org-to-org handoff network."""
    w = "OVER (PARTITION BY case_key ORDER BY ts, ord)"
    return f"""
SELECT org AS source, next_org AS target, count(*) AS count,
  count(DISTINCT case_key) AS cases,
  median(gap_s) AS median_gap_s, quantile_cont(gap_s, 0.9) AS p90_gap_s
FROM (
  SELECT case_key, org, lead(org) {w} AS next_org,
    date_diff('microsecond', ts, lead(ts) {w}) / 1e6 AS gap_s
  FROM {events_sql(clean)} e
) x
WHERE next_org IS NOT NULL AND org IS NOT NULL AND org <> next_org
GROUP BY org, next_org
ORDER BY count DESC, source, target"""


def rework_sql(clean: str) -> str:
    """Rework: an activity repeated within a case (cases with a repeat, repeats, cases);
    ``analyse`` adds the self-loops (straight after itself) from the DFG."""
    return f"""
WITH per_case AS (
  SELECT case_key, activity, count(*) AS n
  FROM {events_sql(clean)} e
  GROUP BY case_key, activity
)
SELECT activity, count(*) FILTER (WHERE n > 1) AS cases_repeated,
  sum(n - 1) AS repeats, count(*) AS cases
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
        self._e = engine._e if isinstance(engine, _Dialected) else engine
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


def load(
    engine: Engine,
    raw: str,
    *,
    text_time: bool = True,
    time_format: str | None = None,
    case_key: bool = False,
    prefix: str = "_jl",
) -> tuple[str, str]:
    """Read ``raw`` once into two temp tables, ``<prefix>_acts`` (a code per activity) and
    ``<prefix>_clean`` (every row typed, with its activity code and problem); returns
    their names. Every flow measure is then a query on them (``dfg_sql``...)."""
    engine = _Dialected(engine)
    acts, clean = f"{prefix}_acts", f"{prefix}_clean"
    engine.run(f'CREATE OR REPLACE TEMP TABLE "{acts}" AS {acts_sql(raw)}')
    sql = clean_sql(raw, text_time, time_format, case_key, acts=acts)
    engine.run(f'CREATE OR REPLACE TEMP TABLE "{clean}" AS {sql}')
    return clean, acts


def dfg(engine: Engine, clean: str, acts: str, gaps: bool = True) -> pa.Table:
    """The directly-follows graph of a loaded log (``load``), as ``analyse`` computes it."""
    return _Dialected(engine).query(dfg_sql(clean, acts, gaps))


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
    clean, acts = load(
        engine, raw, text_time=text_time, time_format=time_format, case_key=case_key, prefix=prefix
    )
    cases = f"{prefix}_cases"
    engine = _Dialected(engine)
    graph = dfg(engine, clean, acts)
    sql = case_variants_sql(clean, engine.dialect)
    engine.run(f'CREATE OR REPLACE TEMP TABLE "{cases}" AS {sql}')
    variants = engine.query(variants_sql(cases, acts, engine.dialect))
    per_activity = engine.query(activity_counts_sql(clean))
    starts, ends = start_end(graph, per_activity)
    handoffs = engine.query(handoffs_sql(clean)) if with_org else None
    rework = _with_self_loops(engine.query(rework_sql(clean)), graph)
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
        "activities": per_activity.num_rows,
        "variants": variants.num_rows,
        "dfg_edges": graph.num_rows,
        "start_activities": starts,
        "end_activities": ends,
        "median_throughput_s": s["median_throughput_s"],
        "mean_throughput_s": s["mean_throughput_s"],
        "rejected": sum(by_reason.values()),
        "rejected_by_reason": by_reason,
    }
    if with_org:
        summary["handoffs"] = handoffs.num_rows if handoffs is not None else 0
    for t in (cases, clean, acts):  # dependants first (Spark views refer back)
        drop_temp(engine, t)
    return LogAnalysis(graph, variants, handoffs, rework, rejects, summary)


def _with_self_loops(rework: pa.Table, graph: pa.Table) -> pa.Table:
    """``rework_sql``'s table with ``self_loops`` (an activity straight after itself: the
    DFG's count from it to itself) before ``cases``."""
    loops = {
        r["source"]: r["count"]
        for r in graph.select(["source", "target", "count"]).to_pylist()
        if r["source"] == r["target"]
    }
    col = pa.array([loops.get(a, 0) for a in rework.column("activity").to_pylist()], pa.int64())
    return rework.add_column(rework.schema.get_field_index("cases"), "self_loops", col)
