"""Files as public bodies publish them: header rows anywhere, wide tables, .xls, data packages.

A file whose manifest entry uses ``header_row``, ``where`` or ``unpivot`` (or that is an
``.xls`` workbook or a Fiscal Data Package) is read here as a grid of cells, then shaped:

1. the header is the row ``header_row`` names (``last``: the file's last row that is not
   blank, with the data above it, as some finance systems export), else the first row that
   is not blank; blank padding columns at the right of the header are dropped;
2. blank rows are skipped (and counted); rows at the foot whose text says they are totals
   (``Total``, ``Grand total``) go to rejects, so a total is never counted twice;
3. ``where`` keeps the rows a place wants (one authority of a national return; ``"*"``:
   any value that is not blank; ``"/E[0-9]{4}/"``: values matching a regular expression);
   the others are counted as not selected;
4. ``unpivot`` turns "one column per service line" into one row per line, with the column's
   header in ``unpivot.name`` and its value in ``unpivot.value``.

Every cell is kept as text exactly as written (spreadsheet numbers as their shortest exact
text, dates in ISO 8601), so amounts are parsed by the same rules as every other file.
Data row numbers count from the row after the header (with ``header_row: last``, from the
top of the file).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from totalplace.engine import Engine
from totalplace.errors import InputFileError
from totalplace.ingest.common import (
    Loaded,
    append_rejects,
    clean_names,
    empty_rejects,
    unique_names,
)
from totalplace.ingest.encoding import scan_text
from totalplace.ingest.rules import ident
from totalplace.ingest.xlsx import cell_text, date_formats, open_workbook, pick_sheet
from totalplace.manifest import FileSpec

TOTALS_RE = re.compile(r"^\s*(grand\s+|sub-?\s*)?totals?\b", re.IGNORECASE)
CSV_FIELD_LIMIT = 1 << 30


@dataclass
class Grid:
    """Every row of a file or sheet, in order, as Python values (text, numbers, dates)."""

    rows: list[list[object]]
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Shaped:
    """A grid after the layout rules: header names, data rows, and what was set aside."""

    names: list[str]
    rows: list[tuple[int, list[str | None]]]  # (data row number, cells as text)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    blank: int = 0
    not_selected: int = 0
    wide_names: list[str] = field(default_factory=list)  # before unpivot
    wide_rows: list[tuple[int, list[str | None]]] = field(default_factory=list)


# --- reading grids ------------------------------------------------------------------------
def read_grid(path: Path, spec: FileSpec) -> Grid:
    fmt = spec.resolved_format
    if fmt == "xlsx":
        return _xlsx_grid(path, spec)
    if fmt == "xls":
        return _xls_grid(path, spec)
    return csv_grid(path, spec.encoding, spec.delimiter)


def csv_grid(path: Path, encoding: str = "auto", delimiter: str | None = None) -> Grid:
    """A CSV file's records (quoted line breaks kept inside their field), decoded exactly."""
    info = scan_text(path, encoding)
    text = path.read_bytes().decode(info.encoding)
    text = text.lstrip("\ufeff")
    delim = delimiter or _sniff_delimiter(text)
    if delim in ("\\t", "tab"):
        delim = "\t"
    old = csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim)]
    except csv.Error as e:
        raise InputFileError(str(path), f"cannot read it as CSV: {e}") from None
    finally:
        csv.field_size_limit(old)
    shown = {"utf-8-sig": "utf-8", "iso8859-1": "latin-1"}.get(info.encoding, info.encoding)
    return Grid(rows, shown)


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first non-blank lines most evenly (',' when unsure)."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()][:20]
    best, best_score = ",", 0
    for d in (",", ";", "\t", "|"):
        counts = [ln.count(d) for ln in lines]
        if counts and min(counts) > 0:
            score = sum(counts) / len(counts)
            if score > best_score:
                best, best_score = d, score
    return best


def _xlsx_grid(path: Path, spec: FileSpec) -> Grid:
    wb = open_workbook(path)
    try:
        ws = pick_sheet(wb, spec, path)
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    return Grid(rows)


