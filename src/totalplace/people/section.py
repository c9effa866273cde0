"""The people stage's section of the report: headlines from the data, charts and tables.

Reads only the stage's published tables; every count passes through ``Disclosure``.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Any

from totalplace.disclosure import Disclosure
from totalplace.people import concentration as conc_sql
from totalplace.section import Section, SectionFigure, SectionTable

TITLE = "People: the high-cost few, multiple needs and regression to the mean"
# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, GREEN, GREY, VERMILLION = "#0072B2", "#E69F00", "#009E73", "#999999", "#D55E00"
NEEDED = ("concentration", "person_needs", "cohorts", "segments", "persons")


def _pct(x: float | None) -> str:
    return "*" if x is None else f"{x:.0%}"


def section(place, disclosure: Disclosure | None = None) -> Section:
    """The people section for ``place`` (``Section.not_run`` before the stage has run)."""
    d = disclosure or Disclosure()
    eng = place.store.engine
    have = set(eng.tables())
    if not all(t in have for t in NEEDED):
        return Section.not_run("people", TITLE)
    q = lambda sql: eng.query(sql).to_pylist()  # noqa: E731
    run = place.store.last_run("people") or {}
    pop = int((run.get("detail") or {}).get("population") or eng.count("persons"))
    k1 = round(pop * 0.01)
    conc = {(r["unit"], r["year"]): r for r in q("SELECT * FROM concentration")}
    person_all = conc.get(("person", "all"), {})
    heads, figs, tables, notes = [], [], [], []
    name = place.manifest.name
    top = q(
        f"""WITH t AS (SELECT person_id, sum(cost_gbp) AS c FROM person_costs GROUP BY 1),
        r AS (SELECT person_id, row_number() OVER (ORDER BY c DESC, person_id) AS rk FROM t)
        SELECT count(*) AS n, count(*) FILTER (WHERE p.n_agencies >= 3) AS three
        FROM r JOIN persons p USING (person_id) WHERE rk <= {k1}"""
    )[0]
    share3 = d.rate(top["three"], top["n"])
    if person_all.get("top_1") is not None:
        heads.append(
            f"1% of {name} residents account for {_pct(person_all['top_1'])} of the cost of "
            f"public services here (the top 5% for {_pct(person_all['top_5'])}); "
            f"{_pct(share3)} of them are known to three or more agencies."
        )
    # A place with one year of data has no year-to-year persistence.
    pers = q("SELECT * FROM persistence ORDER BY from_year") if "persistence" in have else []
    if pers:
        p = pers[0]
        heads.append(
            f"A year later the costliest {p['top_share']:.0%} of {p['from_year']} cost "
            f"{_pct(-p['change'])} less in {p['to_year']} with no programme at all: "
            f"regression to the mean, the fall a before-and-after evaluation would wrongly "
            f"credit to a programme. Only {_pct(d.rate(p['stayed_in_top'], p['people']))} "
            "of them were still in the top group."
        )
    sets = q(
        "SELECT person_id, list_sort(list(DISTINCT need)) AS needs FROM person_needs GROUP BY 1"
    )
    multi = sum(1 for s in sets if len(s["needs"]) >= 2)
    heads.append(
        f"{d.fmt_count(len(sets))} people have at least one need recorded by a service; "
        f"{d.fmt_count(multi)} have two or more."
    )
    cohorts = q("SELECT * FROM cohorts ORDER BY cohort")
    for c in cohorts:
        if c["change"] is None or not c["members"]:
            continue
        if d.count(c["members"]) is None:
            continue
        comp = (
            f"; people who met the same definition a year apart fell by "
            f"{_pct(-c['comparison_change'])}"
            if c["comparison_change"] is not None and d.count(c["comparison_people"])
            else ""
        )
        heads.append(
            f"Cohort '{c['cohort']}' ({d.fmt_count(c['members'])} people): cost "
            f"{'fell' if c['change'] < 0 else 'rose'} by {_pct(abs(c['change']))} in the "
            f"year after selection with no intervention{comp}."
        )
    figs.append(_lorenz(q("SELECT * FROM lorenz WHERE year = 'all' ORDER BY unit, population_pct")))
    figs.append(_rtm(cohorts, pers, d))
    figs.append(_upset(sets, d))
    figs.append(_cooccurrence(sets, d))
    trans = q("SELECT * FROM decile_transitions") if "decile_transitions" in have else []
    if trans:
        figs.append(_transitions(trans, d))
    tables.append(
        SectionTable(
            "Share of all cost held by the costliest people and households",
            ["unit", "year", "top 0.1%", "top 1%", "top 5%", "top 10%", "Gini"],
            [
                [
                    r["unit"],
                    r["year"],
                    _pct(r["top_0_1"]),
                    _pct(r["top_1"]),
                    _pct(r["top_5"]),
                    _pct(r["top_10"]),
                    round(r["gini"], 3),
                ]
                for r in sorted(conc.values(), key=lambda r: (r["unit"], r["year"]))
            ],
            "concentration",
        )
    )
    tables.append(_hard_edges(sets, d))
    tables.append(_needs_counts(q, d))
    tables.append(_profile(q, k1, d))
    agencies = q(conc_sql.top_agencies_sql(k1, "person_costs", "persons"))
    tables.append(
        SectionTable(
            "How many agencies know each of the costliest 1%",
            ["agencies", "people"],
            [[r["agencies"], d.fmt_count(r["people"])] for r in agencies],
            "person_costs, persons",
        )
    )
    tables.append(_families(q, d))
    tables.append(
        SectionTable(
            "Segments (Bridges to Health, with social needs): size and cost",
            ["segment", "people", "cost (£)", "cost per person (£)"],
            [
                [
                    r["segment"],
                    d.fmt_count(r["n"]),
                    f"{float(r['c']):,.0f}" if d.count(r["n"]) else None,
                    f"{float(d.statistic(r['c'] / r['n'], r['n'])):,.0f}"
                    if d.statistic(r["c"] / r["n"], r["n"]) is not None
                    else None,
                ]
                for r in q(
                    "SELECT segment, count(*) AS n, sum(cost_gbp) AS c FROM segments "
                    "GROUP BY 1 ORDER BY c DESC"
                )
            ],
            "segments",
        )
    )
    tables.append(
        SectionTable(
            "Cohorts and what happened to them with no intervention",
            ["cohort", "people", "cost change", "comparison people", "comparison change"],
            [
                [
                    c["cohort"],
                    d.fmt_count(c["members"]),
                    _pct(c["change"]) if d.count(c["members"]) else None,
                    d.fmt_count(c["comparison_people"]),
                    _pct(c["comparison_change"]) if d.count(c["comparison_people"]) else None,
                ]
                for c in cohorts
            ],
            "cohorts, cohort_members",
        )
    )
    detail = run.get("detail") or {}
    untraced = detail.get("untraced_needs") or []
    if untraced:
        notes.append("Needs no extract records, so not counted here: " + ", ".join(untraced) + ".")
    if detail.get("no_unit_cost"):
        notes.append(
            f"{d.fmt_count(detail['no_unit_cost'])} events have no unit cost, each with its "
            "reason in event_costs; "
            f"{d.fmt_count(detail.get('estimated', 0))} are costed at an expected value."
        )
    return Section(
        stage="people",
        title=TITLE,
        headlines=heads,
        figures=figs,
        tables=tables,
        notes=notes,
        run_id=run.get("run_id"),
        run_at=str(run.get("finished_at")) if run else None,
    )


def _lorenz(rows: list[dict[str, Any]]) -> SectionFigure:
    import plotly.graph_objects as go

    fig = go.Figure()
    for unit, colour in (("person", BLUE), ("household", ORANGE)):
        pts = [r for r in rows if r["unit"] == unit]
        fig.add_trace(
            go.Scatter(
                x=[r["population_pct"] for r in pts],
                y=[100 * r["cost_share"] for r in pts],
                name=f"{unit}s",
                line={"color": colour},
            )
        )
    fig.add_trace(
        go.Scatter(x=[0, 100], y=[0, 100], name="equal shares", line={"color": GREY, "dash": "dot"})
    )
    fig.update_layout(
        title="How unequally the cost falls (Lorenz curve)",
        xaxis_title="Residents, least to most costly (%)",
        yaxis_title="Share of all cost (%)",
    )
    return SectionFigure("How unequally the cost falls", fig, "lorenz")


def _rtm(cohorts: list[dict], pers: list[dict], d: Disclosure) -> SectionFigure:
    import plotly.graph_objects as go

    names, before, after, comp = [], [], [], []
    for p in pers[:1]:
        names.append(f"top {p['top_share']:.0%} in {p['from_year']}")
        before.append(100)
        after.append(100 * (1 + p["change"]))
        comp.append(None)
    for c in cohorts:
        if c["change"] is None or d.count(c["members"]) is None:
            continue
        names.append(c["cohort"].replace("_", " "))
        before.append(100)
        after.append(100 * (1 + c["change"]))
        ok = c["comparison_change"] is not None and d.count(c["comparison_people"])
        comp.append(100 * (1 + c["comparison_change"]) if ok else None)
    fig = go.Figure(
        [
            go.Bar(x=names, y=before, name="year before selection", marker_color=GREY),
            go.Bar(x=names, y=after, name="year after, no intervention", marker_color=BLUE),
            go.Bar(x=names, y=comp, name="same definition a year apart", marker_color=ORANGE),
        ]
    )
    fig.update_layout(
        barmode="group",
        title="Regression to the mean: high users cost less a year later anyway",
        xaxis_title="Group selected on high use",
        yaxis_title="Cost (year before selection = 100)",
    )
    return SectionFigure(
        "Regression to the mean beside every cohort",
        fig,
        "persistence, cohorts",
        "Nobody here had a programme: the fall is what a before-and-after evaluation would "
        "wrongly claim.",
    )


def _upset(sets: list[dict], d: Disclosure, top: int = 15) -> SectionFigure:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    combos = Counter(tuple(s["needs"]) for s in sets)
    shown = [(c, n) for c, n in combos.most_common() if d.count(n)][:top]
    needs = sorted({x for c, _ in shown for x in c})
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4])
    labels = [" + ".join(c) for c, _ in shown]
    fig.add_trace(
        go.Bar(x=labels, y=[d.count(n) for _, n in shown], marker_color=BLUE, name="people"),
        row=1,
        col=1,
    )
    xs, ys = [], []
    for lbl, (c, _) in zip(labels, shown, strict=True):
        for n in c:
            xs.append(lbl)
            ys.append(n)
    fig.add_trace(
        go.Scatter(x=xs, y=ys, mode="markers", marker={"color": "black", "size": 9}, name="need"),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="People", row=1, col=1)
    fig.update_yaxes(categoryorder="array", categoryarray=needs, title_text="Needs", row=2, col=1)
    fig.update_xaxes(showticklabels=False, title_text="Combination of needs", row=2, col=1)
    fig.update_layout(title="Which needs come together (UpSet chart)", showlegend=False)
    return SectionFigure("Which needs come together", fig, "person_needs")


def _cooccurrence(sets: list[dict], d: Disclosure) -> SectionFigure:
    import plotly.graph_objects as go

    needs = sorted({n for s in sets for n in s["needs"]})
    pair = Counter()
    for s in sets:
        for n in s["needs"]:
            pair[(n, n)] += 1
        for a, b in combinations(s["needs"], 2):
            pair[(a, b)] += 1
            pair[(b, a)] += 1
    z = [[d.count(pair[(a, b)]) for b in needs] for a in needs]
    fig = go.Figure(go.Heatmap(z=z, x=needs, y=needs, colorscale="Cividis"))
    fig.update_layout(
        title="People with both needs (diagonal: with the need)",
        xaxis_title="Need",
        yaxis_title="Need",
    )
    return SectionFigure("Needs that occur together", fig, "person_needs")


def _transitions(rows: list[dict], d: Disclosure) -> SectionFigure:
    import plotly.graph_objects as go

    first = sorted({(r["from_year"], r["to_year"]) for r in rows})[0]
    rows = [r for r in rows if (r["from_year"], r["to_year"]) == first]
    groups = list(range(11))
    tot = Counter()
    for r in rows:
        tot[r["from_group"]] += r["people"]
    cell = {(r["from_group"], r["to_group"]): r["people"] for r in rows}
    z = [
        [
            (lambda n: None if n is None or not tot[a] else 100 * n / tot[a])(
                d.count(cell.get((a, b), 0))
            )
            for b in groups
        ]
        for a in groups
    ]
    lbl = ["no cost"] + [f"decile {g}" for g in range(1, 11)]
    fig = go.Figure(go.Heatmap(z=z, x=lbl, y=lbl, colorscale="Cividis"))
    fig.update_layout(
        title=f"Where each cost group in {first[0]} ended up in {first[1]} (% of the row)",
        xaxis_title=f"Cost group in {first[1]}",
        yaxis_title=f"Cost group in {first[0]}",
    )
    return SectionFigure("Persistence of high cost from year to year", fig, "decile_transitions")


def _hard_edges(sets: list[dict], d: Disclosure) -> SectionTable:
    from totalplace.people.needs import hard_edges_group

    counts = Counter()
    for s in sets:
        groups = {g for n in s["needs"] if (g := hard_edges_group(n))}
        if groups:
            counts[len(groups)] += 1
            if len(groups) == 3:
                counts["all"] += 1
    at_least = {
        k: sum(v for kk, v in counts.items() if isinstance(kk, int) and kk >= k) for k in (1, 2, 3)
    }
    return SectionTable(
        "Hard Edges: homelessness, substance misuse and offending together",
        ["in contact with", "people", "share of those with any"],
        [
            [
                f"at least {k} of the three",
                d.fmt_count(at_least[k]),
                _pct(d.rate(at_least[k], at_least[1])),
            ]
            for k in (1, 2, 3)
        ],
        "person_needs",
        "England (Bramley & Fitzpatrick 2015): 586,000 with at least one, 38% of them with "
        "two or more and 10% with all three.",
    )


def _profile(q, k: int, d: Disclosure) -> SectionTable:
    """Who the costliest 1% are: segment and age band."""
    rows = q(
        f"""WITH t AS (SELECT person_id, sum(cost_gbp) AS c FROM person_costs GROUP BY 1),
        r AS (SELECT person_id, row_number() OVER (ORDER BY c DESC, person_id) AS rk FROM t)
        SELECT s.segment, s.age_band, count(*) AS n FROM r JOIN segments s USING (person_id)
        WHERE rk <= {k} GROUP BY 1, 2 ORDER BY n DESC, 1, 2"""
    )
    total = sum(r["n"] for r in rows)
    return SectionTable(
        "Who the costliest 1% are: segment and age",
        ["segment", "age", "people", "share"],
        [
            [r["segment"], r["age_band"], d.fmt_count(r["n"]), _pct(d.rate(r["n"], total))]
            for r in rows
        ],
        "person_costs, segments",
    )


def _families(q, d: Disclosure, top: int = 10) -> SectionTable:
    """Households known to several agencies, and their combined cost by agency."""
    rows = q(
        """WITH h AS (SELECT household_id, count(DISTINCT agency) AS agencies,
                 sum(cost_gbp) AS c FROM household_costs GROUP BY 1)
        SELECT CASE WHEN agencies >= 3 THEN '3 or more' ELSE CAST(agencies AS VARCHAR) END
                 AS agencies, count(*) AS n, sum(c) AS c
        FROM h GROUP BY 1 ORDER BY 1"""
    )
    total = sum(float(r["c"]) for r in rows) or 1.0
    by_agency = q(
        """WITH h AS (SELECT household_id FROM household_costs GROUP BY 1
                 HAVING count(DISTINCT agency) >= 3)
        SELECT agency, sum(cost_gbp) AS c FROM household_costs
        WHERE household_id IN (SELECT household_id FROM h) GROUP BY 1 ORDER BY c DESC"""
    )
    note = "Households with costs at 3 or more agencies, combined cost by agency: " + ", ".join(
        f"{r['agency']} £{float(r['c']):,.0f}" for r in by_agency[:top]
    )
    return SectionTable(
        "Families: households by the number of agencies with costs for them",
        ["agencies", "households", "share of all cost"],
        [
            [
                r["agencies"],
                d.fmt_count(r["n"]),
                _pct(float(r["c"]) / total) if d.count(r["n"]) else None,
            ]
            for r in rows
        ],
        "household_costs",
        note,
    )


def _needs_counts(q, d: Disclosure) -> SectionTable:
    """How many different needs people and households have (multiple disadvantage)."""
    rows = q(
        """WITH p AS (SELECT person_id, count(DISTINCT need) AS n FROM person_needs GROUP BY 1),
        h AS (SELECT m.household_id, count(DISTINCT n.need) AS n FROM person_needs n
              JOIN household_members m ON m.person_id = n.person_id AND m.is_current GROUP BY 1)
        SELECT 'people' AS unit, least(n, 4) AS k, count(*) AS c FROM p GROUP BY 1, 2
        UNION ALL
        SELECT 'households', least(n, 4), count(*) FROM h GROUP BY 1, 2 ORDER BY 1, 2"""
    )
    by = {(r["unit"], r["k"]): r["c"] for r in rows}
    return SectionTable(
        "Needs per person and per household",
        ["", "1 need", "2 needs", "3 needs", "4 or more"],
        [
            [u] + [d.fmt_count(by.get((u, k), 0)) for k in (1, 2, 3, 4)]
            for u in ("people", "households")
        ],
        "person_needs, household_members",
    )
