"""`journeys log` on real public event logs gives what pm4py gives on the same log."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from totalplace.cli import main
from totalplace.errors import InputFileError
from totalplace.journeys.eventlog import LogColumns
from totalplace.journeys.logfile import analyse_log_file

PM4PY = LogColumns()
BUPAR = LogColumns(case="case_id", activity="activity", time="timestamp", org="resource")
LOGS = {
    "receipt.csv": LogColumns(org="org:resource"),
    "roadtraffic100traces.csv": LogColumns(org="org:resource"),
    "traffic_fines_10k.parquet": BUPAR,
    "sepsis.parquet": BUPAR,
    "helpdesk.xes.gz": LogColumns(org="org:resource"),
}


@pytest.fixture(scope="module")
def eventlogs(repo_root) -> Path:
    d = repo_root.parent / "shared" / "data" / "eventlogs"
    if not d.is_dir():
        pytest.skip(f"the public event logs are not here: {d} (see ../shared/data/README.md)")
    return d


def _pm4py_frame(path: Path, cols: LogColumns):
    """The log as pm4py would analyse it, read the way its documentation does."""
    pm4py = pytest.importorskip("pm4py")
    import pandas as pd

    if path.name.endswith(".csv"):
        # keep_default_na=False: a case id written 'NA' is a case id (sepsis has one).
        df = pd.read_csv(path, keep_default_na=False, dtype=str)
    elif path.name.endswith(".parquet"):
        df = pd.read_parquet(path)
    else:
        df = pm4py.read_xes(str(path), show_progress_bar=False)
    return pm4py.format_dataframe(
        df, case_id=cols.case, activity_key=cols.activity, timestamp_key=cols.time
    )


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LOGS))
def test_log_equals_pm4py(name, eventlogs, tmp_path):
    pm4py = pytest.importorskip("pm4py")
    cols = LOGS[name]
    summary = analyse_log_file(eventlogs / name, tmp_path, cols)
    df = _pm4py_frame(eventlogs / name, cols)

    dfg, start, end = pm4py.discover_dfg(df)
    ours = {(r["source"], r["target"]): int(r["count"]) for r in _read_csv(tmp_path / "dfg.csv")}
    assert ours == dict(dfg)
    assert summary["start_activities"] == dict(start)
    assert summary["end_activities"] == dict(end)

    variants = {",".join(k): v for k, v in pm4py.get_variants(df).items()}
    ours_v = {r["variant"]: int(r["count"]) for r in _read_csv(tmp_path / "variants.csv")}
    assert ours_v == variants
    assert summary["variants"] == len(variants)

    durations = pm4py.get_all_case_durations(df)
    assert summary["cases"] == len(durations) == df["case:concept:name"].nunique()
    assert summary["events"] == len(df)
    assert summary["median_throughput_s"] == pytest.approx(statistics.median(durations), abs=1)
    assert summary["mean_throughput_s"] == pytest.approx(statistics.fmean(durations), abs=1)

    perf, _, _ = pm4py.discover_performance_dfg(df)
    for r in _read_csv(tmp_path / "dfg.csv"):
        assert float(r["median_gap_s"]) == pytest.approx(
            perf[(r["source"], r["target"])]["median"], abs=1e-3
        )
    assert summary["rejected"] == 0
    assert json.loads((tmp_path / "summary.json").read_text())["dfg_edges"] == len(dfg)


HAND_MADE = (
    "case,activity,time,who\n"
    "NA,register,2024-01-01 09:00:00,desk\n"
    "NA,check,2024-01-01 09:00:00,desk\n"  # same time: file order decides
    "NA,decide,2024-01-01T10:00:00+01:00,boss\n"  # an offset: the same instant as 09:00Z
    ",check,2024-01-01 11:00:00,desk\n"  # no case id
    "B,register,not a time,desk\n"  # unparseable time
    "B,check,,desk\n"  # no time at all
    "B,decide,2024-01-02 12:30:00,boss\n"
    "C,check,2024-01-02 08:00:00,desk\n"
    "C,register,2024-01-02 07:00:00,desk\n"  # out of file order in time
    "C,register,2024-01-03 07:00:00,boss\n"
)


def test_ties_na_case_and_bad_rows(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text(HAND_MADE)
    out = tmp_path / "out"
    s = analyse_log_file(src, out, LogColumns("case", "activity", "time", "who"))
    assert s["rows"] == 10 and s["events"] == 7 and s["rejected"] == 3
    assert s["rejected_by_reason"] == {"no case id": 1, "unparseable time": 1, "no time": 1}
    assert s["cases"] == 3  # 'NA' is a case
    variants = {r["variant"]: int(r["count"]) for r in _read_csv(out / "variants.csv")}
    assert variants == {"register,check,decide": 1, "decide": 1, "register,check,register": 1}
    dfg = {(r["source"], r["target"]): r for r in _read_csv(out / "dfg.csv")}
    assert int(dfg[("register", "check")]["count"]) == 2
    # +01:00 at 10:00 is 09:00 UTC: zero gap after the tie.
    assert float(dfg[("check", "decide")]["median_gap_s"]) == 0.0
    rejects = _read_csv(out / "rejects.csv")
    assert [int(r["row"]) for r in rejects] == [4, 5, 6]
    hand = {(r["source"], r["target"]): int(r["count"]) for r in _read_csv(out / "handoffs.csv")}
    assert hand == {("desk", "boss"): 2}
    assert s["median_throughput_s"] == 0.0  # NA: 0 s, B: 0 s, C: 86400 s


def test_xes_streaming_reader(tmp_path):
    xes = tmp_path / "tiny.xes"
    xes.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<log xmlns="http://www.xes-standard.org/">
 <trace><string key="concept:name" value="NA"/>
  <event><string key="concept:name" value="a"/>
   <date key="time:timestamp" value="2024-03-01T10:00:00.000+02:00"/></event>
  <event><string key="concept:name" value="b"/>
   <date key="time:timestamp" value="2024-03-01T08:00:00Z"/>
   <list key="nested"><values><string key="concept:name" value="not me"/></values></list></event>
 </trace>
 <trace><string key="concept:name" value="t2"/>
  <event><string key="concept:name" value="b"/>
   <date key="time:timestamp" value="2024-03-02T08:00:00Z"/></event>
  <event><date key="time:timestamp" value="2024-03-02T09:00:00Z"/></event>
 </trace>
</log>"""
    )
    s = analyse_log_file(xes, tmp_path / "out", LogColumns())
    assert s["cases"] == 2 and s["events"] == 3
    assert s["rejected_by_reason"] == {"no activity": 1}
    variants = {r["variant"] for r in _read_csv(tmp_path / "out" / "variants.csv")}
    assert variants == {"a,b", "b"}  # 10:00+02:00 equals 08:00Z: file order keeps a first


def test_missing_column_lists_the_columns(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text("id,what,when\n1,a,2024-01-01\n")
    with pytest.raises(InputFileError, match=r"no column 'case:concept:name' \(--case-col\)"):
        analyse_log_file(src, tmp_path / "out")
    result = CliRunner().invoke(main, ["journeys", "log", str(src), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "'id', 'what', 'when'" in result.output
    assert "Traceback" not in result.output


def test_cli_log(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text(HAND_MADE)
    out = tmp_path / "out"
    args = [
        "journeys",
        "log",
        str(src),
        "--case-col",
        "case",
        "--activity-col",
        "activity",
        "--time-col",
        "time",
        "--org-col",
        "who",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "7 events in 3 cases" in result.output and "rejects.csv" in result.output
    assert {p.name for p in out.iterdir()} == {
        "dfg.csv",
        "variants.csv",
        "rework.csv",
        "handoffs.csv",
        "rejects.csv",
        "summary.json",
    }
