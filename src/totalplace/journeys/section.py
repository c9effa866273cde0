"""The journeys section of the report: where the ball is dropped, computed from the tables.

Reads ``transition_summary``, ``transition_gaps``, ``transitions``, ``transition_trend``
and ``handoffs``; every count and rate passes through ``Disclosure`` before it is shown.
"""

from __future__ import annotations

from totalplace.section import Section, SectionFigure, SectionTable

TITLE = "Journeys and transitions"
# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, GREEN, GREY, VERMILLION = "#0072B2", "#E69F00", "#009E73", "#999999", "#D55E00"


def _pct(x: float | None) -> str:
    return "*" if x is None else f"{x:.0%}"


def headline(row: dict, library, d) -> str | None:
    """'38% of ... had no ... within 7 days; their ... rate was 21% against 12%.'"""
    tr = library.get(row["kind"])
    n, f = row["volume"], row["followed_up"]
    missed = d.rate(n - f, n)
    if tr is None or missed is None:
        return None
    contacts = " or ".join(c.name or ", ".join(c.agency) for c in tr.follow_up.contacts)
    if tr.follow_up.require == "all" and len(tr.follow_up.contacts) > 1:
        contacts = " and ".join(c.name or ", ".join(c.agency) for c in tr.follow_up.contacts)
        both = "both" if len(tr.follow_up.contacts) == 2 else "all of"
        missed_text = f"did not have {both} {contacts}"
    else:
        missed_text = f"had no {contacts}"
    text = (
        f"{missed:.0%} of {d.fmt_count(n)} transitions ({tr.title}) {missed_text} within "
        f"{tr.follow_up_days} days"
    )
    without = d.rate(row["adverse_not_followed_up"], row["not_followed_up"])
    with_ = d.rate(row["adverse_followed_up"], row["followed_up"])
    if tr.adverse and without is not None and with_ is not None:
        outcome = " or ".join(
            f"{a.name or ', '.join(a.activity)} within {a.within_days} days" for a in tr.adverse
        )
        text += (
            f"; their rate of {outcome} was {without:.0%}, against {with_:.0%} for those "
            "who were followed up"
        )
    return text + "."


def section(place, disclosure) -> Section:
    eng = place.store.engine
    if not eng.has_table("transition_summary"):
        return Section.not_run("journeys", TITLE)
    d = disclosure
    library = place.journeys.library()
    summary = place.store.table("transition_summary").to_pylist()
    summary.sort(key=lambda r: -r["volume"])
    headlines = [h for r in summary if (h := headline(r, library, d))]
    run = place.store.last_run("journeys") or {}
    notes = []
    if summary:
        notes.append(summary[0]["warning"])
    figures = [
        _funnel(summary, d),
        _gaps_figure(eng, d),
        _handoff_figure(place.store.table("handoffs").to_pylist(), d),
    ]
    trend = _trend_figure(place.store.table("transition_trend"), d)
    if trend is not None:
        figures.append(trend)
    return Section(
        stage="journeys",
        title=TITLE,
        headlines=headlines,
        figures=[f for f in figures if f is not None],
        tables=[_summary_table(summary, d), _gaps_table(place.store.table("transition_gaps"), d)],
        notes=notes,
        run_id=run.get("run_id"),
        run_at=str(run["finished_at"]) if run.get("finished_at") else None,
    )


def _summary_table(rows: list[dict], d) -> SectionTable:
    def ci(k, n, lo, hi):
        r = d.rate(k, n)
        return None if r is None else f"{r:.0%} ({lo:.0%} to {hi:.0%})"

    out = []
    for r in rows:
        out.append(
            [
                r["title"],
                d.count(r["volume"]),
                ci(r["followed_up"], r["volume"], r["follow_up_rate_lo"], r["follow_up_rate_hi"]),
                d.statistic(r["median_days_to_follow_up"], r["followed_up"]),
                ci(
                    r["adverse_followed_up"],
                    r["followed_up"],
                    r["adverse_rate_followed_up_lo"],
                    r["adverse_rate_followed_up_hi"],
                ),
                ci(
                    r["adverse_not_followed_up"],
                    r["not_followed_up"],
                    r["adverse_rate_not_followed_up_lo"],
                    r["adverse_rate_not_followed_up_hi"],
                ),
            ]
        )
    return SectionTable(
        title="Transitions: follow-up and adverse outcomes (95% intervals)",
        columns=[
            "Transition",
            "Number",
            "Followed up in time",
            "Median days to follow-up",
            "Adverse outcome, followed up",
            "Adverse outcome, not followed up",
        ],
        rows=out,
        source="transition_summary",
        note="An association, not proof of cause: see the note below.",
    )


def _gaps_table(t, d) -> SectionTable:
    rows = []
    for r in t.to_pylist():
        rows.append(
            [
                r["kind"],
                r["from_agency"],
                r["contact"],
                r["within_days"],
                d.count(r["transitions"]),
                d.count(r["met"]),
                d.count(r["late"]),
                d.count(r["never"]),
                d.statistic(r["median_days_to_first_contact"], r["transitions"]),
            ]
        )
    return SectionTable(
        title="Where the ball is dropped: expected contacts met in time, late or never",
        columns=[
            "Transition",
            "From",
            "Expected contact",
            "Within days",
            "Transitions",
            "In time",
            "Late",
            "Never",
            "Median days to first contact",
        ],
        rows=rows,
        source="transition_gaps",
    )


