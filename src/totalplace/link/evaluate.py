"""How good is a linkage? Pairwise precision/recall and B-cubed against known truth.

>>> m = pairwise_metrics(con, clusters, truth)       # doctest: +SKIP
>>> round(m["precision"], 3), round(m["recall"], 3)  # doctest: +SKIP
(0.995, 0.991)

``clusters`` has unique_id, cluster_id (what the linkage said); ``truth`` has unique_id,
truth_id (who each record really is). Records missing from either side are ignored.

- Pairwise: a pair of records is a predicted link when both share a cluster, a true link
  when both share a truth id. Precision = true predicted links / predicted links;
  recall = true predicted links / true links. Counted with sums of n(n-1)/2, never by
  listing pairs, so it is cheap at millions of records.
- B-cubed (Bagga & Baldwin 1998): per record, precision = |its cluster ∩ its true
  group| / |its cluster|, recall = the same over |its true group|; averaged over records.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def metrics_sql(clusters: str, truth: str) -> str:
    """One row: predicted/true/correct pair counts and B-cubed precision and recall."""
    return f"""
WITH j AS (
  SELECT CAST(c.cluster_id AS VARCHAR) AS cid, CAST(t.truth_id AS VARCHAR) AS tid
  FROM {clusters} c JOIN {truth} t USING (unique_id)
), cs AS (SELECT cid, count(*) AS n FROM j GROUP BY cid),
ts AS (SELECT tid, count(*) AS n FROM j GROUP BY tid),
both_ AS (SELECT cid, tid, count(*) AS n FROM j GROUP BY cid, tid)
SELECT
  (SELECT count(*) FROM j) AS records,
  (SELECT count(*) FROM cs) AS clusters,
  (SELECT count(*) FROM ts) AS true_people,
  (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM cs) AS predicted_pairs,
  (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM ts) AS true_pairs,
  (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM both_) AS correct_pairs,
  (SELECT sum(b.n * b.n / c.n) FROM both_ b JOIN cs c USING (cid)) / (SELECT count(*) FROM j)
    AS bcubed_precision,
  (SELECT sum(b.n * b.n / t.n) FROM both_ b JOIN ts t USING (tid)) / (SELECT count(*) FROM j)
    AS bcubed_recall
"""


def pairwise_metrics(con, clusters: pa.Table | str, truth: pa.Table | str) -> dict[str, Any]:
    """Pairwise precision, recall, F1 and B-cubed precision, recall, F1.

    Args:
        con: a DuckDB connection to run the SQL on.
        clusters: Arrow table or table name with unique_id, cluster_id.
        truth: Arrow table or table name with unique_id, truth_id.
    """
    names = []
    for i, t in enumerate((clusters, truth)):
        if isinstance(t, pa.Table):
            name = f"_tp_eval_{i}"
            con.register(name, t)
            names.append(name)
        else:
            names.append(t)
    try:
        row = con.sql(metrics_sql(names[0], names[1])).fetchall()[0]
    finally:
        for t, n in zip((clusters, truth), names, strict=True):
            if isinstance(t, pa.Table):
                con.unregister(n)
    keys = [
        "records",
        "clusters",
        "true_people",
        "predicted_pairs",
        "true_pairs",
        "correct_pairs",
        "bcubed_precision",
        "bcubed_recall",
    ]
    m: dict[str, Any] = dict(zip(keys, row, strict=True))
    for k in keys[:6]:
        m[k] = int(m[k] or 0)
    m["precision"] = m["correct_pairs"] / m["predicted_pairs"] if m["predicted_pairs"] else 1.0
    m["recall"] = m["correct_pairs"] / m["true_pairs"] if m["true_pairs"] else 1.0
    m["f1"] = _f1(m["precision"], m["recall"])
    m["bcubed_precision"] = float(m["bcubed_precision"] or 0.0)
    m["bcubed_recall"] = float(m["bcubed_recall"] or 0.0)
    m["bcubed_f1"] = _f1(m["bcubed_precision"], m["bcubed_recall"])
    return m


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def same_cluster_share(a: pa.Table, b: pa.Table) -> float:
    """The share of records whose whole cluster is the same in two linkages of one set of
    records (each a table of ``unique_id``, ``person_id``; cluster ids themselves are
    arbitrary, so clusters are compared as sets of records). Used to check that two engines,
    or two runs, link the same people."""

    def partitions(links: pa.Table) -> dict[str, frozenset[str]]:
        members: dict[str, set[str]] = {}
        uids, pids = links.column("unique_id").to_pylist(), links.column("person_id").to_pylist()
        for uid, pid in zip(uids, pids, strict=True):
            members.setdefault(pid, set()).add(uid)
        return {uid: frozenset(m) for m in members.values() for uid in m}

    pa_, pb = partitions(a), partitions(b)
    if pa_.keys() != pb.keys():
        raise ValueError("the two linkages must cover the same records")
    return sum(pa_[u] == pb[u] for u in pa_) / len(pa_) if pa_ else 1.0