def _xls_grid(path: Path, spec: FileSpec) -> Grid:
    import xlrd

    try:
        wb = xlrd.open_workbook(str(path), on_demand=True)
    except (xlrd.XLRDError, OSError, AssertionError) as e:
        raise InputFileError(str(path), f"not an .xls workbook ({e})") from None
    try:
        names = wb.sheet_names()
        if spec.sheet is not None:
            if spec.sheet not in names:
                raise InputFileError(
                    str(path), f"no sheet {spec.sheet!r}; sheets: {', '.join(names)}"
                )
            sh = wb.sheet_by_name(spec.sheet)
        elif len(names) > 1:
            raise InputFileError(
                str(path),
                f"has {len(names)} sheets ({', '.join(names)}); say which one to read "
                "with sheet: in place.yaml",
            )
        else:
            sh = wb.sheet_by_index(0)
        rows = []
        for r in range(sh.nrows):
            out: list[object] = []
            for c in range(sh.ncols):
                cell = sh.cell(r, c)
                if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                    out.append(None)
                elif cell.ctype == xlrd.XL_CELL_DATE:
                    out.append(xlrd.xldate_as_datetime(cell.value, wb.datemode))
                elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                    out.append(bool(cell.value))
                elif cell.ctype == xlrd.XL_CELL_ERROR:
                    out.append(xlrd.error_text_from_code.get(cell.value, "#ERROR"))
                else:
                    out.append(cell.value)
            rows.append(out)
    finally:
        wb.release_resources()
    return Grid(rows)


# --- shaping ------------------------------------------------------------------------------
def _blank(v: object) -> bool:
    return v is None or (isinstance(v, str) and v.strip(" \t\r\n\u00a0") == "")


def _text(v: object, fmt: str | None) -> str | None:
    if _blank(v):
        return None
    if isinstance(v, dt.datetime) and fmt:
        return v.strftime(fmt)
    return cell_text(v)


def header_index(rows: list[list[object]], spec: FileSpec, path: Path) -> int:
    """0-based index of the header row."""
    content = [i for i, r in enumerate(rows) if not all(_blank(v) for v in r)]
    if not content:
        raise InputFileError(str(path), "has no header row (only blank rows)")
    if spec.header_row == "last":
        return content[-1]
    if isinstance(spec.header_row, int):
        i = spec.header_row - 1
        if i >= len(rows) or all(_blank(v) for v in rows[i]):
            raise InputFileError(
                str(path),
                f"header_row: {spec.header_row} is blank or past the end of the file "
                f"({len(rows)} rows); the first row with content is row {content[0] + 1}",
            )
        return i
    return content[0]


def header_names(rows: list[list[object]], h: int) -> list[str]:
    header = list(rows[h])
    while header and _blank(header[-1]):
        header.pop()  # blank padding columns at the right
    return unique_names(clean_names(header))


def _selects(wanted: str, value: str | None) -> bool:
    """``where`` values: the value itself; ``*`` any value; ``/regex/`` a full match."""
    if value is None:
        return False
    if wanted == "*":
        return True
    if len(wanted) > 2 and wanted.startswith("/") and wanted.endswith("/"):
        return re.fullmatch(wanted[1:-1], value) is not None
    return value == wanted


