"""Linkage options, threshold choice, edges and the over-link guard (on toy tables)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from splink import DuckDBAPI

from totalplace.errors import ManifestError
from totalplace.link.model import (
    LinkageOptions,
    LinkModel,
    candidate_thresholds,
    choose_threshold,
    edges_sql,
)
from totalplace.link.pipeline import guard_sql, record_probability_sql


def test_options_defaults_and_validation():
    o = LinkageOptions.from_manifest({})
    assert o.threshold == "auto" and o.pair_floor == 0.01
    assert LinkageOptions.from_manifest({"threshold": 0.9}).threshold == 0.9
    with pytest.raises(ManifestError) as e:
        LinkageOptions.from_manifest({"treshold": 0.9}, "x/place.yaml")
    text = str(e.value)
    assert (
        "x/place.yaml" in text
        and "linkage.treshold: unknown key" in text
        and "min_precision" in text
    )
    with pytest.raises(ManifestError, match="review_band must be two probabilities"):
        LinkageOptions.from_manifest({"review_band": [0.9, 0.1]})
    with pytest.raises(ManifestError, match="threshold"):
        LinkageOptions.from_manifest({"threshold": 1.5})


def edges(rows: list[tuple]) -> pa.Table:
    return pa.table(
        {
            "unique_id_l": [r[0] for r in rows],
            "unique_id_r": [r[1] for r in rows],
            "match_probability": [float(r[2]) for r in rows],
        }
    )


def test_threshold_curve_and_auto_choice():
    con = duckdb.connect()
    con.register(
        "e", edges([("a", "b", 0.999), ("c", "d", 0.9999), ("e", "f", 0.6), ("g", "h", 0.3)])
    )
    t = choose_threshold(con, "e", LinkageOptions(min_precision=0.99))
    # only the two near-certain pairs keep the mean probability above 0.99
    assert 0.6 < t.value <= 0.999
    assert t.estimated_precision >= 0.99
    assert t.estimated_recall == pytest.approx((0.999 + 0.9999) / (0.999 + 0.9999 + 0.6 + 0.3))
    fixed = choose_threshold(con, "e", LinkageOptions(threshold=0.5))
    assert fixed.value == 0.5 and fixed.method == "fixed in place.yaml"
    assert candidate_thresholds() == sorted(set(candidate_thresholds()))


def test_expected_counts_and_maximum_expected_f1():
    con = duckdb.connect()
    con.register(
        "e", edges([("a", "b", 0.999), ("c", "d", 0.9999), ("e", "f", 0.6), ("g", "h", 0.3)])
    )
    t = choose_threshold(con, "e", LinkageOptions(min_precision=None))
    assert t.method == "maximum expected F1"  # disjoint pairs: same F1
    # at p >= 0.3 all four: TP 2.8989, FP 1.1011, FN 0 -> F1 0.840; at p >= 0.6: TP 2.5989,
    # FP 0.4011, FN 0.3 -> F1 0.881; at p >= 0.999: TP 1.9989, FP 0.0011, FN 0.9 -> 0.815
    assert 0.3 < t.value <= 0.6
    assert t.expected_true_links == pytest.approx(2.5989)
    assert t.expected_false_links == pytest.approx(0.4011)
    assert t.expected_missed_links == pytest.approx(0.3)
    assert set(t.expected()) == {
        "expected_true_links",
        "expected_false_links",
        "expected_missed_links",
    }
    assert all(c["pairs"] > 0 for c in t.curve_points())


def test_deterministic_pairs_are_forced_to_one_and_added_when_missing():
    con = duckdb.connect()
    scored = pa.table(
        {
            "unique_id_l": ["a|1", "a|2"],
            "unique_id_r": ["b|1", "b|2"],
            "agency_l": ["a", "a"],
            "source_id_l": ["1", "2"],
            "agency_r": ["b", "b"],
            "source_id_r": ["1", "2"],
            "match_weight": [1.0, 2.0],
            "match_probability": [0.6, 0.7],
            "match_key": ["1", "2"],
        }
    )
    det = pa.table({"unique_id_l": ["a|1", "c|9"], "unique_id_r": ["b|1", "d|8"]})
    con.register("s", scored)
    con.register("d", det)
    out = {
        (r["unique_id_l"], r["unique_id_r"]): r
        for r in con.sql(edges_sql("s", "d")).to_arrow_table().to_pylist()
    }
    assert out[("a|1", "b|1")]["match_probability"] == 1.0
    assert out[("a|1", "b|1")]["match_key"] == "deterministic"
    assert out[("a|2", "b|2")]["match_probability"] == 0.7
    assert out[("c|9", "d|8")]["agency_r"] == "d" and out[("c|9", "d|8")]["source_id_r"] == "8"


def test_guard_flags_big_clusters_and_single_weak_bridges():
    con = duckdb.connect()
    # cluster X: two strong pairs (a-b, c-d) joined by one weak edge b-c -> bridge
    # cluster Y: triangle e-f-g, strong on every edge -> fine
    # cluster Z: h-i strong, i-j and h-j weak (two edges into one part) -> not a single bridge
    e = edges(
        [
            ("a", "b", 0.999),
            ("c", "d", 0.999),
            ("b", "c", 0.95),
            ("e", "f", 0.999),
            ("f", "g", 0.999),
            ("e", "g", 0.999),
            ("h", "i", 0.999),
            ("i", "j", 0.95),
            ("h", "j", 0.95),
        ]
    )
    clusters = pa.table(
        {"unique_id": list("abcdefghij"), "cluster_id": ["X"] * 4 + ["Y"] * 3 + ["Z"] * 3}
    )
    strong = pa.table(
        {
            "unique_id": list("abcdefghij"),
            "cluster_id": ["X1", "X1", "X2", "X2", "Y", "Y", "Y", "Z1", "Z1", "Z2"],
        }
    )
    for name, t in (("e", e), ("c", clusters), ("s", strong)):
        con.register(name, t)
    flags = con.sql(guard_sql("c", "s", "e", 0.9, max_size=3)).to_arrow_table().to_pylist()
    got = {(f["cluster_id"], f["reason"]) for f in flags}
    assert got == {("X", "size"), ("X", "bridge")}
    bridge = next(f for f in flags if f["reason"] == "bridge")
    assert "joined by 1 weak edge" in bridge["detail"] and "0.95" in bridge["detail"]
    probs = {
        r["unique_id"]: r["match_probability"]
        for r in con.sql(record_probability_sql("c", "e", 0.9)).to_arrow_table().to_pylist()
    }
    assert probs["a"] == 0.999 and probs["j"] == 0.95


def test_model_needs_enough_columns():
    frame = pa.table({"unique_id": ["a|1", "a|2"], "given_name": ["x", "y"]})
    with pytest.raises(ValueError, match="at least two of"):
        LinkModel(frame, LinkageOptions(), DuckDBAPI())


def test_cluster_curve_counts_pairs_joined_only_through_others():
    """a-b and b-c are linked; a-c was scored unlikely: clustering at 0.6 implies it."""
    from totalplace.link.model import cluster_curve

    e = edges([("a", "b", 0.99), ("b", "c", 0.6), ("a", "c", 0.02), ("d", "e", 0.95)])
    cc = cluster_curve(e, [0.5, 0.9])
    # at 0.5: clusters {a,b,c} and {d,e}: 4 implied pairs, expected true 0.99+0.6+0.02+0.95
    assert cc[0.5]["cluster_pairs"] == 4
    assert cc[0.5]["est_cluster_precision"] == pytest.approx((0.99 + 0.6 + 0.02 + 0.95) / 4)
    # at 0.9: {a,b} and {d,e}
    assert cc[0.9]["cluster_pairs"] == 2
    assert cc[0.9]["est_cluster_precision"] == pytest.approx((0.99 + 0.95) / 2)


def test_maximum_expected_f1_is_chosen_on_clusters_by_default():
    con = duckdb.connect()
    # a long chain of 0.7 links between strangers who each scored 0.02 against the others
    rows = [(f"x{i}", f"x{i + 1}", 0.7) for i in range(6)]
    rows += [(f"x{i}", f"x{j}", 0.02) for i in range(7) for j in range(i + 2, 7)]
    rows += [("a", "b", 0.999), ("c", "d", 0.998)]
    con.register("e", edges(rows))
    t = choose_threshold(con, "e", LinkageOptions())
    assert t.method == "maximum expected F1"
    assert t.value > 0.7  # the pairwise curve alone would accept the chain
    assert LinkageOptions().min_precision is None


def test_household_surname_u_is_the_share_of_relatives_sharing_a_surname():
    from totalplace.link.model import household_dob_u, household_surname_u

    rows = []
    for h in range(400):  # households of 3: parent, child (same surname), lodger
        rows += [
            (f"{h} high st", "anne", f"fam{h}", f"19{h % 50 + 40}-01-0{h % 9 + 1}"),
            (f"{h} high st", "ben", f"fam{h}", f"20{h % 20:02d}-02-0{h % 9 + 1}"),
            (f"{h} high st", "carl", f"lodger{h}", f"19{h % 50 + 30}-03-0{h % 9 + 1}"),
        ]
    frame = pa.table(
        {
            k: [r[i] for r in rows]
            for i, k in enumerate(("address", "given_name", "family_name", "dob_str"))
        }
    )
    present = {"address", "given_name", "family_name", "dob_str"}
    u, detail = household_surname_u(frame, present)
    assert detail["same_address_pairs"] == 1200 and detail["sharing_a_surname"] == 400
    assert u == pytest.approx(1 / 3) and detail["used"]
    u_dob, d = household_dob_u(frame, present)
    assert u_dob is None and d["sharing_a_dob"] == 0  # no twins here
    assert household_surname_u(frame, present - {"address"})[0] is None
