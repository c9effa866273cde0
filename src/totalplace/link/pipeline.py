"""One linkage run, from a prepared frame to clusters; shared by the place stage and link-files.

>>> out = run_linkage(frame, LinkageOptions(), work_dir=Path("/tmp/x"))   # doctest: +SKIP
>>> out.threshold.value, out.clusters.num_rows                           # doctest: +SKIP
(0.998, 61234)

Steps (each timed in ``out.timings``): train (prior, u, EM) -> blocking (pairs per rule,
and recall against ``truth`` when given) -> predict (+ deterministic pre-links) ->
reviews hook -> threshold -> Splink clustering -> over-link guard.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from totalplace.errors import TotalplaceError
from totalplace.link.model import (
    LinkageOptions,
    LinkModel,
    Threshold,
    Timer,
    choose_threshold,
    edges_sql,
)

OUT_OF_MEMORY = ("OutOfMemoryError", "Java heap space", "Out of Memory Error")


class LinkMemoryError(MemoryError, TotalplaceError):
    """The linkage engine ran out of memory."""


@dataclass
class LinkOutput:  # noqa: D101 (fields documented inline)
    """Everything a linkage run produced; Arrow tables, plain dicts for the run detail."""

    edges: pa.Table  # linkage_pairs (above the floor)
    clusters: pa.Table  # unique_id, cluster_id, match_probability
    flags: pa.Table  # cluster_id, n_records, reason, detail
    threshold: Threshold
    blocking: list[dict[str, Any]]
    training: dict[str, Any]
    timings: dict[str, float]
    comparisons: int  # pairs scored by Splink (the union of the blocking rules)
    reviews: dict[str, Any] | None = None
    blocking_recall: dict[str, Any] | None = None
    blocking_recall_estimate: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def estimated_blocking_recall(self) -> float | None:
        return self.blocking_recall_estimate.get("estimate")


def work_connection(
    work_dir: Path, memory_limit: str | None = None, tmp_dir: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for Splink's scratch tables, spilling to ``tmp_dir``.

    ``tmp_dir`` defaults to ``work_dir/tmp``; the place stage passes its run's private
    temporary folder, which is removed however the run ends.
    """
    con = duckdb.connect()
    tmp = tmp_dir or work_dir / "tmp"
    tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = '{tmp}'")
    limit = memory_limit or os.environ.get("TOTALPLACE_LINK_MEMORY", "8GB")
    try:
        con.execute(f"SET memory_limit = '{limit}'")
    except duckdb.Error:
        con.close()
        raise ValueError(f"memory must look like 8GB or 512MB; found {limit!r}") from None
    con.execute("SET preserve_insertion_order = false")
    return con


def default_spark_memory() -> str:
    """Spark driver memory sized from this machine: 60% of RAM, between 2 and 32 GB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4g"
    gb = int(min(32, max(2, total * 0.6 / 2**30)))
    return f"{gb}g"


def spark_memory(memory: str | None) -> str:
    """``8GB``/``8g``/``8192m`` -> Spark's ``8g``; default from the machine."""
    if not memory:
        return os.environ.get("TOTALPLACE_SPARK_MEMORY") or default_spark_memory()
    m = memory.strip().lower().removesuffix("b")
    if not m[:-1].isdigit() or m[-1] not in "kmgt":
        raise ValueError(f"memory must look like 8GB or 512MB; found {memory!r}")
    return m


def splink_api(engine: str, con: duckdb.DuckDBPyConnection, memory: str | None = None):
    """Splink's DuckDB API on ``con``, or the Spark API from ``totalplace.engine.spark``."""
    if engine == "duckdb":
        from splink import DuckDBAPI

        return DuckDBAPI(connection=con)
    if engine == "spark":
        from totalplace.engine import spark as sp

        if sp._ACTIVE:  # a place whose store is on Spark: use its session
            return sp.splink_db_api()
        owned = sp.SparkEngine(":memory:", driver_memory=spark_memory(memory))
        api = sp.splink_db_api(owned)
        sp._OWNED_FOR_SPLINK[id(api)] = owned
        return api
    raise ValueError(f"engine must be one of: 'duckdb', 'spark'; found {engine!r}")


def hook(module: str, name: str):
    """``totalplace.link.<module>.<name>`` if that module and function exist, else None."""
    try:
        mod = importlib.import_module(f"totalplace.link.{module}")
    except ModuleNotFoundError as e:
        if e.name == f"totalplace.link.{module}":
            return None
        raise
    return getattr(mod, name, None)