def _funnel(rows: list[dict], d):
    import plotly.graph_objects as go

    kinds = [r["title"] for r in rows]
    fig = go.Figure()
    parts = [
        (
            "Followed up, no adverse outcome",
            lambda r: r["followed_up"] - r["adverse_followed_up"],
            GREEN,
        ),
        ("Followed up, adverse outcome", lambda r: r["adverse_followed_up"], ORANGE),
        (
            "Not followed up, no adverse outcome",
            lambda r: r["not_followed_up"] - r["adverse_not_followed_up"],
            GREY,
        ),
        ("Not followed up, adverse outcome", lambda r: r["adverse_not_followed_up"], VERMILLION),
    ]
    for name, value, colour in parts:
        fig.add_bar(
            name=name,
            y=kinds,
            x=[d.count(value(r)) for r in rows],
            orientation="h",
            marker_color=colour,
        )
    fig.update_layout(
        barmode="stack",
        xaxis_title="Number of transitions",
        yaxis_title="",
        legend_title="What happened",
    )
    return SectionFigure(
        title="Each transition: followed up in time or not, and what happened next",
        figure=fig,
        source="transition_summary",
        caption="Counts are rounded and small ones suppressed.",
    )


def _gaps_figure(eng, d):
    import plotly.graph_objects as go

    t = eng.query(
        "SELECT kind, days_to_follow_up AS days, count(*) AS n FROM transitions "
        "WHERE days_to_follow_up IS NOT NULL GROUP BY kind, days_to_follow_up ORDER BY kind, days"
    ).to_pylist()
    if not t:
        return None
    fig = go.Figure()
    colours = [BLUE, ORANGE, GREEN, VERMILLION, GREY]
    for i, kind in enumerate(sorted({r["kind"] for r in t})):
        rs = [r for r in t if r["kind"] == kind]
        fig.add_bar(
            name=kind.replace("_", " "),
            x=[r["days"] for r in rs],
            y=[d.count(r["n"]) for r in rs],
            marker_color=colours[i % len(colours)],
        )
    fig.update_layout(
        barmode="group",
        xaxis_title="Days from the transition to the follow-up",
        yaxis_title="Number of people followed up",
    )
    return SectionFigure(
        title="How long people waited for the follow-up", figure=fig, source="transitions"
    )


def _handoff_figure(rows: list[dict], d):
    import plotly.graph_objects as go

    rows = [r for r in rows if d.count(r["handoffs"])]
    if not rows:
        return None
    names = sorted({r["from_agency"] for r in rows} | {r["to_agency"] for r in rows})
    idx = {n: i for i, n in enumerate(names)}
    fig = go.Figure(
        go.Sankey(
            node={"label": [n.replace("_", " ") for n in names], "color": BLUE},
            link={
                "source": [idx[r["from_agency"]] for r in rows],
                "target": [idx[r["to_agency"]] for r in rows],
                "value": [d.count(r["handoffs"]) for r in rows],
                "customdata": [round(r["median_wait_days"], 1) for r in rows],
                "hovertemplate": "%{value} handoffs, median wait %{customdata} days<extra></extra>",
                "color": "rgba(230,159,0,0.4)",
            },
        )
    )
    return SectionFigure(
        title="Handoffs between agencies: a person's next contact is with another agency",
        figure=fig,
        source="handoffs",
        caption="Within the handoff window; width is the number of handoffs.",
    )


def _trend_figure(t, d):
    """The monthly follow-up rate of the most common transition as an XmR chart."""
    from totalplace import spc

    rows = t.to_pylist()
    if not rows:
        return None
    by_kind: dict[str, list[dict]] = {}
    for r in rows:
        by_kind.setdefault(r["kind"], []).append(r)
    kind = max(by_kind, key=lambda k: sum(r["volume"] for r in by_kind[k]))
    # Months whose count would be suppressed are left out (their rate would disclose it).
    series = sorted((r for r in by_kind[kind] if d.count(r["volume"])), key=lambda r: r["month"])
    if len(series) < 6:
        return None
    chart = spc.xmr([r["follow_up_rate"] for r in series], floor=0.0)
    name = kind.replace("_", " ")
    fig = spc.xmr_figure(
        chart,
        [r["month"] for r in series],
        title=f"{name}: share followed up in time, by month",
        y_label="Share followed up in time",
        x_label="Month",
    )
    signals = sum(chart.special_cause)
    return SectionFigure(
        title=f"Is follow-up after {name} changing? (XmR chart)",
        figure=fig,
        source="transition_trend",
        caption=(
            f"{signals} month(s) show a special-cause signal."
            if signals
            else "Every month is within the process limits: common-cause variation only."
        ),
    )
