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
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from splink import Linker
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.clustering import cluster_pairwise_predictions_at_threshold
from splink.internals.constants import LEVEL_NOT_OBSERVED_TEXT

from totalplace.errors import ManifestError
from totalplace.link import settings as S
from totalplace.link.prepare import present_columns

log = logging.getLogger(__name__)


# --- parameter bounds -------------------------------------------------------------------------
# EM estimates m only for levels its blocks show; a level never observed keeps its prior
# (``settings``), and a level observed a handful of times can get an extreme m. These bounds
# keep any single comparison from deciding a pair on its own by accident:
#
# - every level's m is at least ``M_FLOOR`` (``M_FLOOR_BY_COMPARISON`` for sex: records
#   miscode sex and people change it, so at least 1% of matches are taken to disagree and a
#   mismatch weighs about -5.6 bits, never enough on its own to break a confident pair);
# - a level whose m was never trained weighs at most ``PRIOR_MAX_WEIGHT`` bits against, and
#   for at most the larger of ``PRIOR_MAX_WEIGHT`` and its comparison's strongest trained
#   level (an untrained 'same UPRN' is never worth more than a trained 'same address'),
#   never more than the level above it, and an untrained 'all other' level never counts for;
# - a level never seen in the random sample gets u = 1 / (pairs sampled), not Splink's 1e-6.
M_FLOOR = 0.001
M_FLOOR_BY_COMPARISON = {"sex": 0.01}
PRIOR_MAX_WEIGHT = 8.0
U_PAIRS_PER_RECORD = 10  # u pairs sampled per record ...
U_PAIRS_MIN = 100_000  # ... but at least this many (or every pair on small data)
EM_MIN_PAIRS = 100  # an EM rule with fewer pairs is skipped
# The household level (``settings.family_name_comparison``) is used only when at least this
# many same-address pairs of different given names were counted, and when sharing an
# address makes an equal surname at least this many times likelier than among all records.
HOUSEHOLD_MIN_PAIRS = 1_000
HOUSEHOLD_MIN_RATIO = 8.0


def household_surname_u_sql(table: str, key: str) -> str:
    """Among pairs at one address (``key``) whose given names and dates of birth both
    differ (relatives and neighbours, hardly ever one person's records), the number and
    those sharing a family name; and the share of all pairs of records sharing one.

    Counted on distinct (address, given name, family name, dob) by grouping, with
    inclusion-exclusion for "both differ" (no pairs are listed: cheap on millions).
    """

    def pairs(group: str, extra: str = "") -> str:
        return (
            f"(SELECT coalesce(sum(n * (n - 1) / 2.0), 0) FROM "
            f"(SELECT count(*) AS n FROM u GROUP BY k{extra}{group}))"
        )

    return f"""
WITH u AS (
  SELECT DISTINCT {key} AS k, given_name AS g, family_name AS f, dob_str AS d FROM {table}
  WHERE {key} IS NOT NULL AND given_name IS NOT NULL AND family_name IS NOT NULL
    AND dob_str IS NOT NULL
), by_f AS (SELECT count(*) AS n FROM {table} WHERE family_name IS NOT NULL GROUP BY family_name)
SELECT
  {pairs("")} - {pairs(", g")} - {pairs(", d")} + {pairs(", g, d")} AS pairs,
  {pairs("", ", f")} - {pairs(", g", ", f")} - {pairs(", d", ", f")} + {pairs(", g, d", ", f")}
    AS same_surname,
  (SELECT coalesce(sum(n * (n - 1) / 2.0), 0) FROM by_f)
    / nullif((SELECT sum(n) FROM by_f) * ((SELECT sum(n) FROM by_f) - 1) / 2.0, 0) AS u_all
"""


