"""The place at a glance: who holds records, how many people they describe, contacts, spend.

Reads ``source_people``, ``events``, ``spend`` (ingest) and, when the link stage has run,
``person_links``, ``persons`` and ``households``. Every count passes through the publishing
rule before it is shown; breakdowns shown beside their total get secondary suppression.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import plotly.graph_objects as go

from totalplace.disclosure import SUPPRESSED, Disclosure
from totalplace.report.charts import bar, style
from totalplace.section import Section, SectionFigure, SectionTable

TITLE = "The place at a glance"


def records_by_agency_sql() -> str:
    return 'SELECT agency, count(*) AS n FROM "source_people" GROUP BY agency ORDER BY agency'


def people_by_agency_sql() -> str:
    return """SELECT agency, count(DISTINCT person_id) AS n FROM "person_links"
              GROUP BY agency ORDER BY agency"""


def events_by_month_sql(start: str, end: str) -> str:
    """Contacts per month and agency within the place's period (dates as 'YYYY-MM-DD')."""
    return f"""SELECT strftime(date_trunc('month', start_at), '%Y-%m') AS month, agency,
                     count(*) AS n
              FROM "events"
              WHERE start_at >= DATE '{start}' AND start_at < DATE '{end}' + INTERVAL 1 DAY
              GROUP BY 1, 2 ORDER BY 1, 2"""


def agencies_per_person_sql() -> str:
    return 'SELECT n_agencies, count(*) AS n FROM "persons" GROUP BY 1 ORDER BY 1'


def spend_by_agency_sql() -> str:
    return """SELECT agency, year, sum(amount_gbp) AS amount FROM "spend"
              GROUP BY 1, 2 ORDER BY 2, 1"""


def money(amount: Decimal | float | int | None) -> str:
    """Pounds for people: £1.2m, £340k, £95."""
    if amount is None:
        return SUPPRESSED
    a = Decimal(amount)
    if abs(a) >= 1_000_000:
        return f"£{a / 1_000_000:,.1f}m"
    if abs(a) >= 10_000:
        return f"£{a / 1000:,.0f}k"
    return f"£{a:,.0f}"


def _rows(engine, sql: str) -> list[dict[str, Any]]:
    return engine.query(sql).to_pylist()


