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
        by_theme: dict[str, dict[bool, Decimal]] = {}
        for r in prev:
            by_theme.setdefault(r["theme"], {})[bool(r["prevention"])] = r["amount_real_gbp"]
        for theme, parts in sorted(by_theme.items()):
            if parts.get(True):
                whole = sum(parts.values(), Decimal(0))
                headlines.append(
                    f"{_pct(parts.get(True), whole)} of {theme} spend keeps people well and "
                    f"{_pct(parts.get(False, Decimal(0)), whole)} treats or reacts "
                    "(source: money_count, services tagged prevention in place.yaml)."
                )
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
    return Section("money", TITLE, headlines=headlines, figures=figures, tables=tables)
