"""A stage's part of the report: the contract between the analysis and the picture.

Each stage package offers ``section(place, disclosure) -> Section``: it reads the stage's
published tables and returns a small value object. The report and the web app only
assemble sections; they compute nothing themselves. Every count in a section has already
passed through ``disclosure`` (see ``totalplace.disclosure``) when the section is built:
headline sentences, table cells and the data behind each chart alike.

>>> s = Section(stage="demand", title="Demand", headlines=["Half of all contacts are failure demand."])
>>> s.has_run
True
>>> Section.not_run("money", "Money").status
'not run'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "not run", "stale"]


@dataclass(frozen=True)
class SectionTable:
    """A table for people to read: already disclosure-controlled, already formatted.

    ``rows`` hold plain Python values (str, int, float, None for a suppressed cell);
    ``source`` names the store table(s) the figures come from.
    """

    title: str
    columns: list[str]
    rows: list[list[Any]]
    source: str
    note: str = ""


@dataclass(frozen=True)
class SectionFigure:
    """A Plotly figure with a plain-language title and the store table it was drawn from."""

    title: str
    figure: Any  # plotly.graph_objects.Figure (kept untyped so importing this is cheap)
    source: str
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """One stage's section: headlines computed from the data, figures and tables."""

    stage: str
    title: str
    status: Status = "ok"
    headlines: list[str] = field(default_factory=list)
    figures: list[SectionFigure] = field(default_factory=list)
    tables: list[SectionTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # When the stage's tables were published, and by which run (from the runs table).
    run_id: str | None = None
    run_at: str | None = None

    @property
    def has_run(self) -> bool:
        return self.status != "not run"

    @classmethod
    def not_run(cls, stage: str, title: str, why: str = "") -> Section:
        """The section of a stage that has not run: said plainly, never faked."""
        note = why or f"The {stage} stage has not run on this place (run `totalplace {stage}`)."
        return cls(stage=stage, title=title, status="not run", notes=[note])
