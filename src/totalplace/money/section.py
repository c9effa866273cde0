"""The money section of the report: headlines, the Sankey and the tables, from money's tables."""

from __future__ import annotations

from decimal import Decimal

from totalplace.disclosure import Disclosure
from totalplace.section import Section, SectionFigure, SectionTable

TITLE = "Money: all public money in the place"
# Okabe-Ito: distinguishable with the common forms of colour blindness.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999")


def _rows(engine, sql: str) -> list[dict]:
    return engine.query(sql).to_pylist()


def _pct(part: Decimal | None, whole: Decimal | None) -> str:
    if part is None or not whole:
        return "not known"
    return f"{Decimal(part) / Decimal(whole) * 100:.0f}%"


def sankey(rows_fa: list[dict], rows_at: list[dict], title: str):
    """Funder -> agency -> theme, widths in pounds (real terms)."""
    import plotly.graph_objects as go

    labels: list[str] = []
    index: dict[tuple[str, str], int] = {}

    def node(kind: str, name: str) -> int:
        if (kind, name) not in index:
            index[(kind, name)] = len(labels)
            labels.append(name)
        return index[(kind, name)]

    src, dst, val = [], [], []
    for r in rows_fa:
        if r["amount_real_gbp"] and r["amount_real_gbp"] > 0:
            src.append(node("funder", r["funder"]))
            dst.append(node("agency", r["agency"]))
            val.append(float(r["amount_real_gbp"]))  # drawing only: widths, never summed
    for r in rows_at:
        if r["amount_real_gbp"] and r["amount_real_gbp"] > 0:
            src.append(node("agency", r["agency"]))
            dst.append(node("theme", r["theme"]))
            val.append(float(r["amount_real_gbp"]))
    colours = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(labels))]
    fig = go.Figure(
        go.Sankey(
            node={"label": labels, "color": colours, "pad": 12},
            link={"source": src, "target": dst, "value": val},
            valueformat=",.0f",
            valuesuffix=" £",
        )
    )
    fig.update_layout(title=title, font={"size": 12})
    return fig


def prevention_headlines(rows: list[dict]) -> list[str]:
    """Prevention vs reactive spend: all health themes pooled (Birmingham's "96% treating
    illness, 4% keeping well"), then every theme that has both kinds."""
    parts: dict[str, dict[bool, Decimal]] = {}
    for r in rows:
        d = parts.setdefault(r["theme"], {})
        d[bool(r["prevention"])] = d.get(bool(r["prevention"]), Decimal(0)) + r["amount_real_gbp"]
    out = []
    health = [t for t in parts if "health" in t.lower()]
    if health:
        well = sum((parts[t].get(True, Decimal(0)) for t in health), Decimal(0))
        whole = sum((sum(parts[t].values(), Decimal(0)) for t in health), Decimal(0))
        out.append(
            f"{_pct(whole - well, whole)} of health spend ({', '.join(sorted(health))}) goes on "
            f"treating illness and {_pct(well, whole)} on keeping people well "
            "(source: money_count; services tagged prevention in place.yaml)."
        )
    for theme, d in sorted(parts.items()):
        if theme not in health and d.get(True) and d.get(False):
            whole = d[True] + d[False]
            out.append(
                f"{_pct(d[True], whole)} of {theme} spend is preventive "
                "(source: money_count; services tagged prevention in place.yaml)."
            )
    return out


def shared_services_headlines(by_agency: dict[str, dict[str, Decimal]], year: str) -> list[str]:
    """Support functions and buildings across agencies, and the size of the prize if every
    agency's share of spend on them were the lowest share any agency manages."""
    from totalplace.money.stage import fmt_gbp

    rows = []
    for agency, parts in by_agency.items():
        whole = sum(parts.values(), Decimal(0))
        back = parts.get("support", Decimal(0)) + parts.get("buildings", Decimal(0))
        if whole > 0 and back > 0:
            rows.append((agency, whole, back, back / whole))
    if len(rows) < 2:
        return []
    best = min(rows, key=lambda r: r[3])
    back_total = sum((r[2] for r in rows), Decimal(0))
    prize = sum((r[2] - r[1] * best[3] for r in rows), Decimal(0))
    return [
        f"{len(rows)} agencies spend {fmt_gbp(back_total)} on support functions and buildings "
        f"in {year}; if each spent the lowest share any of them does ({best[3] * 100:.0f}%, "
        f"{best[0]}), {fmt_gbp(prize)} would be released: the size of the prize from sharing "
        "back offices and buildings (source: money_count)."
    ]


