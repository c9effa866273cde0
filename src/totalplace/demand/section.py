"""The demand section of the report: headlines, charts and tables from the demand tables."""

from __future__ import annotations

import pandas as pd

from totalplace.disclosure import Disclosure
from totalplace.section import Section, SectionFigure, SectionTable

TITLE = "Demand: value and failure demand"
BLUE, ORANGE = "#0072B2", "#E69F00"  # Okabe-Ito: colour-blind safe


def _pct(x: float | None) -> str:
    return "*" if x is None else f"{x:.0%}"


def _days(x: float | None) -> str:
    return "*" if x is None or pd.isna(x) else f"{x:.1f}"


def section(place, disclosure: Disclosure | None = None) -> Section:
    """Headline sentences, charts and tables computed from ``demand*`` tables."""
    d_ = disclosure or Disclosure()
    have = set(place.store.engine.tables())
    if not {"demand", "demand_chains", "demand_weekly"} <= have:
        return Section.not_run("demand", TITLE)
    run = place.store.last_run("demand")
    q = place.store.engine.query
    c = q("SELECT * FROM demand WHERE source = 'contact'").to_pandas()
    ch = q("SELECT * FROM demand_chains").to_pandas()
    wk = q("SELECT * FROM demand_weekly").to_pandas()
    st = q(
        "SELECT source, demand_type, count(*) AS n FROM demand WHERE source <> 'contact' GROUP BY ALL"
    ).to_pandas()
    name = place.manifest.name
    headlines: list[str] = []
    n = len(c)
    nf = int((c["demand_type"] == "failure").sum())
    share = d_.rate(nf, n)
    if n:
        fail = c[c["demand_type"] == "failure"]
        top = fail.groupby(["category", "service"]).size().sort_values(ascending=False)
        cause = ""
        if len(top) and d_.count(int(top.iloc[0])) is not None:
            cat, svc = top.index[0]
            cause = f"; the largest single cause is {cat} on {str(svc).lower()}"
        headlines.append(
            f"In {name} {_pct(share)} of the {d_.fmt_count(n)} contacts with the front door are "
            f"failure demand{cause}."
        )
    if len(ch):
        e = ch["end_to_end_days"]
        k = len(ch)
        med = d_.statistic(float(e.median()), k)
        p80 = d_.statistic(float(e.quantile(0.8)), k)
        p95 = d_.statistic(float(e.quantile(0.95)), k)
        headlines.append(
            f"From a citizen's first contact to the last of its chain: half of "
            f"{d_.fmt_count(k)} needs are done within {_days(med)} days, 80% within "
            f"{_days(p80)} and 95% within {_days(p95)} — that is what the system delivers now."
        )
    val = c[c["demand_type"] == "value"]
    # Only where the data records the front door's outcome (resolved or passed on).
    if len(val) and val["outcome_class"].isin(["resolved", "handoff"]).any():
        res = d_.rate(int((val["outcome_class"] == "resolved").sum()), len(val))
        hand = d_.rate(int((val["outcome_class"] == "handoff").sum()), len(val))
        after = d_.rate(int(c["after_handoff"].sum()), nf) if nf else None
        headlines.append(
            f"At the front door {_pct(res)} of value demand is resolved at first contact and "
            f"{_pct(hand)} passed to a back office; {_pct(after)} of failure demand follows "
            "such a handoff."
        )
    for src, g in st.groupby("source"):
        tot = int(g["n"].sum())
        f = int(g.loc[g["demand_type"] == "failure", "n"].sum())
        headlines.append(
            f"{str(src)[0].upper() + str(src)[1:]}: {d_.fmt_count(f)} of "
            f"{d_.fmt_count(tot)} ({_pct(d_.rate(f, tot))})."
        )
    figures = _figures(c, wk, d_)
    tables = [_service_table(c, ch, d_)]
    notes = []
    if run and run.get("detail"):
        det = run["detail"]
        mm = det.get("model_metrics", {}).get(det.get("method", ""), {})
        if mm:
            notes.append(
                f"Text classifier ({det.get('method')}, rules {det.get('rules_version')}): "
                f"cross-validated accuracy {mm.get('accuracy', 0):.0%}, macro-F1 "
                f"{mm.get('macro_f1', 0):.2f} on the labelled sample; repeats within "
                f"{det.get('repeat_window_days')} days decided "
                f"{d_.fmt_count(det.get('methods', {}).get('linked', 0))} contacts."
            )
    return Section(
        stage="demand",
        title=TITLE,
        headlines=headlines,
        figures=figures,
        tables=tables,
        notes=notes,
        run_id=run["run_id"] if run else None,
        run_at=str(run["finished_at"]) if run and "finished_at" in run else None,
    )