def blocking_recall_sql(blocked: str, truth: str, rule_names: list[str]) -> str:
    """Truth pairs found by each rule (marginally) and by their union.

    ``blocked`` has join_key_l, join_key_r, match_key; ``truth`` has unique_id, truth_id.
    """
    names = ", ".join(f"('{i}', '{n}')" for i, n in enumerate(rule_names))
    return f"""
WITH true_pairs AS (
  SELECT sum(n * (n - 1) / 2) AS n FROM (SELECT count(*) AS n FROM {truth} GROUP BY truth_id)
), found AS (
  SELECT b.match_key, count(*) AS pairs,
    count(*) FILTER (WHERE tl.truth_id = tr.truth_id) AS true_pairs
  FROM {blocked} b
  JOIN {truth} tl ON tl.unique_id = b.join_key_l
  JOIN {truth} tr ON tr.unique_id = b.join_key_r
  GROUP BY b.match_key
), r(match_key, rule) AS (VALUES {names})
SELECT r.match_key, r.rule, coalesce(f.pairs, 0) AS pairs,
  coalesce(f.true_pairs, 0) AS true_pairs_found,
  (SELECT n FROM true_pairs) AS true_pairs_total
FROM r LEFT JOIN found f USING (match_key) ORDER BY CAST(r.match_key AS INTEGER)
"""


def rule_hits_sql(edges: str, frame: str, rules: list[tuple[str, str]], threshold: float) -> str:
    """For each linked pair (p >= threshold): its probability and which rules catch it.

    ``rules`` are (name, Splink blocking SQL with ``l.``/``r.``) pairs; one boolean column
    ``hit_<i>`` per rule.
    """
    hits = ", ".join(f"coalesce(({sql}), false) AS hit_{i}" for i, (_, sql) in enumerate(rules))
    return f"""
SELECT e.match_probability AS p, {hits}
FROM {edges} e
JOIN {frame} l ON l.unique_id = e.unique_id_l
JOIN {frame} r ON r.unique_id = e.unique_id_r
WHERE e.match_probability >= {threshold}
"""


def estimate_blocking_recall(
    con, edges: str, frame: str, rules, threshold: float
) -> dict[str, Any]:
    """Estimated share of all true pairs that the blocking rules made (capture-recapture).

    The rules are split in two groups that fail for different reasons: those that need an
    exact dob and those that do not. Treating each group as an independent 'capture' of the
    linked pairs (weighted by their probability), Lincoln-Petersen estimates the true pairs
    in total as ``n_dob * n_other / n_both``; the estimate is the pairs found over that.
    Positive dependence between the groups (a messy record is messy everywhere) makes it
    optimistic, so read it as an upper bound.
    """
    named = [(r.name, r.rule.get_blocking_rule("duckdb").blocking_rule_sql, r.needs) for r in rules]
    if not named:
        return {"estimate": None, "why": "no blocking rules"}
    rows = con.sql(rule_hits_sql(edges, frame, [(n, q) for n, q, _ in named], threshold)).fetchall()
    dob = [i for i, (_, _, needs) in enumerate(named) if "dob_str" in needs]
    other = [i for i in range(len(named)) if i not in dob]
    found = sum(r[0] for r in rows)
    per_rule = (
        [
            {"rule": n, "share_of_links": round(sum(r[0] for r in rows if r[i + 1]) / found, 4)}
            for i, (n, _, _) in enumerate(named)
        ]
        if found
        else []
    )
    if not dob or not other or not rows:
        return {
            "estimate": None,
            "why": "needs rules with and without an exact dob, and linked pairs",
            "per_rule": per_rule,
        }
    n_a = sum(r[0] for r in rows if any(r[i + 1] for i in dob))
    n_b = sum(r[0] for r in rows if any(r[i + 1] for i in other))
    n_ab = sum(r[0] for r in rows if any(r[i + 1] for i in dob) and any(r[i + 1] for i in other))
    if n_ab <= 0:
        return {"estimate": None, "why": "no pair caught by both groups", "per_rule": per_rule}
    total = n_a * n_b / n_ab
    return {
        "estimate": round(min(1.0, found / total), 4) if total else None,
        "method": "Lincoln-Petersen over rules with and without an exact dob (upper bound)",
        "linked_pairs": round(found, 1),
        "dob_rules": round(n_a, 1),
        "other_rules": round(n_b, 1),
        "both": round(n_ab, 1),
        "per_rule": per_rule,
    }