def section(place, disclosure: Disclosure) -> Section:
    """The money section: computed from ``money_count`` (and the ties' tables when present)."""
    from totalplace.money.stage import fmt_gbp

    engine = place.store.engine
    if not engine.has_table("money_count"):
        return Section.not_run("money", TITLE)
    rows = _rows(engine, "SELECT * FROM money_count WHERE level = 'place' ORDER BY year")
    if not rows:
        return Section("money", TITLE, headlines=["No spend lines were counted."])
    latest = rows[-1]
    year, py = latest["year"], latest["price_year"]
    name = place.manifest.name
    headlines = [
        f"{fmt_gbp(latest['amount_real_gbp'])} of public money flows into {name} in {year} "
        f"({py} prices; source: money_count)."
    ]
    if latest["per_head_real_gbp"] is not None:
        headlines.append(
            f"That is {fmt_gbp(latest['per_head_real_gbp'])} for each of "
            f"{disclosure.fmt_count(latest['population'])} residents (source: money_count)."
        )
    if latest["change_real_pct"] is not None:
        direction = "up" if latest["change_real_gbp"] >= 0 else "down"
        headlines.append(
            f"In real terms it is {direction} {abs(latest['change_real_pct']):.1f}% on the year "
            f"before ({fmt_gbp(abs(latest['change_real_gbp']))}; source: money_count)."
        )
    cats = {
        r["category"]: r["amount_real_gbp"]
        for r in _rows(
            engine,
            f"SELECT category, amount_real_gbp FROM money_count WHERE level = 'category' "
            f"AND year = '{year}'",
        )
    }
    total = latest["amount_real_gbp"]
    headlines.append(
        f"{_pct(cats.get('front line'), total)} goes on front-line services, "
        f"{_pct(cats.get('support'), total)} on support functions and "
        f"{_pct(cats.get('buildings'), total)} on buildings (source: money_count)."
    )
    prev = _rows(
        engine,
        f"SELECT theme, prevention, amount_real_gbp FROM money_count "
        f"WHERE level = 'theme_prevention' AND year = '{year}'",
    )
    if any(r["prevention"] for r in prev):
        headlines.extend(prevention_headlines(prev))
    fa = _rows(
        engine,
        f"SELECT funder, agency, amount_real_gbp FROM money_count "
        f"WHERE level = 'funder_agency' AND year = '{year}'",
    )
    at = _rows(
        engine,
        f"SELECT agency, theme, amount_real_gbp FROM money_count "
        f"WHERE level = 'agency_theme' AND year = '{year}'",
    )
    figures = [
        SectionFigure(
            title=f"Where the money comes from and goes, {year} ({py} prices)",
            figure=sankey(fa, at, f"Funders, agencies and themes, {year}"),
            source="money_count",
            caption="Width is pounds in real terms: funder to agency to theme.",
        )
    ]
    ag = _rows(
        engine,
        f"SELECT agency, category, amount_real_gbp FROM money_count "
        f"WHERE level = 'agency_category' AND year = '{year}' ORDER BY agency, category",
    )
    by_agency: dict[str, dict[str, Decimal]] = {}
    for r in ag:
        by_agency.setdefault(r["agency"], {})[r["category"]] = r["amount_real_gbp"]
    table_rows = []
    for agency, parts in sorted(by_agency.items()):
        whole = sum(parts.values(), Decimal(0))
        table_rows.append(
            [
                agency,
                f"£{parts.get('front line', Decimal(0)):,.0f}",
                f"£{parts.get('support', Decimal(0)):,.0f}",
                f"£{parts.get('buildings', Decimal(0)):,.0f}",
                f"£{whole:,.0f}",
                _pct(parts.get("support", Decimal(0)) + parts.get("buildings", Decimal(0)), whole),
            ]
        )
    headlines.extend(shared_services_headlines(by_agency, year))
    tables = [
        SectionTable(
            title=f"Front line, support functions and buildings by agency, {year} ({py} prices)",
            columns=[
                "agency",
                "front line",
                "support",
                "buildings",
                "total",
                "support + buildings",
            ],
            rows=table_rows,
            source="money_count",
        ),
        SectionTable(
            title=f"All public money by year ({py} prices)",
            columns=["year", "cash", "real terms", "per head", "change (real)"],
            rows=[
                [
                    r["year"],
                    f"£{r['amount_gbp']:,.2f}",
                    f"£{r['amount_real_gbp']:,.2f}",
                    "" if r["per_head_real_gbp"] is None else f"£{r['per_head_real_gbp']:,.2f}",
                    "" if r["change_real_pct"] is None else f"{r['change_real_pct']:+.1f}%",
                ]
                for r in rows
            ],
            source="money_count",
        ),
    ]
    _ties(engine, year, py, headlines, tables, disclosure)
    return Section("money", TITLE, headlines=headlines, figures=figures, tables=tables)