def shape(grid: Grid, spec: FileSpec, path: Path) -> Shaped:
    """Apply the manifest's layout rules to a grid (see the module docstring)."""
    rows = grid.rows
    h = header_index(rows, spec, path)
    names = header_names(rows, h)
    n = len(names)
    fmts = date_formats(spec)
    fmt_of = [fmts.get(c) for c in names]
    if spec.header_row == "last":
        numbered = [(i + 1, rows[i]) for i in range(h)]
    else:
        numbered = [(i - h, rows[i]) for i in range(h + 1, len(rows))]
    out = Shaped(names=names, rows=[])
    data: list[tuple[int, list[str | None]]] = []
    for num, rec in numbered:
        if all(_blank(v) for v in rec):
            out.blank += 1
            continue
        cells = list(rec)
        if len(cells) > n and not all(_blank(v) for v in cells[n:]):
            last = max(i for i, v in enumerate(cells) if not _blank(v)) + 1
            raw = json.dumps({"_cells": [_text(v, None) for v in cells]})
            out.rejects.append(
                (num, raw, f"row has values in {last} columns but the header has {n}")
            )
            continue
        cells = (cells + [None] * n)[:n]
        data.append((num, [_text(v, f) for v, f in zip(cells, fmt_of, strict=True)]))
    # Totals rows at the foot are not data: set them aside so nothing is counted twice.
    while data and any(v is not None and TOTALS_RE.match(v) for v in data[-1][1]):
        num, cells = data.pop()
        out.rejects.append(
            (
                num,
                json.dumps(dict(zip(names, cells, strict=True))),
                "a totals row at the foot of the file, not a line of its own "
                "(counting it would count the rows above it twice)",
            )
        )
    if spec.where:
        missing = [c for c in spec.where if c not in names]
        if missing:
            raise InputFileError(
                str(path),
                f"where: no column {', '.join(repr(c) for c in missing)}; "
                f"available: {', '.join(names)}",
            )
        wanted = {
            names.index(c): [v] if isinstance(v, str) else list(v) for c, v in spec.where.items()
        }
        kept = [
            (num, c)
            for num, c in data
            if all(any(_selects(v, c[i]) for v in vs) for i, vs in wanted.items())
        ]
        out.not_selected = len(data) - len(kept)
        data = kept
    if spec.unpivot is None:
        out.rows = data
        return out
    u = spec.unpivot
    missing = [c for c in u.columns if c not in names]
    if missing:
        raise InputFileError(
            str(path),
            f"unpivot: no column {', '.join(repr(c) for c in missing)}; "
            f"available: {', '.join(names)}",
        )
    idx = [names.index(c) for c in u.columns]
    keep = [i for i in range(n) if i not in idx]
    out.wide_names, out.wide_rows = names, data
    out.names = unique_names([names[i] for i in keep] + [u.name, u.value])
    out.rows = [
        (num, [cells[i] for i in keep] + [names[j], cells[j]]) for num, cells in data for j in idx
    ]
    return out


# --- loading ------------------------------------------------------------------------------
def _text_table(names: list[str], rows: list[tuple[int, list[str | None]]]) -> pa.Table:
    cols = list(zip(*[c for _, c in rows], strict=True)) if rows else [()] * len(names)
    return pa.table(
        {
            "_tp_row": pa.array([r for r, _ in rows], pa.int64()),
            **{c: pa.array(list(v), pa.string()) for c, v in zip(names, cols, strict=True)},
        }
    )


def _create(engine: Engine, name: str, t: pa.Table) -> None:
    view = f"{name}_arrow"
    engine.register(view, t)
    try:
        engine.run(f"CREATE OR REPLACE TEMP TABLE {ident(name)} AS SELECT * FROM {ident(view)}")
    finally:
        engine.run(f"DROP VIEW IF EXISTS {ident(view)}")


def load_shaped(engine: Engine, grid: Grid, spec: FileSpec, path: Path, name: str) -> Loaded:
    """Shape a grid and load it as the temporary tables ingest validates."""
    s = shape(grid, spec, path)
    _create(engine, name, _text_table(s.names, s.rows))
    raw = None
    if spec.unpivot is not None:
        raw = f"{name}_wide"
        _create(engine, raw, _text_table(s.wide_names, s.wide_rows))
    pr = empty_rejects(engine, name)
    if s.rejects:
        append_rejects(engine, pr, s.rejects)
    return Loaded(
        table=name,
        columns=s.names,
        types={c: "VARCHAR" for c in s.names},
        parse_rejects=pr,
        encoding=grid.encoding,
        blank_rows=s.blank,
        not_selected=s.not_selected,
        raw_table=raw,
        notes=list(grid.notes),
    )


def load_layout(engine: Engine, path: Path, spec: FileSpec, name: str) -> Loaded:
    if spec.resolved_format == "fdp":
        from totalplace.ingest.fdp import fdp_grid

        grid, spec = fdp_grid(path, spec)
        return load_shaped(engine, grid, spec, path, name)
    return load_shaped(engine, read_grid(path, spec), spec, path, name)


def layout_header(path: Path, spec: FileSpec) -> list[str]:
    """The column names a manifest maps from, after the layout rules (unpivot included)."""
    if spec.resolved_format == "fdp":
        from totalplace.ingest.fdp import fdp_grid

        grid, spec = fdp_grid(path, spec, validate=False)
    else:
        grid = read_grid(path, spec)
    rows = grid.rows
    names = header_names(rows, header_index(rows, spec, path))
    if spec.unpivot is not None:
        names = [c for c in names if c not in spec.unpivot.columns]
        names += [spec.unpivot.name, spec.unpivot.value]
    return names