def household_dob_u_sql(table: str, key: str) -> str:
    """Among pairs at one address sharing a family name whose given names start with
    different letters (siblings, parents and children; a typo or nickname of one person
    mostly keeps the initial), the number and those sharing a dob; and the share of all
    pairs of records sharing a dob."""

    def pairs(group: str) -> str:
        return (
            f"(SELECT coalesce(sum(n * (n - 1) / 2.0), 0) FROM "
            f"(SELECT count(*) AS n FROM u GROUP BY k, f{group}))"
        )

    return f"""
WITH u AS (
  SELECT DISTINCT {key} AS k, family_name AS f, substr(given_name, 1, 1) AS i, dob_str AS d
  FROM {table}
  WHERE {key} IS NOT NULL AND given_name IS NOT NULL AND family_name IS NOT NULL
    AND dob_str IS NOT NULL
), by_d AS (SELECT count(*) AS n FROM {table} WHERE dob_str IS NOT NULL GROUP BY dob_str)
SELECT {pairs("")} - {pairs(", i")} AS pairs,
  {pairs(", d")} - {pairs(", d, i")} AS same_dob,
  (SELECT coalesce(sum(n * (n - 1) / 2.0), 0) FROM by_d)
    / nullif((SELECT sum(n) FROM by_d) * ((SELECT sum(n) FROM by_d) - 1) / 2.0, 0) AS u_all
"""


def _household_counts(frame: pa.Table, present: set[str], sql) -> tuple[float, float, float | None]:
    """(pairs, pairs agreeing, share agreeing among all records) from ``sql(table, key)``,
    keyed on the address text where there is one, else the UPRN."""
    key = "address" if "address" in present else "uprn"
    con = duckdb.connect()
    try:
        con.register("f", frame.select([key, "given_name", "family_name", "dob_str"]))
        pairs, same, u_all = con.sql(sql("f", key)).fetchall()[0]
    finally:
        con.close()
    return float(pairs or 0), float(same or 0), u_all


def household_dob_u(frame: pa.Table, present: set[str]) -> tuple[float | None, dict]:
    """u of "same dob, family name and address" (twins), used only where the household
    surname level is: see ``household_surname_u``."""
    pairs, same, u_all = _household_counts(frame, present, household_dob_u_sql)
    detail = {"household_pairs": int(pairs), "sharing_a_dob": int(same)}
    if pairs < HOUSEHOLD_MIN_PAIRS or not same:
        return None, {**detail, "used": False, "why": "too few pairs or none sharing a dob"}
    u = same / pairs
    detail.update({"u": round(u, 6), "u_all_records": round(float(u_all or 0), 8)})
    if u_all and u < HOUSEHOLD_MIN_RATIO * float(u_all):
        return None, {**detail, "used": False, "why": "no more shared dobs than by chance"}
    return u, {**detail, "used": True}


def household_surname_u(frame: pa.Table, present: set[str]) -> tuple[float | None, dict]:
    """u of "same family name at the same address", or None when the data show no
    household structure (see ``HOUSEHOLD_MIN_PAIRS`` and ``HOUSEHOLD_MIN_RATIO``).

    Members of a household share an address and usually a surname, so among non-matching
    pairs those two agreements are far from independent (Anytown 20k: about half of the
    same-address pairs with different given names and dobs share a surname, against 2.6%
    of all pairs). Scoring
    them as independent made a parent and child of one name, or twins, look like one person.
    """
    if S.household_level_sql(present) is None or "dob_str" not in present:
        return None, {"used": False, "why": "no address or UPRN, or no dob"}
    pairs, same, u_all = _household_counts(frame, present, household_surname_u_sql)
    detail = {"same_address_pairs": int(pairs), "sharing_a_surname": int(same)}
    if pairs < HOUSEHOLD_MIN_PAIRS or not same:
        return None, {**detail, "used": False, "why": "too few same-address pairs"}
    u = same / pairs
    detail.update({"u": round(u, 6), "u_all_records": round(float(u_all or 0), 6)})
    if u_all and u < HOUSEHOLD_MIN_RATIO * float(u_all):
        return None, {**detail, "used": False, "why": "no household structure"}
    return u, {**detail, "used": True}


def merge_household_m(settings_obj) -> dict[str, float]:
    """Give each household level and the exact level below it one m: P(agree | match).

    A household level and the exact level split the pairs that agree exactly by whether
    they also share a household, so EM estimates each m jointly with the address
    (m_exact = P(agree, other address | match)); their sum is P(agree | match), which is
    what each level needs for the address comparison not to be counted twice.
    """
    out: dict[str, float] = {}
    for comp in settings_obj.comparisons:
        levels = comp._comparison_levels_excluding_null
        for i, hh in enumerate(levels[:-1]):
            if hh.label_for_charts not in S.HOUSEHOLD_LABELS:
                continue
            exact = levels[i + 1]
            # Per EM session: m_household + m_exact (a session whose blocks never share an
            # address estimates m_exact alone); averaged over sessions.
            sessions: dict[str, float] = {}
            for cl in (exact, hh):
                for r in cl._trained_m_probabilities:
                    p = r.get("probability")
                    if isinstance(p, (int, float)) and (
                        cl is exact or r["description"] in sessions
                    ):
                        sessions[r["description"]] = sessions.get(r["description"], 0.0) + p
            if not sessions:
                continue
            m = min(1.0, sum(sessions.values()) / len(sessions))
            for cl in (hh, exact):
                cl.m_probability = m
            out[f"m_{comp.output_column_name}"] = round(m, 6)
    return out


