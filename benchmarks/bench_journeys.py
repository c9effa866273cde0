"""Benchmark: directly-follows graphs in SQL window functions against pm4py, same run.

For each size (events), a synthetic event log is generated once (cases of about 10 events,
30 activities, gaps in whole seconds with some ties), held in memory as an Arrow table (as
``eventlog.read_event_log`` gives it) and as the pandas frame pm4py expects. Each tool first
loads it its own way, timed on its own: ``flow.load`` (the typed temp table with activity
codes that ``journeys log`` builds) and ``pm4py.format_dataframe`` (which sorts by case, time
and row). Then, each timed on its own, the code ``journeys log`` runs:

* directly-follows counts: ``flow.dfg(gaps=False)`` on DuckDB vs ``pm4py.discover_dfg``;
* the DFG with gap timings: ``flow.dfg`` (count, median and 90th percentile gap), the call
  ``flow.analyse`` makes, vs ``pm4py.discover_performance_dfg`` (which also gives mean, min,
  max...).

The speed-ups compare the discovery steps; ``*_end_to_end_speedup`` adds each tool's load.
Outputs are compared edge by edge (counts equal, medians within 1 microsecond). Memory is
the process's peak RSS after each step (``resource.getrusage``), recorded as it grows.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

SUITE = "journeys"
DEFAULT_SIZES = [1_000_000, 10_000_000]
ACTIVITIES = 30


def make_log(events: int, seed: int = 7):
    """A synthetic log of about ``events`` events as an Arrow table (case_id, activity, ts,
    org, ord), rows shuffled within the file so that sorting is part of the work."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    lengths = rng.geometric(1 / 10, size=events // 10 + 1)
    lengths = lengths[np.cumsum(lengths) <= events]
    n = int(lengths.sum())
    case = np.repeat(np.arange(len(lengths)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos = np.arange(n) - first
    # A process with structure: mostly the next step, sometimes a loop back or a skip.
    step = rng.choice([1, 1, 1, 2, 0, -1, 3], size=n)
    step[pos == 0] = 0
    start = rng.integers(0, ACTIVITIES // 3, size=len(lengths))
    act = (np.repeat(start, lengths) + _segment_cumsum(step, lengths)) % ACTIVITIES
    gap = rng.exponential(86400, size=n).astype(np.int64)
    gap[rng.random(n) < 0.05] = 0  # ties: equal timestamps keep file order
    gap[pos == 0] = 0
    t0 = np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64)
    ts = np.repeat(t0 + rng.integers(0, 365 * 86400, size=len(lengths)), lengths)
    ts = ts + _segment_cumsum(gap, lengths)
    # Shuffled: sorting is part of the work. Ties keep file order in both tools alike.
    order = rng.permutation(n)
    names = np.array([f"Activity {i:02d}" for i in range(ACTIVITIES)])
    return pa.table(
        {
            "case_id": pa.array(np.char.add("C", case[order].astype(str))),
            # As eventlog.read_event_log adds it: an integer per case id.
            "case_key": pa.array(case[order]),
            "activity": pa.array(names[act[order]]),
            "ts": pa.array(ts[order].astype("datetime64[s]").astype("datetime64[us]")),
            "org": pa.nulls(n, pa.string()),
            "ord": pa.array(np.arange(n, dtype=np.int32)),  # as read_event_log: 32-bit
        }
    )


def _segment_cumsum(x, lengths):
    import numpy as np

    c = np.cumsum(x)
    ends = np.cumsum(lengths)
    base = np.repeat(np.concatenate([[0], c[ends[:-1] - 1]]), lengths)
    return c - base


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run(residents: int, workdir: Path) -> dict:
    """``residents`` is the number of events here (the runner's size argument)."""
    import pandas as pd
    import pm4py

    from totalplace.engine import open_engine
    from totalplace.journeys import flow
    from totalplace.journeys.eventlog import encode_for_duckdb

    events = residents
    t0 = time.perf_counter()
    log = make_log(events)
    gen_s = time.perf_counter() - t0
    out: dict = {"events": log.num_rows, "generate_s": round(gen_s, 1)}

    eng = open_engine("duckdb", ":memory:")
    eng.register("raw", encode_for_duckdb(log))
    out["mem_after_log_mb"] = _peak_mb()

    t0 = time.perf_counter()
    clean, acts = flow.load(eng, "raw", text_time=False, case_key=True)
    out["ours_load_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    counts = flow.dfg(eng, clean, acts, gaps=False)
    out["ours_dfg_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    perf = flow.dfg(eng, clean, acts)
    out["ours_perf_dfg_s"] = round(time.perf_counter() - t0, 3)
    out["mem_after_ours_mb"] = _peak_mb()
    eng.close()

    df = pd.DataFrame(
        {
            "case:concept:name": log.column("case_id").to_pandas(),
            "concept:name": log.column("activity").to_pandas(),
            "time:timestamp": pd.to_datetime(log.column("ts").to_pandas(), utc=True),
        }
    )
    del log
    t0 = time.perf_counter()
    df = pm4py.format_dataframe(df)
    out["pm4py_format_s"] = round(time.perf_counter() - t0, 3)
    out["mem_after_pandas_mb"] = _peak_mb()
    t0 = time.perf_counter()
    dfg, _, _ = pm4py.discover_dfg(df)
    out["pm4py_dfg_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    pdfg, _, _ = pm4py.discover_performance_dfg(df)
    out["pm4py_perf_dfg_s"] = round(time.perf_counter() - t0, 3)
    out["mem_after_pm4py_mb"] = _peak_mb()

    ours = {(r["source"], r["target"]): r["count"] for r in counts.to_pylist()}
    ours_perf = {(r["source"], r["target"]): r for r in perf.to_pylist()}
    out["dfg_edges"] = len(ours)
    out["dfg_identical"] = ours == dict(dfg)
    out["perf_dfg_identical"] = set(ours_perf) == set(pdfg) and all(
        ours_perf[k]["count"] == dfg[k]
        and abs(ours_perf[k]["median_gap_s"] - float(pdfg[k]["median"])) < 1e-6
        for k in pdfg
    )
    out["dfg_speedup"] = round(out["pm4py_dfg_s"] / out["ours_dfg_s"], 1)
    out["perf_dfg_speedup"] = round(out["pm4py_perf_dfg_s"] / out["ours_perf_dfg_s"], 1)
    for kind in ("dfg", "perf_dfg"):
        ours_s = out["ours_load_s"] + out[f"ours_{kind}_s"]
        theirs = out["pm4py_format_s"] + out[f"pm4py_{kind}_s"]
        out[f"{kind}_end_to_end_speedup"] = round(theirs / ours_s, 1)
    return out
