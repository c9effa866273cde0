"""Comparison groups for a cohort: the same definition at another index date, propensity
matching (scikit-learn), or exact matching on coarsened baseline measures; and balance.

Import them from ``totalplace.people.cohorts`` (re-exported there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from totalplace.people.cohorts import (
    BASELINE,
    CohortSpec,
    _date,
    _engine_and_period,
    default_index_date,
    everyone,
    select_cohort,
)


# --- comparison groups --------------------------------------------------------------------
def comparison_group(
    source,
    spec: CohortSpec,
    index_date: str | dt.date | None = None,
    method: Literal["other_index_date", "matched", "coarsened"] = "matched",
    *,
    members: pa.Table | None = None,
    other_index_date: str | dt.date | None = None,
    match_on: tuple[str, ...] = BASELINE,
    exact_on: tuple[str, ...] = ("is_female",),
    ratio: int = 1,
    caliper: float = 0.2,
    seed: int = 0,
    tables: dict[str, str] | None = None,
) -> pa.Table:
    """A comparison group for the cohort ``spec`` at ``index_date``.

    * ``other_index_date``: people who met the same definition at another index date
      (default a year earlier, or a year later when there is not a year of data before),
      leaving out the cohort's members: the same selection, without the intervention.
    * ``matched``: propensity-score matching (scikit-learn ``LogisticRegression`` on the
      standardised ``match_on`` baseline measures), nearest neighbour on the logit without
      replacement within ``caliper`` standard deviations, exactly on ``exact_on``; ``ratio``
      comparators per member.
    * ``coarsened``: exact matching on coarsened measures (age in 10-year bands, needs capped
      at 3, events and cost in bands), comparators drawn with a fixed ``seed``.

    Returns the comparators' baseline rows plus ``matched_to`` (the member's person_id, NULL
    for ``other_index_date``) and ``propensity`` (NULL unless ``matched``). Deterministic.
    """
    source = _engine_and_period(source, tables)
    period = source.period
    idx = _date(index_date) or default_index_date(spec, period)
    if members is None:
        members = select_cohort(source, spec, idx)
    member_ids = set(members.column("person_id").to_pylist())
    if method == "other_index_date":
        other = _date(other_index_date) or default_other_index_date(spec, idx, period)
        t = select_cohort(source, spec, other)
        t = t.filter(pc.invert(pc.is_in(t.column("person_id"), members.column("person_id"))))
        return t.append_column("matched_to", pa.nulls(t.num_rows, pa.string())).append_column(
            "propensity", pa.nulls(t.num_rows, pa.float64())
        )
    pool = everyone(source, spec, idx)
    pool_ids = pool.column("person_id").to_pylist()
    # Candidates: not members, and within the spec's age range (an age-defined cohort is
    # compared with people of the same ages).
    ok = np.array([pid not in member_ids for pid in pool_ids])
    age = np.array([np.nan if a is None else a for a in pool.column("age").to_pylist()], float)
    if spec.age and spec.age.min is not None:
        ok &= age >= spec.age.min
    if spec.age and spec.age.max is not None:
        ok &= age <= spec.age.max
    is_member = np.array([pid in member_ids for pid in pool_ids])
    X = np.column_stack([_num(pool, c) for c in match_on])
    good = ~np.isnan(X).any(axis=1)
    cand = np.flatnonzero(ok & good)
    mem = np.flatnonzero(is_member & good)
    if method == "matched":
        chosen, score = _propensity_match(X, mem, cand, pool, exact_on, ratio, caliper, seed)
    elif method == "coarsened":
        chosen, score = _coarsened_match(X, match_on, mem, cand, pool, exact_on, ratio, seed)
    else:
        raise ValueError(
            f"method must be one of: 'other_index_date', 'matched', 'coarsened'; found {method!r}"
        )
    rows = np.array([c for c, _ in chosen], dtype=np.int64)
    out = pool.take(pa.array(rows)) if len(rows) else pool.slice(0, 0)
    out = out.append_column("matched_to", pa.array([pool_ids[m] for _, m in chosen], pa.string()))
    return out.append_column("propensity", pa.array(score, pa.float64()))


def default_other_index_date(
    spec: CohortSpec, index_date: dt.date, period: tuple[dt.date, dt.date]
) -> dt.date:
    """A year before ``index_date`` when there is a whole lookback of data before that, else
    a year after (the ``other_index_date`` comparison's default)."""
    earlier = index_date - dt.timedelta(days=365)
    if earlier - dt.timedelta(days=spec.lookback_days) >= period[0]:
        return earlier
    return index_date + dt.timedelta(days=365)


def _num(t: pa.Table, col: str) -> np.ndarray:
    return np.array(
        [np.nan if v is None else float(v) for v in t.column(col).to_pylist()], dtype=float
    )


def _propensity_match(X, mem, cand, pool, exact_on, ratio, caliper, seed):
    from sklearn.linear_model import LogisticRegression

    if len(mem) == 0 or len(cand) == 0:
        return [], []
    idx = np.r_[mem, cand]
    y = np.r_[np.ones(len(mem)), np.zeros(len(cand))]
    Z = X[idx]
    mu, sd = Z.mean(0), Z.std(0)
    sd[sd == 0] = 1
    model = LogisticRegression(max_iter=1000, C=1.0, random_state=seed)
    model.fit((Z - mu) / sd, y)
    ps = np.full(len(X), 0.5)
    valid = ~np.isnan(X).any(axis=1)
    ps[valid] = np.clip(model.predict_proba((X[valid] - mu) / sd)[:, 1], 1e-9, 1 - 1e-9)
    logit = np.log(ps / (1 - ps))
    width = caliper * float(np.std(logit[idx]))
    exact = _exact_keys(pool, exact_on)
    used = np.zeros(len(logit), bool)
    chosen, score = [], []
    # Members in a fixed order (hardest to match first: highest propensity), ties by id.
    ids = pool.column("person_id").to_pylist()
    rank = np.empty(len(ids), np.int64)
    rank[np.argsort(np.array(ids, dtype=object), kind="stable")] = np.arange(len(ids))
    order = sorted(mem.tolist(), key=lambda i: (-logit[i], ids[i]))
    by_key: dict[Any, np.ndarray] = {}
    for k in set(exact[cand]):
        by_key[k] = cand[exact[cand] == k]
    for m in order:
        options = by_key.get(exact[m], np.zeros(0, np.int64))
        for _ in range(ratio):
            free = options[~used[options]]
            if len(free) == 0:
                break
            dist = np.abs(logit[free] - logit[m])
            best = free[np.lexsort((rank[free], dist))[0]]
            if abs(logit[best] - logit[m]) > width:
                break
            used[best] = True
            chosen.append((int(best), int(m)))
            score.append(float(ps[best]))
    return chosen, score


def _exact_keys(pool: pa.Table, cols: tuple[str, ...]) -> np.ndarray:
    if not cols:
        return np.zeros(pool.num_rows, dtype=object)
    parts = [pool.column(c).to_pylist() for c in cols]
    return (
        np.array([tuple(p) for p in zip(*parts, strict=True)] or [], dtype=object).reshape(-1)
        if len(cols) > 1
        else np.array(parts[0], dtype=object)
    )


def _coarsen(col: str, v: np.ndarray) -> np.ndarray:
    if col == "age":
        return np.floor(v / 10)
    if col == "n_needs":
        return np.minimum(v, 3)
    if col in ("events_before", "agencies_before"):
        return np.digitize(v, [1, 2, 4, 8, 16])
    if col == "cost_before":
        return np.digitize(v, [1, 100, 500, 2000, 10000, 50000])
    return v


def _coarsened_match(X, match_on, mem, cand, pool, exact_on, ratio, seed):
    C = np.column_stack([_coarsen(c, X[:, i]) for i, c in enumerate(match_on)])
    exact = _exact_keys(pool, exact_on)
    key = [tuple(C[i]) + (exact[i],) for i in range(len(C))]
    ids = pool.column("person_id").to_pylist()
    rng = np.random.default_rng(seed)
    strata: dict[Any, list[int]] = {}
    for i in sorted(cand.tolist(), key=lambda i: ids[i]):
        strata.setdefault(key[i], []).append(i)
    for k in strata:
        rng.shuffle(strata[k])
    chosen = []
    for m in sorted(mem.tolist(), key=lambda i: ids[i]):
        s = strata.get(key[m], [])
        for _ in range(ratio):
            if not s:
                break
            chosen.append((s.pop(), m))
    return chosen, [None] * len(chosen)


def balance(
    members: pa.Table,
    comparison: pa.Table,
    cols: tuple[str, ...] = BASELINE,
    matched_only: bool = True,
) -> dict:
    """Standardised mean differences of baseline measures (|SMD| < 0.1 is usually 'balanced').

    With ``matched_only`` (and a comparison that says whom it matched), members nobody was
    matched to are left out: the comparison speaks for the matched members only.
    """
    if matched_only and "matched_to" in comparison.column_names:
        to = {x for x in comparison.column("matched_to").to_pylist() if x is not None}
        if to:
            members = members.filter(
                pa.array([pid in to for pid in members.column("person_id").to_pylist()], pa.bool_())
            )
    out = {}
    for c in cols:
        a, b = _num(members, c), _num(comparison, c)
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if len(a) == 0 or len(b) == 0:
            out[c] = None
            continue
        sd = np.sqrt((a.var() + b.var()) / 2) or 1.0
        out[c] = float((a.mean() - b.mean()) / sd)
    return out
