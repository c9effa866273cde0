"""Needs from latent factors: probit thresholds calibrated to ``data/prevalence.csv``.

Each need has a liability ``loading * latent + smd_loading * complex + noise`` that is a
standard normal for every person, and the threshold is the ``1 - p`` quantile of the
liability among the eligible age band and sex, so exactly a share ``p`` of them has the
need. Because liabilities share the latent disadvantage score (area + household + person)
and, for the Hard Edges needs, a second "complex needs" factor, needs cluster:
P(homeless | drug use) is many times P(homeless).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa


def need_flags(
    prevalence: pa.Table,
    needs: tuple[str, ...],
    age: np.ndarray,
    sex: np.ndarray,
    latent: np.ndarray,
    complex_factor: np.ndarray,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Boolean flag and liability per need for every person.

    ``looked_after`` uses the same liability as ``child_in_need`` with a higher threshold, so
    every looked-after child is also a child in need (as in the DfE statistics).
    """
    n = len(age)
    rows = prevalence.to_pylist()
    known = {r["need"] for r in rows}
    missing = [k for k in needs if k not in known]
    if missing:
        raise ValueError(
            f"data/prevalence.csv has no rows for needs {missing}; it has {sorted(known)}"
        )
    flags: dict[str, np.ndarray] = {}
    liabilities: dict[str, np.ndarray] = {}
    for need in needs:
        need_rows = [r for r in rows if r["need"] == need]
        a, b = float(need_rows[0]["loading"]), float(need_rows[0]["smd_loading"] or 0.0)
        if a * a + b * b >= 1:
            raise ValueError(f"prevalence.csv: {need}: loading^2 + smd_loading^2 must be < 1")
        if need == "looked_after":
            liab = liabilities["child_in_need"]
        else:
            liab = (
                a * latent
                + b * complex_factor
                + np.sqrt(1 - a * a - b * b) * rng.standard_normal(n)
            )
        flag = np.zeros(n, dtype=bool)
        for r in need_rows:
            eligible = (age >= r["age_min"]) & (age <= r["age_max"])
            if r["sex"]:
                eligible &= sex == r["sex"]
            # Calibrate on the eligible people themselves, so the realised prevalence matches the
            # published one even though liabilities are correlated within households and areas.
            if eligible.any():
                flag |= eligible & (liab > np.quantile(liab[eligible], 1 - float(r["prevalence"])))
        flags[need], liabilities[need] = flag, liab
    return flags, liabilities


def need_spells(
    flags: dict[str, np.ndarray],
    episode_days: dict[str, float | None],
    already_started: float,
    dob_days: np.ndarray,
    start: dt.date,
    end: dt.date,
    rng: np.random.Generator,
) -> pa.Table:
    """The truth ``needs`` table: person_id, need, from, to (null = still open at the end).

    Episodic needs start before the period (share ``already_started``) or within it and last
    an exponential time with the need's mean; children's needs end by their 18th birthday
    (so some looked-after children leave care at 18 within the period). Lifelong needs run
    from birth (learning disability) or a past onset and never end.
    """
    s0 = (start - dt.date(1970, 1, 1)).days
    s1 = (end - dt.date(1970, 1, 1)).days
    parts = []
    for need, flag in flags.items():
        pid = np.flatnonzero(flag).astype(np.int64)
        k = len(pid)
        mean = episode_days[need]
        if mean is None:
            if need == "learning_disability":
                frm = dob_days[pid]
            else:  # onset years ago for most, within the period for a few
                frm = np.where(
                    rng.random(k) < 0.85, s0 - rng.integers(30, 3650, k), rng.integers(s0, s1, k)
                )
                frm = np.maximum(frm, dob_days[pid])
            to = np.full(k, -1, dtype=np.int64)
        else:
            pre = rng.random(k) < already_started
            frm = np.where(pre, s0 - rng.integers(1, 730, k), rng.integers(s0, s1 - 14, k))
            frm = np.maximum(frm, dob_days[pid])
            to = frm + np.ceil(rng.exponential(mean, k)).astype(np.int64) + 7
            # It had to be open at some time in the period.
            to = np.where(to < s0 + 14, s0 + rng.integers(14, 365, k), to)
            if need in ("child_in_need", "looked_after"):
                eighteenth = dob_days[pid] + int(18 * 365.25)
                to = np.minimum(to, eighteenth - 1)
                frm = np.minimum(frm, to - 1)
            to = np.where(to > s1, -1, to)
        parts.append((pid, np.full(k, need), frm, to))
    pid = np.concatenate([p[0] for p in parts])
    need = np.concatenate([p[1] for p in parts])
    frm = np.concatenate([p[2] for p in parts])
    to = np.concatenate([p[3] for p in parts])
    order = np.lexsort((need, pid))
    to_o = to[order]
    return pa.table(
        {
            "person_id": pa.array(pid[order]),
            "need": pa.array(need[order]),
            "from": pa.array(frm[order].astype("int32")).cast(pa.date32()),
            "to": pa.array(to_o.astype("int32"), mask=to_o < 0).cast(pa.date32()),
        }
    )