def record_probability_sql(clusters: str, edges: str, threshold: float) -> str:
    """Each record's probability: its strongest edge at or above the threshold; 1.0 if alone."""
    return f"""
WITH ends AS (
  SELECT unique_id_l AS unique_id, match_probability FROM {edges}
  WHERE match_probability >= {threshold}
  UNION ALL
  SELECT unique_id_r, match_probability FROM {edges} WHERE match_probability >= {threshold}
), best AS (SELECT unique_id, max(match_probability) AS p FROM ends GROUP BY unique_id)
SELECT c.unique_id, CAST(c.cluster_id AS VARCHAR) AS cluster_id,
  coalesce(b.p, 1.0) AS match_probability
FROM {clusters} c LEFT JOIN best b USING (unique_id)
"""


def guard_sql(clusters: str, strong: str, edges: str, threshold: float, max_size: int) -> str:
    """Clusters to check by hand: too big, or held together by single weak edges.

    ``strong`` clusters the same edges at the strong threshold. A cluster made of k strong
    parts joined by at most k - 1 weak edges is a chain of parts where each weak edge is a
    bridge: remove it and the cluster splits.
    """
    return f"""
WITH sizes AS (SELECT cluster_id, count(*) AS n FROM {clusters} GROUP BY cluster_id),
parts AS (
  SELECT c.cluster_id, count(DISTINCT s.cluster_id) AS n_parts
  FROM {clusters} c JOIN {strong} s USING (unique_id)
  GROUP BY c.cluster_id HAVING count(DISTINCT s.cluster_id) > 1
),
cross_edges AS (
  SELECT cl.cluster_id, count(*) AS n_edges, min(e.match_probability) AS weakest
  FROM {edges} e
  JOIN {clusters} cl ON cl.unique_id = e.unique_id_l
  JOIN {strong} sl ON sl.unique_id = e.unique_id_l
  JOIN {strong} sr ON sr.unique_id = e.unique_id_r
  WHERE e.match_probability >= {threshold} AND sl.cluster_id <> sr.cluster_id
  GROUP BY cl.cluster_id
)
SELECT CAST(s.cluster_id AS VARCHAR) AS cluster_id, s.n AS n_records, 'size' AS reason,
  'cluster of ' || s.n || ' records (limit {max_size})' AS detail
FROM sizes s WHERE s.n > {max_size}
UNION ALL
SELECT CAST(p.cluster_id AS VARCHAR), s.n, 'bridge',
  p.n_parts || ' parts joined by ' || x.n_edges || ' weak edge(s); weakest p='
    || round(x.weakest, 4)
FROM parts p JOIN cross_edges x USING (cluster_id) JOIN sizes s USING (cluster_id)
WHERE x.n_edges <= p.n_parts - 1
"""


def run_linkage(
    frame: pa.Table,
    options: LinkageOptions,
    *,
    work_dir: Path,
    engine: str = "duckdb",
    model_path: Path | None = None,
    reviews: Path | None = None,
    truth: pa.Table | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    memory: str | None = None,
    progress=None,
) -> LinkOutput:
    """Link the records of a prepared ``frame`` (see ``prepare.prepare_sql``).

    Args:
        frame: one row per record, Splink input columns.
        options: validated ``linkage:`` options.
        work_dir: scratch folder (DuckDB spill files).
        engine: ``"duckdb"`` (default) or ``"spark"`` for Splink's backend.
        model_path: where to save the trained model JSON.
        reviews: clerical decisions to apply before clustering (needs ``link.review``).
        truth: optional ``unique_id, truth_id`` table; when given, the recall of each
            blocking rule and of their union is measured against it.
        con: the working DuckDB (default: a fresh in-memory one).
        memory: memory for the engine (``8GB``): Spark's driver memory (default: sized from
            the machine); DuckDB's limit is set where ``con`` is made (``work_connection``).
        progress: called with each step's name as it starts (e.g. to update a spinner).

    Raises:
        LinkMemoryError: the engine ran out of memory (one line saying how to give it more).
    """
    con = con or work_connection(work_dir, memory)
    db_api = splink_api(engine, con, memory)
    try:
        return _run(frame, options, con, db_api, model_path, reviews, truth, progress)
    except Exception as e:
        text = str(e)
        if any(k in text for k in OUT_OF_MEMORY):
            given = spark_memory(memory) if engine == "spark" else (memory or "8GB")
            raise LinkMemoryError(
                f"linkage ran out of memory on {engine} (memory {given}); give it more with "
                "--memory (e.g. --memory 16GB)"
                + (" or use --engine duckdb, which spills to disk" if engine == "spark" else "")
            ) from None
        raise
    finally:
        if engine == "spark":
            from totalplace.engine.spark import stop_splink_db_api

            stop_splink_db_api(db_api)


