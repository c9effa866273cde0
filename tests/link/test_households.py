"""Households: address keys, periods, current household, and quality against synth truth."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet  # noqa: F401  (pa.parquet)
import pytest

from totalplace.engine import open_engine
from totalplace.link.households import build, normalised_address_sql, quality_sql

D = dt.date


def people(rows: list[tuple]) -> pa.Table:
    cols = ["agency", "source_id", "uprn", "address", "postcode", "valid_from", "valid_to"]
    data = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    return pa.table(
        {
            **{c: pa.array(data[c], pa.string()) for c in cols[:5]},
            "valid_from": pa.array(data["valid_from"], pa.date32()),
            "valid_to": pa.array(data["valid_to"], pa.date32()),
        }
    )


def links(pairs: dict[str, str]) -> pa.Table:
    """{"agency|source_id": person_id}"""
    keys = list(pairs)
    return pa.table(
        {
            "agency": [k.split("|")[0] for k in keys],
            "source_id": [k.split("|")[1] for k in keys],
            "person_id": list(pairs.values()),
        }
    )


def members_of(sp: pa.Table, pl: pa.Table) -> tuple[list[dict], list[dict]]:
    eng = open_engine("duckdb")
    try:
        eng.register("sp", sp)
        eng.register("pl", pl)
        eng.publish(build(eng, "pl", "sp"))
        members = eng.query("SELECT * FROM household_members ORDER BY person_id, household_id")
        households = eng.query("SELECT * FROM households ORDER BY household_id")
        return members.to_pylist(), households.to_pylist()
    finally:
        eng.close()


def test_address_normalisation():
    eng = open_engine("duckdb")
    got = eng.query(
        f"SELECT {normalised_address_sql('a')} AS n FROM (VALUES "
        "('1 High Street.'), ('1  high st'), ('Flat 2, 3 Mill Road'), ('  ')) t(a)"
    )
    assert got.column("n").to_pylist() == ["1 HIGH ST", "1 HIGH ST", "FLAT 2 3 MILL RD", None]
    eng.close()


def test_agency_without_uprn_lands_on_the_same_dwelling():
    sp = people(
        [
            ("a", "1", "100", "1 High Street", "AB1 2CD", None, None),
            ("b", "7", None, "1 high st.", "ab12cd", None, None),  # no UPRN: mapped via address
            ("b", "8", None, "2 High Street", "AB1 2CD", None, None),  # next door, no UPRN anywhere
        ]
    )
    members, households = members_of(sp, links({"a|1": "P1", "b|7": "P2", "b|8": "P3"}))
    by_person = {m["person_id"]: m for m in members}
    assert by_person["P1"]["household_id"] == by_person["P2"]["household_id"]
    assert by_person["P1"]["address_key"] == "UPRN:100"
    assert by_person["P3"]["address_key"] == "ADDR:2 HIGH ST|AB12CD"
    assert by_person["P3"]["household_id"] != by_person["P1"]["household_id"]
    assert [h["n_persons"] for h in households] == [1, 2]  # ADDR: sorts before UPRN:


def test_periods_that_do_not_overlap_are_different_households():
    sp = people(
        [
            ("a", "1", "100", None, None, D(2020, 1, 1), D(2021, 6, 30)),  # earlier tenants
            ("a", "2", "100", None, None, D(2020, 3, 1), D(2021, 5, 31)),
            ("a", "3", "100", None, None, D(2022, 1, 1), None),  # the family there now
            ("a", "4", "100", None, None, D(2022, 2, 1), None),
            ("a", "5", None, None, None, None, None),  # no address at all
        ]
    )
    members, households = members_of(
        sp, links({"a|1": "P1", "a|2": "P2", "a|3": "P3", "a|4": "P4", "a|5": "P5"})
    )
    hh = {m["person_id"]: m["household_id"] for m in members}
    assert hh["P1"] == hh["P2"] != hh["P3"] == hh["P4"]
    assert "P5" not in hh
    assert [(h["date_from"], h["date_to"], h["n_persons"]) for h in households] == [
        (D(2020, 1, 1), D(2021, 6, 30), 2),
        (D(2022, 1, 1), None, 2),
    ]


def test_a_mover_has_one_current_household():
    sp = people(
        [
            ("a", "1", "100", None, None, D(2020, 1, 1), D(2022, 12, 31)),
            ("b", "1", "200", None, None, D(2023, 1, 1), None),
            ("c", "1", "100", None, None, D(2019, 1, 1), D(2021, 1, 1)),
        ]
    )
    members, _ = members_of(sp, links({"a|1": "P1", "b|1": "P1", "c|1": "P1"}))
    assert [(m["address_key"], m["n_records"], m["is_current"]) for m in members] == [
        ("UPRN:100", 2, False),
        ("UPRN:200", 1, True),
    ]
    assert members[0]["date_from"] == D(2019, 1, 1) and members[0]["date_to"] == D(2022, 12, 31)


def test_missing_input_is_named():
    eng = open_engine("duckdb")
    with pytest.raises(ValueError, match="no table or view 'nope'"):
        build(eng, "nope")
    eng.close()


@pytest.fixture(scope="module")
def synth_place(tmp_path_factory):
    try:
        from totalplace import Place
        from totalplace.synth import generate
    except ImportError as e:
        pytest.skip(f"synth or ingest not available: {e}")
    out = tmp_path_factory.mktemp("town")
    generate(residents=3000, seed=7, out=out, force=True, activity=False)
    with Place.open(out) as place:
        place.ingest.run()
    return out


def test_households_from_true_persons_match_true_households(synth_place):
    """With perfect person linkage, household building alone is measured."""
    from totalplace.store import Store

    truth = pa.parquet.read_table(synth_place / "truth" / "source_records.parquet")
    with Store.open(synth_place / "place.duckdb") as store:
        eng = store.engine
        eng.register("truth", truth)
        eng.register(
            "pl", eng.query("SELECT agency, source_id, 'T' || person_id AS person_id FROM truth")
        )
        eng.publish(build(eng, "pl"))
        q = eng.query(quality_sql("household_members", "pl", "truth")).to_pylist()[0]
    print("households from true persons:", q)
    assert q["predicted_pairs"] > 0 and q["actual_pairs"] > 0
    assert q["purity"] >= 0.98
    # Movers seen only at their old address cannot be placed with their family (the data
    # do not say so); of the true pairs that share an address at all, nearly all are found.
    assert q["completeness"] >= 0.80
    assert q["reachable_completeness"] >= 0.97
