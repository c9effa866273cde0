"""``journeys log``: analyse any event log file and write its flow measures to a folder.

>>> from totalplace.journeys.logfile import analyse_log_file   # doctest: +SKIP
>>> summary = analyse_log_file("receipt.csv", "out/")           # doctest: +SKIP
>>> summary["cases"], summary["dfg_edges"]                      # doctest: +SKIP
(1434, 99)

Writes ``dfg.csv``, ``variants.csv``, ``rework.csv``, ``handoffs.csv`` (with an org column),
``rejects.csv`` (only when some rows could not be used) and ``summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from totalplace.engine import open_engine
from totalplace.journeys import flow
from totalplace.journeys.eventlog import LogColumns, encode_for_duckdb, read_event_log


def analyse_log_file(
    path: str | Path,
    out: str | Path,
    columns: LogColumns | None = None,
    *,
    time_format: str | None = None,
    delimiter: str | None = None,
    engine: str = "duckdb",
) -> dict[str, Any]:
    """Read ``path``, measure its flow, write the outputs into ``out``; returns the summary."""
    columns = columns or LogColumns()
    raw = read_event_log(path, columns, delimiter=delimiter)
    text_time = pa.types.is_string(raw.schema.field("ts").type)
    eng = open_engine(engine, ":memory:")
    try:
        eng.register("_jl_raw", encode_for_duckdb(raw) if engine == "duckdb" else raw)
        result = flow.analyse(
            eng,
            "_jl_raw",
            text_time=text_time,
            time_format=time_format,
            with_org=columns.org is not None,
            case_key=True,
        )
    finally:
        eng.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cols = {
        "case": columns.case,
        "activity": columns.activity,
        "time": columns.time,
        "org": columns.org,
    }
    return _write(result, out, {"file": str(path), "columns": cols})


def analyse_place_cohort(
    store, out: str | Path, cohort: str | None = None, where: str | None = None
) -> dict[str, Any]:
    """The flow files of ``analyse_log_file`` for a cohort of a place (one case per person)."""
    from totalplace.journeys.interop import cohort_sql

    store.require("journey_steps")
    source = (
        "(SELECT person_id AS case_id, activity, start_at AS ts, agency AS org, seq AS ord "
        f"FROM ({cohort_sql(cohort, where)}) c)"
    )
    result = flow.analyse(store.engine, source, text_time=False, with_org=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write(result, out, {"cohort": cohort, "where": where})
    return result.summary


def _write(result: flow.LogAnalysis, out: Path, head: dict[str, Any]) -> dict[str, Any]:
    _csv(result.dfg, out / "dfg.csv")
    _csv(result.variants.select(["variant", "count"]), out / "variants.csv")
    _csv(result.rework, out / "rework.csv")
    if result.handoffs is not None:
        _csv(result.handoffs, out / "handoffs.csv")
    rejects = out / "rejects.csv"
    if result.rejects.num_rows:
        _csv(result.rejects, rejects)
    elif rejects.exists():
        rejects.unlink()  # from an earlier run of a log that had bad rows
    summary = {**head, **result.summary}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def _csv(t: pa.Table, path: Path) -> None:
    pacsv.write_csv(t, path, pacsv.WriteOptions(quoting_style="needed"))