def _money(v: Decimal | None) -> str:
    return "" if v is None else f"£{v:,.0f}"


def _share(v: float | None) -> str:
    return "" if v is None else f"{v:.0f}%"


def _ties(
    engine,
    year: str,
    py: str,
    headlines: list[str],
    tables: list[SectionTable],
    disclosure: Disclosure,
) -> None:
    """Headlines and tables from activity_costs and failure_demand_costs, when present."""
    from totalplace.money.stage import fmt_gbp

    if engine.has_table("activity_costs"):
        rows = _rows(
            engine,
            f"SELECT * FROM activity_costs WHERE year = '{year}' ORDER BY agency",
        )
        front = sum((r["front_line_real_gbp"] or Decimal(0) for r in rows), Decimal(0))
        act = sum((r["activity_cost_gbp"] or Decimal(0) for r in rows), Decimal(0))
        if front:
            headlines.append(
                f"Recorded activity at unit cost explains {_pct(act, front)} of front-line "
                f"spend in {year}; {fmt_gbp(front - act)} is not explained by the activity "
                "the extracts show (source: activity_costs)."
            )
        spend = sum((r["spend_real_gbp"] or Decimal(0) for r in rows), Decimal(0))
        top5 = sum((r["top5_cost_gbp"] or Decimal(0) for r in rows), Decimal(0))
        top1 = sum((r["top1_cost_gbp"] or Decimal(0) for r in rows), Decimal(0))
        if spend and top5:
            headlines.append(
                f"The 1% of residents who cost most take {_pct(top1, spend)} of all public "
                f"spend in the place and the top 5% take {_pct(top5, spend)} "
                "(source: activity_costs)."
            )
        tables.append(
            SectionTable(
                title=f"Activity-based cost against each agency's spend, {year} ({py} prices)",
                columns=[
                    "agency",
                    "front-line spend",
                    "activity at unit cost",
                    "not explained",
                    "explained",
                    "top 1% share of spend",
                    "top 5% share of spend",
                ],
                rows=[
                    [
                        r["agency"],
                        _money(r["front_line_real_gbp"]),
                        _money(r["activity_cost_gbp"]),
                        _money(r["unexplained_gbp"]),
                        _share(r["explained_pct"]),
                        _share(r["top1_share_of_spend_pct"]),
                        _share(r["top5_share_of_spend_pct"]),
                    ]
                    for r in rows
                ],
                source="activity_costs",
                note="Activity cost: the people stage's event_costs (unit cost x activity).",
            )
        )
    if engine.has_table("failure_demand_costs"):
        fd = _rows(
            engine,
            "SELECT sum(failure_cost_gbp) AS f, sum(contact_cost_gbp) AS c, "
            "sum(failure_contacts) AS n, sum(contacts) AS m, sum(failure_handoffs) AS h "
            f"FROM failure_demand_costs WHERE year = '{year}'",
        )[0]
        if fd["c"]:
            handoffs = (
                f"; {disclosure.fmt_count(fd['h'])} failure contacts were passed to a back office, whose rework "
                "is not costed"
                if fd["h"]
                else ""
            )
            headlines.append(
                f"Failure demand costs {fmt_gbp(fd['f'])} a year to handle at unit cost "
                f"({_pct(fd['f'], fd['c'])} of what contacts cost in {year}){handoffs} "
                "(source: failure_demand_costs)."
            )
