"""``totalplace journeys ...``: the journeys stage on a place, and any event log file."""

from __future__ import annotations

import time
from pathlib import Path

import click

from totalplace.cli import PLACE_DIR, _open, _print_result, console, friendly_errors


@click.group(name="journeys")
def journeys():
    """Journeys: people followed across agencies through time, and any event log.

    Example:

    \b
        totalplace journeys run anytown
        totalplace journeys log receipt.csv --out receipt_flow
    """


@journeys.command(name="run")
@PLACE_DIR
@click.option(
    "--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True
)
@friendly_errors
def run_cmd(place_dir: Path, engine: str):
    """Build journey steps, transitions and handoffs for a linked place.

    Publishes journey_steps, transitions, transition_summary and handoffs.

    Example:

    \b
        totalplace journeys run anytown
    """
    with _open(place_dir, "journeys", engine=engine) as place:
        _print_result(place.journeys.run())


@journeys.command(name="log")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--case-col", default="case:concept:name", show_default=True, help="column with the case id"
)
@click.option(
    "--activity-col", default="concept:name", show_default=True, help="column with the activity"
)
@click.option(
    "--time-col", default="time:timestamp", show_default=True, help="column with the event time"
)
@click.option("--org-col", default=None, help="column with the org/resource (writes handoffs.csv)")
@click.option(
    "--time-format",
    default=None,
    help="strptime format of the time column (default: ISO 8601, with or without an offset)",
)
@click.option("--delimiter", default=None, help="CSV delimiter (default: detected)")
@click.option(
    "--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder to write to")
@friendly_errors
def log_cmd(file, case_col, activity_col, time_col, org_col, time_format, delimiter, engine, out):
    """Analyse any event log (CSV, Parquet, XES or .xes.gz): flow, variants, handoffs.

    Writes OUT/dfg.csv (source, target, count, median and 90th-percentile gap in
    seconds), OUT/variants.csv (activities joined by ',', count), OUT/rework.csv,
    OUT/handoffs.csv (with --org-col), OUT/summary.json and, if any row could not be used
    (no case id, no activity, a time that cannot be read), OUT/rejects.csv with each such
    row's number and reason. Events with equal times keep their file order. Column names
    default to pm4py's (XES trace attributes are 'case:<key>').

    Example:

    \b
        totalplace journeys log sepsis.parquet --case-col case_id --activity-col activity \\
          --time-col timestamp --org-col resource --out sepsis_flow
    """
    from totalplace.journeys.eventlog import LogColumns
    from totalplace.journeys.logfile import analyse_log_file

    t0 = time.perf_counter()
    cols = LogColumns(case=case_col, activity=activity_col, time=time_col, org=org_col)
    s = analyse_log_file(
        file, out, cols, time_format=time_format, delimiter=delimiter, engine=engine
    )
    console.print(
        f"{s['events']:,} events in {s['cases']:,} cases: {s['activities']:,} activities, "
        f"{s['variants']:,} variants, {s['dfg_edges']:,} directly-follows edges "
        f"({time.perf_counter() - t0:.1f}s)"
    )
    if s["rejected"]:
        reasons = ", ".join(f"{n:,} {r}" for r, n in s["rejected_by_reason"].items())
        console.print(
            f"{s['rejected']:,} of {s['rows']:,} rows could not be used ({reasons}): "
            f"see {out / 'rejects.csv'}"
        )
    console.print(f"Wrote {out}")


@journeys.command(name="export")
@PLACE_DIR
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["xes", "ocel", "csv"]),
    required=True,
    help="xes (.xes or .xes.gz), ocel (OCEL 2.0 JSON) or csv (pm4py's column names)",
)
@click.option("--cohort", default=None, help="a published table with person_id: only them")
@click.option("--where", default=None, help="SQL on journey_steps: people with such a step")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@friendly_errors
def export_cmd(place_dir: Path, fmt: str, cohort, where, out: Path):
    """Export a cohort's journeys for process-mining tools (XES, OCEL 2.0, CSV).

    One case per person; the activity is the agency's own activity and org:resource the
    agency. Run `totalplace journeys run` first.

    Example:

    \b
        totalplace journeys export anytown --format xes --where "agency = 'probation'" \\
          --out probation_journeys.xes.gz
    """
    from totalplace.journeys import interop

    with _open(place_dir, "journeys") as place:
        steps = interop.cohort_steps(place.store, cohort, where)
    if fmt == "xes":
        n = interop.write_xes(steps, out)
    elif fmt == "ocel":
        n = interop.write_ocel(steps, out)
    else:
        interop.pm4py_frame(steps).to_csv(out, index=False)
        n = steps.num_rows
    console.print(f"Wrote {n:,} events to {out}")


@journeys.command(name="flow")
@PLACE_DIR
@click.option("--cohort", default=None, help="a published table with person_id: only them")
@click.option("--where", default=None, help="SQL on journey_steps: people with such a step")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder to write to")
@friendly_errors
def flow_cmd(place_dir: Path, cohort, where, out: Path):
    """Directly-follows graph, variants, handoffs and rework for a cohort's journeys.

    Writes the same files as `totalplace journeys log`, with one case per person.

    Example:

    \b
        totalplace journeys flow anytown --where "agency = 'probation'" --out probation_flow
    """
    from totalplace.journeys.logfile import analyse_place_cohort

    with _open(place_dir, "journeys") as place:
        s = analyse_place_cohort(place.store, out, cohort=cohort, where=where)
    console.print(
        f"{s['events']:,} events for {s['cases']:,} people: {s['variants']:,} variants, "
        f"{s['dfg_edges']:,} directly-follows edges. Wrote {out}"
    )