def _run(frame, options, con, db_api, model_path, reviews, truth, progress=None) -> LinkOutput:
    timer = Timer(progress=progress)
    model = LinkModel(frame, options, db_api, timer)
    training = model.train(model_path)

    rules = model.blocking_rule_names()
    with timer.phase("blocking"):
        bp = model.linker.inference.compute_blocked_pairs_for_predict()
        counts = model.linker.misc.query_sql(
            f"SELECT match_key, count(*) AS n FROM {bp.physical_name} GROUP BY match_key",
            output_type="pandas",
        )
        by_key = {str(k): int(n) for k, n in zip(counts["match_key"], counts["n"], strict=True)}
        blocking = [
            {"rule": r, "match_key": str(i), "pairs": by_key.get(str(i), 0)}
            for i, r in enumerate(rules)
        ]
        comparisons = sum(by_key.values())
        recall = None
        if truth is not None:
            recall = _blocking_recall(model, bp.physical_name, truth, rules)

    scored, det = model.predict()
    con.register("_tp_scored", scored)
    if det is not None:
        con.register("_tp_det", det)
    edges = con.sql(
        edges_sql("_tp_scored", "_tp_det" if det is not None else None)
    ).to_arrow_table()

    # The threshold is the model's: chosen before clerical decisions override pairs, so a
    # few reviews change those pairs only, not where every other pair is cut.
    con.register("_tp_edges", edges)
    threshold = choose_threshold(con, "_tp_edges", options)
    con.unregister("_tp_edges")
    review_summary = None
    if reviews is not None:
        apply = hook("review", "apply_reviews")
        if apply is None:
            raise RuntimeError(
                "--reviews needs totalplace.link.review.apply_reviews, which this "
                "version does not have"
            )
        edges, review_summary = apply(edges, Path(reviews), known_ids=frame.column("unique_id"))
    con.register("_tp_edges", edges)
    with timer.phase("blocking_recall_estimate"):
        con.register("_tp_frame", frame)
        try:
            estimate = estimate_blocking_recall(
                con, "_tp_edges", "_tp_frame", model.rules, threshold.value
            )
        except Exception as e:  # an estimate, never a reason to fail the run
            estimate = {"estimate": None, "why": f"not computed: {str(e)[:200]}"}
        con.unregister("_tp_frame")
    clusters = model.cluster(edges, threshold.value, "cluster")
    strong = model.cluster(edges, max(options.strong_threshold, threshold.value), "cluster_strong")
    con.register("_tp_cc", clusters)
    con.register("_tp_strong", strong)
    with timer.phase("guard"):
        clusters = con.sql(
            record_probability_sql("_tp_cc", "_tp_edges", threshold.value)
        ).to_arrow_table()
        flags = con.sql(
            guard_sql(
                "_tp_cc", "_tp_strong", "_tp_edges", threshold.value, options.max_cluster_size
            )
        ).to_arrow_table()
    for name in ("_tp_scored", "_tp_det", "_tp_edges", "_tp_cc", "_tp_strong"):
        try:
            con.unregister(name)
        except Exception:
            pass
    return LinkOutput(
        edges=edges,
        clusters=clusters,
        flags=flags,
        threshold=threshold,
        blocking=blocking,
        training=training,
        timings=timer.phases,
        comparisons=comparisons,
        reviews=review_summary,
        blocking_recall=recall,
        blocking_recall_estimate=estimate,
        detail={"rule_selection": model.rule_selection, "prior_history": model.prior_history},
    )


def _blocking_recall(
    model: LinkModel, blocked: str, truth: pa.Table, rules: list[str]
) -> dict[str, Any]:
    from totalplace.link.model import _to_backend

    t = _to_backend(model.db_api, truth.select(["unique_id", "truth_id"]), "tp_link_truth")
    rows = model.linker.misc.query_sql(
        blocking_recall_sql(blocked, t.physical_name, rules), output_type="pandas"
    ).to_dict("records")
    total = int(rows[0]["true_pairs_total"]) if rows else 0
    found = sum(int(r["true_pairs_found"]) for r in rows)
    per_rule = [
        {
            "rule": r["rule"],
            "pairs": int(r["pairs"]),
            "true_pairs_found_marginal": int(r["true_pairs_found"]),
        }
        for r in rows
    ]
    return {
        "true_pairs": total,
        "true_pairs_found": found,
        "union_recall": (found / total) if total else None,
        "per_rule": per_rule,
    }