def _levels(settings_obj):
    for cc in settings_obj.comparisons:
        for cl in cc._comparison_levels_excluding_null:
            yield cc.output_column_name, cl


def _level_m_values(settings_obj) -> dict[tuple[str, int], float | None]:
    """Each level's m before training (its prior): (comparison, vector value) -> m."""
    return {(c, cl.comparison_vector_value): cl.m_probability for c, cl in _levels(settings_obj)}


def _count_pairs(frame, rule: S.NamedRule, n_records: int) -> int:
    """Pairs ``rule`` makes: exact up to 200,000 records, else estimated from a 10% sample."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = count_comparisons_from_blocking_rules(
            frame,
            blocking_rules=rule.rule,
            link_type="dedupe_only",
            unique_id_column_name="unique_id",
            record_sample_proportion=1.0 if n_records <= 200_000 else 0.1,
        )[0]
    return int(rec["marginal_comparison_count"])


def _session_desc(session) -> str:
    rule = session._blocking_rule_for_training.blocking_rule_sql
    return f"EM, blocked on: {rule}"


def _degenerate(settings_obj, session) -> list[str]:
    """Comparisons whose top (exact) level this session found weighing against a match."""
    try:
        desc = _session_desc(session)
    except AttributeError:
        return []
    bad = []
    for cc in settings_obj.comparisons:
        levels = [
            cl
            for cl in cc._comparison_levels_excluding_null
            if cl.label_for_charts not in S.HOUSEHOLD_LABELS
        ]
        if not levels:
            continue
        top = levels[0]
        m = [
            r["probability"]
            for r in top._trained_m_probabilities
            if r["description"] == desc and isinstance(r["probability"], (int, float))
        ]
        u = top.u_probability
        if m and u is not None and not top._fix_m_probability and m[-1] < u:
            bad.append(cc.output_column_name)
    return bad


def _discard_session(linker, session) -> None:
    """Forget one EM session's m estimates and recompute each level from the others."""
    desc = _session_desc(session)
    for _, cl in _levels(linker._settings_obj):
        kept = [r for r in cl._trained_m_probabilities if r["description"] != desc]
        removed = len(kept) != len(cl._trained_m_probabilities)
        cl._trained_m_probabilities = kept
        if removed and not cl._has_estimated_m_values:
            cl.m_probability = None  # back to the prior (restored by bound_parameters)
    linker._populate_m_u_from_trained_values()


def bound_parameters(
    settings_obj, priors: dict[tuple[str, int], float | None], u_pairs: int
) -> list[dict[str, Any]]:
    """Apply the bounds above to every level in place; returns what was changed and why."""
    notes = []
    trained_max: dict[str, float] = {}
    for comp, cl in _levels(settings_obj):
        if cl._has_estimated_m_values and cl._has_estimated_u_values and cl._match_weight:
            trained_max[comp] = max(trained_max.get(comp, -math.inf), cl._match_weight)
    prev: dict[str, float] = {}  # weight of the level above, per comparison
    last = {comp: cl for comp, cl in _levels(settings_obj)}
    for comp, cl in _levels(settings_obj):
        key = (comp, cl.comparison_vector_value)
        label = cl.label_for_charts
        trained_m = cl._has_estimated_m_values and not cl._fix_m_probability
        if not cl._fix_u_probability and cl._u_probability in (None, LEVEL_NOT_OBSERVED_TEXT):
            cl.u_probability = min(1.0, 1.0 / max(u_pairs, 1))
            notes.append({"comparison": comp, "level": label, "u": "not observed: 1/pairs"})
        u = cl.u_probability
        m = cl.m_probability if trained_m else (priors.get(key) or cl.default_m_probability)
        m = float(m if m is not None else M_FLOOR)
        why = [] if trained_m else ["m not trained: prior"]
        floor = M_FLOOR_BY_COMPARISON.get(comp, M_FLOOR)
        if m < floor:
            m, why = floor, [*why, f"m raised to the floor {floor}"]
        if not trained_m and u:
            w = math.log2(m / u)
            cap = min(
                max(PRIOR_MAX_WEIGHT, trained_max.get(comp, -math.inf)), prev.get(comp, math.inf)
            )
            if last[comp] is cl:  # 'all other comparisons' is never evidence for a match
                cap = min(cap, 0.0)
            if w > cap or w < -PRIOR_MAX_WEIGHT:
                bound = cap if w > cap else -PRIOR_MAX_WEIGHT
                m = min(1.0, u * 2**bound)
                why.append(f"weight capped at {bound:+.1f} bits")
        if u and m and label not in S.HOUSEHOLD_LABELS:  # weak by design: no cap for the rest
            prev[comp] = math.log2(m / u)
        if not cl._fix_m_probability:
            cl.m_probability = m
        if why:
            notes.append(
                {"comparison": comp, "level": label, "m": round(m, 6), "why": "; ".join(why)}
            )
    return notes


