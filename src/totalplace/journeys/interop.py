"""Hand journeys to process-mining tools: XES, OCEL 2.0 (JSON) and pm4py's frame convention.

All three start from ``cohort_steps``: the ``journey_steps`` of a cohort (everyone, the
people in a published table, or those matching a SQL condition), in person and time order.
Nothing here imports pm4py (it is AGPL); the files and frames simply follow its conventions.

>>> xes_event("A&E attendance", "acute", "2024-01-01T10:00:00+00:00")[:40]
'<event><string key="concept:name" value='
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pyarrow as pa

from totalplace.errors import StoreError

CASE, ACTIVITY, TIME, ORG = "case:concept:name", "concept:name", "time:timestamp", "org:resource"


def cohort_sql(cohort: str | None = None, where: str | None = None) -> str:
    """journey_steps of a cohort, in person and time order."""
    conds = []
    if cohort:
        conds.append(f'person_id IN (SELECT person_id FROM "{cohort}")')
    if where:
        conds.append(f"person_id IN (SELECT person_id FROM journey_steps WHERE {where})")
    w = f"WHERE {' AND '.join(conds)}" if conds else ""
    return (
        "SELECT person_id, seq, agency, event_id, service, activity, outcome, start_at, end_at "
        f"FROM journey_steps {w} ORDER BY person_id, seq"
    )


def cohort_steps(store, cohort: str | None = None, where: str | None = None) -> pa.Table:
    """The cohort's journey steps as an Arrow table (see ``cohort_sql``)."""
    store.require("journey_steps")
    if cohort and not store.engine.has_table(cohort):
        raise StoreError(f"the place store has no cohort table {cohort!r}")
    return store.engine.query(cohort_sql(cohort, where))


def pm4py_frame(steps: pa.Table):
    """A pandas DataFrame in pm4py's columns: case:concept:name, concept:name,
    time:timestamp (UTC, tz-aware), org:resource, plus service, event_id and outcome."""
    import pandas as pd

    df = pd.DataFrame(
        {
            CASE: steps.column("person_id").to_pandas().astype("string"),
            ACTIVITY: steps.column("activity").to_pandas().astype("string"),
            TIME: pd.to_datetime(steps.column("start_at").to_pandas(), utc=True),
            ORG: steps.column("agency").to_pandas().astype("string"),
            "service": steps.column("service").to_pandas(),
            "event_id": steps.column("event_id").to_pandas(),
            "outcome": steps.column("outcome").to_pandas(),
        }
    )
    return df


def _iso(ts: dt.datetime) -> str:
    return ts.replace(tzinfo=dt.UTC).isoformat(timespec="milliseconds")


def xes_event(activity: str, agency: str, when: str, extra: dict | None = None) -> str:
    parts = [
        f"<string key={quoteattr(ACTIVITY)} value={quoteattr(activity)}/>",
        f"<string key={quoteattr(ORG)} value={quoteattr(agency)}/>",
        f"<date key={quoteattr(TIME)} value={quoteattr(when)}/>",
    ]
    for k, v in (extra or {}).items():
        if v is not None:
            parts.append(f"<string key={quoteattr(k)} value={quoteattr(str(v))}/>")
    return "<event>" + "".join(parts) + "</event>"


def _xes_lines(steps: pa.Table) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="UTF-8"?>'
    yield (
        '<log xes.version="1849-2016" xes.features="nested-attributes" '
        'xmlns="http://www.xes-standard.org/">'
    )
    for name, prefix in (("Concept", "concept"), ("Time", "time"), ("Organizational", "org")):
        yield (
            f'<extension name="{name}" prefix="{prefix}" '
            f'uri="http://www.xes-standard.org/{prefix}.xesext"/>'
        )
    yield '<string key="origin" value="totalplace journeys"/>'
    current = None
    for batch in steps.to_batches(50_000):
        for r in batch.to_pylist():
            if r["person_id"] != current:
                if current is not None:
                    yield "</trace>"
                current = r["person_id"]
                yield f"<trace><string key={quoteattr(ACTIVITY)} value={quoteattr(current)}/>"
            yield xes_event(
                r["activity"],
                r["agency"],
                _iso(r["start_at"]),
                {"service": r["service"], "event_id": r["event_id"], "outcome": r["outcome"]},
            )
    if current is not None:
        yield "</trace>"
    yield "</log>"


def write_xes(steps: pa.Table, path: str | Path) -> int:
    """Write the steps as XES (gzipped if the name ends .gz), one trace per person."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        for line in _xes_lines(steps):
            f.write(line + "\n")
    return steps.num_rows


def ocel_json(steps: pa.Table) -> dict:
    """OCEL 2.0 JSON: events related to two object types, the person and the agency."""
    rows = steps.to_pylist()
    activities = sorted({r["activity"] for r in rows})
    people = sorted({r["person_id"] for r in rows})
    agencies = sorted({r["agency"] for r in rows})
    attrs = [{"name": a, "type": "string"} for a in ("service", "outcome", "agency")]
    return {
        "objectTypes": [{"name": "person", "attributes": []}, {"name": "agency", "attributes": []}],
        "eventTypes": [{"name": a, "attributes": attrs} for a in activities],
        "objects": [{"id": p, "type": "person", "attributes": []} for p in people]
        + [{"id": f"agency:{a}", "type": "agency", "attributes": []} for a in agencies],
        "events": [
            {
                "id": f"{r['agency']}:{r['event_id']}",
                "type": r["activity"],
                "time": _iso(r["start_at"]),
                "attributes": [
                    {"name": k, "value": r[k]}
                    for k in ("service", "outcome", "agency")
                    if r[k] is not None
                ],
                "relationships": [
                    {"objectId": r["person_id"], "qualifier": "person"},
                    {"objectId": f"agency:{r['agency']}", "qualifier": "agency"},
                ],
            }
            for r in rows
        ],
    }


def write_ocel(steps: pa.Table, path: str | Path) -> int:
    Path(path).write_text(json.dumps(ocel_json(steps)), encoding="utf-8")
    return steps.num_rows
