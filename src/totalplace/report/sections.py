"""The report's sections in order, each from the package that owns it.

A stage's section is its package's ``section(place, disclosure)``. When the package is not
in this version, or the stage has not run on this place, the section says so: never faked.
A stage that lands later needs no change here.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass

from totalplace.disclosure import Disclosure
from totalplace.section import Section

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Part:
    key: str  # anchor in the report, and the stage whose run it needs (if ``stage``)
    title: str
    module: str
    stage: str | None = None  # a stage that must have run for its section to be drawn


PARTS: tuple[Part, ...] = (
    Part("glance", "The place at a glance", "totalplace.report.glance"),
    Part("demand", "Demand", "totalplace.demand", "demand"),
    Part("people", "People", "totalplace.people", "people"),
    Part("journeys", "Journeys", "totalplace.journeys", "journeys"),
    Part("money", "Money", "totalplace.money", "money"),
    Part("appraise", "Prevention and appraisal", "totalplace.appraise", "appraise"),
    Part("link", "Linkage quality", "totalplace.link.section", "link"),
    Part("methods", "Methods and data sources", "totalplace.report.methods"),
)


def _section_function(part: Part):
    try:
        mod = importlib.import_module(part.module)
    except ModuleNotFoundError as e:
        if e.name and (part.module == e.name or part.module.startswith(e.name + ".")):
            return None
        raise
    return getattr(mod, "section", None)


def build_section(place, part: Part, disclosure: Disclosure) -> Section:
    """One part of the report, or a plain 'not run' section saying why."""
    try:
        fn = _section_function(part)
    except Exception as e:  # a package that fails to import is reported, not hidden
        return Section.not_run(part.key, part.title, f"Could not load {part.module}: {e}")
    name = part.stage or part.key
    if fn is None and importlib.util.find_spec(part.module) is None:
        return Section.not_run(
            part.key, part.title, f"This version of totalplace does not have the {name} stage yet."
        )
    ran = part.stage is None or place.store.last_run(part.stage) is not None
    if not ran:
        return Section.not_run(part.key, part.title)
    if fn is None:
        return Section.not_run(
            part.key,
            part.title,
            f"The {name} stage has run, but this version does not draw a report section for it.",
        )
    try:
        s = fn(place, disclosure)
    except Exception as e:  # one stage's broken section must not lose the whole report
        log.warning("the %s section failed: %s", part.key, e, exc_info=True)
        return Section.not_run(
            part.key, part.title, f"This section could not be drawn: {type(e).__name__}: {e}"
        )
    if s.title != part.title:  # the report's titles are fixed; keep the stage's as a note
        s = Section(**{**s.__dict__, "title": part.title})
    return s


def stale_stages(place) -> dict[str, list[str]]:
    """Stages whose published tables are out of date, with the reasons (from lineage)."""
    from totalplace.status import stage_status

    try:
        return {s.stage: s.reasons for s in stage_status(place) if s.state == "stale"}
    except Exception as e:  # the report must not fail because freshness could not be told
        log.warning("could not tell which stages are out of date: %s", e)
        return {}


def mark_stale(section: Section, reasons: list[str]) -> Section:
    """The same section, marked out of date with the reasons, so nobody reads it as current."""
    why = "; ".join(reasons) or "its inputs changed since it ran"
    note = f"Out of date: {why}. Run `totalplace run` again to bring it up to date."
    return Section(**{**section.__dict__, "status": "stale", "notes": [note, *section.notes]})


def build_sections(place, disclosure: Disclosure) -> list[Section]:
    """Every section, in the report's order; a stage whose inputs changed is marked stale."""
    stale = stale_stages(place)
    out = []
    for part in PARTS:
        s = build_section(place, part, disclosure)
        if s.has_run and part.stage in stale:
            s = mark_stale(s, stale[part.stage])
        out.append(s)
    return out
