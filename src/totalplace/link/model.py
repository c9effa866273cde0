"""Train, predict and cluster with Splink; the link stage and ``link-files`` both use this.

``LinkModel`` wraps one Splink ``Linker`` over a prepared frame (see ``prepare``)::

    model = LinkModel(frame, LinkageOptions(), db_api=DuckDBAPI(connection=con))
    model.train(model_path)            # u by random sampling, m by EM over several rules
    edges = model.predict()            # pairs above the floor, deterministic pre-links at 1.0
    threshold = choose_threshold(con, edges, options)
    clusters = model.cluster(edges, threshold.value)

Splink does all scoring and clustering; this module only chooses settings, runs the
steps in order, times them and moves results between Splink and Arrow.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from splink import Linker
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.clustering import cluster_pairwise_predictions_at_threshold

from totalplace.errors import ManifestError
from totalplace.link import settings as S
from totalplace.link.prepare import present_columns

log = logging.getLogger(__name__)


class LinkageOptions(BaseModel):
    """The ``linkage:`` section of ``place.yaml`` (every key optional).

    Example::

        linkage:
          threshold: auto          # or a match probability, e.g. 0.95
          min_precision: 0.99      # 'auto' picks the lowest threshold meeting this
          max_cluster_size: 30
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float | Literal["auto"] = Field(
        "auto",
        description="match probability at which records are clustered; 'auto' "
        "chooses it from the model's estimated precision and recall",
    )
    min_precision: float = Field(
        0.999,
        gt=0,
        le=1,
        description="'auto' picks the lowest threshold whose estimated "
        "pairwise precision is at least this (max estimated F1 if none reaches it)",
    )
    pair_floor: float = Field(
        0.01, ge=0, lt=1, description="pairs below this probability are not kept in linkage_pairs"
    )
    review_band: tuple[float, float] = Field(
        (0.3, 0.9), description="probabilities of pairs written to the clerical review file"
    )
    max_cluster_size: int = Field(30, ge=2, description="clusters bigger than this are flagged")
    strong_threshold: float = Field(
        0.99,
        gt=0,
        lt=1,
        description="edges below this are 'weak'; a cluster that falls "
        "apart without its weak edges, each part joined by a single edge, is flagged 'bridge'",
    )
    deterministic: bool = Field(
        True, description="pre-link pairs with the same valid NHS number and dob at probability 1.0"
    )
    u_max_pairs: float = Field(1e7, gt=0, description="pairs sampled to estimate u")
    em_max_pairs: float = Field(2e6, gt=0, description="pairs per EM training rule (sampled)")
    prior_recall: float = Field(
        0.8,
        gt=0,
        le=1,
        description="assumed recall of the exact "
        "rules used to estimate the prior match probability",
    )
    rule_pair_budget: float = Field(
        10,
        gt=0,
        description="a blocking rule is used only if it makes at most this many "
        "pairs per record (estimated before predicting)",
    )
    rule_pair_budget_min: float = Field(2e6, gt=0, description="...but always allow this many")
    prior_rounds: int = Field(
        3,
        ge=0,
        description="times the prior may be re-estimated "
        "from the expected number of matches (0: never)",
    )
    seed: int = 1
    predict_chunks: int = Field(
        1, ge=1, description="split predict into N x N chunks to bound memory on big places"
    )

    @model_validator(mode="after")
    def _band(self) -> LinkageOptions:
        lo, hi = self.review_band
        if not 0 <= lo < hi <= 1:
            raise ValueError(
                f"review_band must be two probabilities low < high; found {self.review_band}"
            )
        if isinstance(self.threshold, float) and not 0 < self.threshold < 1:
            raise ValueError(
                f"threshold must be 'auto' or a probability in (0, 1); found {self.threshold}"
            )
        return self

    @classmethod
    def from_manifest(cls, data: dict[str, Any], path: str = "place.yaml") -> LinkageOptions:
        """Validate a manifest's ``linkage:`` mapping; errors name each bad key."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as e:
            raise ManifestError(path, [_problem(err) for err in e.errors()]) from None


def _problem(err: dict) -> str:
    where = "linkage" + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in err["loc"])
    if err["type"] == "extra_forbidden":
        known = ", ".join(LinkageOptions.model_fields)
        return f"{where}: unknown key (check its spelling); expected one of: {known}"
    return f"{where}: {err['msg'].removeprefix('Value error, ')} (found {err.get('input')!r})"


@dataclass
class Threshold:
    value: float
    method: str
    estimated_precision: float
    estimated_recall: float
    curve: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Timer:
    phases: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = round(self.phases.get(name, 0.0) + time.perf_counter() - t0, 3)


def _to_backend(db_api, table: pa.Table, name: str):
    """Register an Arrow table with the Splink backend (Spark wants pandas)."""
    if db_api.sql_dialect.sql_dialect_str == "duckdb":
        return db_api.register(table, table_name=name)
    return db_api.register(table.to_pandas(), table_name=name)


class LinkModel:
    """One Splink model over one prepared frame."""

    def __init__(
        self, frame: pa.Table, options: LinkageOptions, db_api, timer: Timer | None = None
    ):
        self.options = options
        self.db_api = db_api
        self.timer = timer or Timer()
        self.present = present_columns(frame)
        self.n_records = frame.num_rows
        S.splink_settings(self.present, [])  # fails early, naming what is missing
        logging.getLogger("splink").setLevel(logging.ERROR)
        self.frame = _to_backend(db_api, frame, "tp_link_frame")
        with self.timer.phase("choose_rules"):
            self.rules, self.rule_selection = self._choose_rules()
        self.settings = S.splink_settings(self.present, self.rules)
        self.linker = Linker(self.frame, self.settings, log_level=None)
        self.training_log: list[dict[str, Any]] = []

    def _choose_rules(self) -> tuple[list[S.NamedRule], list[dict[str, Any]]]:
        """Usable blocking rules whose pair count (estimated by Splink) fits the budget."""
        budget = max(
            self.options.rule_pair_budget_min, self.options.rule_pair_budget * self.n_records
        )
        # Exact counts on small data; a deterministic sample on big data.
        proportion = 1.0 if self.n_records <= 200_000 else 0.1
        kept, report = [], []
        for r in S.blocking_rules(self.present):
            rec = count_comparisons_from_blocking_rules(
                self.frame,
                blocking_rules=r.rule,
                link_type="dedupe_only",
                unique_id_column_name="unique_id",
                record_sample_proportion=proportion,
            )[0]
            n = int(rec["marginal_comparison_count"])
            ok = n <= budget
            report.append(
                {"rule": r.name, "estimated_pairs": n, "kept": ok, "estimate": proportion < 1.0}
            )
            if ok:
                kept.append(r)
        if not report:
            raise ValueError(
                "no blocking rule can be used: each needs e.g. a dob with a name, "
                f"or a name with a postcode; found data only in {sorted(self.present)}"
            )
        if not kept:
            raise RuntimeError(
                f"every blocking rule exceeds the pair budget of {budget:,.0f}: {report}"
            )
        return kept, report

    # --- training ---------------------------------------------------------------------------
    def train(self, model_path: Path | None = None) -> dict[str, Any]:
        """Estimate the prior, u (random sampling) and m (EM over each training rule)."""
        o, tr = self.options, self.linker.training
        with self.timer.phase("train_prior"):
            rules = S.prior_rules(self.present)
            if rules:
                tr.estimate_probability_two_random_records_match(
                    [r.rule for r in rules], recall=o.prior_recall
                )
        with self.timer.phase("train_u"):
            tr.estimate_u_using_random_sampling(max_pairs=o.u_max_pairs, seed=o.seed)
        with self.timer.phase("train_m_em"):
            for r in S.training_rules(self.present):
                t0 = time.perf_counter()
                try:
                    session = tr.estimate_parameters_using_expectation_maximisation(
                        r.rule, estimate_without_term_frequencies=True, max_pairs=o.em_max_pairs
                    )
                    iters = len(getattr(session, "_lambda_history_records", []) or [])
                    self.training_log.append(
                        {
                            "rule": r.name,
                            "ok": True,
                            "iterations": iters,
                            "seconds": round(time.perf_counter() - t0, 2),
                        }
                    )
                except Exception as e:  # a rule with no pairs (tiny or odd data) is skipped
                    self.training_log.append({"rule": r.name, "ok": False, "error": str(e)[:300]})
        if not any(t["ok"] for t in self.training_log):
            raise RuntimeError(f"EM training failed for every rule: {self.training_log}")
        if model_path is not None:
            model_path.parent.mkdir(parents=True, exist_ok=True)
            self.linker.misc.save_model_to_json(str(model_path), overwrite=True)
        return {
            "em": self.training_log,
            "comparisons": self.comparison_names(),
            "blocking_rules": self.blocking_rule_names(),
            "prior": self.linker._settings_obj._probability_two_random_records_match,
        }

    def comparison_names(self) -> list[str]:
        return [c.output_column_name for c in self.linker._settings_obj.comparisons]

    def blocking_rule_names(self) -> list[str]:
        """Names of the blocking rules in use; Splink's match_key is the index in this list."""
        return [r.name for r in self.rules]

    # --- prediction -----------------------------------------------------------------------------
    def predict(self) -> tuple[pa.Table, pa.Table | None]:
        """(scored pairs with p >= pair_floor, deterministic pre-link pairs or None).

        The prior P(two random records match) comes from exact rules with an assumed
        recall (``prior_recall``), which is badly wrong on messy data. After scoring, the
        expected number of matches (the sum of the pairs' probabilities) implies a prior of
        its own; while the two differ by more than 2x, the prior is replaced and Splink
        scores again (at most ``prior_rounds`` times).
        """
        o = self.options
        total_pairs = self.n_records * (self.n_records - 1) / 2
        self.prior_history = [self.prior]
        with self.timer.phase("predict"):
            for _ in range(o.prior_rounds + 1):
                scored = self._predict_once()
                expected = float(pa.compute.sum(scored.column("match_probability")).as_py() or 0.0)
                implied = (
                    min(max(expected / total_pairs, 1e-12), 0.5) if total_pairs else self.prior
                )
                if len(self.prior_history) > o.prior_rounds or 0.5 <= implied / self.prior <= 2:
                    break
                self.linker._settings_obj._probability_two_random_records_match = implied
                self.prior_history.append(implied)
        det = self.deterministic_pairs() if o.deterministic else None
        return scored, det

    @property
    def prior(self) -> float:
        return float(self.linker._settings_obj._probability_two_random_records_match)

    def _predict_once(self) -> pa.Table:
        n = self.options.predict_chunks
        kwargs = {"num_chunks_left": n, "num_chunks_right": n} if n > 1 else {}
        pred = self.linker.inference.predict(
            threshold_match_probability=self.options.pair_floor, warning_mode="never", **kwargs
        )
        cols = [
            "unique_id_l",
            "unique_id_r",
            "agency_l",
            "source_id_l",
            "agency_r",
            "source_id_r",
            "match_weight",
            "match_probability",
            "match_key",
        ]
        scored = pred.as_pyarrow_table()
        scored = scored.select([c for c in cols if c in scored.column_names])
        pred.drop_table_from_database_and_remove_from_cache()
        return scored

    def deterministic_pairs(self) -> pa.Table | None:
        """Pairs with the same valid NHS number and dob, found by Splink's deterministic_link."""
        if not all(c in self.present for c in S.DETERMINISTIC_RULE.needs):
            return None
        with self.timer.phase("deterministic"):
            settings = S.splink_settings(self.present, [S.DETERMINISTIC_RULE])
            det_linker = Linker(self.frame, settings, log_level=None)
            df = det_linker.inference.deterministic_link()
            out = df.as_pyarrow_table().select(["unique_id_l", "unique_id_r"])
            df.drop_table_from_database_and_remove_from_cache()
            return out

    # --- clustering ---------------------------------------------------------------------------
    def cluster(self, edges: pa.Table, threshold: float, name: str = "cluster") -> pa.Table:
        """Splink connected components over ``edges`` at ``threshold``: unique_id, cluster_id."""
        with self.timer.phase(name):
            e = _to_backend(
                self.db_api,
                edges.select(["unique_id_l", "unique_id_r", "match_probability"]),
                f"tp_link_edges_{name}",
            )
            cc = cluster_pairwise_predictions_at_threshold(
                self.frame,
                e,
                db_api=self.db_api,
                node_id_column_name="unique_id",
                threshold_match_probability=threshold,
            )
            out = cc.as_pyarrow_table()
            cc.drop_table_from_database_and_remove_from_cache()
            e.drop_table_from_database_and_remove_from_cache(force_non_splink_table=True)
            return out.select(["unique_id", "cluster_id"])


