"""Benchmark: the people stage (costs, needs, concentration, persistence) against pandas.

Set-up (not timed, cached between runs, see ``cached_place``): generate Anytown, ingest it,
and stand in the true links for the link stage (``truth/source_records.parquet`` ->
person_links, persons, households), which has its own benchmark. Then, in the same process:

* ``people.run()``: the whole stage; its costs + needs + concentration (with persistence)
  part ("core") is compared with
* a vectorised pandas implementation of the same figures from the same tables loaded into
  DataFrames (loading not timed; ``pandas_figures``): the link merge, every event costed by
  the same rules (first match, add-ons, per-day episodes; patterns matched on each column's
  distinct values), person costs split over financial years, household costs, need spells
  by the same mapping and gaps, top shares, Gini and Lorenz curves for people and households
  over all years and each year, the decile transition matrix and the top-5% persistence.

The two must agree: total cost to the penny, the same need spells and household-cost rows,
and every concentration figure (reported as ``max_figure_difference``).
``TOTALPLACE_BENCH_PANDAS=0`` skips the peer.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import resource
import shutil
import time
from pathlib import Path

import numpy as np

SUITE = "people"
DEFAULT_SIZES = [100_000, 1_000_000]


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


class _Field:
    """One text column factorised once: a glob is tested on its distinct lower-cased values
    and broadcast back through the codes (what a pandas user does with repeated strings)."""

    def __init__(self, s):
        import pandas as pd

        self.codes, uniq = pd.factorize(s)
        self.low = pd.Index(uniq, dtype=object).str.lower()

    def match(self, pat: str) -> np.ndarray:
        ok = np.asarray(self.low.str.match(fnmatch.translate(pat.lower())), dtype=bool)
        return np.r_[ok, False][self.codes]  # code -1 (missing) never matches


def pandas_figures(
    ev,
    links,
    persons,
    members,
    n_households,
    rules,
    table,
    period,
    tz,
    mapping,
    pop,
    years,
    share=0.05,
):
    """The same figures as the stage, the way an analyst would write them in pandas.

    Vectorised throughout: text patterns are matched on each column's distinct values, costs
    and the split over financial years are array arithmetic, need spells come from sorted
    cumulative maxima, and concentration from sorted totals. No row-wise Python.
    """
    import pandas as pd

    # Each event's person through its record's link (as the stage's join does).
    ev = ev.merge(links, on=["agency", "source_id"], how="left")
    p0, p1 = (pd.Timestamp(d) for d in period)
    pend = p1 + pd.Timedelta(days=1)
    local = {
        c: ev[c].dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)
        for c in ("start_at", "end_at")
    }
    sd, ed = local["start_at"].dt.normalize(), local["end_at"].dt.normalize()
    days = (ed.fillna(pend).clip(upper=pend) - sd.clip(lower=p0)).dt.days.clip(lower=0)
    fields = {
        f: _Field(ev[c])
        for f, c in (
            ("agency", "agency"),
            ("service", "service"),
            ("activity", "activity"),
            ("outcome", "outcome"),
            ("channel", "channel"),
            ("reason", "reason_text"),
        )
    }

    def mask(r, names=("agency", "service", "activity", "outcome", "channel")) -> np.ndarray:
        m = np.ones(len(ev), bool)
        for f in names:
            pat = getattr(r, f)
            if pat is not None:
                m &= fields[f].match(pat)
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
    pc["person_id"] = ev["person_id"].to_numpy()
    pc["agency"] = ev["agency"].to_numpy()
    pc = pc[ev["person_id"].notna().to_numpy() & (pint > 0)]
    person_costs = (
        pc.melt(id_vars=["person_id", "agency"], var_name="year", value_name="p")
        .query("p > 0")
        .groupby(["person_id", "year", "agency"], as_index=False)["p"]
        .sum()
    )
    # Needs by the mapping: evidence per rule, spells split at gaps of more than gap_days,
    # a rule's threshold counted within a spell, then the rules' spells merged per need.
    dob = pd.to_datetime(ev["person_id"].map(persons.set_index("person_id")["dob"]))
    age = (sd.dt.year - dob.dt.year) - (
        (sd.dt.month * 100 + sd.dt.day) < (dob.dt.month * 100 + dob.dt.day)
    ).astype(int)
    age = age.where(dob.notna())
    ev_end = ed.fillna(sd).where(ed.fillna(sd) > sd, sd).clip(upper=p1)
    ev_end = ev_end.where(~(ed.isna() & (basis == "day")), p1)
    linked = ev["person_id"].notna().to_numpy()
    names = ("agency", "service", "activity", "outcome", "channel", "reason")

    def need_mask(r) -> np.ndarray:
        m = mask(r, names)
        if r.min_age is not None:
            m &= (age >= r.min_age).to_numpy()
        if r.max_age is not None:
            m &= (age <= r.max_age).to_numpy()
        return m

    arms = []
    for i, r in enumerate(mapping.rules):
        if r.exclude:
            continue
        m = need_mask(r) & linked
        for x in (x for x in mapping.rules if x.exclude and x.need == r.need):
            m &= ~need_mask(x)
        arms.append(
            pd.DataFrame(
                {
                    "person_id": ev["person_id"].to_numpy()[m],
                    "need": r.need,
                    "rule_no": i,
                    "k": r.min_events,
                    "start": sd.to_numpy()[m],
                    "end": ev_end.to_numpy()[m],
                }
            )
        )
    gap = pd.Timedelta(days=mapping.gap_days)

    def islands(df: pd.DataFrame, keys: list[str]) -> np.ndarray:
        """Sorted by keys, start, end: a running island number, new after a gap."""
        gid = df.groupby(keys, sort=False).ngroup().to_numpy()
        first = np.r_[True, gid[1:] != gid[:-1]]
        prev = df["end"].groupby(gid).cummax().shift()
        new = first | ((df["start"] - prev) > gap).to_numpy()
        return np.cumsum(new)

    ev_n = pd.concat(arms, ignore_index=True).sort_values(
        ["person_id", "need", "rule_no", "start", "end"], ignore_index=True
    )
    spell = islands(ev_n, ["person_id", "need", "rule_no"])
    size = np.bincount(spell)[spell]
    q = ev_n[size >= ev_n["k"].to_numpy()].sort_values(
        ["person_id", "need", "start", "end"], ignore_index=True
    )
    q["island"] = islands(q, ["person_id", "need"])
    person_needs = q.groupby("island").agg(
        person_id=("person_id", "first"),
        need=("need", "first"),
        from_date=("start", "min"),
        to_date=("end", "max"),
    )
    # Household costs: each person's costs added up by their current household.
    cur = members.loc[members["is_current"], ["household_id", "person_id"]]
    household_costs = (
        person_costs.merge(cur, on="person_id")
        .groupby(["household_id", "year", "agency"], as_index=False)
        .agg(p=("p", "sum"), n_persons=("person_id", "nunique"))
    )
    # Concentration over the whole population (units with no cost count too), for people and
    # households, over all years and each year: top shares, Gini and the Lorenz curve.
    figures = {}
    for unit, costs_df, key, n in (
        ("person", person_costs, "person_id", pop),
        ("household", household_costs, "household_id", n_households),
    ):
        for label in ("all", *years):
            part = costs_df if label == "all" else costs_df[costs_df["year"] == label]
            t = part.groupby(key)["p"].sum()
            t = np.sort(t[t > 0].to_numpy(dtype=float))[::-1]
            v = np.r_[t, np.zeros(max(0, n - len(t)))]
            total = v.sum()
            asc = v[::-1]
            cum = np.r_[0, np.cumsum(asc)]
            figures[unit, label] = {
                "tops": {x: v[: round(n * x)].sum() / total for x in (0.001, 0.01, 0.05, 0.1)},
                "gini": 2 * np.sum(np.arange(1, n + 1) * asc) / (n * total) - (n + 1) / n,
                "lorenz": cum[np.floor(n * np.arange(101) / 100).astype(int)] / total,
            }
    tops, gini = figures["person", "all"]["tops"], figures["person", "all"]["gini"]
    # Persistence: decile transitions and the top share a year later.
    wide = person_costs.pivot_table(index="person_id", columns="year", values="p", aggfunc="sum")
    wide = wide.reindex(persons["person_id"]).fillna(0).sort_index()  # ties by person_id
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
        "household_rows": len(household_costs),
        "figures": figures,
        "persistence": pers,
        "matrices": len(mats),
    }


SEED = 1
# Building the place (synth + ingest + true links) takes about 15 minutes at a million
# residents, so it is kept between runs here (TOTALPLACE_BENCH_CACHE; '0' turns it off). The
# key is the size, the seed and a hash of the code that builds it, so a change to synth or
# ingest builds afresh.
CACHE = Path(os.environ.get("TOTALPLACE_BENCH_CACHE", "/tmp/totalplace-bench-cache"))


def _build_key(residents: int) -> str:
    src = Path(__file__).resolve().parents[1] / "src" / "totalplace"
    h = hashlib.sha256(_true_links_sql(Path("T"))["person_links"].encode())
    files = [*sorted((src / "synth").rglob("*")), *sorted((src / "ingest").rglob("*.py"))]
    files += [src / n for n in ("store.py", "tables.py", "engine.py", "place.py")]
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(f.read_bytes())
    return f"people-{residents}-s{SEED}-{h.hexdigest()[:12]}"


def _build(residents: int, out: Path) -> None:
    from totalplace.place import Place
    from totalplace.synth import generate

    generate(residents=residents, seed=SEED, out=out)
    with Place.open(out) as place:
        place.ingest.run()
        place.store.publish(_true_links_sql(out / "truth"))


def cached_place(residents: int, workdir: Path) -> tuple[Path, str]:
    """A fresh copy of the ingested, truly linked place in ``workdir``; built at most once."""
    out = workdir / "anytown"
    if os.environ.get("TOTALPLACE_BENCH_CACHE") == "0":
        _build(residents, out)
        return out, "built"
    cached = CACHE / _build_key(residents)
    if not (cached / ".ready").exists():
        # Places built by older code for this size are stale: make room for this one.
        for old in CACHE.glob(f"people-{residents}-s{SEED}-*"):
            shutil.rmtree(old, ignore_errors=True)
        _build(residents, cached / "anytown")
        (cached / ".ready").write_text("ok\n", encoding="utf-8")
        how = "built"
    else:
        how = f"reused from {CACHE}"
    shutil.copytree(cached / "anytown", out)
    return out, how


def run(residents: int, workdir: Path) -> dict:
    """Generate and ingest Anytown (not timed, cached), true links in, then time both."""

    out, how = cached_place(residents, workdir)
    return measure(out, residents, how)


def measure(out: Path, residents: int, how: str = "given", pandas: bool | None = None) -> dict:
    """Time the stage and the pandas peer on an ingested, linked place at ``out``."""
    from totalplace.place import Place

    if pandas is None:
        pandas = os.environ.get("TOTALPLACE_BENCH_PANDAS") != "0"
    with Place.open(out) as place:
        eng = place.store.engine
        t0 = time.perf_counter()
        result = place.people.run()
        stage_s = time.perf_counter() - t0
        # Peak memory of this process so far: the stage (the place was opened, not built here).
        stage_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        tm = result.detail["timings"]
        core_s = tm["costs"] + tm["needs"] + tm["concentration"]
        # The same inputs as DataFrames (not timed).
        ev = eng.query(
            "SELECT agency, event_id, source_id, service, activity, outcome, channel, "
            "reason_text, start_at, end_at, CAST(cost_gbp AS DOUBLE) AS cost_gbp FROM events"
        ).to_pandas()
        links = eng.query("SELECT agency, source_id, person_id FROM person_links").to_pandas()
        persons = eng.query("SELECT person_id, dob FROM persons").to_pandas()
        members = eng.query(
            "SELECT household_id, person_id, is_current FROM household_members"
        ).to_pandas()
        n_households = int(eng.count("households"))
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
            "stage_peak_rss_mb": stage_rss_mb,
            "core_s": round(core_s, 1),
            "timings": tm,
            "total_pence_ours": ours_total,
            "top_1_share": round(ours["top_1"], 4),
            "gini": round(ours["gini"], 4),
            "person_needs_spells": result.tables["person_needs"],
            "place": how,
        }
        if not pandas:
            return {**base, "pandas_core_s": "not run (TOTALPLACE_BENCH_PANDAS=0)"}
        t1 = time.perf_counter()
        pdx = pandas_figures(
            ev,
            links,
            persons,
            members,
            n_households,
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
        # Every concentration figure and Lorenz point, for people and households, each year.
        diff = 0.0
        for r in eng.query("SELECT * FROM concentration").to_pylist():
            f = pdx["figures"][r["unit"], r["year"]]
            diff = max(diff, abs(f["gini"] - r["gini"]))
            for x, col in ((0.001, "top_0_1"), (0.01, "top_1"), (0.05, "top_5"), (0.1, "top_10")):
                diff = max(diff, abs(f["tops"][x] - r[col]))
        for r in eng.query("SELECT * FROM lorenz").to_pylist():
            f = pdx["figures"][r["unit"], r["year"]]
            diff = max(diff, abs(f["lorenz"][round(r["population_pct"])] - r["cost_share"]))
        for r, want in zip(
            eng.query("SELECT change FROM persistence ORDER BY from_year").to_pylist(),
            pdx["persistence"],
            strict=True,
        ):
            diff = max(diff, abs(r["change"] - want))
        return {
            **base,
            "pandas_core_s": round(pandas_s, 1),
            "speedup_core": round(pandas_s / core_s, 1),
            "total_pence_pandas": pdx["total_pence"],
            "pandas_person_needs": pdx["person_needs"],
            "household_cost_rows": result.tables["household_costs"],
            "pandas_household_cost_rows": pdx["household_rows"],
            "max_figure_difference": float(f"{diff:.2g}"),
        }
