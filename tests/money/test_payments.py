"""``totalplace money payments``: council payment files exactly as published.

Expected totals are the ones in ``../shared/data/README.md`` (council_payments_raw)."""

from __future__ import annotations

import csv
import json
import random
from decimal import Decimal

import pytest
from click.testing import CliRunner

from tests.money.conftest import _manchester_files
from totalplace.cli import main
from totalplace.money.payments import (
    PaymentsFileError,
    check_payments,
    duplicates_sql,
    guess_date_format,
    parse_map,
)
from totalplace.place import Place

RAW = "council_payments_raw"


@pytest.mark.parametrize(
    ("name", "rows", "total", "credits", "dates_lost", "first", "last"),
    [
        # every date lost before publication: flagged, never invented
        ("oxford_expenditure-over-500-apr-jun-2014.csv", 3836, "14165887.28", 13, 3836, None, None),
        # cp1252, blank line 1, 67 padding columns, 253 blank records at the end
        ("hyndburn_SpendOver250Feb24.csv", 569, "2030035.04", None, 0, None, "2024-02-27"),
        # cp1252, header on the last line, line breaks in quotes, credits as '106,396.00-'
        ("hyndburn_March-25-CSV.csv", 888, "10043481.44", 10, 0, "2025-03-04", "2025-03-28"),
    ],
    ids=["oxford", "hyndburn-feb24", "hyndburn-mar25"],
)
def test_raw_council_files(spending, tmp_path, name, rows, total, credits, dates_lost, first, last):
    s = check_payments([spending / RAW / name], tmp_path)
    assert s["rows_read"] == rows == s["loaded"] and s["rejected"] == 0
    assert s["total_gbp"] == total
    assert s["dates_lost"] == dates_lost
    if credits is not None:
        assert s["credits"] == credits
    if first:
        assert s["first_date"] == first
    if last:
        assert s["last_date"] == last
    if dates_lost:
        assert s["first_date"] is None and "never invented" in " ".join(s["files"][0]["notes"])
    with open(tmp_path / "totals.csv", newline="") as f:
        months = [r for r in csv.DictReader(f) if r["breakdown"] == "month"]
    assert sum(Decimal(r["total_gbp"]) for r in months) == Decimal(total)
    assert json.loads((tmp_path / "summary.json").read_text())["total_gbp"] == total


@pytest.mark.slow
def test_manchester_same_total_as_the_place_pipeline(spending, manchester_place, tmp_path):
    s = check_payments(_manchester_files(spending), tmp_path)
    with Place.open(manchester_place) as place:
        n, total = (
            place.store.engine.query("SELECT count(*), sum(amount_gbp) FROM payments")
            .to_pylist()[0]
            .values()
        )
    assert (s["loaded"], s["total_gbp"]) == (n, f"{total:.2f}")
    assert s["first_date"] == "2019-04-01" and s["last_date"].startswith("2020-03")


