"""Person ids that stay the same between runs, on top of full re-linking.

Every link run clusters all records afresh, and Splink's cluster ids mean nothing from one
run to the next. This module carries the previous run's ``person_id`` forward:

1. *Votes*: for each new cluster and each previous person id, how many of the cluster's
   records held that id last time (records are matched by ``agency`` and ``source_id``).
2. *Matching*: each new cluster keeps the previous id held by the plurality of its records,
   each previous id going to at most one cluster. Pairs are taken greedily, most shared
   records first; ties go to the smaller previous person id, then to the cluster whose
   smallest ``unique_id`` sorts first, so the same inputs always give the same ids. (When a
   cluster's plurality id went to a cluster holding more of its records, it takes its next
   best id that is still free.) The greedy order is reached in a few rounds of "mutual best"
   pairs, each one SQL query.
3. Clusters left without an id get new ones, ``P`` + seven-digit sequence (more digits once
   past 9,999,999), continuing from the highest id ever issued, in order of their smallest
   ``unique_id``. Ids are never reused.
4. ``person_id_history`` gains one row per event: ``created`` (a new id), ``split_from``
   (a new id whose records last held another id, which a bigger part kept),
   ``merged_into`` (a previous id whose records now sit in a cluster that kept another id)
   and ``retired`` (a previous id none of whose records came back).

Use it through the link stage, or directly::

    mapping, history = assign(clusters, store, run_id="2025-03")
    # mapping: agency, source_id, unique_id, person_id (one row per row of clusters)
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from totalplace.engine import Engine
    from totalplace.store import Store

ID_PREFIX = "P"
ID_DIGITS = 7
EVENTS = ("created", "merged_into", "split_from", "retired")

HISTORY_SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("event", pa.string()),
        ("related_person_id", pa.string()),
        ("run_id", pa.string()),
        ("at", pa.timestamp("us")),
    ]
)

# Views this module registers while it works (names start with _tp_sid_ so they cannot
# collide with a stage's tables).
CLUSTERS = "_tp_sid_clusters"
PREVIOUS = "_tp_sid_previous"
VOTES = "_tp_sid_votes"
ASSIGNED = "_tp_sid_assigned"


# --- SQL (pure functions) -----------------------------------------------------------------
def cluster_keys_sql(clusters: str) -> str:
    """Each cluster's deterministic key: its smallest unique_id (cluster ids are arbitrary)."""
    return f'SELECT cluster_id, min(unique_id) AS cluster_key FROM "{clusters}" GROUP BY cluster_id'


def votes_sql(clusters: str, previous: str) -> str:
    """For each (new cluster, previous person id): records shared, with the cluster's key."""
    return f"""
        SELECT c.cluster_id, p.person_id, count(*) AS n, k.cluster_key
        FROM "{clusters}" c
        JOIN "{previous}" p ON c.agency = p.agency AND c.source_id = p.source_id
        JOIN ({cluster_keys_sql(clusters)}) k ON k.cluster_id = c.cluster_id
        GROUP BY c.cluster_id, p.person_id, k.cluster_key
    """


def match_round_sql(votes: str, assigned: str) -> str:
    """One round: pairs that are each other's best among clusters and ids still unassigned.

    Ranking is by shared records, then the smaller person id (for a cluster choosing) or the
    smaller cluster key (for a person id choosing). The greedy order's next pair is always
    mutually best, so repeating rounds until one returns nothing reproduces greedy matching.
    """
    return f"""
        WITH open_votes AS (
            SELECT v.* FROM "{votes}" v
            WHERE v.cluster_id NOT IN (SELECT cluster_id FROM "{assigned}")
              AND v.person_id NOT IN (SELECT person_id FROM "{assigned}")
        ), ranked AS (
            SELECT cluster_id, person_id,
                   row_number() OVER (PARTITION BY cluster_id ORDER BY n DESC, person_id) AS rc,
                   row_number() OVER (PARTITION BY person_id ORDER BY n DESC, cluster_key) AS rp
            FROM open_votes
        )
        SELECT cluster_id, person_id FROM ranked WHERE rc = 1 AND rp = 1
    """


