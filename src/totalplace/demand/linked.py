"""What the linked data says about demand, whatever the text says.

- ``contacts_sql``: the contacts (events with reason text) with each one's person.
- ``prior_contacts``: for each contact, the previous contact of the same person about the
  same service (and agency), and the days since it.
- ``Stacker``: learns from the staff-labelled sample how far to trust the text against
  the repeat signal (a logistic regression on the text's out-of-fold P(failure) and the
  repeat within the window), and decides each contact's demand type.
- ``follows``: each failure contact's ``follows_event_id``: the latest earlier value contact
  of the same person and service within the window, else the latest earlier contact.
- ``structural_sql`` / ``structural_repeats``: A&E re-attendance, emergency readmission,
  repeat police incidents and homelessness applications, each tied to what it follows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from totalplace.demand.settings import StructuralRepeat

KEY = ["person_id", "agency", "service"]


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def contacts_sql(agencies: list[str] | None, linked: bool = True, require_text: bool = True) -> str:
    """Contacts (events with reason text) and their person (NULL when not linked, or when
    the place has no ``person_links``: casework without people, where each case is a chain)."""
    where = "e.reason_text IS NOT NULL" if require_text else "TRUE"
    if agencies:
        where += f" AND e.agency IN ({', '.join(_quote(a) for a in agencies)})"
    join = (
        "LEFT JOIN person_links l ON l.agency = e.agency "
        "AND l.source_id = CAST(e.source_id AS VARCHAR)"
        if linked
        else ""
    )
    person = "l.person_id" if linked else "CAST(NULL AS VARCHAR) AS person_id"
    return f"""
SELECT e.agency, e.event_id, {person}, e.service, e.channel, e.outcome,
  e.start_at, e.end_at, e.reason_text
FROM events e
{join}
WHERE {where}
"""


def structural_sql(kinds: list[StructuralRepeat]) -> str | None:
    """The events any structural kind looks at (its repeats and what they follow)."""
    parts = []
    for k in kinds:
        pats = {k.activity, *(k.previous or [k.activity])}
        act = " OR ".join(f"lower(e.activity) LIKE lower({_quote(p)})" for p in sorted(pats))
        svc = f" AND lower(e.service) LIKE lower({_quote(k.service)})" if k.service else ""
        parts.append(f"(e.agency = {_quote(k.agency)} AND ({act}){svc})")
    if not parts:
        return None
    return f"""
SELECT e.agency, e.event_id, l.person_id, e.service, e.activity, e.start_at, e.end_at
FROM events e
JOIN person_links l ON l.agency = e.agency AND l.source_id = CAST(e.source_id AS VARCHAR)
WHERE {" OR ".join(parts)}
"""


def _days(a: pd.Series, b: pd.Series) -> pd.Series:
    return (a - b).dt.total_seconds() / 86400.0


def prior_contacts(c: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """Add prev_event_id, days_since_prev and repeat (within the window) to contacts."""
    c = c.sort_values(["start_at", "event_id"], kind="stable").reset_index(drop=True)
    linked = c["person_id"].notna()
    g = c[linked].groupby(KEY, sort=False)
    c["prev_event_id"] = None
    c.loc[linked, "prev_event_id"] = g["event_id"].shift()
    prev_at = pd.Series(pd.NaT, index=c.index, dtype=c["start_at"].dtype)
    prev_at[linked] = g["start_at"].shift()
    c["days_since_prev"] = _days(c["start_at"], prev_at)
    c["repeat"] = (c["days_since_prev"] <= window_days).fillna(False).astype(bool)
    return c


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


@dataclass
class Stacker:
    """P(failure) from the text's P(failure) and whether the contact repeats an earlier one."""

    coef: np.ndarray | None = None
    intercept: float = 0.0
    fallback_trust: float = 0.8  # without a sample: a repeat overrides text below this

    @staticmethod
    def _x(p_text: np.ndarray, repeat: np.ndarray) -> np.ndarray:
        lt = _logit(np.asarray(p_text, float))
        r = np.asarray(repeat, float)
        return np.column_stack([lt, r, lt * r])

    @classmethod
    def fit(cls, p_text, repeat, labels) -> Stacker:
        from sklearn.linear_model import LogisticRegression

        y = (np.asarray(labels) == "failure").astype(int)
        if len(set(y)) < 2 or len(y) < 30:
            return cls()
        lr = LogisticRegression(C=1.0, max_iter=1000).fit(cls._x(p_text, repeat), y)
        return cls(lr.coef_[0], float(lr.intercept_[0]))

    def p_failure(self, p_text, repeat) -> np.ndarray:
        p_text = np.asarray(p_text, float)
        repeat = np.asarray(repeat, bool)
        if self.coef is None:
            conf = np.maximum(p_text, 1 - p_text)
            flip = repeat & (p_text < 0.5) & (conf < self.fallback_trust)
            return np.where(flip, 0.5 + (1 - conf) / 2 + 0.01, p_text)
        z = self._x(p_text, repeat) @ self.coef + self.intercept
        return 1 / (1 + np.exp(-z))

    def describe(self) -> dict:
        if self.coef is None:
            return {"kind": "fallback", "trust_below": self.fallback_trust}
        return {
            "kind": "logistic",
            "coef_text_logit": round(float(self.coef[0]), 4),
            "coef_repeat": round(float(self.coef[1]), 4),
            "coef_interaction": round(float(self.coef[2]), 4),
            "intercept": round(self.intercept, 4),
        }