def test_planted_duplicates_are_all_found(spending, tmp_path):
    src = _manchester_files(spending)[0]
    with open(src, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    rng = random.Random(7)
    picks = rng.sample(range(len(rows)), 40)
    planted = []
    out_rows = [list(r) for r in rows]
    for i in picks:
        r = list(rows[i])
        day = int(r[0][-2:])
        shift = rng.choice([0, 1, 2, 3] if day <= 27 else [0])
        r[0] = f"{r[0][:-2]}{day + shift:02d}"
        r[3] = "  " + r[3].upper() + " "  # the same supplier, typed differently
        out_rows.append(r)
        planted.append((i + 1, len(out_rows)))
    path = tmp_path / "planted.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(out_rows)
    s = check_payments([path], tmp_path / "out", days=3)
    with open(tmp_path / "out" / "duplicates.csv", newline="") as f:
        found = {(int(r["first_row"]), int(r["second_row"])) for r in csv.DictReader(f)}
    assert set(planted) <= found, sorted(set(planted) - found)
    assert s["likely_duplicates"] == len(found)


def test_duplicates_rule_ignores_other_suppliers_amounts_and_far_dates():
    import datetime as dt

    import duckdb
    import pyarrow as pa

    d = dt.date(2025, 3, 1)
    t = pa.Table.from_pylist(
        [
            dict(supplier="Acme", amount_gbp=Decimal("10.00"), payment_date=d, k=1),
            dict(
                supplier="ACME ", amount_gbp=Decimal("10.00"), payment_date=d + dt.timedelta(3), k=2
            ),
            dict(
                supplier="Acme", amount_gbp=Decimal("10.00"), payment_date=d + dt.timedelta(9), k=3
            ),
            dict(supplier="Acme", amount_gbp=Decimal("10.01"), payment_date=d, k=4),
            dict(supplier="Beta", amount_gbp=Decimal("10.00"), payment_date=d, k=5),
        ]
    ).rename_columns(["supplier", "amount_gbp", "payment_date", "source_row"])
    t = t.append_column("source_file", pa.array(["f"] * 5)).append_column(
        "transaction_id", pa.array([None] * 5, pa.string())
    )
    con = duckdb.connect()
    con.register("payments", t)
    pairs = con.execute(duplicates_sql(days=3)).fetchall()
    assert [(p[4], p[8]) for p in pairs] == [(1, 2)]


def test_xlsx_with_a_title_row(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Anytown Council: payments over £500, April 2025"])
    ws.append([])
    ws.append(["Date Paid", "Supplier Name", "Service Area", "Net Amount"])
    import datetime as dt

    ws.append([dt.datetime(2025, 4, 1), "Acme", "Waste", 1234.5])
    ws.append([dt.datetime(2025, 4, 2), "Beta", "Parks", "(500.00)"])
    ws.append([None, "Total", None, 734.5])
    wb.save(tmp_path / "april.xlsx")
    s = check_payments([tmp_path / "april.xlsx"], tmp_path / "out")
    assert (s["rows_read"], s["loaded"], s["rejected"]) == (3, 2, 1)
    assert s["total_gbp"] == "734.50"
    assert (s["first_date"], s["last_date"]) == ("2025-04-01", "2025-04-02")
    assert "totals row" in (tmp_path / "out" / "rejects.csv").read_text()


def test_map_and_its_errors(tmp_path):
    assert parse_map("date=Paid On,amount=Net,supplier=Payee") == {
        "payment_date": "Paid On",
        "amount_gbp": "Net",
        "supplier": "Payee",
    }
    with pytest.raises(PaymentsFileError, match="unknown name 'colour'"):
        parse_map("colour=Red")
    p = tmp_path / "p.csv"
    p.write_text("When,Who,How much\n01/04/2025,Acme,10\n")
    with pytest.raises(PaymentsFileError, match="available: When, Who, How much"):
        check_payments([p], tmp_path / "o", parse_map("amount=Cost"))
    s = check_payments([p], tmp_path / "o", parse_map("date=When,amount=How much,supplier=Who"))
    assert s["total_gbp"] == "10.00" and s["first_date"] == "2025-04-01"
    assert guess_date_format(["01/04/2025", "13/04/2025"]) == "%d/%m/%Y"
    assert guess_date_format(["00:00:00"]) is None


def test_cli_writes_the_three_files_and_fails_cleanly(spending, tmp_path):
    f = spending / RAW / "hyndburn_March-25-CSV.csv"
    r = CliRunner().invoke(main, ["money", "payments", str(f), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "total £10043481.44" in r.output
    assert {p.name for p in tmp_path.iterdir()} >= {"totals.csv", "duplicates.csv", "summary.json"}
    bad = CliRunner().invoke(
        main, ["money", "payments", str(tmp_path / "nope.csv"), "--out", str(tmp_path)]
    )
    assert bad.exit_code == 1 and "file not found" in bad.output
    assert "Traceback" not in bad.output