PRIOR_SLACK_BITS = 4.0  # predict scores this many bits below the floor (see ``predict``)


def _logit2(p: float) -> float:
    return math.log2(p / (1 - p))


def _probability(weight):
    """Match probability of match weights (numpy), as Splink computes it."""
    import numpy as np

    return 1.0 / (1.0 + np.exp2(-weight))


class LinkageOptions(BaseModel):
    """The ``linkage:`` section of ``place.yaml`` (every key optional).

    Example::

        linkage:
          threshold: auto          # or a match probability, e.g. 0.95
          min_precision: 0.99      # optional: the lowest threshold meeting this
                                   # (default: the highest expected F1 of the clusters)
          max_cluster_size: 30
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float | Literal["auto"] = Field(
        "auto",
        description="match probability at which records are clustered; 'auto' "
        "chooses it from the model's estimated precision and recall",
    )
    min_precision: float | None = Field(
        None,
        gt=0,
        le=1,
        description="if set, 'auto' picks the lowest threshold whose expected pairwise "
        "precision is at least this (max expected F1 if none reaches it); default (null): "
        "the threshold with the highest expected F1 of the clustered pairs",
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
    u_max_pairs: float | None = Field(
        None,
        gt=0,
        description="pairs sampled to estimate u (default: 10 per record, at least 100,000 "
        "or every pair, at most 10 million)",
    )
    em_max_pairs: float = Field(2e6, gt=0, description="pairs per EM training rule (sampled)")
    prior_recall: float = Field(
        0.8,
        gt=0,
        le=1,
        description="assumed recall of the exact "
        "rules used to estimate the prior match probability",
    )
    rule_pair_budget: float | None = Field(
        None,
        gt=0,
        description="a blocking rule is used only if it makes at most this many "
        "pairs per record (counted before predicting); default: log2(records), at least 10",
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
    """The chosen threshold, how it was chosen, and what the model expects there.

    ``expected_*`` are sums over the scored pairs: true links = sum of p at or above the
    threshold, false links = sum of (1 - p) there, missed links = sum of p below it (pairs
    the blocking never made are not counted: see the estimated blocking recall).
    """

    value: float
    method: str
    estimated_precision: float
    estimated_recall: float
    curve: list[dict[str, float]] = field(default_factory=list)
    expected_true_links: float = 0.0
    expected_false_links: float = 0.0
    expected_missed_links: float = 0.0

    def expected(self) -> dict[str, float]:
        return {
            "expected_true_links": round(self.expected_true_links, 1),
            "expected_false_links": round(self.expected_false_links, 1),
            "expected_missed_links": round(self.expected_missed_links, 1),
        }

    def curve_points(self) -> list[dict[str, float]]:
        """The curve where it has pairs, rounded for people to read."""
        keys = (
            "threshold",
            "pairs",
            "est_precision",
            "est_recall",
            "est_f1",
            "est_cluster_precision",
            "est_cluster_f1",
        )
        return [
            {k: (round(c[k], 6) if isinstance(c[k], float) else c[k]) for k in keys if k in c}
            for c in self.curve
            if c["pairs"] > 0
        ]


@dataclass
class Timer:
    """Seconds per phase; ``progress`` (if given) is called with each phase's name as it
    starts, so a command can show where a long run is."""

    phases: dict[str, float] = field(default_factory=dict)
    progress: Any = None

    @contextmanager
    def phase(self, name: str):
        if self.progress is not None:
            self.progress(name.replace("_", " "))
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = round(self.phases.get(name, 0.0) + time.perf_counter() - t0, 3)


def _to_backend(db_api, table: pa.Table, name: str):
    """Register an Arrow table with the Splink backend (Spark wants pandas).

    On Spark the table is checkpointed once registered. A DataFrame made from local data
    is a ``LocalRelation``: its rows sit inside every query plan built on it, and Spark's
    optimiser evaluates projections over them row by row (``ConvertToLocalRelation``) each
    time a query is planned. Splink plans hundreds of queries over its input, so on a
    5,000-resident place that planning took most of three minutes; over a checkpoint the
    plans are small.
    """
    if db_api.sql_dialect.sql_dialect_str == "duckdb":
        return db_api.register(table, table_name=name)
    out = db_api.register(table.to_pandas(), table_name=name)
    db_api.spark.table(out.physical_name).localCheckpoint(eager=True).createOrReplaceTempView(
        out.physical_name
    )
    return out


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
        self._arrow = frame
        self.frame = _to_backend(db_api, frame, "tp_link_frame")
        with self.timer.phase("choose_rules"):
            self.rules, self.rule_selection = self._choose_rules()
            self.household_u, self.household = household_surname_u(frame, self.present)
            self.household_dob_u = None
            if self.household_u is not None:
                self.household_dob_u, self.household["dob"] = household_dob_u(frame, self.present)
        self.settings = S.splink_settings(
            self.present,
            self.rules,
            household_u=self.household_u,
            household_dob_u=self.household_dob_u,
        )
        # Our own settings (tested): Splink's validation of user settings is skipped.
        self.linker = Linker(self.frame, self.settings, log_level=None, validate_settings=False)
        self.training_log: list[dict[str, Any]] = []

    def pair_budget(self) -> float:
        """Pairs one blocking rule may make: ``rule_pair_budget`` per record, or by default
        log2(records) per record (at least 10): the budget grows with the data, since true
        pairs hide in bigger blocks as a place grows; never below ``rule_pair_budget_min``."""
        per_record = self.options.rule_pair_budget
        if per_record is None:
            per_record = max(10.0, math.log2(max(self.n_records, 2)))
        return max(self.options.rule_pair_budget_min, per_record * self.n_records)

    def _count(self, rule: S.NamedRule) -> tuple[int, bool]:
        """(pairs ``rule`` makes, whether estimated): exact by grouping for an equality rule,
        exact by a join up to 200,000 records, else Splink's count (a 10% sample)."""
        if rule is S.EVERY_PAIR:
            return self.n_records * (self.n_records - 1) // 2, False
        if rule.name == "+".join(rule.needs):  # block_on(...): pairs within equal groups
            cols = ", ".join(f'"{c}"' for c in rule.needs)
            nonnull = " AND ".join(f'"{c}" IS NOT NULL' for c in rule.needs)
            n = (
                self._counter()
                .sql(
                    f"SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM "
                    f"(SELECT count(*) AS n FROM f WHERE {nonnull} GROUP BY {cols})"
                )
                .fetchall()[0][0]
            )
            return int(n), False
        if self.n_records <= 200_000:
            sql = rule.rule.get_blocking_rule("duckdb").blocking_rule_sql
            n = (
                self._counter()
                .sql(
                    f"SELECT count(*) FROM f AS l JOIN f AS r ON ({sql}) AND l.unique_id < r.unique_id"
                )
                .fetchall()[0][0]
            )
            return int(n), False
        return _count_pairs(self.frame, rule, self.n_records), True

    def _counter(self) -> duckdb.DuckDBPyConnection:
        """A private DuckDB holding the frame as ``f``, for counting pairs."""
        if getattr(self, "_count_con", None) is None:
            self._count_con = duckdb.connect()
            self._count_con.register("f", self._arrow)
        return self._count_con

    def _choose_rules(self) -> tuple[list[S.NamedRule], list[dict[str, Any]]]:
        """Usable blocking rules whose pair count fits the budget (``pair_budget``)."""
        budget = self.pair_budget()
        kept, report = [], []
        for r in S.blocking_rules(self.present):
            n, estimated = self._count(r)
            ok = n <= budget
            report.append({"rule": r.name, "estimated_pairs": n, "kept": ok, "estimate": estimated})
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
    def u_pairs(self) -> int:
        """Pairs sampled to estimate u: sized to the data unless ``u_max_pairs`` is set."""
        if self.options.u_max_pairs is not None:
            return int(self.options.u_max_pairs)
        n_pairs = self.n_records * (self.n_records - 1) // 2
        return int(min(n_pairs, max(U_PAIRS_MIN, min(U_PAIRS_PER_RECORD * self.n_records, 1e7))))

    def train(self, model_path: Path | None = None) -> dict[str, Any]:
        """Estimate the prior, u (random sampling) and m (EM over each training rule).

        EM runs on each training rule with enough pairs; a session whose estimates are
        degenerate (an exact agreement weighing against a match) is discarded. When no
        session is usable (a place too small or too clean for EM) the prior m values of
        ``settings`` are used and ``training.m_source`` says so. Finally every level's m and
        u are bounded (``bound_parameters``).
        """
        o, tr = self.options, self.linker.training
        priors = _level_m_values(self.linker._settings_obj)
        with self.timer.phase("train_prior"):
            rules = S.prior_rules(self.present)
            if rules:
                try:
                    tr.estimate_probability_two_random_records_match(
                        [r.rule for r in rules], recall=o.prior_recall
                    )
                except Exception as e:  # no pair agrees on any exact rule (tiny data)
                    log.info("prior not estimated: %s", e)
        u_pairs = self.u_pairs()
        with self.timer.phase("train_u"):
            tr.estimate_u_using_random_sampling(
                max_pairs=u_pairs, seed=o.seed, min_count_per_level=None, num_chunks=1
            )
        with self.timer.phase("train_m_em"):
            self._em(S.training_rules(self.present))
            if not any(t["ok"] for t in self.training_log):
                # The preferred rules found nothing to train on: try the generic ones.
                fallback = [
                    r
                    for r in S.fallback_training_rules(self.present)
                    if r.name not in {t["rule"] for t in self.training_log}
                ]
                self._em(fallback)
        trained = any(t["ok"] for t in self.training_log)
        if trained:
            self.household.update(merge_household_m(self.linker._settings_obj))
        self.m_source = "EM" if trained else "prior m values (too few or too clean records for EM)"
        self.parameter_notes = bound_parameters(self.linker._settings_obj, priors, u_pairs)
        if model_path is not None:
            model_path.parent.mkdir(parents=True, exist_ok=True)
            self.linker.misc.save_model_to_json(str(model_path), overwrite=True)
        return {
            "em": self.training_log,
            "m_source": self.m_source,
            "u_pairs": u_pairs,
            "bounded_levels": self.parameter_notes,
            "comparisons": self.comparison_names(),
            "blocking_rules": self.blocking_rule_names(),
            "prior": self.linker._settings_obj._probability_two_random_records_match,
            "household_surname": self.household,
        }

    def _em(self, rules: list[S.NamedRule]) -> None:
        o, tr = self.options, self.linker.training
        for r in rules:
            t0 = time.perf_counter()
            try:
                n, _ = self._count(r)
            except Exception as e:
                self.training_log.append({"rule": r.name, "ok": False, "error": str(e)[:300]})
                continue
            if n < EM_MIN_PAIRS:
                self.training_log.append(
                    {
                        "rule": r.name,
                        "ok": False,
                        "pairs": n,
                        "error": f"only {n} pairs (EM needs at least {EM_MIN_PAIRS})",
                    }
                )
                continue
            try:
                session = tr.estimate_parameters_using_expectation_maximisation(
                    r.rule, estimate_without_term_frequencies=True, max_pairs=o.em_max_pairs
                )
            except Exception as e:  # a rule with no usable pairs is skipped
                self.training_log.append({"rule": r.name, "ok": False, "error": str(e)[:300]})
                continue
            iters = len(getattr(session, "_lambda_history_records", []) or [])
            bad = _degenerate(self.linker._settings_obj, session)
            entry = {
                "rule": r.name,
                "ok": not bad,
                "pairs": n,
                "iterations": iters,
                "seconds": round(time.perf_counter() - t0, 2),
            }
            if bad:
                _discard_session(self.linker, session)
                entry["error"] = "discarded: exact agreement weighed against a match on " + (
                    ", ".join(bad)
                )
            self.training_log.append(entry)

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
        its own; while the two differ by more than 2x, the prior is replaced and the pairs
        rescored (at most ``prior_rounds`` times).
        """
        o = self.options
        total_pairs = self.n_records * (self.n_records - 1) / 2
        self.prior_history = [self.prior]
        with self.timer.phase("predict"):
            # Scored once, a little below the floor; a new prior shifts every match weight by
            # the same number of bits, so the rounds are done on the weights. Only when the
            # prior grows by more than that slack does Splink score again.
            base = self.prior
            scored = self._predict_once(o.pair_floor / 2**PRIOR_SLACK_BITS)
            w = scored.column("match_weight").to_numpy(zero_copy_only=False).astype(float)
            for _ in range(o.prior_rounds):
                p = _probability(w + _logit2(self.prior) - _logit2(base))
                expected = float(p[p >= o.pair_floor].sum())
                implied = (
                    min(max(expected / total_pairs, 1e-12), 0.5) if total_pairs else self.prior
                )
                if 0.5 <= implied / self.prior <= 2:
                    break
                self.linker._settings_obj._probability_two_random_records_match = implied
                self.prior_history.append(implied)
            shift = _logit2(self.prior) - _logit2(base)
            if shift > PRIOR_SLACK_BITS:
                scored = self._predict_once(o.pair_floor)
            else:
                w = w + shift
                p = _probability(w)
                scored = scored.set_column(
                    scored.column_names.index("match_weight"), "match_weight", pa.array(w)
                )
                scored = scored.set_column(
                    scored.column_names.index("match_probability"),
                    "match_probability",
                    pa.array(p),
                ).filter(pa.array(p >= o.pair_floor))
        det = self.deterministic_pairs() if o.deterministic else None
        return scored, det

    @property
    def prior(self) -> float:
        return float(self.linker._settings_obj._probability_two_random_records_match)

    def _predict_once(self, floor: float) -> pa.Table:
        n = self.options.predict_chunks
        kwargs = {"num_chunks_left": n, "num_chunks_right": n} if n > 1 else {}
        pred = self.linker.inference.predict(
            threshold_match_probability=floor, warning_mode="never", **kwargs
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
            det_linker = Linker(self.frame, settings, log_level=None, validate_settings=False)
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
    """Expected pairwise precision, recall and errors at each candidate threshold.

    Precision(t) = mean probability of pairs at or above t (the expected share that are
    true matches); recall(t) = their summed probability over the summed probability of
    every kept pair (the expected true matches the blocking found above the floor).
    """
    values = ", ".join(f"(CAST({c!r} AS DOUBLE))" for c in candidates)
    return f"""
