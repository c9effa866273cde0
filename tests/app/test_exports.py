"""Exports: CSV, Parquet and XLSX with formula injection neutralised."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
from openpyxl import load_workbook

from totalplace.app.exports import export, neutralise
from totalplace.section import SectionTable

T = SectionTable(
    "Contacts by type",
    ["Type", "Contacts", "Share"],
    [["=1+1", 40, 0.5], ["@SUM(A1)", None, "-"], ["All contacts", 80, 1.0]],
    "demand",
)


def test_dangerous_text_is_neutralised_numbers_are_not():
    assert neutralise("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert [neutralise(v) for v in ("+1", "-1", "@x", "\tx", "ok", -1)] == [
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "ok",
        -1,
    ]


def test_csv():
    text = export(T, "csv").decode("utf-8-sig")
    assert text.splitlines()[1:3] == ["'=1+1,40,0.5", "'@SUM(A1),*,'-"]


def test_xlsx_has_no_formulas():
    wb = load_workbook(io.BytesIO(export(T, "xlsx")))
    ws = wb.active
    assert ws["A2"].value == "'=1+1" and ws["A2"].data_type == "s"
    assert ws["B2"].value == 40 and ws["B3"].value == "*"
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)


def test_parquet_keeps_types_and_nulls():
    t = pq.read_table(io.BytesIO(export(T, "parquet")))
    assert t.column("Contacts").to_pylist() == [40, None, 80]
    assert t.column("Type").to_pylist()[0] == "'=1+1"


def test_any_title_makes_a_valid_sheet_name():
    t = SectionTable(
        "Who pays? Funders [all] / agencies: a very long title indeed", ["a"], [[1]], "x"
    )
    ws = load_workbook(io.BytesIO(export(t, "xlsx"))).active
    assert ws.title == "Who pays- Funders -all- - agenc"