def max_sequence_sql(tables: list[str]) -> str:
    """The highest numeric part of any ``P``-id in ``tables`` (0 when there are none)."""
    parts = (
        " UNION ALL ".join(f'SELECT person_id FROM "{t}"' for t in tables)
        or "SELECT CAST(NULL AS VARCHAR) AS person_id"
    )
    return f"""
        SELECT coalesce(max(TRY_CAST(substr(person_id, 2) AS BIGINT)), 0) AS mx
        FROM ({parts}) ids WHERE person_id LIKE '{ID_PREFIX}%'
    """


def _format_id_sql(number_sql: str) -> str:
    # lpad truncates longer strings, so only pad numbers shorter than ID_DIGITS.
    s = f"CAST({number_sql} AS VARCHAR)"
    return (
        f"'{ID_PREFIX}' || CASE WHEN length({s}) >= {ID_DIGITS} THEN {s} "
        f"ELSE lpad({s}, {ID_DIGITS}, '0') END"
    )


def cluster_ids_sql(clusters: str, assigned: str, start_after: int) -> str:
    """Every cluster's person id: the one it kept, or a new one numbered after ``start_after``."""
    return f"""
        WITH keys AS ({cluster_keys_sql(clusters)}),
        fresh AS (
            SELECT k.cluster_id, row_number() OVER (ORDER BY k.cluster_key) AS seq
            FROM keys k LEFT JOIN "{assigned}" a ON a.cluster_id = k.cluster_id
            WHERE a.cluster_id IS NULL
        )
        SELECT cluster_id, person_id, FALSE AS is_new FROM "{assigned}"
        UNION ALL
        SELECT cluster_id, {_format_id_sql(f"seq + {int(start_after)}")} AS person_id,
               TRUE AS is_new
        FROM fresh
    """


def mapping_sql(clusters: str, cluster_ids: str) -> str:
    """One row per input record: agency, source_id, unique_id, person_id."""
    return f"""
        SELECT c.agency, c.source_id, c.unique_id, i.person_id
        FROM "{clusters}" c JOIN "{cluster_ids}" i ON i.cluster_id = c.cluster_id
    """


def events_sql(votes: str, cluster_ids: str, previous: str | None) -> str:
    """This run's ``person_id_history`` events (without run_id and at).

    ``previous`` is None on the first run (every cluster is then simply created).
    """
    created = f"""
        SELECT person_id, 'created' AS event, CAST(NULL AS VARCHAR) AS related_person_id
        FROM "{cluster_ids}" WHERE is_new
    """
    if previous is None:
        return created
    return f"""
        WITH kept AS (SELECT person_id FROM "{cluster_ids}" WHERE NOT is_new),
        voted AS (
            SELECT v.*, i.person_id AS new_person_id, i.is_new,
                   row_number() OVER (PARTITION BY v.cluster_id ORDER BY v.n DESC, v.person_id)
                       AS rank_in_cluster,
                   row_number() OVER (PARTITION BY v.person_id ORDER BY v.n DESC, v.cluster_key)
                       AS rank_in_person
            FROM "{votes}" v JOIN "{cluster_ids}" i ON i.cluster_id = v.cluster_id
        ),
        old_ids AS (SELECT DISTINCT person_id FROM "{previous}")
        {created}
        UNION ALL
        SELECT new_person_id, 'split_from', person_id FROM voted
        WHERE is_new AND rank_in_cluster = 1
        UNION ALL
        SELECT person_id, 'merged_into', new_person_id FROM voted
        WHERE rank_in_person = 1 AND person_id NOT IN (SELECT person_id FROM kept)
        UNION ALL
        SELECT o.person_id, 'retired', CAST(NULL AS VARCHAR) FROM old_ids o
        WHERE o.person_id NOT IN (SELECT person_id FROM "{votes}")
          AND o.person_id NOT IN (SELECT person_id FROM kept)
    """


