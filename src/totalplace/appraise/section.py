"""The appraise stage's part of the report: the programme's effect beside its naive
before/after change, the interventions ranked with their ranges, and who pays and who gains.

Reads only the stage's published tables. Participant and comparison counts pass through the
disclosure rule; an effect built on a suppressed count is not shown.
"""

from __future__ import annotations

from typing import Any

from totalplace.section import Section, SectionFigure, SectionTable

TITLE = "Prevention business cases"
# Okabe-Ito: distinguishable with every common colour-vision deficiency.
BLUE, ORANGE, GREEN, VERMILLION, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#999999"
TABLES = ("programme_effects", "appraisals", "appraisal_by_agency", "appraisal_tornado")


def _pct(x: float | None) -> str:
    return "suppressed" if x is None else f"{x:+.0%}"


def _gbp(x: float | None) -> str:
    if x is None:
        return "—"
    return f"-£{-x:,.0f}" if x < 0 else f"£{x:,.0f}"


def section(place: Any, disclosure: Any) -> Section:
    """The section, built from ``programme_effects``, ``appraisals`` and friends."""
    store = place.store
    if not all(store.engine.has_table(t) for t in TABLES):
        return Section.not_run("appraise", TITLE)
    run = store.last_run("appraise")
    t = {n: store.engine.query(f'SELECT * FROM "{n}"').to_pylist() for n in TABLES}
    headlines, figures, tables, notes = [], [], [], []
    pe = _programme(t["programme_effects"], disclosure, headlines, figures, tables)
    _interventions(t, headlines, figures, tables)
    if pe:
        notes.append(
            "Programme effects compare participants with eligible non-participants of the same "
            "prior use and age (a matched difference-in-differences); the naive change is "
            "participants' own before/after, which includes their regression to the mean."
        )
    notes.append(
        "Money is in one price year, discounted at the Green Book rates; ranges are the 10th "
        "and 90th percentiles of the Monte Carlo. A benefit is cashable only where the "
        "activity is decommissioned and its money released."
    )
    return Section(
        stage="appraise",
        title=TITLE,
        headlines=headlines,
        figures=figures,
        tables=tables,
        notes=notes,
        run_id=run["run_id"] if run else None,
        run_at=str(run["finished_at"]) if run and "finished_at" in run else None,
    )


def _programme(rows, d, headlines, figures, tables) -> list[dict]:
    import plotly.graph_objects as go

    shown = []
    for r in rows:
        effect = d.statistic(r["effect"], r["participants"])
        naive = d.statistic(r["naive_change"], r["participants"])
        lo = d.statistic(r["ci_low"], r["participants"])
        hi = d.statistic(r["ci_high"], r["participants"])
        shown.append({**r, "effect": effect, "naive": naive, "lo": lo, "hi": hi})
    tables.append(
        SectionTable(
            title="Did the past programme work?",
            columns=["programme", "outcome", "participants", "comparison group",
                     "naive before/after", "estimated effect", "interval"],
            rows=[[r["programme"], r["outcome"], d.fmt_count(r["participants"]),
                   d.fmt_count(r["comparison_size"]), _pct(r["naive"]), _pct(r["effect"]),
                   "suppressed" if r["lo"] is None else f"{r['lo']:+.0%} to {r['hi']:+.0%}"]
                  for r in shown],
            source="programme_effects",
        )
    )  # fmt: skip
    ok = [r for r in shown if r["effect"] is not None]
    if not ok:
        return shown
    first = ok[0]
    gap = first["naive"] - first["effect"]
    headlines.append(
        f"{first['programme']}: {first['outcome'].replace('_', ' ')} changed by "
        f"{first['effect']:+.0%} ({first['confidence_level']:.0%} interval {first['lo']:+.0%} "
        f"to {first['hi']:+.0%}) against a matched comparison group; a before/after look at "
        f"participants alone says {first['naive']:+.0%}, "
        f"{abs(gap) * 100:.0f} percentage points {'more' if gap < 0 else 'less'} than the "
        "programme did."
    )
    labels = [f"{r['programme']}: {r['outcome'].replace('_', ' ')}" for r in ok]
    fig = go.Figure(
        [
            go.Bar(name="Naive before/after", x=labels, y=[r["naive"] for r in ok],
                   marker_color=GREY, meta={"measure": "share"}),
            go.Bar(name="Against a comparison group", x=labels, y=[r["effect"] for r in ok],
                   marker_color=BLUE, meta={"measure": "share"}, error_y={"type": "data", "symmetric": False,
                   "array": [r["hi"] - r["effect"] for r in ok],
                   "arrayminus": [r["effect"] - r["lo"] for r in ok]}),
        ]
    )  # fmt: skip
    fig.update_layout(
        barmode="group",
        yaxis={"title": "Change in events per person", "tickformat": "+.0%"},
        xaxis={"title": "Outcome"},
    )
    figures.append(
        SectionFigure(
            "Before/after overstates what the programme did",
            fig,
            "programme_effects",
            "Bars: change per participant; whiskers: the confidence interval.",
        )
    )
    return shown


