"""The SQL builders on their own: checked against plain-Python references."""

from __future__ import annotations

import random

import duckdb
import pytest

from totalplace.ingest.validate import POSTCODE_RE, ident, lit, money_sql, nhs_valid_sql


def nhs_ok(n: str) -> bool:
    """The NHS number rule from REFERENCE.md, written out in Python."""
    if len(n) != 10 or not n.isdigit() or len(set(n)) == 1:
        return False
    check = 11 - sum(int(d) * w for d, w in zip(n[:9], range(10, 1, -1), strict=True)) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(n[9])


def test_nhs_check_digit_sql_matches_the_reference_rule():
    rng = random.Random(7)
    numbers = [f"{rng.randrange(10**10):010d}" for _ in range(3000)]
    numbers += [
        "9434765919",
        "9434765870",
        "4010234059",
        "0000000000",
        "1111111111",
        "943476591",
        "94347659190",
        "943476591X",
    ]
    con = duckdb.connect()
    got = con.execute(
        f"SELECT {nhs_valid_sql('n')} FROM (SELECT unnest(?) AS n)", [numbers]
    ).fetchall()
    assert [g[0] for g in got] == [nhs_ok(n) for n in numbers]
    # About 1 in 11 random numbers has the right check digit: both answers are exercised.
    assert 200 < sum(nhs_ok(n) for n in numbers) < 350


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("£1,234.50", "1234.50"),
        ("(12.00)", "-12.00"),
        ("- £ 5", "-5"),
        ("1 000", "1000"),
        ("abc", "abc"),
    ],
)
def test_money_text_is_cleaned(raw, expected):
    con = duckdb.connect()
    assert (
        con.execute(f"SELECT {money_sql('v')} FROM (SELECT ? AS v)", [raw]).fetchone()[0]
        == expected
    )


@pytest.mark.parametrize(
    "postcode, ok",
    [
        ("SW1A1AA", True),
        ("M11AE", True),
        ("B338TH", True),
        ("CR26XH", True),
        ("DN551PT", True),
        ("EC1A1BB", True),
        ("W1A0AX", True),
        ("MT5", False),
        ("12345", False),
        ("SW1A1AAA", False),
    ],
)
def test_postcode_pattern(postcode, ok):
    con = duckdb.connect()
    assert (
        con.execute("SELECT regexp_full_match(?, ?)", [postcode, POSTCODE_RE]).fetchone()[0] is ok
    )


def test_quoting_helpers():
    assert lit("O'Neill") == "'O''Neill'" and lit(None) == "NULL"
    assert ident('a "b"') == '"a ""b"""'
