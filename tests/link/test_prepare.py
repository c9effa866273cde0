"""The Splink input frame: cleaning, nickname groups, NHS modulus 11, postcode parts."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from totalplace.link.prepare import (
    FRAME_COLUMNS,
    nhs_valid_sql,
    nickname_pairs,
    prepare_sql,
    present_columns,
    register_nicknames,
)


def frame(rows: list[dict], columns: list[str] | None = None) -> list[dict]:
    con = duckdb.connect()
    register_nicknames(con)
    cols = columns or sorted({k for r in rows for k in r})
    con.register("src", pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows]))
    out = con.sql(prepare_sql("src", cols)).to_arrow_table()
    assert tuple(out.column_names) == FRAME_COLUMNS
    return sorted(out.to_pylist(), key=lambda r: r["unique_id"])


@pytest.mark.parametrize(
    "number, valid",
    [
        ("9434765919", True),  # a published example of a valid NHS number
        ("9434765918", False),  # same number, wrong check digit
        ("4010232137", True),
        ("943476591", False),  # nine digits
        ("", False),
        (None, False),
        ("12345678AB", False),
    ],
)
def test_nhs_modulus_11(number, valid):
    got = duckdb.sql(
        f"SELECT {nhs_valid_sql('?')}".replace("?", "$n"), params={"n": number}
    ).fetchall()[0][0]
    assert got is valid


def test_only_valid_nhs_numbers_reach_splink_and_spaces_are_ignored():
    rows = frame(
        [
            {"agency": "a", "source_id": "1", "nhs_number": "943 476 5919"},
            {"agency": "a", "source_id": "2", "nhs_number": "943 476 5918"},
            # ingest's flag says invalid: it is trusted even when the digits would pass
            {
                "agency": "a",
                "source_id": "3",
                "nhs_number": "9434765919",
                "nhs_number_valid": False,
            },
        ]
    )
    assert [r["nhs_number"] for r in rows] == ["9434765919", None, None]


def test_names_are_cleaned_and_given_name_is_the_first_word():
    r = frame(
        [
            {
                "agency": "acute",
                "source_id": "7",
                "given_name": "  Zoë-Anne Mary",
                "family_name": "O'Brien-Smith",
            }
        ]
    )[0]
    assert r["unique_id"] == "acute|7"
    assert r["given_name"] == "zoe"
    assert r["family_name"] == "obriensmith"


def test_nickname_groups_join_nicknames_to_their_formal_names():
    rows = frame(
        [
            {"agency": "a", "source_id": str(i), "given_name": n}
            for i, n in enumerate(["Bob", "Robert", "Bobby", "Xanthe"])
        ]
    )
    groups = {r["given_name"]: r["given_name_groups"] for r in rows}
    assert "robert" in groups["bob"] and "robert" in groups["bobby"]
    assert groups["robert"] == ["robert"]
    assert groups["xanthe"] == ["xanthe"]
    assert ("bob", "robert") in nickname_pairs()


def test_dob_parts_sex_and_postcode_parts():
    r = frame(
        [
            {
                "agency": "a",
                "source_id": "1",
                "dob": dt.date(1980, 2, 3),
                "sex": "f",
                "postcode": "at1 2ab",
                "uprn": "UPRN 100-200",
                "address": "1, High St.",
            }
        ]
    )[0]
    assert (r["dob_str"], r["dob_year"], r["sex"]) == ("1980-02-03", "1980", "F")
    assert (r["postcode"], r["postcode_sector"], r["postcode_district"]) == (
        "AT1 2AB",
        "AT1 2",
        "AT1",
    )
    assert r["uprn"] == "100200"
    assert r["address"] == "1 high st"


def test_unusable_values_become_null():
    r = frame(
        [
            {
                "agency": "a",
                "source_id": "1",
                "sex": "unknown",
                "postcode": "XX",
                "given_name": "--",
                "family_name": "   ",
            }
        ]
    )[0]
    assert r["sex"] is None and r["postcode"] is None
    assert r["given_name"] is None and r["given_name_groups"] is None and r["family_name"] is None


def test_present_columns_ignore_all_null_columns():
    t = pa.table({"a": [1, None], "b": pa.array([None, None], pa.string())})
    assert present_columns(t) == {"a"}


def test_double_barrelled_family_names_keep_their_parts():
    rows = frame(
        [
            {"agency": "a", "source_id": "1", "family_name": "Carter-Lowe"},
            {"agency": "a", "source_id": "2", "family_name": "O'Brien"},
            {"agency": "a", "source_id": "3", "family_name": None},
        ]
    )
    assert [r["family_name_parts"] for r in rows] == [["carter", "lowe"], ["obrien"], None]