# --- post-processing SQL (run on the stage's working DuckDB) ---------------------------------
def edges_sql(scored: str, deterministic: str | None) -> str:
    """Scored pairs, with deterministic pre-links forced to probability 1.0 (added if absent)."""
    if deterministic is None:
        return f"SELECT * FROM {scored}"
    return f"""
SELECT s.unique_id_l, s.unique_id_r, s.agency_l, s.source_id_l, s.agency_r, s.source_id_r,
  CASE WHEN d.unique_id_l IS NOT NULL THEN greatest(s.match_weight, 50.0) ELSE s.match_weight END
    AS match_weight,
  CASE WHEN d.unique_id_l IS NOT NULL THEN 1.0 ELSE s.match_probability END AS match_probability,
  CASE WHEN d.unique_id_l IS NOT NULL THEN 'deterministic' ELSE s.match_key END AS match_key
FROM {scored} s LEFT JOIN {deterministic} d USING (unique_id_l, unique_id_r)
UNION ALL
SELECT d.unique_id_l, d.unique_id_r,
  split_part(d.unique_id_l, '|', 1), substr(d.unique_id_l, strpos(d.unique_id_l, '|') + 1),
  split_part(d.unique_id_r, '|', 1), substr(d.unique_id_r, strpos(d.unique_id_r, '|') + 1),
  50.0, 1.0, 'deterministic'
FROM {deterministic} d ANTI JOIN {scored} s USING (unique_id_l, unique_id_r)
"""


