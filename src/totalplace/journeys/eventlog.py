"""Read any event log (CSV, Parquet, XES) into one Arrow table the flow SQL can use.

The result has one row per event, in file order, with the columns the flow SQL expects:
``case_id``, ``case_key`` (an integer per case id), ``activity``, ``ts`` (text or a timestamp type, parsed later in SQL so that the
same rule applies to every engine), ``org`` (or all NULL) and ``ord`` (0-based position in
the file, so that events with equal timestamps keep their file order).

Nothing is dropped here: a row with no case, no activity or a time that cannot be read is
kept and counted by the SQL (``flow.clean_sql``). Values are kept as text exactly as written:
a case id ``NA`` is a case, not a missing value.

Column names follow pm4py's convention by default (``case:concept:name``,
``concept:name``, ``time:timestamp``, ``org:resource``); for XES, trace attributes are
named ``case:<key>`` and event attributes ``<key>``, as pm4py flattens them.

>>> from pathlib import Path
>>> cols = LogColumns(case="case:concept:name", activity="concept:name",
...                   time="time:timestamp")
>>> log_format(Path("x.xes.gz")), log_format(Path("x.csv"))
('xes', 'csv')
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from totalplace.errors import InputFileError

CASE, ACTIVITY, TIME, ORG = "case:concept:name", "concept:name", "time:timestamp", "org:resource"
XES_BATCH = 200_000


@dataclass(frozen=True)
class LogColumns:
    """Which columns of the file hold the case id, activity, time and (optionally) org."""

    case: str = CASE
    activity: str = ACTIVITY
    time: str = TIME
    org: str | None = None

    def wanted(self) -> dict[str, str]:
        """Output column -> column in the file."""
        out = {"case_id": self.case, "activity": self.activity, "ts": self.time}
        if self.org:
            out["org"] = self.org
        return out


def log_format(path: Path) -> str:
    """'csv', 'parquet' or 'xes' from the file name; anything else is an InputFileError."""
    name = path.name.lower()
    if name.endswith((".xes", ".xes.gz")):
        return "xes"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return "csv"
    raise InputFileError(
        str(path), "cannot tell the format: expected a name ending .csv, .parquet, .xes or .xes.gz"
    )


def read_event_log(path: str | Path, columns: LogColumns, delimiter: str | None = None) -> pa.Table:
    """The log at ``path`` as (case_id, activity, ts, org, ord), one row per event."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(str(path), "file not found")
    fmt = log_format(path)
    if fmt == "csv":
        t = _read_csv(path, columns, delimiter)
    elif fmt == "parquet":
        t = _read_parquet(path, columns)
    else:
        t = _read_xes(path, columns)
    return _finish(t, columns)


def _missing(path: Path, columns: LogColumns, have: list[str]) -> None:
    wanted = columns.wanted()
    flag = {"case_id": "case", "activity": "activity", "ts": "time", "org": "org"}
    missing = [f"{c!r} (--{flag[k]}-col)" for k, c in wanted.items() if c not in have]
    if missing:
        shown = ", ".join(repr(h) for h in have[:60])
        more = f" and {len(have) - 60} more" if len(have) > 60 else ""
        raise InputFileError(
            str(path),
            f"no column {', '.join(missing)}; the columns are: {shown}{more}",
        )


