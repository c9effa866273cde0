"""Cross-agency timelines: every person's events across all agencies, in time order.

``journey_steps_sql`` builds the ``journey_steps`` table from the published ``events`` and
``person_links``: one row per event of a linked person, numbered in time order, with the
gap to the previous and next event and whether the step from the previous event crosses
an agency boundary. Days (``start_day``, ``end_day``) are dates in the place's own time
zone, because "within 7 days" means calendar days where the person lives.

>>> sql = journey_steps_sql("Europe/London")
>>> "PARTITION BY person_id ORDER BY start_at, agency, event_id" in sql
True
>>> local_ts_sql("start_at", "Europe/London", "spark")
"from_utc_timestamp(start_at, 'Europe/London')"
"""

from __future__ import annotations

import re

# The order of a person's events: by time, then agency and event id so that ties are
# broken the same way on every run and every engine.
ORDER = "start_at, agency, event_id"


_QUANTILE = re.compile(r"quantile_cont\(([^(),]+), ([0-9.]+)\)")
_QUANTILES = re.compile(r"quantile_cont\(([^(),]+), \[([0-9., ]+)\]\)")


def for_engine(sql: str, dialect: str) -> str:
    """The journeys SQL's one other dialect difference: exact percentiles. sqlglot turns
    DuckDB's ``quantile_cont`` into Spark's approximate one; Spark's ``percentile`` is exact.

    Several at once (DuckDB's list form) become Spark's array form; sqlglot then moves
    the 1-based list subscripts to Spark's 0-based ones.

    >>> for_engine("SELECT quantile_cont(gap_s, 0.9) FROM t", "spark")
    'SELECT percentile(gap_s, 0.9) FROM t'
    >>> for_engine("SELECT quantile_cont(gap_us, [0.5, 0.9]) AS q FROM t", "spark")
    'SELECT percentile(gap_us, array(0.5, 0.9)) AS q FROM t'
    """
    if dialect != "spark":
        return sql
    sql = _QUANTILES.sub(r"percentile(\1, array(\2))", sql)
    return _QUANTILE.sub(r"percentile(\1, \2)", sql)


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def local_ts_sql(col: str, tz: str, dialect: str = "duckdb") -> str:
    """A UTC TIMESTAMP column as wall-clock time in zone ``tz`` (the one dialect difference)."""
    if dialect == "spark":
        return f"from_utc_timestamp({col}, {_lit(tz)})"
    return f"timezone({_lit(tz)}, CAST({col} AS TIMESTAMPTZ))"


def journey_steps_sql(
    tz: str,
    dialect: str = "duckdb",
    events: str = "events",
    person_links: str = "person_links",
) -> str:
    """One row per event of a linked person, in time order, with gaps and agency crossings."""
    w = f"OVER (PARTITION BY person_id ORDER BY {ORDER})"
    start_day = f"CAST({local_ts_sql('e.start_at', tz, dialect)} AS DATE)"
    end_day = f"CAST({local_ts_sql('e.end_at', tz, dialect)} AS DATE)"
    return f"""
WITH linked AS (
  SELECT pl.person_id, e.agency, e.event_id, e.service, e.activity, e.outcome,
    e.start_at, e.end_at, {start_day} AS start_day, {end_day} AS end_day
  FROM "{events}" e
  JOIN "{person_links}" pl ON pl.agency = e.agency AND pl.source_id = e.source_id
  WHERE e.start_at IS NOT NULL
)
SELECT person_id, agency, event_id, service, activity, outcome, start_at, end_at,
  start_day, end_day,
  row_number() {w} AS seq,
  lag(agency) {w} AS prev_agency,
  lead(agency) {w} AS next_agency,
  date_diff('second', lag(start_at) {w}, start_at) AS gap_prev_s,
  date_diff('second', start_at, lead(start_at) {w}) AS gap_next_s,
  coalesce(lag(agency) {w} <> agency, false) AS crosses_agency
FROM linked"""


def handoffs_sql(steps: str = "journey_steps", window_days: int = 28) -> str:
    """Agency-to-agency handoffs: a person's event at one agency followed by their next event
    at another within ``window_days``, with the waiting time between (days)."""
    secs = int(window_days) * 86400
    return f"""
SELECT prev_agency AS from_agency, agency AS to_agency, count(*) AS handoffs,
  count(DISTINCT person_id) AS people,
  median(gap_prev_s) / 86400.0 AS median_wait_days,
  quantile_cont(gap_prev_s, 0.9) / 86400.0 AS p90_wait_days,
  avg(gap_prev_s) / 86400.0 AS mean_wait_days
FROM "{steps}"
WHERE crosses_agency AND gap_prev_s <= {secs}
GROUP BY prev_agency, agency
ORDER BY handoffs DESC, from_agency, to_agency"""


def rework_sql(steps: str = "journey_steps") -> str:
    """Rework loops: the same agency and activity straight after itself for one person."""
    w = f"OVER (PARTITION BY person_id ORDER BY {ORDER})"
    return f"""
WITH s AS (
  SELECT person_id, agency, activity, gap_prev_s,
    lag(activity) {w} AS prev_activity, prev_agency
  FROM "{steps}"
)
SELECT agency, activity, count(*) AS repeats, count(DISTINCT person_id) AS people,
  median(gap_prev_s) / 86400.0 AS median_days_between
FROM s
WHERE prev_agency = agency AND prev_activity = activity
GROUP BY agency, activity
ORDER BY repeats DESC, agency, activity"""
