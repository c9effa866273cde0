"""The same place linked twice gives the same persons and households, byte for byte."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest

from totalplace.engine import open_engine
from totalplace.link.households import build
from totalplace.place import Place


def table_text(place: Place, name: str, key: str) -> str:
    rows = place.store.engine.query(f'SELECT * FROM "{name}" ORDER BY {key}')
    return "\n".join(repr(r) for r in rows.to_pylist())


@pytest.mark.slow
def test_same_place_linked_twice_gives_identical_persons_and_households(tmp_path):
    from totalplace.synth import generate

    a = tmp_path / "a"
    generate(residents=1_500, seed=5, out=a)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    texts = []
    for root in (a, b):
        with Place.open(root) as place:
            place.ingest.run()
            place.link.run()
            texts.append(
                [
                    table_text(place, "persons", "person_id"),
                    table_text(place, "households", "household_id"),
                    table_text(place, "household_members", "household_id, person_id"),
                ]
            )
    assert texts[0][0].count("\n") > 500
    assert texts[0] == texts[1]


def test_town_written_or_not_is_one_household():
    eng = open_engine("duckdb")
    n = 40  # other addresses, so the town is seen as a frequent last part
    addresses = [f"{i} Other Road, Anytown" for i in range(n)]
    eng.register(
        "sp",
        pa.table(
            {
                "agency": ["a", "b", "c"] + ["x"] * n,
                "source_id": ["1", "2", "3"] + [str(i) for i in range(n)],
                "uprn": [None, None, None] + [None] * n,
                "address": ["35 West Close, Anytown", "35 West Close", "35 WEST CL., ANYTOWN"]
                + addresses,
                "postcode": ["AT1 2CD", "at12cd", "AT1 2CD"] + ["AT9 9ZZ"] * n,
                "valid_from": pa.array([None] * (3 + n), pa.date32()),
                "valid_to": pa.array([None] * (3 + n), pa.date32()),
            }
        ),
    )
    eng.register(
        "pl",
        pa.table(
            {
                "agency": ["a", "b", "c"] + ["x"] * n,
                "source_id": ["1", "2", "3"] + [str(i) for i in range(n)],
                "person_id": ["P1", "P2", "P3"] + [f"Q{i}" for i in range(n)],
            }
        ),
    )
    eng.publish(build(eng, "pl", "sp"))
    hh = eng.query(
        "SELECT count(DISTINCT household_id) FROM household_members "
        "WHERE person_id IN ('P1', 'P2', 'P3')"
    ).to_pylist()
    assert list(hh[0].values()) == [1]