def _read_csv(path: Path, columns: LogColumns, delimiter: str | None) -> pa.Table:
    from pyarrow import csv

    if delimiter is None:
        delimiter = "\t" if path.name.lower().endswith(".tsv") else _sniff(path)
    try:
        header = csv.open_csv(
            path,
            parse_options=csv.ParseOptions(delimiter=delimiter),
            read_options=csv.ReadOptions(block_size=1 << 16),
        ).schema.names
    except (pa.ArrowInvalid, StopIteration) as e:
        raise InputFileError(str(path), f"cannot read it as CSV ({e})") from None
    _missing(path, columns, header)
    wanted = list(dict.fromkeys(columns.wanted().values()))
    try:
        return csv.read_csv(
            path,
            parse_options=csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            # Every value as text, none read as missing: 'NA' is a case id like any other.
            convert_options=csv.ConvertOptions(
                include_columns=wanted,
                column_types={c: pa.string() for c in wanted},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as e:
        raise InputFileError(str(path), f"cannot read it as CSV ({e})") from None


def _sniff(path: Path) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        first = f.readline()
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _read_parquet(path: Path, columns: LogColumns) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except pa.ArrowInvalid as e:
        raise InputFileError(str(path), f"cannot read it as Parquet ({e})") from None
    have = pf.schema_arrow.names
    _missing(path, columns, have)
    return pf.read(columns=list(dict.fromkeys(columns.wanted().values())))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read_xes(path: Path, columns: LogColumns) -> pa.Table:
    """Stream the XES with iterparse: memory holds one trace (plus the output) at a time."""
    wanted = columns.wanted()
    trace_keys = {k: c[5:] for k, c in wanted.items() if c.startswith("case:")}
    event_keys = {k: c for k, c in wanted.items() if not c.startswith("case:")}
    seen_trace: set[str] = set()
    seen_event: set[str] = set()
    out: dict[str, list] = {k: [] for k in wanted}
    batches: list[pa.RecordBatch] = []
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    depth = 0
    trace_attrs: dict[str, str] = {}
    trace_events: list[dict[str, str | None]] = []
    root = None
    try:
        with opener(path, "rb") as f:
            for ev, el in ET.iterparse(f, events=("start", "end")):
                tag = _local(el.tag)
                if ev == "start":
                    if root is None:
                        root = el
                    if tag == "trace":
                        depth, trace_attrs, trace_events = 1, {}, []
                    continue
                if tag == "event" and depth:
                    attrs = {}
                    for child in el:
                        key = child.get("key")
                        if key is not None:
                            seen_event.add(key)
                            attrs[key] = child.get("value")
                    trace_events.append({k: attrs.get(c) for k, c in event_keys.items()})
                    el.clear()
                elif tag == "trace":
                    for child in el:
                        key = child.get("key")
                        if key is not None and _local(child.tag) != "event":
                            seen_trace.add(key)
                            trace_attrs[key] = child.get("value")
                    for e in trace_events:
                        for k, c in trace_keys.items():
                            out[k].append(trace_attrs.get(c))
                        for k in event_keys:
                            out[k].append(e[k])
                    depth = 0
                    el.clear()
                    if root is not None:
                        root.clear()
                    if len(out["case_id"]) >= XES_BATCH:
                        batches.append(_batch(out))
                        out = {k: [] for k in wanted}
    except (ET.ParseError, OSError, EOFError) as e:
        raise InputFileError(str(path), f"cannot read it as XES ({e})") from None
    have = sorted(f"case:{k}" for k in seen_trace) + sorted(seen_event)
    if not (seen_trace or seen_event):
        raise InputFileError(str(path), "no <trace> with <event>s found: is this an XES log?")
    _missing(path, columns, have)
    batches.append(_batch(out))
    t = pa.Table.from_batches(batches)
    # Named as in the file (pm4py's flattened names), like the CSV and Parquet readers.
    return t.rename_columns([wanted[k] for k in t.column_names])


def _batch(cols: dict[str, list]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({k: pa.array(v, pa.string()) for k, v in cols.items()})


def _finish(t: pa.Table, columns: LogColumns) -> pa.Table:
    """Rename to (case_id, activity, ts, org) as text (ts may stay a timestamp), add ord."""
    out = {}
    for key, col in columns.wanted().items():
        arr = t.column(col)
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        if key == "ts":
            if not (pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type)):
                arr = arr.cast(pa.string())
        else:
            arr = arr.cast(pa.string())
        out[key] = arr
    if "org" not in out:
        out["org"] = pa.nulls(t.num_rows, pa.string())
    # An integer per case id: sorting and partitioning by it is faster than by text.
    out["case_key"] = _codes(out["case_id"])
    # 32-bit when it fits: the window sorts by (case_key, ts, ord), and narrower keys sort faster.
    out["ord"] = pa.array(np.arange(t.num_rows, dtype=np.int32 if t.num_rows < 2**31 else np.int64))
    return pa.table(out)


def _codes(arr: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """Integer codes of the values, one dictionary across all chunks."""
    enc = pc.dictionary_encode(arr)
    chunks = enc.chunks if isinstance(enc, pa.ChunkedArray) else [enc]
    return pa.chunked_array([c.indices for c in chunks], type=pa.int32())


def encode_for_duckdb(t: pa.Table) -> pa.Table:
    """Activities as an Arrow dictionary: DuckDB reads it as an ENUM, which sorts, compares
    and groups faster than text (Spark's Arrow reader does not take dictionaries)."""
    i = t.schema.get_field_index("activity")
    col = t.column(i)
    if pa.types.is_dictionary(col.type):
        return t
    return t.set_column(i, "activity", pc.dictionary_encode(col))
