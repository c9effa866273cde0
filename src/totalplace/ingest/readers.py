"""Readers: CSV, Parquet and XLSX extracts into a table of text, one row per data row.

Each reader loads a file into a temporary table holding ``_tp_row`` (the 1-based data row
number, header excluded, counting blank rows as a spreadsheet would) and the source
columns, plus a second table of rows that could not even be split into the header's columns
(``_tp_row``, ``raw``, ``reason``). CSV is parsed by DuckDB's ``read_csv`` with every column
read as text and nothing sniffed; Parquet by DuckDB; XLSX by openpyxl in read-only mode.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa

from totalplace.engine import Engine
from totalplace.errors import InputFileError, StoreError
from totalplace.ingest.common import (
    Loaded,
    append_rejects,
    check_not_empty,
    clean_names,
    column_types,
    empty_rejects,
    insert_arrow,
    unique_names,
)
from totalplace.ingest.encoding import TextInfo, check_codec, decode_head, scan_text, transcode
from totalplace.ingest.rules import ident, lit
from totalplace.ingest.xlsx import load_xlsx, xlsx_header
from totalplace.manifest import FileSpec

HEAD_BYTES = 1 << 20
OTHER_DELIMITERS = (",", ";", "\t", "|")
BATCH_ROWS = 100_000
CSV_FIELD_LIMIT = 1 << 30  # Python's csv module refuses fields over 128 KiB by default


def shown_encoding(codec: str) -> str:
    """The encoding's everyday name (Python calls Latin-1 'iso8859-1')."""
    return {"utf-8-sig": "utf-8", "iso8859-1": "latin-1"}.get(codec, codec)


def delimiter_of(spec: FileSpec) -> str:
    if spec.delimiter:
        return "\t" if spec.delimiter in ("\\t", "tab") else spec.delimiter
    return "\t" if spec.path.lower().endswith(".tsv") else ","


def read_header(path: Path, spec: FileSpec) -> list[str]:
    """The column names of an extract's header, as the manifest should name them.

    Pass this to ``load_manifest(path, header_reader=read_header)`` to check every mapped
    column against the real files.

    Raises:
        InputFileError: the file is missing, empty, not the promised format, or (CSV) its
            header suggests a different delimiter.
    """
    path = Path(path)
    check_not_empty(path)
    fmt = spec.resolved_format
    if spec.needs_layout:
        from totalplace.ingest.layout import layout_header

        return layout_header(path, spec)
    if fmt == "parquet":
        return clean_names(_parquet_schema(path).names)
    if fmt == "xlsx":
        return xlsx_header(path, spec)
    return _csv_header(path, spec)


def _csv_header(path: Path, spec: FileSpec) -> list[str]:
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFileError(
            str(path),
            "contains NUL bytes: this is a binary file or UTF-16 text "
            "without a byte-order mark, not a CSV",
        )
    check_codec(path, spec.encoding)
    text = decode_head(head, spec.encoding)
    delim = delimiter_of(spec)
    rows = csv.reader(io.StringIO(text), delimiter=delim, quotechar='"')
    try:
        header = next((r for r in rows if r), None)
    except csv.Error as e:
        raise InputFileError(str(path), f"cannot read the header row: {e}") from None
    if header is None:
        raise InputFileError(str(path), "has no header row (only blank lines)")
    if len(header) == 1:
        for other in OTHER_DELIMITERS:
            if other != delim and other in header[0]:
                shown = "\\t" if other == "\t" else other
                raise InputFileError(
                    str(path),
                    (
                        f"the header has only one column with delimiter {delim!r}, but it contains "
                        f"{shown!r}: set delimiter: {shown!r} for this file in place.yaml"
                    ),
                )
    return clean_names(header)


