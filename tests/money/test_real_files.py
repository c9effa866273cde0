"""Real public spending files through the manifest, reconciled to the penny with the source.

Sources (Open Government Licence v3): the English councils' Revenue Outturn summary (RS)
returns for 2014-15 (.xls) and 2017-18 (.xlsx); Manchester City Council's payments over
£500, 2019-20; two OpenSpending Fiscal Data Packages (Madrid 2012-15, Australia 2015-16).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import yaml

from tests.money.conftest import _manchester_files, manchester_truth
from totalplace.place import Place

RS14 = "revenue_outturn/Revenue_Outturn_Summary__RS__data_2014-15_by_LA_-_02-Feb-2016.xls"
RS17 = "revenue_outturn/RS_2017-18_data_by_LA.xlsx"
TOTAL = "TOTAL SERVICE EXPENDITURE"


def _place(root: Path, files: list[dict], sector: str = "council") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": "Test",
        "period": {"start": "2012-01-01", "end": "2020-03-31"},
        "agencies": [{"id": "council", "name": "Council", "sector": sector, "files": files}],
    }
    (root / "place.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return root


def _rs_sheet(path: Path, sheet: str) -> tuple[list[str], list[list[object]], int]:
    """The sheet's rows (Python values), its header and the header's index, read directly."""
    if path.suffix == ".xls":
        import xlrd

        sh = xlrd.open_workbook(str(path)).sheet_by_name(sheet)
        rows = [sh.row_values(i) for i in range(sh.nrows)]
    else:
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        rows = [list(r) for r in wb[sheet].iter_rows(values_only=True)]
        wb.close()
    h = next(i for i, r in enumerate(rows) if r and r[0] == "E-code")
    return [str(c or "").strip() for c in rows[h]], rows, h


def _service_lines(header: list[str]) -> list[str]:
    first = header.index("Education services")
    last = next(i for i, c in enumerate(header) if c.startswith(TOTAL))
    return header[first:last]


def _rs_spec(spending: Path, rel: str, sheet: str, where: str = "/E[0-9]{4}/") -> dict:
    header, _, h = _rs_sheet(spending / rel, sheet)
    year = "2014/15" if "2014-15" in rel else "2017/18"
    return {
        "table": "spend",
        "path": str(spending / rel),
        "sheet": sheet,
        "header_row": h + 1,
        # Authorities only: not the England and class totals, nor the notes at the foot.
        "where": {"E-code": where},
        "unpivot": {"columns": _service_lines(header), "name": "line", "value": "net"},
        "amount_scale": 1000,  # the return is in £ thousand
        "allow_negative": True,
        "columns": {"year": {"value": year}, "service": "line", "amount_gbp": "net"},
    }


def _as_decimal(v: object) -> Decimal:
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(str(v))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rel", "sheet"),
    [(RS14, "RS LA Data 2014-15 (1)"), (RS17, "RS LA Data 2017-18")],
    ids=["2014-15-xls", "2017-18-xlsx"],
)
def test_revenue_outturn_every_authority_reconciles(spending, tmp_path, rel, sheet):
    root = _place(tmp_path / "rs", [_rs_spec(spending, rel, sheet)])
    header, rows, h = _rs_sheet(spending / rel, sheet)
    lines = _service_lines(header)
    cols = [header.index(c) for c in lines]
    total_col = next(i for i, c in enumerate(header) if c.startswith(TOTAL))
    want: dict[int, Decimal] = {}
    published: dict[int, Decimal] = {}
    unavailable: set[int] = set()
    for i in range(h + 1, len(rows)):
        r = rows[i]
        code = r[0] if r else None
        if not code or not str(code).startswith("E") or len(str(code)) != 5:
            continue
        if not all(isinstance(r[c], int | float) for c in cols):
            unavailable.add(i - h)  # e.g. '…': not available for this authority
            continue
        # £ thousand -> pounds; 2017-18's spreadsheet floats carry sub-penny digits, so
        # each line is rounded to the penny (half up), as ingest does.
        want[i - h] = sum(
            ((_as_decimal(r[c]) * 1000).quantize(Decimal("0.01"), ROUND_HALF_UP) for c in cols),
            Decimal(0),
        )
        published[i - h] = _as_decimal(r[total_col]) * 1000
    with Place.open(root) as place:
        result = place.ingest.run()
        got = {
            r["source_row"]: r["total"]
            for r in place.store.engine.query(
                "SELECT source_row, sum(amount_gbp) AS total FROM spend GROUP BY source_row"
            ).to_pylist()
        }
        rejected = place.store.engine.query(
            "SELECT source_row, reason FROM rejects WHERE source_row IN "
            f"({', '.join(str(u) for u in unavailable) or 'NULL'})"
        ).to_pylist()
    info = result.detail["files"][0]
    assert info["read"] == info["loaded"] + info["rejected"]
    assert len(want) > 400
    assert got == want  # every authority, to the penny
    # The publisher's own total column agrees within its rounding to £ thousands.
    assert max(abs(got[k] - published[k]) for k in want) <= 1000
    # Authorities whose figures are not available are rejected line by line, with a reason.
    assert len(rejected) == len(unavailable) * len(lines)
    assert all("is not an amount of money" in r["reason"] for r in rejected)


@pytest.mark.slow
def test_revenue_outturn_picks_one_authority(spending, tmp_path):
    header, rows, h = _rs_sheet(spending / RS14, "RS LA Data 2014-15 (1)")
    row = next(r for r in rows[h + 1 :] if r[2] == "Manchester")
    total = _as_decimal(row[next(i for i, c in enumerate(header) if c.startswith(TOTAL))])
    spec = _rs_spec(spending, RS14, "RS LA Data 2014-15 (1)", where=row[0])
    with Place.open(_place(tmp_path / "one", [spec])) as place:
        result = place.ingest.run()
        got = place.store.engine.scalar("SELECT sum(amount_gbp) FROM spend")
    assert got == total * 1000
    assert result.detail["files"][0]["not_selected"] > 400


@pytest.mark.slow
def test_manchester_every_month_reconciles(spending, manchester_place):
    files = _manchester_files(spending)
    assert len(files) == 12
    with Place.open(manchester_place) as place:
        got = {
            Path(r["source_file"]).name: (r["n"], r["total"])
            for r in place.store.engine.query(
                "SELECT source_file, count(*) AS n, sum(amount_gbp) AS total "
                "FROM payments GROUP BY source_file"
            ).to_pylist()
        }
        rejects = place.store.engine.count("rejects")
        lost = place.store.engine.scalar("SELECT count(*) FROM payments WHERE payment_date IS NULL")
    assert rejects == 0 and lost == 0
    for p in files:
        assert got[p.name] == manchester_truth(p), p.name


def _fdp_expected(csv_path: Path, measures: list[str], year_of) -> tuple[dict, int]:
    """Per year: the sum of the measure cells that are amounts (at most 2 decimal places),
    read independently of ingest; and how many cells are not ('', '-', 'nfp', 1564.1769)."""
    want: dict[str, Decimal] = defaultdict(Decimal)
    bad = 0
    with open(csv_path, encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            for m in measures:
                v = (r[m] or "").strip()
                if re.fullmatch(r"-?([0-9]+|[0-9]{1,3}(,[0-9]{3})+)(\.[0-9]{1,2})?", v):
                    want[year_of(r, m)] += Decimal(v.replace(",", ""))  # '85,817' too
                else:
                    bad += 1
    return dict(want), bad


@pytest.mark.slow
def test_fiscal_data_package_australia(spending, tmp_path):
    pkg = spending / "fiscal_data_packages" / "au-budget" / "datapackage.json"
    spec = {
        "table": "spend",
        "path": str(pkg),
        "allow_negative": True,
        "columns": {
            "year": "measure",
            "funder": "Appropriation type",
            "service": "Program",
            "theme": "Portfolio",
            "amount_gbp": "amount",
        },
    }
    with Place.open(_place(tmp_path / "au", [spec], sector="other")) as place:
        result = place.ingest.run()
        got = {
            r["year"]: r["total"]
            for r in place.store.engine.query(
                "SELECT year, sum(amount_gbp) AS total FROM spend GROUP BY year"
            ).to_pylist()
        }
        reasons = place.store.engine.query("SELECT reason FROM rejects").column(0).to_pylist()
    measures = ["2014-15", "2015-16", "2016-17", "2017-18", "2018-19"]
    want, bad = _fdp_expected(
        pkg.parent / "data" / "201505181230budget1516.csv",
        measures,
        lambda r, m: m.replace("-", "/"),
    )
    assert got == want
    info = result.detail["files"][0]
    assert info["rejected"] == bad == len(reasons)
    assert info["read"] == info["loaded"] + info["rejected"]
    assert any("'nfp' is not an amount of money" in r for r in reasons)
    notes = " ".join(info["notes"])
    assert "byte-count" in notes and "949719" in notes and "949585" in notes


@pytest.mark.slow
def test_fiscal_data_package_madrid(spending, tmp_path):
    pkg = spending / "fiscal_data_packages" / "madrid-municipal-gastos" / "datapackage.json"
    spec = {
        "table": "spend",
        "path": str(pkg),
        "allow_negative": True,
        "columns": {
            "year": "fiscal_year",
            "service": "DESCRIPCION PROGRAMA",
            "theme": "DESCRIPCION SECCION",
            "amount_gbp": "amount",
        },
    }
    with Place.open(_place(tmp_path / "mad", [spec], sector="other")) as place:
        result = place.ingest.run()
        got = {
            r["year"]: r["total"]
            for r in place.store.engine.query(
                "SELECT year, sum(amount_gbp) AS total FROM spend GROUP BY year"
            ).to_pylist()
        }
    want, bad = _fdp_expected(
        pkg.parent / "data" / "gastos_v40_2012-2015.csv",
        ["IMPORTE"],
        lambda r, m: f"{r['AÑO']}/{(int(r['AÑO']) + 1) % 100:02d}",
    )
    assert got == want and bad == 0
    info = result.detail["files"][0]
    assert info["rejected"] == 0
    assert info["notes"] == ["frictionless: the data package is valid"]
