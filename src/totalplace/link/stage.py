"""``Link``: the place stage (see the package docstring for the tables and the hooks)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from totalplace.link.model import LinkageOptions
from totalplace.link.pipeline import LinkOutput, hook, run_linkage, work_connection
from totalplace.link.prepare import prepare_sql, register_nicknames
from totalplace.place import StageResult

SOURCE = "source_people"


def interim_person_ids_sql(clusters: str) -> str:
    """Person ids P0000001... numbered by each cluster's smallest unique_id (deterministic)."""
    return f"""
WITH firsts AS (SELECT cluster_id, min(unique_id) AS first_id FROM {clusters} GROUP BY cluster_id),
numbered AS (
  SELECT cluster_id,
    'P' || lpad(CAST(row_number() OVER (ORDER BY first_id) AS VARCHAR), 7, '0') AS person_id
  FROM firsts
)
SELECT c.unique_id, n.person_id FROM numbered n JOIN {clusters} c USING (cluster_id)
"""


def person_links_sql(clusters: str, ids: str) -> str:
    # Probabilities are rounded to 1e-9: Splink's parallel floating-point sums differ in the
    # last bits between identical runs, and identical runs must publish identical tables.
    return f"""
SELECT split_part(c.unique_id, '|', 1) AS agency,
  substr(c.unique_id, strpos(c.unique_id, '|') + 1) AS source_id,
  c.unique_id, CAST(i.person_id AS VARCHAR) AS person_id, c.cluster_id,
  round(CAST(c.match_probability AS DOUBLE), 9) AS match_probability
FROM {clusters} c JOIN {ids} i USING (unique_id)
"""


PERSON_FIELDS = ("dob", "sex", "given_name", "family_name", "postcode", "uprn")


def persons_sql(
    person_links: str, source: str, flags: str, columns: list[str] | None = None
) -> str:
    """One row per person: records, agencies, and each field's value by a stated rule.

    Each field is the value most of the person's records hold; a tie goes to the value of
    the most recent record (latest ``valid_from``; records without one come last), then to
    the value of the record first in source order (agency, then source_id, as text). So the
    same links always give the same table.
    """
    latest = "s.valid_from" if columns is None or "valid_from" in columns else "CAST(NULL AS DATE)"
    fields = ", ".join(f"s.{c}" for c in PERSON_FIELDS)
    votes = "\n".join(
        f""", v_{c} AS (
  SELECT person_id, first(v ORDER BY n DESC, latest DESC NULLS LAST, first_rid) AS {c}
  FROM (SELECT person_id, {c} AS v, count(*) AS n, max(latest) AS latest,
               min(rid) AS first_rid
        FROM j WHERE {c} IS NOT NULL GROUP BY person_id, {c})
  GROUP BY person_id)"""
        for c in PERSON_FIELDS
    )
    joins = "\n".join(f"LEFT JOIN v_{c} USING (person_id)" for c in PERSON_FIELDS)
    picked = ", ".join(f"any_value(v_{c}.{c}) AS {c}" for c in PERSON_FIELDS)
    return f"""
WITH f AS (
  SELECT cluster_id, string_agg(reason, ',' ORDER BY reason, detail) AS flag_reason,
    string_agg(detail, '; ' ORDER BY reason, detail) AS flag_detail
  FROM {flags} GROUP BY cluster_id
), j AS (
  SELECT l.person_id, l.agency || '|' || l.source_id AS rid, {latest} AS latest, {fields}
  FROM {person_links} l
  JOIN {source} s ON s.agency = l.agency AND CAST(s.source_id AS VARCHAR) = l.source_id
){votes}
SELECT l.person_id, count(*) AS n_records, count(DISTINCT l.agency) AS n_agencies,
  list_sort(list(DISTINCT l.agency)) AS agencies,
  {picked},
  min(l.match_probability) AS min_match_probability,
  any_value(f.flag_reason) IS NOT NULL AS flagged,
  any_value(f.flag_reason) AS flag_reason, any_value(f.flag_detail) AS flag_detail
FROM {person_links} l
{joins}
LEFT JOIN f ON f.cluster_id = l.cluster_id
GROUP BY l.person_id
ORDER BY l.person_id
"""


