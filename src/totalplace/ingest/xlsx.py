"""XLSX extracts, read with openpyxl in read-only mode (values, not formulas)."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pyarrow as pa

from totalplace.engine import Engine
from totalplace.errors import InputFileError
from totalplace.ingest.common import (
    Loaded,
    append_rejects,
    clean_names,
    column_types,
    empty_rejects,
    unique_names,
)
from totalplace.ingest.rules import ident, kind_of
from totalplace.manifest import FileSpec
from totalplace.tables import CANONICAL


def open_workbook(path: Path):
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as e:
        raise InputFileError(str(path), f"not an XLSX workbook ({type(e).__name__}: {e})") from None


def pick_sheet(wb, spec: FileSpec, path: Path):
    names = wb.sheetnames
    if spec.sheet is not None:
        if spec.sheet not in names:
            raise InputFileError(str(path), f"no sheet {spec.sheet!r}; sheets: {', '.join(names)}")
        return wb[spec.sheet]
    if len(names) > 1:
        raise InputFileError(
            str(path),
            f"has {len(names)} sheets ({', '.join(names)}); say which "
            "one to read with sheet: in place.yaml",
        )
    return wb[names[0]]


def xlsx_header(path: Path, spec: FileSpec) -> list[str]:
    """The header row of the sheet the manifest names (or the only sheet)."""
    wb = open_workbook(path)
    try:
        ws = pick_sheet(wb, spec, path)
        first = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), None)
    finally:
        wb.close()
    header = list(first or ())
    while header and header[-1] in (None, ""):
        header.pop()
    if not header:
        raise InputFileError(str(path), "the sheet's first row is empty; expected a header row")
    return clean_names(header)


def cell_text(v: object) -> str | None:
    """An Excel cell as text: whole-number floats without '.0', dates in ISO 8601."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    return str(v)


def date_formats(spec: FileSpec) -> dict[str, str]:
    """Source column -> the strptime format the manifest reads it with (date columns only)."""
    table = CANONICAL[spec.table]
    out = {}
    for name, col in spec.column_specs().items():
        if col.column and kind_of(table, name) in ("date", "timestamp"):
            fmt = col.format or spec.date_format
            out[col.column] = fmt or (
                "%Y-%m-%d" if kind_of(table, name) == "date" else "%Y-%m-%d %H:%M:%S"
            )
    return out


def _xlsx_column(values: list[object], fmt: str | None) -> pa.Array:
    present = [v for v in values if v is not None and v != ""]
    if present and all(isinstance(v, dt.datetime) for v in present):
        # A column of real Excel dates stays a date (or date-time) column, whatever format
        # the manifest gives for text dates.
        if all(v.time() == dt.time(0) for v in present):
            return pa.array(
                [v.date() if isinstance(v, dt.datetime) else None for v in values], pa.date32()
            )
        return pa.array(
            [v if isinstance(v, dt.datetime) else None for v in values], pa.timestamp("us")
        )
    # A mix of real dates and text: write the real dates the way the manifest reads the text.
    return pa.array(
        [v.strftime(fmt) if fmt and isinstance(v, dt.datetime) else cell_text(v) for v in values],
        pa.string(),
    )


def load_xlsx(engine: Engine, path: Path, spec: FileSpec, name: str) -> Loaded:
    wb = open_workbook(path)
    try:
        ws = pick_sheet(wb, spec, path)
        it = ws.iter_rows(values_only=True)
        header = list(next(it, None) or ())
        while header and header[-1] in (None, ""):
            header.pop()
        names = unique_names(clean_names(header))
        n = len(names)
        cols: list[list[object]] = [[] for _ in names]
        rows: list[int] = []
        rejects: list[tuple[int, str, str]] = []
        blank = 0
        for i, rec in enumerate(it, 1):
            rec = list(rec)
            while rec and (rec[-1] is None or rec[-1] == ""):
                rec.pop()
            if not rec:
                blank += 1
                continue
            if len(rec) > n:
                raw = json.dumps({"_cells": [cell_text(v) for v in rec]})
                rejects.append(
                    (i, raw, f"row has values in {len(rec)} columns but the header has {n}")
                )
                continue
            rows.append(i)
            for j in range(n):
                cols[j].append(rec[j] if j < len(rec) else None)
    finally:
        wb.close()
    fmts = date_formats(spec)
    t = pa.table(
        {
            "_tp_row": pa.array(rows, pa.int64()),
            **{c: _xlsx_column(v, fmts.get(c)) for c, v in zip(names, cols, strict=True)},
        }
    )
    view = f"{name}_arrow"
    engine.register(view, t)
    try:
        engine.run(f"CREATE OR REPLACE TEMP TABLE {ident(name)} AS SELECT * FROM {ident(view)}")
    finally:
        engine.run(f"DROP VIEW IF EXISTS {ident(view)}")
    pr = empty_rejects(engine, name)
    if rejects:
        append_rejects(engine, pr, rejects)
    return Loaded(name, names, column_types(engine, name), pr, None, blank)
