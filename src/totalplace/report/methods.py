"""Methods and data sources: every agency's extracts and every run recorded in ``runs``."""

from __future__ import annotations

import json
from typing import Any

from totalplace.disclosure import Disclosure
from totalplace.section import Section, SectionTable

TITLE = "Methods and data sources"

STEPS = {
    "ingest": "Each agency's extracts are read as they are, checked row by row, and every row "
    "is either loaded or set aside with a reason (none is dropped silently).",
    "link": "Records are joined into people with probabilistic record linkage (Fellegi-Sunter, "
    "trained by expectation maximisation, in Splink), then into households by address.",
    "demand": "Contacts are classed as value demand or failure demand (demand caused by a "
    "failure to do something, or to do it right, for the person).",
    "people": "Needs and costs are counted per person across every agency.",
    "journeys": "Each person's contacts are put in time order across agencies to find "
    "transitions and where the ball is dropped.",
    "money": "All recorded public spend in the place is counted once, by funder, agency and theme.",
    "appraise": "Prevention business cases weigh costs against benefits split by agency.",
    "report": "This report: only totals and breakdowns, after the publishing rule below.",
}


def _seconds(r: dict[str, Any]) -> str:
    if r.get("started_at") and r.get("finished_at"):
        return f"{(r['finished_at'] - r['started_at']).total_seconds():,.1f}"
    return ""


def _rows_out(r: dict[str, Any], disclosure: Disclosure) -> str:
    rows = r.get("rows") or {}
    if isinstance(rows, str):
        rows = json.loads(rows)
    parts = []
    for table, counts in rows.items():
        if isinstance(counts, dict) and "out" in counts and "/" not in str(table):
            parts.append(f"{table} {disclosure.fmt_count(counts['out'])}")
    return ", ".join(parts[:8])


def _freshness_rows(place) -> list[list[str]]:
    from totalplace.status import stage_status

    try:
        states = stage_status(place)
    except Exception as e:  # freshness is a courtesy here; the runs table is the record
        return [["all", "unknown", f"could not be told: {e}"]]
    return [[s.stage, s.state, "; ".join(s.reasons)] for s in states]


def section(place, disclosure: Disclosure) -> Section:
    """Where the data came from, what was done to it, and every run (oldest first)."""
    runs = place.store.runs()
    m = place.manifest
    sources = [[a.name, a.sector, f.table, str(f.path)] for a in m.agencies for f in a.files]
    run_rows = [
        [
            r["stage"],
            str(r["started_at"])[:19],
            _seconds(r),
            "ok" if r["outcome"] == "ok" else r["outcome"][:120],
            r.get("package_version") or "",
            _rows_out(r, disclosure),
            len(r.get("inputs") or {}),
        ]
        for r in runs
    ]
    ran = [s for s in STEPS if any(r["stage"] == s and r["outcome"] == "ok" for r in runs)]
    freshness = _freshness_rows(place)
    headlines = [
        f"{len(m.agencies)} agencies supplied {sum(len(a.files) for a in m.agencies)} extract "
        f"files covering {m.period.start:%d %B %Y} to {m.period.end:%d %B %Y}.",
        f"{len(runs)} stage runs are recorded for this place"
        + (f"; the stages that ran are: {', '.join(ran)}." if ran else "."),
        disclosure.description,
    ]
    notes = [
        f"{s.capitalize()}: {STEPS[s]}" for s in ran + (["report"] if "report" not in ran else [])
    ]
    return Section(
        stage="methods",
        title=TITLE,
        headlines=headlines,
        tables=[
            SectionTable(
                "Data sources",
                ["Agency", "Sector", "Read into", "File"],
                sources,
                source="place.yaml",
            ),
            SectionTable(
                "Every run recorded for this place",
                [
                    "Stage",
                    "Started (UTC)",
                    "Seconds",
                    "Outcome",
                    "Version",
                    "Tables written (rows)",
                    "Input files",
                ],
                run_rows,
                source="runs",
                note="Row counts are rounded like every other count in this report.",
            ),
            SectionTable(
                "Is each stage up to date?",
                ["Stage", "State", "Why"],
                freshness,
                source="runs, published_tables",
                note="A stage is out of date when an input file, a setting in place.yaml or a "
                "table it read has changed since it ran (`totalplace status PLACE` says the same).",
            ),
        ],
        notes=notes,
    )
