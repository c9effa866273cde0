"""The ``report`` stage: every stage's section in one self-contained HTML file.

>>> from totalplace import Place
>>> with Place.open("examples/minitown") as place:          # doctest: +SKIP
...     place.report.run().detail["path"]
'.../examples/minitown/report/index.html'

Sections, in order: the place at a glance, demand, people, journeys, money, prevention and
appraisal, linkage quality, methods and data sources (see ``sections.PARTS``). A stage that
has not run is listed as not run. Every count has passed ``totalplace.disclosure`` (the rule
is ``report: {disclosure: nhs | under5 | under10}`` in place.yaml). Plotly's JavaScript comes
from the installed plotly package, embedded once: the file opens offline and can be emailed.
"""

from __future__ import annotations

import os
from pathlib import Path

from totalplace.disclosure import Disclosure
from totalplace.place import StageResult
from totalplace.report.render import render
from totalplace.report.sections import PARTS, build_sections

__all__ = ["Report", "PARTS", "build_sections", "render", "write_report"]


def write_report(place, disclosure: Disclosure, out: Path) -> dict:
    """Build every section, render, and write ``out`` atomically; returns what was written."""
    sections = build_sections(place, disclosure)
    m = place.manifest
    html = render(
        sections,
        place_name=m.name,
        period=f"{m.period.start:%d %B %Y} to {m.period.end:%d %B %Y}",
        rule=disclosure.description,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return {
        "path": str(out),
        "bytes": len(html.encode("utf-8")),
        "disclosure": disclosure.name,
        "sections": {s.stage: s.status for s in sections},
        "figures": sum(len(s.figures) for s in sections),
        "tables": sum(len(s.tables) for s in sections),
    }


class Report:
    """The report stage of one place: ``place.report.run()``."""

    def __init__(self, place):
        self.place = place

    @property
    def path(self) -> Path:
        return self.place.root / "report" / "index.html"

    def run(self, disclosure: Disclosure | None = None, out: Path | None = None) -> StageResult:
        """Write the report (``PLACE_DIR/report/index.html`` unless ``out`` is given)."""
        d = disclosure or Disclosure.for_place(self.place)
        out = Path(out) if out else self.path
        with self.place.store.stage_run("report") as run:
            detail = write_report(self.place, d, out)
            run.detail = detail
        ran = [k for k, v in detail["sections"].items() if v != "not run"]
        not_run = [k for k, v in detail["sections"].items() if v == "not run"]
        mb = detail["bytes"] / 1e6
        return StageResult(
            stage="report",
            detail=detail,
            headline=f"{out} ({mb:.1f} MB, {len(ran)} sections)",
            summary=[
                f"Wrote {out} ({mb:.1f} MB; {detail['figures']} charts, {detail['tables']} "
                f"tables; publishing rule '{d.name}').",
                f"Sections drawn: {', '.join(ran)}.",
                *([f"Not run yet: {', '.join(not_run)}."] if not_run else []),
            ],
        )