def section(place, disclosure: Disclosure) -> Section:
    """The first section of the report (see the module docstring)."""
    store = place.store
    engine = store.engine
    have = set(engine.tables())
    if "source_people" not in have:
        return Section.not_run(
            "glance", TITLE, "Nothing has been read into this place yet (run `totalplace ingest`)."
        )
    names = {a.id: a.name for a in place.manifest.agencies}
    d = disclosure
    headlines: list[str] = []
    figures: list[SectionFigure] = []

    records = {r["agency"]: int(r["n"]) for r in _rows(engine, records_by_agency_sql())}
    rec = d.protect_series(records)
    linked = {"person_links", "persons"} <= have
    if linked:
        n_people = int(engine.count("persons"))
        multi = {
            int(r["n_agencies"]): int(r["n"]) for r in _rows(engine, agencies_per_person_sql())
        }
        multi_s = d.protect_series(multi)
        three_plus = sum(v for k, v in multi.items() if k >= 3)
        headlines.append(
            f"{len(records)} agencies hold {rec.fmt(rec.total)} person records, which describe "
            f"{d.fmt_count(n_people)} people once linked."
        )
        if three_plus:
            headlines.append(
                f"{d.fmt_count(three_plus)} people ({d.fmt_rate(three_plus, n_people)}) are known "
                f"to three or more agencies."
            )
        people = {r["agency"]: int(r["n"]) for r in _rows(engine, people_by_agency_sql())}
        ppl = d.protect_series(people)  # beside 'All agencies': keep it safe
        figures.append(
            SectionFigure(
                "How many agencies know each person",
                bar(
                    [str(k) for k in multi_s.labels],
                    multi_s.values,
                    "How many agencies know each person",
                    "number of agencies holding a record of the person",
                    "people",
                ),
                source="persons",
                caption="A person known to several agencies is where joined-up work matters.",
            )
        )
    else:
        headlines.append(
            f"{len(records)} agencies hold {rec.fmt(rec.total)} person records "
            f"(not yet linked into people: run `totalplace link`)."
        )
        ppl = None
    if "households" in have:
        headlines.append(
            f"They live in {d.fmt_count(int(engine.count('households')))} households "
            f"(people sharing an address)."
        )

    period = place.manifest.period
    monthly = (
        _rows(engine, events_by_month_sql(str(period.start), str(period.end)))
        if "events" in have
        else []
    )
    if monthly:
        months = sorted({r["month"] for r in monthly})
        agencies = sorted({r["agency"] for r in monthly})
        grid = {(r["month"], r["agency"]): int(r["n"]) for r in monthly}
        t = d.protect([[grid.get((m, a), 0) for a in agencies] for m in months])
        headlines.append(
            f"They recorded {t.fmt(t.total)} contacts in the period "
            f"({period.start:%B %Y} to {period.end:%B %Y})."
        )
        fig = go.Figure()
        for j, a in enumerate(agencies):
            fig.add_trace(
                go.Scatter(
                    x=months,
                    y=[t.cells[i][j] for i in range(len(months))],
                    name=names.get(a, a),
                    mode="lines",
                    meta={"measure": "count"},
                )
            )
        fig.update_layout(
            title="Contacts each month, by agency",
            xaxis_title="month",
            yaxis_title="contacts in the month",
            height=480,
        )
        figures.append(
            SectionFigure(
                "Contacts each month, by agency",
                style(fig),
                source="events",
                caption="Gaps in a line are months with a hidden (small) count.",
            )
        )
    else:
        t = None

    spend = _rows(engine, spend_by_agency_sql()) if "spend" in have else []
    latest = max((r["year"] for r in spend), default=None)
    spend_latest = {r["agency"]: r["amount"] for r in spend if r["year"] == latest}
    if latest:
        headlines.append(
            f"Recorded spend in {latest}: {money(sum(spend_latest.values(), Decimal(0)))} "
            f"across {len(spend_latest)} agencies."
        )

    by_agency_events = {a: t.col_totals[j] for j, a in enumerate(agencies)} if t is not None else {}
    rows = []
    for i, a in enumerate(rec.labels):
        rows.append(
            [
                names.get(a, a),
                rec.values[i],
                ppl.values[ppl.labels.index(a)] if ppl and a in ppl.labels else None,
                by_agency_events.get(a, 0),
                money(spend_latest.get(a)) if a in spend_latest else "—",
            ]
        )
    rows.append(
        [
            "All agencies",
            rec.total,
            d.count(n_people) if linked else None,
            t.total if t is not None else 0,
            money(sum(spend_latest.values(), Decimal(0))) if latest else "—",
        ]
    )
    cols = ["Agency", "Person records", "People", "Contacts", f"Spend {latest or ''}".strip()]
    tables = [
        SectionTable(
            "Each agency's records, people, contacts and spend",
            cols,
            rows,
            source="source_people, person_links, events, spend",
            note=f"{SUPPRESSED}: a small number, hidden. 'All agencies' counts each person once.",
        )
    ]
    figures.insert(
        0,
        SectionFigure(
            "Person records held by each agency",
            bar(
                [names.get(a, a) for a in rec.labels],
                rec.values,
                "Person records held by each agency",
                "person records",
                "",
                horizontal=True,
            ),
            source="source_people",
        ),
    )
    runs = store.runs()
    last = runs[-1] if runs else None
    return Section(
        stage="glance",
        title=TITLE,
        headlines=headlines,
        figures=figures,
        tables=tables,
        run_id=last["run_id"] if last else None,
        run_at=str(last["finished_at"]) if last else None,
    )
