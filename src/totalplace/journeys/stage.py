"""The ``journeys`` stage: timelines, transitions, handoffs and rework for a linked place."""

from __future__ import annotations

import time
from typing import Any

from totalplace.journeys import steps as steps_sql
from totalplace.journeys import transitions as tr_sql
from totalplace.journeys.flow import drop_temp
from totalplace.journeys.library import load_library, load_settings
from totalplace.journeys.steps import for_engine
from totalplace.place import StageResult
from totalplace.spc import xmr_table

TABLES = (
    "journey_steps",
    "transitions",
    "transition_summary",
    "transition_gaps",
    "transition_trend",
    "handoffs",
    "rework",
)
_STEPS, _TRANS = "_jr_steps", "_jr_transitions"


class Journeys:
    """``Journeys(place).run()`` publishes the tables in ``TABLES`` (see the package docs)."""

    def __init__(self, place):
        self.place = place

    def settings(self):
        m = self.place.manifest
        return load_settings(m.journeys, str(m.root / "place.yaml"))

    def library(self):
        s = self.settings()
        root = self.place.manifest.root
        files = [root / f for f in s.transitions]
        return load_library(*files, defaults=s.default_library)

    def run(self, **options: Any) -> StageResult:
        place, store = self.place, self.place.store
        eng = store.engine
        d = eng.dialect
        store.require("events", "person_links", "persons")
        settings = self.settings()
        library = self.library()
        m = place.manifest
        start, end = m.period.start, m.period.end
        root = m.root
        inputs = [root / f for f in settings.transitions]
        t0 = time.perf_counter()
        with store.stage_run("journeys", inputs=inputs) as run:
            eng.run(
                f'CREATE OR REPLACE TEMP TABLE "{_STEPS}" AS '
                + steps_sql.journey_steps_sql(m.timezone, eng.dialect)
            )
            eng.run(
                f'CREATE OR REPLACE TEMP TABLE "{_TRANS}" AS '
                + for_engine(tr_sql.all_transitions_sql(library, start, end, _STEPS), d)
            )
            counts = eng.query(for_engine(tr_sql.counts_sql(_TRANS), d)).to_pylist()
            # Monthly follow-up rate per kind, with XmR limits and signals (Making Data Count).
            trend = xmr_table(
                eng.query(tr_sql.trend_sql(_TRANS)),
                ["kind"],
                "month",
                "follow_up_rate",
                floor=0.0,
                min_points=6,
            )
            summary = tr_sql.summarise(counts, library)
            published = store.publish(
                {
                    "journey_steps": f'SELECT * FROM "{_STEPS}"',
                    "transitions": f'SELECT * FROM "{_TRANS}"',
                    "transition_summary": summary,
                    "transition_gaps": for_engine(tr_sql.gaps_sql(library, _TRANS, _STEPS), d),
                    "transition_trend": trend,
                    "handoffs": for_engine(
                        steps_sql.handoffs_sql(_STEPS, settings.handoff_window_days), d
                    ),
                    "rework": for_engine(steps_sql.rework_sql(_STEPS), d),
                }
            )
            events_in = eng.count("events")
            for name, n in published.items():
                run.rows[name] = {"out": n}
            run.rows["journey_steps"]["in"] = events_in
            run.detail = {
                "kinds": list(library),
                "handoff_window_days": settings.handoff_window_days,
                "unlinked_events": events_in - published["journey_steps"],
                "seconds": round(time.perf_counter() - t0, 1),
            }
            for t in (_TRANS, _STEPS):
                drop_temp(eng, t)
        lines = [
            f"journeys: {published['journey_steps']:,} steps for "
            f"{_scalar(eng, 'SELECT count(DISTINCT person_id) FROM journey_steps'):,} people "
            f"({events_in - published['journey_steps']:,} events not linked to a person)"
        ]
        for r in summary.to_pylist():
            if not r["volume"]:
                continue
            fu = r["follow_up_rate"]
            lines.append(
                f"  {r['kind']}: {r['volume']:,} transitions, {fu:.0%} followed up within "
                f"{r['follow_up_within_days']} days" + _adverse_line(r)
            )
        lines.append(f"  {published['handoffs']:,} agency-to-agency handoff pairs")
        return StageResult(
            stage="journeys",
            tables=published,
            summary=lines,
            detail=run.detail,
            headline=lines[0],
        )


def _adverse_line(r: dict) -> str:
    a, b = r["adverse_rate_followed_up"], r["adverse_rate_not_followed_up"]
    if a is None or b is None:
        return ""
    return f"; adverse outcome {b:.0%} without follow-up against {a:.0%} with it"


def _scalar(eng, sql: str) -> int:
    return int(eng.scalar(sql) or 0)