def decide(c: pd.DataFrame, stacker: Stacker) -> pd.DataFrame:
    """Final demand type per contact; ``method`` 'linked' where the repeat changed it."""
    known = c["text_type"] != "unknown"
    p = stacker.p_failure(c["p_failure_text"].to_numpy(), c["repeat"].to_numpy())
    final = np.where(p >= 0.5, "failure", "value")
    final = np.where(known | c["repeat"].to_numpy(), final, "unknown")
    changed = (final != c["text_type"].to_numpy()) & (final != "unknown")
    c["demand_type"] = final
    c["confidence"] = np.round(np.where(final == "failure", p, 1 - p), 4)
    c.loc[~known & ~c["repeat"], "confidence"] = 0.0
    cat = c["text_category"].to_numpy(dtype=object).copy()
    to_fail = changed & (final == "failure")
    to_value = changed & (final == "value")
    cf = c["category_if_failure"].to_numpy(dtype=object)
    cv = c["category_if_value"].to_numpy(dtype=object)
    cat[to_fail] = np.where(pd.isna(cf[to_fail]), "repeat contact", cf[to_fail])
    cat[to_value] = cv[to_value]
    # A repeat the text could not place is a repeat contact.
    cat[(final == "failure") & pd.isna(cat)] = "repeat contact"
    c["category"] = cat
    c["method"] = np.where(changed, "linked", c["text_method"].to_numpy())
    return c