def _figures(c: pd.DataFrame, wk: pd.DataFrame, d_: Disclosure) -> list[SectionFigure]:
    import plotly.graph_objects as go

    from totalplace.spc import xmr, xmr_figure

    out = []
    tot = wk[
        (wk["service"] == "All services")
        & (wk["channel"] == "All channels")
        & (wk["measure"] == "failure_share")
    ]
    if len(tot):
        agency = tot.groupby("agency")["n"].sum().idxmax()
        s = tot[tot["agency"] == agency].sort_values("week")
        # Weeks whose count is suppressed are left out of the published chart.
        s = s[[d_.count(int(x)) is not None for x in s["n"]]]
        if len(s) >= 2:
            chart = xmr(list(s["value"] * 100))
            out.append(
                SectionFigure(
                    "Failure demand each week, as a process behaviour chart",
                    xmr_figure(
                        chart,
                        list(s["week"].astype(str)),
                        title="Share of contacts that are failure demand, week by week",
                        y_label="Failure demand (% of contacts)",
                    ),
                    "demand_weekly",
                    "Points outside the dashed process limits, or runs and trends, are signals "
                    "of a real change; everything else is the system's usual variation.",
                )
            )
    if len(c):
        g = c.groupby("service")["demand_type"].agg(
            n="size", failure=lambda x: int((x == "failure").sum())
        )
        g = g[[d_.count(int(v)) is not None for v in g["n"]]]
        g["share"] = [d_.rate(int(f), int(n)) for f, n in zip(g["failure"], g["n"], strict=True)]
        g = g.dropna().sort_values("share")
        fig = go.Figure(
            go.Bar(
                x=list(g["share"] * 100),
                y=list(g.index),
                orientation="h",
                marker_color=ORANGE,
                hovertemplate="%{y}: %{x:.0f}%<extra></extra>",
            )
        )
        fig.update_layout(
            title="Failure demand by service",
            xaxis_title="Failure demand (% of the service's contacts)",
            yaxis_title="Service",
            template="plotly_white",
        )
        out.append(SectionFigure("Failure demand by service", fig, "demand"))
    return out


def _service_table(c: pd.DataFrame, ch: pd.DataFrame, d_: Disclosure) -> SectionTable:
    rows = []
    for svc, g in c.groupby("service"):
        n = len(g)
        f = g[g["demand_type"] == "failure"]
        top = f["category"].value_counts()
        e = ch.loc[ch["service"] == svc, "end_to_end_days"]
        k = len(e)
        rows.append(
            [
                svc,
                d_.count(n),
                None if d_.rate(len(f), n) is None else round(100 * d_.rate(len(f), n)),
                top.index[0] if len(top) and d_.count(int(top.iloc[0])) is not None else None,
                d_.statistic(round(float(e.median()), 1), k) if k else None,
                d_.statistic(round(float(e.quantile(0.8)), 1), k) if k else None,
                d_.statistic(round(float(e.quantile(0.95)), 1), k) if k else None,
            ]
        )
    return SectionTable(
        "Demand and end-to-end time by service",
        [
            "Service",
            "Contacts",
            "Failure demand %",
            "Largest failure cause",
            "End-to-end days, median",
            "80th percentile",
            "95th percentile",
        ],
        rows,
        "demand, demand_chains",
        "End-to-end time runs from a person's first contact about a need to the last contact "
        "of its chain (or its closing date).",
    )
