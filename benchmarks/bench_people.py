"""Benchmark: the people stage (costs, needs, concentration, persistence) against pandas.

Set-up (not timed): generate Anytown, ingest it, and stand in the true links for the link
stage (``truth/source_records.parquet`` -> person_links, persons, households), which has its
own benchmark. Then, in the same process:

* ``people.run()``: the whole stage; its costs + needs + concentration (with persistence)
  part is compared with
* an idiomatic pandas implementation of the same figures from the same tables loaded into
  DataFrames (loading not timed): every event costed by the same rules (first match, add-ons,
  per-day episodes), person costs split over financial years, needs by the same mapping,
  top shares and Gini, the decile transition matrix and the top-5% persistence.

The two must agree: total cost to the penny and the top-1% share to 1e-9.
"""

from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path

import numpy as np

SUITE = "people"
DEFAULT_SIZES = [100_000, 1_000_000]
# The pandas peer takes about 45 minutes at a million residents on the 2-core machine (264 s
# at 100,000); above this size it runs only with TOTALPLACE_BENCH_PANDAS=1.
PANDAS_MAX = 200_000


def _true_links_sql(truth: Path) -> dict[str, str]:
    sr = f"read_parquet('{truth}/source_records.parquet')"
    return {
        "person_links": f"""
SELECT s.agency, s.source_id, s.agency || '|' || s.source_id AS unique_id,
  'P' || lpad(CAST(t.person_id AS VARCHAR), 8, '0') AS person_id,
  s.agency || '|' || s.source_id AS cluster_id, 1.0 AS match_probability
FROM source_people s JOIN {sr} t ON t.agency = s.agency AND t.source_id = s.source_id""",
        "persons": f"""
SELECT 'P' || lpad(CAST(t.person_id AS VARCHAR), 8, '0') AS person_id, count(*) AS n_records,
  count(DISTINCT t.agency) AS n_agencies, mode(s.dob) AS dob, mode(s.sex) AS sex
FROM source_people s JOIN {sr} t ON t.agency = s.agency AND t.source_id = s.source_id
GROUP BY 1""",
        "household_members": f"""
SELECT DISTINCT 'H' || CAST(t.household_id AS VARCHAR) AS household_id,
  'P' || lpad(CAST(t.person_id AS VARCHAR), 8, '0') AS person_id, TRUE AS is_current
FROM {sr} t""",
        "households": f"""
SELECT 'H' || CAST(household_id AS VARCHAR) AS household_id,
  count(DISTINCT person_id) AS n_current_persons FROM {sr} GROUP BY 1""",
    }


def _like(pat: str | None):
    return None if pat is None else fnmatch.translate(pat.lower())