def follows(c: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """``follows_event_id`` of each failure contact (None for value demand)."""
    c = c.sort_values(["start_at", "event_id"], kind="stable").reset_index(drop=True)
    c["follows_event_id"] = None
    fail = (c["demand_type"] == "failure") & c["person_id"].notna()
    val = c[(c["demand_type"] == "value") & c["person_id"].notna()][
        [*KEY, "start_at", "event_id"]
    ].rename(columns={"event_id": "value_event_id", "start_at": "value_at"})
    f = c[fail][[*KEY, "start_at", "event_id"]].reset_index()
    if len(f) and len(val):
        m = pd.merge_asof(
            f.sort_values("start_at"),
            val.sort_values("value_at"),
            left_on="start_at",
            right_on="value_at",
            by=KEY,
            allow_exact_matches=False,
            direction="backward",
        ).set_index("index")
        ok = _days(m["start_at"], m["value_at"]) <= window_days
        c.loc[m.index[ok.to_numpy()], "follows_event_id"] = m.loc[ok, "value_event_id"].to_numpy()
    # No earlier value contact in the window: the previous contact, if it is in the window.
    rest = fail & c["follows_event_id"].isna() & c["repeat"]
    c.loc[rest, "follows_event_id"] = c.loc[rest, "prev_event_id"]
    return c


def chains(c: pd.DataFrame) -> pd.DataFrame:
    """One row per chain: a first contact and every contact that follows it (transitively)."""
    c = c.reset_index(drop=True)
    pos = pd.Index(c["event_id"]).get_indexer(
        c["follows_event_id"].where(c["follows_event_id"].notna(), None)
    )
    parent = np.where(pos >= 0, pos, np.arange(len(c)))
    # Pointer jumping: every contact's parent becomes its parent's parent until all are roots.
    for _ in range(64):
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    c = c.assign(chain_id=c["event_id"].to_numpy(dtype=object)[parent])
    c["closed_at"] = c["end_at"].where(c["end_at"] > c["start_at"], c["start_at"])
    first = c.sort_values("start_at").drop_duplicates("chain_id")
    c["is_failure"] = (c["demand_type"] == "failure").astype("int64")
    agg = c.groupby("chain_id").agg(
        last_contact_at=("start_at", "max"),
        closed_at=("closed_at", "max"),
        contacts=("event_id", "size"),
        failure_contacts=("is_failure", "sum"),
    )
    out = first.set_index("chain_id")[
        ["agency", "person_id", "service", "channel", "outcome", "start_at"]
    ].join(agg)
    out = out.rename(columns={"start_at": "first_contact_at", "outcome": "first_outcome"})
    end = out[["last_contact_at", "closed_at"]].max(axis=1)
    out["end_to_end_days"] = np.round(_days(end, out["first_contact_at"]), 3)
    return out.reset_index()


def structural_repeats(ev: pd.DataFrame, kinds: list[StructuralRepeat]) -> pd.DataFrame:
    """Each event of each kind: failure if it repeats within the window, with what it follows."""
    out = []
    for k in kinds:

        def like(col: pd.Series, pat: str) -> pd.Series:
            rx = (
                "^"
                + "".join(".*" if ch == "%" else "." if ch == "_" else _re_escape(ch) for ch in pat)
                + "$"
            )
            return col.fillna("").str.match(rx, case=False)

        mine = ev[ev["agency"] == k.agency]
        if k.service:
            mine = mine[like(mine["service"], k.service)]
        is_rep = like(mine["activity"], k.activity)
        is_prev = np.zeros(len(mine), bool)
        for pat in k.previous or [k.activity]:
            is_prev |= like(mine["activity"], pat).to_numpy()
        cur = mine[is_rep][["agency", "event_id", "person_id", "start_at"]].copy()
        prev = mine[is_prev][["person_id", "event_id", "start_at", "end_at"]].copy()
        prev["ref_at"] = prev["end_at"] if k.measure_from == "end" else prev["start_at"]
        prev["ref_at"] = prev["ref_at"].fillna(prev["start_at"])
        prev = prev.rename(columns={"event_id": "prev_event_id", "start_at": "prev_start"})
        if cur.empty:
            continue
        m = pd.merge_asof(
            cur.sort_values("start_at"),
            prev.sort_values("prev_start")[["person_id", "prev_event_id", "prev_start", "ref_at"]],
            left_on="start_at",
            right_on="prev_start",
            by="person_id",
            allow_exact_matches=False,
            direction="backward",
        )
        gap = _days(m["start_at"], m["ref_at"])
        rep = (gap >= 0) & (gap <= k.window_days)
        out.append(
            pd.DataFrame(
                {
                    "agency": m["agency"],
                    "event_id": m["event_id"],
                    "person_id": m["person_id"],
                    "demand_type": np.where(rep, "failure", "value"),
                    "category": np.where(rep, k.name, "first of its kind"),
                    "confidence": 1.0,
                    "method": "linked",
                    "follows_event_id": m["prev_event_id"].where(rep, None),
                    "kind": k.name,
                    "start_at": m["start_at"],
                }
            )
        )
    if not out:
        return pd.DataFrame(
            columns=[
                "agency",
                "event_id",
                "person_id",
                "demand_type",
                "category",
                "confidence",
                "method",
                "follows_event_id",
                "kind",
                "start_at",
            ]
        )
    res = pd.concat(out, ignore_index=True)
    # An event two kinds look at appears once: as failure if either kind says so.
    res = res.sort_values("demand_type").drop_duplicates(["agency", "event_id"])
    return res.reset_index(drop=True)


def _re_escape(ch: str) -> str:
    import re

    return re.escape(ch)