def link_flags_sql(flags: str, person_links: str) -> str:
    return f"""
SELECT DISTINCT l.person_id, f.cluster_id, f.n_records, f.reason, f.detail
FROM {flags} f JOIN {person_links} l ON l.cluster_id = f.cluster_id
"""


class Link:
    """The link stage of one place: ``place.link.run()``."""

    def __init__(self, place):
        self.place = place

    @property
    def options(self) -> LinkageOptions:
        return LinkageOptions.from_manifest(
            self.place.manifest.linkage, str(self.place.root / "place.yaml")
        )

    @property
    def work_dir(self) -> Path:
        return self.place.root / "link"

    def run(
        self,
        reviews: Path | None = None,
        engine: str = "duckdb",
        truth: pa.Table | None = None,
        memory: str | None = None,
        min_precision: float | None = None,
        progress=None,
    ) -> StageResult:
        """Link ``source_people`` into persons; publish linkage_pairs, person_links, persons.

        Args:
            reviews: CSV of clerically reviewed pairs whose decisions override the model.
            engine: ``"duckdb"`` (default) or ``"spark"`` for Splink's backend.
            truth: optional ``unique_id, truth_id`` table (synthetic places); when given, the
                run detail records blocking recall against it.
            memory: memory for linkage (``8GB``): DuckDB's limit, Spark's driver memory.
            min_precision: overrides ``linkage.min_precision`` for this run.
            progress: called with each step's name as it starts.
        """
        options = self.options
        if min_precision is not None:
            options = options.model_copy(update={"min_precision": min_precision})
        store = self.place.store
        store.require(SOURCE)
        t0 = time.perf_counter()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        model_path = self.work_dir / "model.json"
        with store.stage_run("link", inputs=[reviews] if reviews else []) as run:
            con = work_connection(self.work_dir, memory, tmp_dir=run.tmp)
            try:
                t_read = time.perf_counter()
                source = store.engine.query(f'SELECT * FROM "{SOURCE}"')
                con.register("_tp_source", source)
                register_nicknames(con)
                frame = con.sql(prepare_sql("_tp_source", source.column_names)).to_arrow_table()
                read_s = time.perf_counter() - t_read
                out = run_linkage(
                    frame,
                    options,
                    work_dir=self.work_dir,
                    engine=engine,
                    model_path=model_path,
                    reviews=reviews,
                    truth=truth,
                    con=con,
                    memory=memory,
                    progress=progress,
                )
                del frame
                tables, extra = self._tables(con, out, run.run_id, source)
                # Every table is in Arrow now: free Splink's work database (up to its memory
                # limit, 8 GB by default) before the store copies the tables in.
                con.close()
                t_pub = time.perf_counter()
                counts = store.publish(tables)
                out.timings["read_prepare"] = round(read_s, 3)
                out.timings["publish"] = round(time.perf_counter() - t_pub, 3)
                n_review = self._write_review_file(out, source, options)
            finally:
                con.close()
            run.rows = {
                SOURCE: {"in": source.num_rows},
                **{k: {"out": v} for k, v in counts.items()},
            }
            run.detail = self._detail(
                out, options, model_path, engine, extra, time.perf_counter() - t0
            )
            run.detail["review_pairs"] = n_review
        run_detail = run.detail
        review_line = (
            f"{n_review:,} uncertain pairs to review in {self.work_dir / 'review_pairs.csv'}"
            if n_review is not None
            else "No clerical review file (link.review not available)."
        )
        return StageResult(
            stage="link",
            tables=counts,
            detail=run_detail,
            headline=f"{source.num_rows:,} records -> {counts['persons']:,} people "
            f"(p >= {out.threshold.value:.3g}; {out.flags.num_rows:,} clusters flagged)",
            summary=[
                f"Linked {source.num_rows:,} records into {counts['persons']:,} people "
                f"(threshold p >= {out.threshold.value:.4g}, {out.threshold.method}).",
                f"Model's estimated pairwise precision {out.threshold.estimated_precision:.4f}, "
                f"recall {out.threshold.estimated_recall:.4f} (about "
                f"{out.threshold.expected_false_links:,.0f} false and "
                f"{out.threshold.expected_missed_links:,.0f} missed links); "
                f"{out.comparisons:,} pairs compared"
                + (
                    f", blocking recall estimated at {out.estimated_blocking_recall:.3f}."
                    if out.estimated_blocking_recall is not None
                    else "."
                ),
                f"m values: {out.training.get('m_source', 'EM')}.",
                f"{out.flags.num_rows:,} clusters flagged for review (size or weak bridges).",
                review_line,
                f"Model saved to {model_path}",
            ],
        )

    # --- helpers ------------------------------------------------------------------------------
    def _tables(self, con, out: LinkOutput, run_id: str, source: pa.Table) -> tuple[dict, dict]:
        con.register("_tp_clusters", out.clusters)
        con.register("_tp_flags", out.flags)
        clusters = con.sql("""SELECT split_part(unique_id, '|', 1) AS agency,
            substr(unique_id, strpos(unique_id, '|') + 1) AS source_id, unique_id, cluster_id
            FROM _tp_clusters""").to_arrow_table()
        extra: dict[str, Any] = {}
        tables: dict[str, Any] = {}
        assign = hook("stable_ids", "assign")
        if assign is not None:
            ids, history = assign(clusters, self.place.store, run_id)
            extra["person_ids"] = "stable_ids.assign"
            if history is not None:
                tables["person_id_history"] = history
        else:
            ids = con.sql(interim_person_ids_sql("_tp_clusters")).to_arrow_table()
            extra["person_ids"] = "interim numbering by smallest record id"
        con.register("_tp_ids", ids.select(["unique_id", "person_id"]))
        links = con.sql(person_links_sql("_tp_clusters", "_tp_ids")).to_arrow_table()
        con.register("_tp_person_links", links)
        tables["linkage_pairs"] = out.edges
        tables["person_links"] = links
        tables["persons"] = con.sql(
            persons_sql("_tp_person_links", "_tp_source", "_tp_flags", source.column_names)
        ).to_arrow_table()
        tables["link_flags"] = con.sql(
            link_flags_sql("_tp_flags", "_tp_person_links")
        ).to_arrow_table()
        build = hook("households", "build")
        if build is not None:
            # The hook sees the new links through the store's engine, before they are published.
            self.place.store.engine.register("_tp_new_person_links", links)
            tables.update(build(self.place.store.engine, "_tp_new_person_links", SOURCE))
            extra["households"] = "households.build"
        return tables, extra

    def _write_review_file(
        self, out: LinkOutput, source: pa.Table, options: LinkageOptions
    ) -> int | None:
        write = hook("review", "write_review_file")
        if write is None:
            return None
        return write(
            out.edges,
            self.work_dir / "review_pairs.csv",
            band=tuple(options.review_band),
            records=source,
        )

    def _detail(
        self,
        out: LinkOutput,
        options: LinkageOptions,
        model_path: Path,
        engine: str,
        extra: dict,
        seconds: float,
    ) -> dict[str, Any]:
        curve = out.threshold.curve_points()
        return {
            "engine": engine,
            "model_path": str(model_path),
            "options": json.loads(options.model_dump_json()),
            "threshold": {
                "value": out.threshold.value,
                "method": out.threshold.method,
                "estimated_precision": out.threshold.estimated_precision,
                "estimated_recall": out.threshold.estimated_recall,
                **out.threshold.expected(),
                "curve": curve,
            },
            "estimated_blocking_recall": out.estimated_blocking_recall,
            "blocking_recall_estimate": out.blocking_recall_estimate,
            "comparisons": out.comparisons,
            "blocking": out.blocking,
            "blocking_recall": out.blocking_recall,
            "rule_selection": out.detail.get("rule_selection"),
            "prior_history": out.detail.get("prior_history"),
            "training": out.training,
            "timings": out.timings,
            "flags": {
                "size": int(sum(1 for r in out.flags.column("reason").to_pylist() if r == "size")),
                "bridge": int(
                    sum(1 for r in out.flags.column("reason").to_pylist() if r == "bridge")
                ),
            },
            "reviews": out.reviews,
            "seconds": round(seconds, 2),
            **extra,
        }