def pandas_figures(ev, persons, rules, table, period, tz, mapping, pop, years, share=0.05):
    """The same figures as the stage, the way an analyst would write them in pandas."""
    import pandas as pd

    p0, p1 = (pd.Timestamp(d) for d in period)
    pend = p1 + pd.Timedelta(days=1)
    local = {
        c: ev[c].dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)
        for c in ("start_at", "end_at")
    }
    sd, ed = local["start_at"].dt.normalize(), local["end_at"].dt.normalize()
    days = (ed.fillna(pend).clip(upper=pend) - sd.clip(lower=p0)).dt.days.clip(lower=0)
    low = {f: ev[f].str.lower() for f in ("agency", "service", "activity", "outcome", "channel")}

    def mask(r) -> np.ndarray:
        m = np.ones(len(ev), bool)
        for f in ("agency", "service", "activity", "outcome", "channel"):
            rx = _like(getattr(r, f))
            if rx is not None:
                m &= low[f].str.match(rx, na=False).to_numpy()
        return m

    def amount(r) -> np.ndarray:
        u = table[r.cost_id]
        base = float(u.uprated_gbp * 100 * r.factor * r.share)
        if r.basis == "day":
            per = base / {"day": 1, "week": 7, "year": 365.25}[u.unit]
            return np.floor(days.to_numpy() * per + 0.5)
        return np.full(len(ev), np.floor(base + 0.5))

    base_rules = [r for r in rules if not r.add]
    masks = [mask(r) for r in base_rules]
    rule_no = np.select(masks, list(range(len(base_rules))), default=-1)
    pence = np.zeros(len(ev))
    basis = np.full(len(ev), "event", dtype=object)
    for i, r in enumerate(base_rules):
        sel = rule_no == i
        basis[sel] = r.basis
        if r.cost_id:
            pence[sel] = amount(r)[sel]
    for r in (r for r in rules if r.add):
        m = mask(r)
        if r.when == "starts_in_period":
            m &= (sd >= p0).to_numpy()
        pence += np.where(m, amount(r), 0)
    own = ev["cost_gbp"].astype(float).to_numpy()
    pence = np.where(np.isnan(own), pence, np.round(own * 100))
    df = pd.DataFrame(
        {"person_id": ev["person_id"], "agency": ev["agency"], "pence": pence, "basis": basis}
    )
    # Split over financial years by days (floor shares, remainder to the longest year).
    s = sd.clip(lower=p0)
    ceil_end = ed + pd.to_timedelta((local["end_at"] > ed).astype(int), unit="D")
    e = ceil_end.where(
        local["end_at"].notna(), np.where(basis == "day", pend, s + pd.Timedelta(days=1))
    )
    e = pd.to_datetime(e)
    e = e.where(e > s, s + pd.Timedelta(days=1)).clip(upper=pend)
    ov = {}
    for y in years:
        y0 = pd.Timestamp(int(y[:4]), 4, 1)
        y1 = pd.Timestamp(int(y[:4]) + 1, 4, 1)
        ov[y] = (e.clip(upper=y1) - s.clip(lower=y0)).dt.days.clip(lower=0).to_numpy()
    ovm = np.column_stack([ov[y] for y in years]).astype(np.int64)
    tot = ovm.sum(1)
    tot[tot == 0] = 1
    pint = pence.astype(np.int64)
    share_y = (pint[:, None] * ovm) // tot[:, None]
    share_y[np.arange(len(pint)), ovm.argmax(1)] += pint - share_y.sum(1)
    pc = pd.DataFrame(share_y, columns=years)
    pc["person_id"] = df["person_id"].to_numpy()
    pc["agency"] = df["agency"].to_numpy()
    pc = pc[df["person_id"].notna().to_numpy() & (pint > 0)]
    person_costs = (
        pc.melt(id_vars=["person_id", "agency"], var_name="year", value_name="p")
        .query("p > 0")
        .groupby(["person_id", "year", "agency"], as_index=False)["p"]
        .sum()
    )
    # Needs by the mapping (threshold per person, need and rule; spells by first/last date).
    age = (
        sd - pd.to_datetime(ev["person_id"].map(persons.set_index("person_id")["dob"]))
    ).dt.days / 365.25
    ev_needs = []
    for r in (r for r in mapping.rules if not r.exclude):
        m = mask(r)
        if r.reason:
            m &= ev["reason_text"].str.lower().str.match(_like(r.reason), na=False).to_numpy()
        for x in (x for x in mapping.rules if x.exclude and x.need == r.need):
            m &= ~mask(x)
        if r.min_age is not None:
            m &= (age >= r.min_age).to_numpy()
        if r.max_age is not None:
            m &= (age < r.max_age + 1).to_numpy()
        g = pd.DataFrame({"person_id": ev["person_id"][m], "d": sd[m]}).dropna()
        agg = g.groupby("person_id")["d"].agg(["count", "min", "max"])
        agg = agg[agg["count"] >= r.min_events]
        agg["need"] = r.need
        ev_needs.append(agg.reset_index())
    person_needs = (
        pd.concat(ev_needs)
        .groupby(["person_id", "need"], as_index=False)
        .agg(from_date=("min", "min"), to_date=("max", "max"))
    )
    # Concentration over the whole population (people with no cost count too).
    tot_p = person_costs.groupby("person_id")["p"].sum().sort_values(ascending=False)
    v = np.r_[tot_p.to_numpy(), np.zeros(max(0, pop - len(tot_p)))]
    total = v.sum()
    tops = {q: v[: round(pop * q)].sum() / total for q in (0.001, 0.01, 0.05, 0.1)}
    asc = np.sort(v)
    gini = 2 * np.sum(np.arange(1, pop + 1) * asc) / (pop * total) - (pop + 1) / pop
    # Persistence: decile transitions and the top share a year later.
    wide = person_costs.pivot_table(index="person_id", columns="year", values="p", aggfunc="sum")
    wide = wide.reindex(persons["person_id"]).fillna(0)
    mats, pers = [], []
    for a, b in zip(years, years[1:], strict=False):
        ga = pd.Series(0, index=wide.index)
        gb = pd.Series(0, index=wide.index)
        pa_, pb_ = wide[a] > 0, wide[b] > 0
        ga[pa_] = pd.qcut(wide.loc[pa_, a].rank(method="first"), 10, labels=False) + 1
        gb[pb_] = pd.qcut(wide.loc[pb_, b].rank(method="first"), 10, labels=False) + 1
        mats.append(pd.crosstab(ga, gb))
        k = round(pop * share)
        top = wide[a].nlargest(k)
        pers.append(wide.loc[top.index, b].sum() / top.sum() - 1)
    return {
        "total_pence": int(pint.sum()),
        "tops": tops,
        "gini": gini,
        "person_needs": len(person_needs),
        "persistence": pers,
        "matrices": len(mats),
    }


