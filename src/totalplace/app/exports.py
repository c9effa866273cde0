"""Aggregate tables as CSV, Parquet and XLSX, with spreadsheet formula injection neutralised.

A text cell that a spreadsheet would run as a formula (starting ``=``, ``+``, ``-``, ``@``,
tab or carriage return) is written with a leading apostrophe, as OWASP recommends, so Excel
and LibreOffice show it as text. Numbers stay numbers. Tables come from the report's
sections, so every count has already passed the publishing rule; a hidden count is ``*``
in CSV and XLSX and empty (null) in Parquet.

>>> neutralise("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
>>> neutralise(-3), neutralise("plain")
(-3, 'plain')
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

from totalplace.disclosure import SUPPRESSED
from totalplace.section import SectionTable

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(v: Any) -> Any:
    """A value safe to open in a spreadsheet."""
    if isinstance(v, str) and v.startswith(DANGEROUS):
        return "'" + v
    return v


def _cell(v: Any) -> Any:
    if v is None:
        return SUPPRESSED
    if isinstance(v, Decimal):
        return float(v)
    return neutralise(v) if isinstance(v, str) else v


def to_csv(t: SectionTable) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([neutralise(c) for c in t.columns])
    for r in t.rows:
        w.writerow([_cell(v) for v in r])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel reads UTF-8 correctly


def to_parquet(t: SectionTable) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {}
    for j, name in enumerate(t.columns):
        vals = [r[j] if j < len(r) else None for r in t.rows]
        kinds = {type(v) for v in vals if v is not None}
        if kinds <= {int}:
            arr = pa.array(vals, pa.int64())
        elif kinds <= {int, float, Decimal}:
            arr = pa.array([None if v is None else float(v) for v in vals], pa.float64())
        else:
            arr = pa.array([None if v is None else neutralise(str(v)) for v in vals], pa.string())
        cols[str(name)] = arr
    out = io.BytesIO()
    pq.write_table(pa.table(cols), out)
    return out.getvalue()


def to_xlsx(t: SectionTable) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    # Excel refuses \ / ? * [ ] : in a sheet name, and more than 31 characters.
    ws.title = re.sub(r"[\\/?*\[\]:]", "-", t.title)[:31].strip("' ") or "table"
    ws.append([neutralise(c) for c in t.columns])
    for r in t.rows:
        ws.append([_cell(v) for v in r])
    for row in ws.iter_rows():
        for c in row:
            if isinstance(c.value, str):
                c.data_type = "s"  # never a formula, whatever the text
    ws.append([])
    ws.append([neutralise(f"Source: {t.source}. {SUPPRESSED} = a small number, hidden.")])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def export(t: SectionTable, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of: {', '.join(FORMATS)}; found {fmt!r}")
    return {"csv": to_csv, "parquet": to_parquet, "xlsx": to_xlsx}[fmt](t)