def _interventions(t, headlines, figures, tables) -> None:
    import plotly.graph_objects as go

    m: dict[str, dict[str, dict]] = {}
    for r in t["appraisals"]:
        m.setdefault(r["intervention"], {})[r["measure"]] = r
    if not m:
        return
    ranked = sorted(m, key=lambda k: -m[k]["npv"]["p50"])
    best = m[ranked[0]]
    headlines.append(
        f"Of {len(ranked)} intervention(s), {ranked[0]} has the highest net present social "
        f"value: {_gbp(best['npv']['p50'])} (P10 {_gbp(best['npv']['p10'])}, P90 "
        f"{_gbp(best['npv']['p90'])}); the chance it is positive is "
        f"{best['prob_npv_positive']['p50']:.0%}."
    )
    pvb, cash = best["pv_benefits"]["central"], best["pv_cashable"]["central"]
    if pvb > 0:
        headlines.append(
            f"Of {ranked[0]}'s benefits ({_gbp(pvb)} in present value), {cash / pvb:.0%} is "
            "cashable: money is released only where activity is decommissioned."
        )
    tables.append(
        SectionTable(
            title="Interventions ranked by net present social value (median of the simulation)",
            columns=["intervention", "NPSV P50", "P10 to P90", "BCR P50", "fiscal ROI P50",
                     "payback (years) P50", "cost per outcome P50", "P(NPSV > 0)"],
            rows=[[k, _gbp(m[k]["npv"]["p50"]),
                   f"{_gbp(m[k]['npv']['p10'])} to {_gbp(m[k]['npv']['p90'])}",
                   round(m[k]["bcr"]["p50"], 2), round(m[k]["fiscal_roi"]["p50"], 2),
                   "never" if m[k]["payback_years"]["p50"] == float("inf")
                   else round(m[k]["payback_years"]["p50"], 1),
                   _gbp(m[k]["cost_per_outcome"]["p50"]),
                   f"{m[k]['prob_npv_positive']['p50']:.0%}"] for k in ranked],
            source="appraisals",
        )
    )  # fmt: skip
    fig = go.Figure(
        go.Bar(
            y=ranked[::-1],
            x=[m[k]["npv"]["p50"] for k in ranked[::-1]],
            orientation="h",
            meta={"measure": "gbp"},
            marker_color=[GREEN if m[k]["npv"]["p50"] > 0 else VERMILLION for k in ranked[::-1]],
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [m[k]["npv"]["p90"] - m[k]["npv"]["p50"] for k in ranked[::-1]],
                "arrayminus": [m[k]["npv"]["p50"] - m[k]["npv"]["p10"] for k in ranked[::-1]],
            },
        )
    )
    fig.update_layout(
        xaxis={"title": "Net present social value (£), P10 to P90"},
        yaxis={"title": "Intervention"},
    )
    figures.append(SectionFigure("Which interventions pay back, and how sure", fig, "appraisals"))
    torn = [r for r in t["appraisal_tornado"] if r["intervention"] == ranked[0]]
    if torn:
        base = best["npv"]["central"]
        tf = go.Figure(
            [
                go.Bar(name="Input at its low", y=[r["input"] for r in torn][::-1],
                       x=[r["npv_at_low"] - base for r in torn][::-1], orientation="h",
                       marker_color=ORANGE, meta={"measure": "gbp"}),
                go.Bar(name="Input at its high", y=[r["input"] for r in torn][::-1],
                       x=[r["npv_at_high"] - base for r in torn][::-1], orientation="h",
                       marker_color=BLUE, meta={"measure": "gbp"}),
            ]
        )  # fmt: skip
        tf.update_layout(
            barmode="overlay",
            xaxis={"title": "Change in net present social value (£) from the central case"},
            yaxis={"title": "Input"},
        )
        figures.append(SectionFigure(f"What matters most for {ranked[0]}", tf, "appraisal_tornado"))
    agencies = sorted({r["agency"] for r in t["appraisal_by_agency"]})
    cell = {(r["intervention"], r["agency"]): r for r in t["appraisal_by_agency"]}
    rows = []
    for k in ranked:
        row = [k]
        for a in agencies:
            c = cell.get((k, a))
            row.append(
                ""
                if c is None
                else f"pays {_gbp(float(c['pays_gbp']))} / gains "
                f"{_gbp(float(c['gains_gbp']))} (cashable {_gbp(float(c['cashable_gbp']))})"
            )
        rows.append(row)
    tables.append(
        SectionTable(
            title="Who pays and who gains (present values, central estimate)",
            columns=["intervention", *agencies],
            rows=rows,
            source="appraisal_by_agency",
            note="The 'wrong pocket': an agency that pays without gaining needs a deal to join.",
        )
    )
    wrong = [
        (k, a)
        for (k, a), c in cell.items()
        if float(c["pays_gbp"]) > 0 and float(c["gains_gbp"]) == 0
    ]
    if wrong:
        k, a = wrong[0]
        headlines.append(f"Wrong pocket: in {k}, {a} pays but none of the benefit falls to it.")
