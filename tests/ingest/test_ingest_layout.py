"""Files as councils publish them: header rows anywhere, totals at the foot, wide tables."""

from __future__ import annotations

from decimal import Decimal

import pytest

from totalplace.errors import InputFileError
from totalplace.place import Place


def _payments(columns=None, **extra) -> dict:
    return {
        "table": "payments",
        "path": "pay.csv",
        "columns": columns
        or {"payment_date": "Date", "amount_gbp": "Amount", "supplier": "Supplier"},
        **extra,
    }


def _run(make_place, default_manifest, spec, text, sector="council"):
    root = make_place(
        default_manifest([spec], agency="council", sector=sector), {spec["path"]: text}
    )
    with Place.open(root) as place:
        result = place.ingest.run()
        e = place.store.engine
        loaded = e.query(f"SELECT * FROM {spec['table']} ORDER BY source_row").to_pylist()
        rejects = e.query("SELECT source_row, reason FROM rejects ORDER BY source_row").to_pylist()
    return result.detail["files"][0], loaded, rejects


def test_header_on_the_last_line_with_credits_and_padding(make_place, default_manifest):
    text = (
        'Acme,,"1,234.50",04/03/2025\r\n'
        'Beta,,"106,396.00-",05/03/2025\r\n'
        '"Gamma\r\nLtd",,(12.00),06/03/2025\r\n'
        "Supplier,,Amount,Date\r\n"
    )
    spec = _payments(header_row="last", date_format="%d/%m/%Y")
    info, rows, rejects = _run(make_place, default_manifest, spec, text)
    assert info["read"] == 3 == info["loaded"] and not rejects
    assert [r["amount_gbp"] for r in rows] == [
        Decimal("1234.50"),
        Decimal("-106396.00"),
        Decimal("-12.00"),
    ]
    assert rows[2]["supplier"] == "Gamma\r\nLtd"
    assert [r["source_row"] for r in rows] == [1, 2, 3]


def test_preamble_blank_rows_and_a_totals_row_at_the_foot(make_place, default_manifest):
    text = (
        "Payments over £500, March\n\n"
        "Date,Supplier,Amount,,,\n"
        "01/03/2025,Acme,500.00,,,\n"
        ",,,,,\n"
        "02/03/2025,Beta,700.00,,,\n"
        ",Total,1200.00,,,\n"
        ",,,,,\n"
    )
    spec = _payments(header_row=3, date_format="%d/%m/%Y")
    info, rows, rejects = _run(make_place, default_manifest, spec, text)
    assert sum(r["amount_gbp"] for r in rows) == Decimal("1200.00")
    assert info["read"] == info["loaded"] + info["rejected"] == 3
    assert info["blank_rows"] == 2
    assert len(rejects) == 1 and "totals row at the foot" in rejects[0]["reason"]


def test_lost_dates_are_flagged_never_invented_and_impossible_ones_rejected(
    make_place, default_manifest
):
    text = "Date,Supplier,Amount\n00:00:00,Acme,10\n31/02/2024,Beta,20\n,Gamma,30\n"
    spec = _payments(date_format="%d/%m/%Y", header_row=1)
    info, rows, rejects = _run(make_place, default_manifest, spec, text)
    assert [r["payment_date"] for r in rows] == [None, None]
    assert info["warnings"]["date_lost"] == 2
    assert len(rejects) == 1 and "31/02/2024" in rejects[0]["reason"]


@pytest.mark.parametrize(
    ("written", "decimal", "pounds"),
    [
        ("£1,234.50", ".", "1234.50"),
        ("(1,234.50)", ".", "-1234.50"),
        ("906.36-", ".", "-906.36"),
        ("-1234.5", ".", "-1234.50"),
        ("1.234,50", ",", "1234.50"),
        ("-£12", ".", "-12.00"),
    ],
)
def test_amounts_as_written(make_place, default_manifest, written, decimal, pounds):
    text = f'Date,Supplier,Amount\n2025-03-01,Acme,"{written}"\n'
    spec = _payments(decimal=decimal)
    _, rows, rejects = _run(make_place, default_manifest, spec, text)
    assert not rejects and rows[0]["amount_gbp"] == Decimal(pounds)


def test_unpivot_where_and_scale(make_place, default_manifest):
    text = (
        "Net expenditure by service, £ thousand\n"
        "Code,Authority,Education,Highways,Total\n"
        "E1,Oldtown,1.5,2,3.5\n"
        "E2,Newtown,4,n/a,4\n"
        ",ENGLAND,5.5,2,7.5\n"
    )
    spec = {
        "table": "spend",
        "path": "rs.csv",
        "header_row": 2,
        "where": {"Code": "/E[0-9]+/"},
        "unpivot": {"columns": ["Education", "Highways"], "name": "line", "value": "net"},
        "amount_scale": 1000,
        "columns": {"year": {"value": "2024/25"}, "service": "line", "amount_gbp": "net"},
    }
    info, rows, rejects = _run(make_place, default_manifest, spec, text)
    assert [(r["source_row"], r["service"], r["amount_gbp"]) for r in rows] == [
        (1, "Education", Decimal("1500.00")),
        (1, "Highways", Decimal("2000.00")),
        (2, "Education", Decimal("4000.00")),
    ]
    assert info["not_selected"] == 1
    assert len(rejects) == 1 and "'n/a' is not an amount" in rejects[0]["reason"]
    assert info["read"] == info["loaded"] + info["rejected"] == 4


def test_layout_errors_name_the_file_and_what_is_there(make_place, default_manifest):
    spec = _payments(unpivot={"columns": ["Nope"]})
    root = make_place(
        default_manifest([spec], agency="council", sector="council"),
        {"pay.csv": "Date,Supplier,Amount\n2025-01-01,A,1\n"},
    )
    with Place.open(root) as place, pytest.raises(InputFileError, match="available: Date"):
        place.ingest.run()
