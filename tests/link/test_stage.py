"""The link stage's own checks, on tiny places (no Splink run needed)."""

from __future__ import annotations

import pytest

from totalplace.errors import ManifestError, StoreError
from totalplace.link.stage import interim_person_ids_sql, person_links_sql
from totalplace.place import Place


def test_link_before_ingest_says_what_to_run(make_place, default_manifest):
    root = make_place(default_manifest([]))
    with Place.open(root) as place, pytest.raises(StoreError, match="totalplace ingest"):
        place.link.run()


def test_bad_linkage_options_are_reported_before_anything_runs(make_place, default_manifest):
    root = make_place(default_manifest([], linkage={"threshold": "high"}))
    with Place.open(root) as place, pytest.raises(ManifestError, match="linkage.threshold"):
        place.link.run()


def test_interim_person_ids_are_numbered_by_smallest_record():
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    con.register(
        "c",
        pa.table(
            {
                "unique_id": ["b|2", "a|1", "c|3", "a|9"],
                "cluster_id": ["x", "y", "x", "y"],
                "match_probability": [0.9, 0.95, 0.9, 0.95],
            }
        ),
    )
    con.register("ids", con.sql(interim_person_ids_sql("c")).to_arrow_table())
    rows = (
        con.sql(person_links_sql("c", "ids") + " ORDER BY unique_id").to_arrow_table().to_pylist()
    )
    assert [(r["agency"], r["source_id"], r["person_id"]) for r in rows] == [
        ("a", "1", "P0000001"),
        ("a", "9", "P0000001"),
        ("b", "2", "P0000002"),
        ("c", "3", "P0000002"),
    ]