def run(residents: int, workdir: Path) -> dict:
    """Generate and ingest Anytown (not timed), true links in, then time both."""
    import pyarrow.parquet as pq  # noqa: F401  (the truth is parquet)

    from totalplace.place import Place
    from totalplace.synth import generate

    out = workdir / "anytown"
    generate(residents=residents, seed=1, out=out)
    with Place.open(out) as place:
        place.ingest.run()
        eng = place.store.engine
        place.store.publish(_true_links_sql(out / "truth"))
        t0 = time.perf_counter()
        result = place.people.run()
        stage_s = time.perf_counter() - t0
        tm = result.detail["timings"]
        core_s = tm["costs"] + tm["needs"] + tm["concentration"]
        # The same inputs as DataFrames (not timed).
        ev = eng.query(
            "SELECT e.agency, e.event_id, e.source_id, e.service, e.activity, e.outcome, "
            "e.channel, e.reason_text, e.start_at, e.end_at, CAST(e.cost_gbp AS DOUBLE) AS "
            "cost_gbp, l.person_id FROM events e LEFT JOIN person_links l "
            "ON l.agency = e.agency AND l.source_id = e.source_id"
        ).to_pandas()
        persons = eng.query("SELECT person_id, dob FROM persons").to_pandas()
        stage = place.people
        table = stage.unit_costs()
        rules = stage.cost_rules(table)
        ours_total = eng.scalar("SELECT CAST(sum(cost_gbp) * 100 AS BIGINT) FROM event_costs")
        ours = eng.query(
            "SELECT top_1, gini FROM concentration WHERE unit = 'person' AND year = 'all'"
        ).to_pylist()[0]
        base = {
            "events": result.tables["event_costs"],
            "people_stage_s": round(stage_s, 1),
            "core_s": round(core_s, 1),
            "timings": tm,
            "total_pence_ours": ours_total,
            "top_1_share": round(ours["top_1"], 4),
            "gini": round(ours["gini"], 4),
            "person_needs_spells": result.tables["person_needs"],
        }
        if residents > PANDAS_MAX and os.environ.get("TOTALPLACE_BENCH_PANDAS") != "1":
            return {**base, "pandas_core_s": "not run (see PANDAS_MAX)"}
        t1 = time.perf_counter()
        pdx = pandas_figures(
            ev,
            persons,
            rules,
            table,
            stage.period,
            place.manifest.timezone,
            stage.needs_mapping(),
            stage.population(),
            stage.years,
        )
        pandas_s = time.perf_counter() - t1
        assert abs(pdx["tops"][0.01] - ours["top_1"]) < 1e-6, (pdx["tops"], ours)
        return {
            **base,
            "pandas_core_s": round(pandas_s, 1),
            "speedup_core": round(pandas_s / core_s, 1),
            "total_pence_pandas": pdx["total_pence"],
            "pandas_person_needs": pdx["person_needs"],
        }