def _parquet_schema(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputFileError(str(path), f"not a Parquet file ({e})") from None


# --- loading ----------------------------------------------------------------------------------
def load_extract(engine: Engine, path: Path, spec: FileSpec, name: str, workdir: Path) -> Loaded:
    """Load one extract into temporary tables ``name`` and ``name``_pr (its parse rejects)."""
    path = Path(path)
    check_not_empty(path)
    fmt = spec.resolved_format
    if spec.needs_layout:
        from totalplace.ingest.layout import load_layout

        return load_layout(engine, path, spec, name)
    if fmt == "parquet":
        return _load_parquet(engine, path, name)
    if fmt == "xlsx":
        return load_xlsx(engine, path, spec, name)
    return _load_csv(engine, path, spec, name, workdir)


def _load_parquet(engine: Engine, path: Path, name: str) -> Loaded:
    schema = _parquet_schema(path)
    names = unique_names(clean_names(schema.names))
    # Select by position so renamed (cleaned) columns stay attached to their data.
    src = f"read_parquet({lit(str(path))}, file_row_number = true)"
    cols = ", ".join(
        f"{ident(orig)} AS {ident(new)}" for orig, new in zip(schema.names, names, strict=True)
    )
    engine.run(
        f"CREATE OR REPLACE TEMP TABLE {ident(name)} AS "
        f"SELECT file_row_number + 1 AS _tp_row, {cols} FROM {src}"
    )
    return Loaded(name, names, column_types(engine, name), empty_rejects(engine, name))


def _load_csv(engine: Engine, path: Path, spec: FileSpec, name: str, workdir: Path) -> Loaded:
    info = scan_text(path, spec.encoding)
    src = path
    if not info.utf8:
        src = workdir / f"{name}.utf8.csv"
        transcode(path, info.encoding, src)
        info = TextInfo(info.encoding, False, scan_text(src, "utf-8").interior_blank_lines)
    names = unique_names(_csv_header(src, spec.model_copy(update={"encoding": "utf-8"})))
    delim = delimiter_of(spec)
    if info.interior_blank_lines:
        # DuckDB skips blank lines without counting them, which would shift row numbers;
        # Python's csv module sees them, so such files take the slower exact path.
        return _load_csv_python(engine, src, names, delim, name, info.encoding)
    rej, scan = f"{name}_rj", f"{name}_rs"
    columns = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
    try:
        engine.run(
            f"CREATE OR REPLACE TEMP TABLE {ident(name + '_raw')} AS SELECT * FROM read_csv("
            f"{lit(str(src))}, header = true, auto_detect = false, delim = {lit(delim)}, "
            f"quote = '\"', escape = '\"', columns = {columns}, store_rejects = true, "
            f"rejects_table = {lit(rej)}, rejects_scan = {lit(scan)})"
        )
    except StoreError:
        # DuckDB gives up on some malformed files (e.g. a lone carriage return as a line
        # end); Python's csv module reads them row by row instead.
        return _load_csv_python(engine, src, names, delim, name, info.encoding)
    # DuckDB numbers lines from the header (line 1) and counts rows, not physical lines.
    # Good rows come out in file order; the k-th good row's row number is k plus the number
    # of rejected rows before it.
    engine.run(f"""CREATE OR REPLACE TEMP TABLE {ident(name + "_rjl")} AS
        SELECT CAST(line - 1 AS BIGINT) AS _tp_row, first(csv_line) AS csv_line,
               first(CAST(error_type AS VARCHAR)) AS error_type, first(error_message) AS error_message
        FROM {ident(rej)} GROUP BY line""")
    engine.run(f"""CREATE OR REPLACE TEMP TABLE {ident(name + "_rjb")} AS
        SELECT before, max(i) AS n FROM (
            SELECT _tp_row - row_number() OVER (ORDER BY _tp_row) AS before,
                   row_number() OVER (ORDER BY _tp_row) AS i
            FROM {ident(name + "_rjl")}) GROUP BY before""")
    sel = ", ".join(f"g.{ident(n)}" for n in names)
    engine.run(f"""CREATE OR REPLACE TEMP TABLE {ident(name)} AS
        SELECT g.k + coalesce(b.n, 0) AS _tp_row, {sel}
        FROM (SELECT rowid + 1 AS k, * FROM {ident(name + "_raw")}) g
        ASOF LEFT JOIN {ident(name + "_rjb")} b ON g.k > b.before""")
    engine.run(f"DROP TABLE {ident(name + '_raw')}")
    pr = f"{name}_pr"
    n = len(names)
    engine.run(f"""CREATE OR REPLACE TEMP TABLE {ident(pr)} AS
        SELECT _tp_row, CAST(json_object('_line', trim(csv_line, chr(13) || chr(10))) AS VARCHAR) AS raw,
               {csv_reject_reason_sql(n)} AS reason
        FROM {ident(name + "_rjl")}""")
    return Loaded(name, names, {c: "VARCHAR" for c in names}, pr, shown_encoding(info.encoding))


def csv_reject_reason_sql(n_columns: int) -> str:
    """A reason a person can act on, from DuckDB's CSV error type."""
    found = "regexp_extract(error_message, 'Found: ([0-9]+)', 1)"
    return f"""CASE error_type
        WHEN 'TOO MANY COLUMNS' THEN 'row has ' || {found} || ' fields but the header has {n_columns}
(a delimiter inside a value that is not quoted?)'
        WHEN 'MISSING COLUMNS' THEN 'row has ' || {found} || ' fields but the header has {n_columns}'
        WHEN 'UNQUOTED VALUE' THEN 'a quoted value is not closed properly (quotes inside a value must be doubled)'
        WHEN 'LINE SIZE OVER MAXIMUM' THEN 'the row is longer than the 2,097,152-byte line limit'
        ELSE 'cannot read the row: ' || error_message END""".replace("\n(a", " (a")


def _load_csv_python(
    engine: Engine, src: Path, names: list[str], delim: str, name: str, encoding: str
) -> Loaded:
    n = len(names)
    engine.run(
        f"CREATE OR REPLACE TEMP TABLE {ident(name)} (_tp_row BIGINT, "
        + ", ".join(f"{ident(c)} VARCHAR" for c in names)
        + ")"
    )
    pr = empty_rejects(engine, name)
    old_limit = csv.field_size_limit(CSV_FIELD_LIMIT)
    blank = 0
    rejects: list[tuple[int, str, str]] = []
    try:
        with open(src, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter=delim, quotechar='"')
            next((r for r in reader if r), None)  # the header: the first row that is not blank
            batch: list[list[str]] = []
            rows: list[int] = []
            for i, rec in enumerate(reader, 1):
                if len(rec) == n:
                    batch.append(rec)
                    rows.append(i)
                elif not rec:
                    blank += 1
                else:
                    why = f"row has {len(rec)} fields but the header has {n}"
                    if len(rec) > n:
                        why += " (a delimiter inside a value that is not quoted?)"
                    rejects.append((i, json.dumps({"_line": delim.join(rec)}), why))
                if len(batch) >= BATCH_ROWS:
                    _append(engine, name, names, rows, batch)
                    batch, rows = [], []
            _append(engine, name, names, rows, batch)
    except csv.Error as e:
        raise InputFileError(str(src), f"cannot read it as CSV: {e}") from None
    finally:
        csv.field_size_limit(old_limit)
    if rejects:
        append_rejects(engine, pr, rejects)
    return Loaded(name, names, {c: "VARCHAR" for c in names}, pr, shown_encoding(encoding), blank)


def _append(
    engine: Engine, name: str, names: list[str], rows: list[int], batch: list[list[str]]
) -> None:
    if not batch:
        return
    cols = list(zip(*batch, strict=True))
    t = pa.table(
        {
            "_tp_row": pa.array(rows, pa.int64()),
            **{f"c{i}": pa.array(c, pa.string()) for i, c in enumerate(cols)},
        }
    )
    insert_arrow(engine, name, t)