WITH c(t) AS (SELECT DISTINCT * FROM (VALUES {values}) v(t)),
tot AS (SELECT sum(match_probability) AS s FROM {edges})
SELECT c.t AS threshold,
  count(e.match_probability) AS pairs,
  coalesce(avg(e.match_probability), 1.0) AS est_precision,
  coalesce(sum(e.match_probability), 0) / nullif(any_value(tot.s), 0) AS est_recall,
  coalesce(sum(e.match_probability), 0) AS exp_true,
  coalesce(sum(1 - e.match_probability), 0) AS exp_false,
  any_value(tot.s) - coalesce(sum(e.match_probability), 0) AS exp_missed
FROM c CROSS JOIN tot LEFT JOIN {edges} e ON e.match_probability >= c.t
GROUP BY c.t ORDER BY c.t
"""


def candidate_thresholds() -> list[float]:
    """Match weights -2 .. 24 in half bits, as probabilities (distinct, ascending)."""
    out = set()
    for i in range(-4, 49):
        w = i / 2
        out.add(round(2**w / (1 + 2**w), 9))
    return sorted(out)


CLUSTER_CURVE_MAX_EDGES = 20_000_000  # above this the pair curve alone is used


def cluster_curve(edges: pa.Table, thresholds: list[float]) -> dict[float, dict[str, float]]:
    """Expected precision and F1 of the *clustered* pairs at each threshold.

    Clustering joins pairs transitively, so at a low threshold a cluster holds pairs that
    no edge above it supports. For each threshold: connected components of the edges at or
    above it; every pair of records in one component is a predicted link, expected true
    with its scored probability (0 when it was never scored, or scored below the floor).
    Expected true links = that sum; expected false = predicted links - true; expected
    missed = all scored probability - true. Returns {threshold: {est_cluster_precision,
    est_cluster_f1, cluster_pairs}}.
    """
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ids = pa.chunked_array(
        edges.column("unique_id_l").chunks + edges.column("unique_id_r").chunks
    ).dictionary_encode()
    codes = ids.combine_chunks().indices.to_numpy(zero_copy_only=False)
    n_edges = edges.num_rows
    left, right = codes[:n_edges], codes[n_edges:]
    n = len(ids.combine_chunks().dictionary)
    p = np.asarray(edges.column("match_probability").to_numpy(zero_copy_only=False), dtype=float)
    total = float(p.sum())
    out = {}
    for t in thresholds:
        keep = p >= t
        if not keep.any():
            continue
        graph = coo_matrix((np.ones(int(keep.sum())), (left[keep], right[keep])), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        within = labels[left] == labels[right]
        tp = float(p[within].sum())
        sizes = np.bincount(labels).astype(float)
        pairs = float((sizes * (sizes - 1) / 2).sum())
        out[t] = {
            "est_cluster_precision": tp / pairs if pairs else 1.0,
            "est_cluster_f1": 2 * tp / (pairs + total) if pairs + total else 0.0,
            "cluster_pairs": pairs,
        }
    return out


def choose_threshold(con, edges: str, options: LinkageOptions) -> Threshold:
    """The threshold to cluster at: fixed in place.yaml, or chosen from the expected curve.

    By default (``min_precision: null``), or when no threshold reaches ``min_precision``:
    the candidate with the highest expected F1 of the *clustered* pairs (``cluster_curve``:
    clustering joins pairs transitively, so the pairs' own curve overstates precision at low
    thresholds), or of the pairs when there are more than ``CLUSTER_CURVE_MAX_EDGES``
    edges; ties go to the higher threshold. With ``min_precision``: the lowest threshold
    whose expected pairwise precision reaches it.
    """
    curve = con.sql(threshold_curve_sql(edges, candidate_thresholds())).to_arrow_table().to_pylist()
    for c in curve:
        c["est_recall"] = float(c["est_recall"] or 0.0)
        for k in ("exp_true", "exp_false", "exp_missed"):
            c[k] = float(c[k] or 0.0)
        tp, fp, fn = c["exp_true"], c["exp_false"], c["exp_missed"]
        c["est_f1"] = 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)

    def result(c: dict, value: float, method: str) -> Threshold:
        return Threshold(
            value,
            method,
            c["est_precision"],
            c["est_recall"],
            curve,
            c["exp_true"],
            c["exp_false"],
            c["exp_missed"],
        )

    if options.threshold != "auto":
        t = float(options.threshold)
        at = min(curve, key=lambda c: abs(c["threshold"] - t))
        return result(at, t, "fixed in place.yaml")
    if options.min_precision is not None:
        ok = [c for c in curve if c["est_precision"] >= options.min_precision and c["pairs"] > 0]
        if ok:
            best = min(ok, key=lambda c: c["threshold"])
            return result(
                best,
                best["threshold"],
                f"lowest with expected precision >= {options.min_precision}",
            )
    n_edges = con.sql(f"SELECT count(*) FROM {edges}").fetchall()[0][0]
    if 0 < n_edges <= CLUSTER_CURVE_MAX_EDGES:
        table = con.sql(
            f"SELECT unique_id_l, unique_id_r, match_probability FROM {edges}"
        ).to_arrow_table()
        # Whole bits first, then the half bits either side of the best of them.
        ts = [c["threshold"] for c in curve if c["pairs"] > 0]
        by_t = cluster_curve(table, ts[::2])
        if by_t:
            top = ts.index(max(by_t, key=lambda t: (round(by_t[t]["est_cluster_f1"], 9), t)))
            by_t.update(cluster_curve(table, [t for t in ts[max(top - 1, 0) : top + 2]]))
        for c in curve:
            c.update(by_t.get(c["threshold"], {}))
        with_cc = [c for c in curve if "est_cluster_f1" in c]
        if with_cc:
            best = max(with_cc, key=lambda c: (round(c["est_cluster_f1"], 9), c["threshold"]))
            return result(best, best["threshold"], "maximum expected F1")
    best = max(curve, key=lambda c: (round(c["est_f1"], 9), c["threshold"]))
    return result(
        best,
        best["threshold"],
        "maximum expected F1 of the pairs (too many edges to cluster at each threshold)",
    )


def match_weight(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log2(p / (1 - p))