def threshold_curve_sql(edges: str, candidates: list[float]) -> str:
    """Estimated pairwise precision and recall at each candidate threshold.

    Precision(t) = mean probability of pairs at or above t (the expected share that are
    true matches); recall(t) = their summed probability over the summed probability of
    every kept pair (the expected true matches the blocking found above the floor).
    """
    values = ", ".join(f"(CAST({c!r} AS DOUBLE))" for c in candidates)
    return f"""
WITH c(t) AS (VALUES {values}),
tot AS (SELECT sum(match_probability) AS s FROM {edges})
SELECT c.t AS threshold,
  count(e.match_probability) AS pairs,
  coalesce(avg(e.match_probability), 1.0) AS est_precision,
  coalesce(sum(e.match_probability), 0) / nullif(any_value(tot.s), 0) AS est_recall
FROM c CROSS JOIN tot LEFT JOIN {edges} e ON e.match_probability >= c.t
GROUP BY c.t ORDER BY c.t
"""


def candidate_thresholds() -> list[float]:
    """Match weights -2 .. 20 in half bits, as probabilities."""
    out = []
    for i in range(-4, 41):
        w = i / 2
        out.append(round(2**w / (1 + 2**w), 6))
    return out


def choose_threshold(con, edges: str, options: LinkageOptions) -> Threshold:
    """The threshold to cluster at: fixed in place.yaml, or chosen from the estimated curve."""
    curve = con.sql(threshold_curve_sql(edges, candidate_thresholds())).to_arrow_table().to_pylist()
    for c in curve:
        c["est_recall"] = float(c["est_recall"] or 0.0)
        p, r = c["est_precision"], c["est_recall"]
        c["est_f1"] = 0.0 if p + r == 0 else 2 * p * r / (p + r)
    if options.threshold != "auto":
        t = float(options.threshold)
        at = min(curve, key=lambda c: abs(c["threshold"] - t))
        return Threshold(
            t, "fixed in place.yaml", at["est_precision"], at["est_recall"] or 0.0, curve
        )
    ok = [c for c in curve if c["est_precision"] >= options.min_precision and c["pairs"] > 0]
    if ok:
        best = min(ok, key=lambda c: c["threshold"])
        method = f"lowest with estimated precision >= {options.min_precision}"
    else:
        best = max(curve, key=lambda c: c["est_f1"])
        method = "maximum estimated F1"
    return Threshold(
        best["threshold"], method, best["est_precision"], best["est_recall"] or 0.0, curve
    )


def match_weight(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log2(p / (1 - p))
