"""``Demand``: the place stage. Classify contacts, link repeats, build chains and weekly charts.

Tables published in one atomic swap:

- ``demand``: one row per contact (and per event a structural kind looks at): agency,
  event_id, person_id, demand_type, category, confidence, method ('rules', 'model',
  'linked', 'none'), follows_event_id, and service, channel, start_at, source ('contact'
  or the structural kind), outcome_class ('resolved', 'handoff', 'other'), after_handoff.
- ``demand_chains``: one row per chain of contacts (a first contact and every contact that
  follows it): chain_id (the first contact's event_id), agency, person_id, service,
  channel, first_outcome, first_contact_at, last_contact_at, closed_at, contacts,
  failure_contacts, end_to_end_days.
- ``demand_weekly``: agency, service, channel ('All services' / 'All channels' for the
  totals), week, measure ('failure_share' or 'end_to_end_median_days'), value, n, and the
  XmR columns of ``totalplace.spc.xmr_table``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from totalplace.demand.files import default_model, read_table, require_columns
from totalplace.demand.linked import (
    Stacker,
    chains,
    contacts_sql,
    decide,
    follows,
    prior_contacts,
    structural_repeats,
    structural_sql,
)
from totalplace.demand.model import TextModel, load_model, train_model
from totalplace.demand.rules import load_rules
from totalplace.demand.settings import DemandSettings, demand_settings
from totalplace.place import StageResult

ALL_SERVICES = "All services"
ALL_CHANNELS = "All channels"
DEMAND_COLUMNS = [
    "agency",
    "event_id",
    "person_id",
    "demand_type",
    "category",
    "confidence",
    "method",
    "follows_event_id",
    "service",
    "channel",
    "start_at",
    "source",
    "outcome_class",
    "after_handoff",
]


def _like(s: pd.Series, pat: str) -> pd.Series:
    import re

    rx = "^" + "".join(".*" if ch == "%" else re.escape(ch) for ch in pat) + "$"
    return s.fillna("").str.match(rx, case=False)


def weekly_table(c: pd.DataFrame, ch: pd.DataFrame) -> pa.Table:
    """Weekly failure-demand share and median end-to-end days, with XmR limits and signals."""
    from totalplace.spc import xmr_table

    c = c.assign(
        week=c["start_at"].dt.to_period("W-SUN").dt.start_time.dt.date,
        is_failure=(c["demand_type"] == "failure").astype("int64"),
    )
    ch = ch.assign(week=ch["first_contact_at"].dt.to_period("W-SUN").dt.start_time.dt.date)
    frames = []
    for svc, chn in ((False, False), (True, False), (False, True)):
        keys = ["agency", "week"] + (["service"] if svc else []) + (["channel"] if chn else [])
        f = c.groupby(keys, dropna=False).agg(n=("event_id", "size"), failure=("is_failure", "sum"))
        f = f.reset_index()
        f["value"] = f["failure"] / f["n"]
        f["measure"] = "failure_share"
        e = (
            ch.groupby(keys, dropna=False)
            .agg(n=("chain_id", "size"), value=("end_to_end_days", "median"))
            .reset_index()
        )
        e["measure"] = "end_to_end_median_days"
        for x in (f, e):
            if not svc:
                x["service"] = ALL_SERVICES
            if not chn:
                x["channel"] = ALL_CHANNELS
            frames.append(x[["agency", "service", "channel", "week", "measure", "value", "n"]])
    w = pd.concat(frames, ignore_index=True)
    w["service"] = w["service"].fillna("(none)")
    w["channel"] = w["channel"].fillna("(none)")
    w["value"] = w["value"].astype(float).round(6)
    w["n"] = w["n"].astype("int64")
    t = pa.Table.from_pandas(w, preserve_index=False)
    return xmr_table(t, ["agency", "service", "channel", "measure"], "week", "value")


def _sample_ids(place, s: DemandSettings, lab: pa.Table) -> list | None:
    if not (s.labels and s.labels.id_col) or s.labels.id_col not in lab.column_names:
        return None
    return lab[s.labels.id_col].to_pylist()


class Demand:
    """The demand stage of one place: ``place.demand.run()``."""

    def __init__(self, place):
        self.place = place

    @property
    def settings(self) -> DemandSettings:
        m = self.place.manifest
        return demand_settings(m.demand, str(m.root / "place.yaml"))

    def _path(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else self.place.root / q

    def model(self) -> tuple[TextModel, dict[str, Any], pa.Table | None]:
        """The text model: from ``demand.model``, trained on ``demand.labels``, or the default."""
        s = self.settings
        rules = load_rules(self._path(s.rules) if s.rules else None)
        if s.model:
            return load_model(self._path(s.model), rules), {"model": s.model}, None
        if s.labels:
            path = self._path(s.labels.path)
            lab = read_table(path)
            lc = s.labels
            require_columns(
                lab,
                path,
                text_col=lc.text_col,
                label_col=lc.label_col,
                category_col=lc.category_col,
            )
            keep = [i for i, v in enumerate(lab[lc.label_col].to_pylist()) if v]
            lab = lab.take(keep)
            m = train_model(
                lab[lc.text_col].to_pylist(),
                lab[lc.label_col].to_pylist(),
                lab[lc.category_col].to_pylist() if lc.category_col else None,
                rules=rules,
            )
            return m, {"labels": lc.path, "labelled": lab.num_rows}, lab
        base = default_model()
        if s.rules:
            base = TextModel(base.pipeline, base.type_of, base.has_categories, rules, base.method)
        return base, {"model": "built-in"}, None

    def run(self, **options) -> StageResult:
        place, store = self.place, self.place.store
        s = self.settings
        store.require("events")
        linked = store.engine.has_table("person_links")
        timings: dict[str, float] = {}
        inputs = [self._path(s.labels.path)] if s.labels else []
        with store.stage_run("demand", inputs=inputs) as run:
            t = time.perf_counter()
            model, source, lab = self.model()
            timings["model"] = round(time.perf_counter() - t, 2)

            t = time.perf_counter()
            c = store.engine.query(
                contacts_sql(s.contacts.agencies, linked, s.contacts.require_text)
            ).to_pandas()
            r = model.classify(c["reason_text"].tolist(), s.method)
            c["text_type"] = r["demand_type"]
            c["text_category"] = r["category"]
            c["text_method"] = r["method"]
            c["p_failure_text"] = r["p_failure"]
            c["category_if_failure"] = r["category_if_failure"]
            c["category_if_value"] = r["category_if_value"]
            timings["classify"] = round(time.perf_counter() - t, 2)

            t = time.perf_counter()
            c = prior_contacts(c, s.repeat_window_days)
            stacker = Stacker()
            ids = _sample_ids(place, s, lab) if lab is not None else None
            if ids is not None and model.oof_p_failure is not None:
                lc = s.labels
                rep = dict(
                    zip(
                        c["agency"] + "|" + c["event_id"].astype(str),
                        c["repeat"],
                        strict=True,
                    )
                )
                agency = lc.agency
                keys = [f"{agency}|{i}" if agency else None for i in ids]
                have = [k in rep for k in keys]
                if sum(have) >= 30:
                    idx = np.flatnonzero(have)
                    stacker = Stacker.fit(
                        model.oof_p_failure[idx],
                        [rep[keys[i]] for i in idx],
                        [str(lab[lc.label_col][int(i)]).strip().lower() for i in idx],
                    )
            c = decide(c, stacker)
            c = follows(c, s.follow_window_days)
            ch = chains(c)
            timings["linked"] = round(time.perf_counter() - t, 2)

            t = time.perf_counter()
            handoff = _like(c["outcome"], s.front_door.handoff)
            resolved = _like(c["outcome"], s.front_door.resolved)
            c["outcome_class"] = np.where(
                handoff, "handoff", np.where(resolved, "resolved", "other")
            )
            handed = set(c.loc[handoff, "event_id"])
            c["after_handoff"] = c["follows_event_id"].isin(handed) & (
                c["demand_type"] == "failure"
            )
            c["source"] = "contact"
            ev = None
            sq = structural_sql(s.structural) if linked else None
            if sq:
                ev = store.engine.query(sq).to_pandas()
            st = structural_repeats(ev, s.structural) if ev is not None else None
            frames = [c]
            if st is not None and len(st):
                st = st.rename(columns={"kind": "source"})
                st["service"] = None
                st["channel"] = None
                st["outcome_class"] = None
                st["after_handoff"] = False
                frames.append(st)
            d = pd.concat([f[DEMAND_COLUMNS] for f in frames], ignore_index=True)
            d["after_handoff"] = d["after_handoff"].astype(bool)
            d["confidence"] = d["confidence"].astype(float)
            weekly = weekly_table(c, ch)
            timings["weekly"] = round(time.perf_counter() - t, 2)

            t = time.perf_counter()
            chains_t = pa.Table.from_pandas(
                ch[
                    [
                        "chain_id",
                        "agency",
                        "person_id",
                        "service",
                        "channel",
                        "first_outcome",
                        "first_contact_at",
                        "last_contact_at",
                        "closed_at",
                        "contacts",
                        "failure_contacts",
                        "end_to_end_days",
                    ]
                ],
                preserve_index=False,
            )
            counts = store.publish(
                {
                    "demand": pa.Table.from_pandas(d, preserve_index=False),
                    "demand_chains": chains_t,
                    "demand_weekly": weekly,
                }
            )
            timings["publish"] = round(time.perf_counter() - t, 2)
            n = len(c)
            nf = int((c["demand_type"] == "failure").sum())
            detail = {
                "contacts": n,
                "failure": nf,
                "method": s.method or model.method,
                "methods": c["method"].value_counts().to_dict(),
                "rules_version": model.rules.version,
                "model_source": source,
                "model_metrics": model.metrics,
                "stacker": stacker.describe(),
                "repeat_window_days": s.repeat_window_days,
                "structural": (
                    st.groupby("source")["demand_type"]
                    .apply(lambda x: int((x == "failure").sum()))
                    .to_dict()
                    if st is not None and len(st)
                    else {}
                ),
                "timings": timings,
            }
            run.rows = {k: {"out": v} for k, v in counts.items()}
            run.detail = detail
        share = nf / n if n else 0.0
        summary = [
            f"{n:,} contacts classified: {nf:,} failure demand ({share:.0%})",
            f"{len(ch):,} chains; median end-to-end {ch['end_to_end_days'].median():.1f} days"
            if len(ch)
            else "no chains",
            f"rules {model.rules.version}; text model from {next(iter(source.values()))}",
        ]
        return StageResult(
            stage="demand", tables=counts, summary=summary, detail=detail, headline=summary[0]
        )


def write_sample(place, n: int, out: str | Path, seed: int = 0) -> int:
    """A stratified sample (by service and channel) of the place's contacts, to label."""
    s = demand_settings(place.manifest.demand)
    place.store.require("events")
    linked = place.store.engine.has_table("person_links")
    c = place.store.engine.query(
        contacts_sql(s.contacts.agencies, linked, s.contacts.require_text)
    ).to_pandas()
    if c.empty:
        return 0
    rng = np.random.default_rng(seed)
    n = min(n, len(c))
    key = c["service"].fillna("") + "|" + c["channel"].fillna("")
    take: list[int] = []
    for _, rows in c.groupby(key).indices.items():
        k = max(1, int(round(n * len(rows) / len(c))))
        take.extend(rng.choice(rows, size=min(k, len(rows)), replace=False).tolist())
    smp = c.iloc[sorted(take)][
        ["agency", "event_id", "service", "channel", "start_at", "reason_text"]
    ].copy()
    smp["demand_type"] = ""
    smp["category"] = ""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    smp.to_csv(out, index=False)
    return len(smp)