# --- orchestration ------------------------------------------------------------------------
def assign(
    clusters: pa.Table, store: Store, run_id: str, at: dt.datetime | None = None
) -> tuple[pa.Table, pa.Table]:
    """Give every record of this run's clusters a person id that is stable between runs.

    Args:
        clusters: one row per record: ``agency``, ``source_id``, ``unique_id``,
            ``cluster_id`` (this run's arbitrary cluster ids, as text).
        store: the place store; its current ``person_links`` (the previous run's, not yet
            replaced) and ``person_id_history`` are read if they exist.
        run_id: this run's id, written on each new history row.
        at: when (UTC, naive); defaults to now.

    Returns:
        ``(mapping, history)``: mapping has agency, source_id, unique_id, person_id for every
        row of ``clusters``; history is the whole ``person_id_history`` table to publish (the
        previous rows plus this run's events).

    Example:
        >>> from totalplace.store import Store
        >>> store = Store.open(":memory:")
        >>> run1 = pa.table({"agency": ["a", "a", "b"], "source_id": ["1", "2", "9"],
        ...                  "unique_id": ["a|1", "a|2", "b|9"], "cluster_id": ["x", "x", "y"]})
        >>> mapping, history = assign(run1, store, "r1")
        >>> sorted(mapping.column("person_id").to_pylist())
        ['P0000001', 'P0000001', 'P0000002']
    """
    return assign_with_engine(clusters, store.engine, run_id, at)


def assign_with_engine(
    clusters: pa.Table, engine: Engine, run_id: str, at: dt.datetime | None = None
) -> tuple[pa.Table, pa.Table]:
    """``assign`` given the engine itself (for callers that hold no Store)."""
    at = at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    needed = {"agency", "source_id", "unique_id", "cluster_id"}
    missing = needed - set(clusters.column_names)
    if missing:
        raise ValueError(
            f"stable_ids.assign: clusters needs columns {sorted(needed)}; "
            f"missing {sorted(missing)}; found {clusters.column_names}"
        )
    clusters = clusters.select(["agency", "source_id", "unique_id", "cluster_id"]).cast(
        pa.schema([(n, pa.string()) for n in ("agency", "source_id", "unique_id", "cluster_id")])
    )
    engine.register(CLUSTERS, clusters)

    has_prev = engine.has_table("person_links")
    has_hist = engine.has_table("person_id_history")
    previous = None
    if has_prev:
        engine.register(
            PREVIOUS,
            engine.query(
                'SELECT DISTINCT agency, source_id, person_id FROM "person_links" '
                "WHERE person_id IS NOT NULL"
            ),
        )
        previous = PREVIOUS
    old_history = (
        engine.query('SELECT * FROM "person_id_history"').cast(HISTORY_SCHEMA)
        if has_hist
        else HISTORY_SCHEMA.empty_table()
    )

    empty_pairs = pa.table(
        {"cluster_id": pa.array([], pa.string()), "person_id": pa.array([], pa.string())}
    )
    assigned = empty_pairs
    if previous:
        engine.register(VOTES, engine.query(votes_sql(CLUSTERS, PREVIOUS)))
        engine.register(ASSIGNED, assigned)
        while True:
            got = engine.query(match_round_sql(VOTES, ASSIGNED)).cast(empty_pairs.schema)
            if got.num_rows == 0:
                break
            assigned = pa.concat_tables([assigned, got])
            engine.register(ASSIGNED, assigned)
    else:
        engine.register(
            VOTES,
            pa.table(
                {
                    "cluster_id": pa.array([], pa.string()),
                    "person_id": pa.array([], pa.string()),
                    "n": pa.array([], pa.int64()),
                    "cluster_key": pa.array([], pa.string()),
                }
            ),
        )
    engine.register(ASSIGNED, assigned)

    sources = [PREVIOUS] if previous else []
    if has_hist:
        sources.append("person_id_history")
    start_after = int(engine.scalar(max_sequence_sql(sources)) or 0)
    ids = engine.query(cluster_ids_sql(CLUSTERS, ASSIGNED, start_after))
    engine.register("_tp_sid_ids", ids)
    mapping = engine.query(mapping_sql(CLUSTERS, "_tp_sid_ids"))
    events = engine.query(events_sql(VOTES, "_tp_sid_ids", previous) + " ORDER BY 1, 2, 3")
    new_rows = pa.table(
        {
            "person_id": events.column(0).cast(pa.string()),
            "event": events.column(1).cast(pa.string()),
            "related_person_id": events.column(2).cast(pa.string()),
            "run_id": pa.array([run_id] * events.num_rows, pa.string()),
            "at": pa.array([at] * events.num_rows, pa.timestamp("us")),
        }
    )
    return mapping, pa.concat_tables([old_history, new_rows])
