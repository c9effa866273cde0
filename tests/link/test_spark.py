"""Splink on Spark gives the same people as Splink on DuckDB (same settings, same place)."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest

from totalplace.link.evaluate import same_cluster_share

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime on PATH"),
]

# The bar: a 5,000-resident place, the default settings on both engines (sampling
# budgets sized from the data, the threshold chosen by maximum expected F1), and at least
# 99.5% of records in the same cluster. Spark's own memory is sized from the machine.
RESIDENTS = 5000
MIN_SAME_CLUSTER = 0.995


def test_partition_comparison_is_strict():
    a = pa.table({"unique_id": ["1", "2", "3", "4"], "person_id": ["P1", "P1", "P2", "P3"]})
    b = pa.table({"unique_id": ["1", "2", "3", "4"], "person_id": ["X", "X", "Y", "Y"]})
    assert same_cluster_share(a, a) == 1.0
    assert same_cluster_share(a, b) == 0.5  # records 3 and 4 are merged in b
    with pytest.raises(ValueError, match="same records"):
        same_cluster_share(a, a.slice(0, 3))


@pytest.fixture(scope="module")
def place_dir(tmp_path_factory):
    pytest.importorskip("pyspark")
    from totalplace import Place
    from totalplace.synth import generate

    out = tmp_path_factory.mktemp("spark") / "town"
    generate(residents=RESIDENTS, seed=5, out=out, activity=False)
    with Place.open(out) as place:
        place.ingest.run()
    return out


def test_spark_and_duckdb_link_the_same_people(place_dir):
    from totalplace import Place
    from totalplace.engine.spark import stop_splink_db_api
    from totalplace.link.evidence import parameter_records

    results = {}
    try:
        for engine in ("duckdb", "spark"):
            with Place.open(place_dir) as place:
                res = place.link.run(engine=engine)
                results[engine] = {
                    "links": place.store.table("person_links"),
                    "threshold": res.detail["threshold"]["value"],
                    "params": parameter_records(place_dir / "link" / "model.json"),
                    "comparisons": res.detail["comparisons"],
                    "pairs": place.store.table("linkage_pairs"),
                }
    finally:
        stop_splink_db_api()  # the session the Spark run started
    from pyspark.sql import SparkSession

    assert SparkSession.getActiveSession() is None, "the Spark session was left running"

    d, s = results["duckdb"], results["spark"]
    share = same_cluster_share(d["links"], s["links"])
    drift = max(
        abs(a["m_probability"] - b["m_probability"])
        for a, b in zip(d["params"], s["params"], strict=True)
        if a["m_probability"] is not None and b["m_probability"] is not None
    )
    u_drift = max(
        abs(a["u_probability"] - b["u_probability"]) / b["u_probability"]
        for a, b in zip(d["params"], s["params"], strict=True)
        if a["u_probability"] and b["u_probability"]
    )

    def probs(t: pa.Table) -> dict[tuple[str, str], float]:
        return {
            (r["unique_id_l"], r["unique_id_r"]): r["match_probability"]
            for r in t.select(["unique_id_l", "unique_id_r", "match_probability"]).to_pylist()
        }

    pd_, ps_ = probs(d["pairs"]), probs(s["pairs"])
    common = pd_.keys() & ps_.keys()
    crossing = sum((pd_[k] >= d["threshold"]) != (ps_[k] >= s["threshold"]) for k in common)
    print(
        f"\nrecords {d['links'].num_rows}; same cluster on both engines {share:.4%}; "
        f"thresholds {d['threshold']:.4f} / {s['threshold']:.4f}; "
        f"pairs compared {d['comparisons']} / {s['comparisons']}; max |m diff| {drift:.2e}; "
        f"max relative u diff {u_drift:.2%}; pairs kept {len(pd_)} / {len(ps_)}, "
        f"max |p diff| {max(abs(pd_[k] - ps_[k]) for k in common):.4f}, "
        f"pairs on different sides of the threshold {crossing}"
    )
    assert d["links"].num_rows >= RESIDENTS
    assert d["comparisons"] == s["comparisons"]  # the same blocking on both engines
    assert share >= MIN_SAME_CLUSTER


def test_households_and_stable_ids_give_the_same_answers_on_spark():
    """The extras' SQL is engine-agnostic: DuckDB and Spark give identical tables."""
    pytest.importorskip("pyspark")
    import datetime as dt

    from totalplace.engine import open_engine
    from totalplace.link.households import build
    from totalplace.link.stable_ids import assign_with_engine

    d = dt.date
    sp = pa.table(
        {
            "agency": ["a", "b", "b", "a", "a", "c"],
            "source_id": ["1", "7", "8", "2", "3", "1"],
            "uprn": ["100", None, None, "200", "200", None],
            "address": ["1 High Street", "1 high st.", "2 High Street", None, None, "9 Mill Road"],
            "postcode": ["AB1 2CD", "ab12cd", "AB1 2CD", None, None, "AB1 9ZZ"],
            "valid_from": pa.array(
                [None, None, None, d(2020, 1, 1), d(2022, 1, 1), None], pa.date32()
            ),
            "valid_to": pa.array([None, None, None, d(2021, 1, 1), None, None], pa.date32()),
        }
    )
    pl = pa.table(
        {
            "agency": ["a", "b", "b", "a", "a", "c"],
            "source_id": ["1", "7", "8", "2", "3", "1"],
            "person_id": ["P1", "P2", "P3", "P4", "P5", "P1"],
        }
    )
    runs = [
        {"x": ["a|1", "b|1", "c|1"], "y": ["a|2", "b|2"], "z": ["a|3"]},
        {"m": ["a|1", "b|1", "c|1", "a|2", "b|2"], "n": ["a|3", "d|1"], "o": ["e|1"]},
        {"p": ["a|1", "b|1"], "q": ["c|1", "a|2", "b|2"], "r": ["a|3", "d|1"]},
    ]
    at = dt.datetime(2025, 1, 1)

    def clusters(groups):
        rows = [(u.split("|")[0], u.split("|")[1], u, c) for c, us in groups.items() for u in us]
        return pa.table(
            {
                k: [r[i] for r in rows]
                for i, k in enumerate(["agency", "source_id", "unique_id", "cluster_id"])
            }
        )

    def everything(kind: str) -> dict:
        eng = open_engine(kind, ":memory:")
        try:
            eng.register("sp", sp)
            eng.register("pl", pl)
            eng.publish(build(eng, "pl", "sp"))
            got = {
                t: eng.query(f'SELECT * FROM "{t}" ORDER BY 1, 2').to_pylist()
                for t in ("household_members", "households")
            }
            for i, groups in enumerate(runs):
                mapping, history = assign_with_engine(clusters(groups), eng, f"r{i}", at)
                eng.publish({"person_links": mapping, "person_id_history": history})
                got[f"ids{i}"] = sorted(mapping.to_pylist(), key=lambda r: r["unique_id"])
                got[f"history{i}"] = sorted(history.to_pylist(), key=str)
            return got
        finally:
            eng.close()

    duck, spark = everything("duckdb"), everything("spark")
    from pyspark.sql import SparkSession

    assert SparkSession.getActiveSession() is None
    assert spark.keys() == duck.keys()
    for name in duck:
        assert spark[name] == duck[name], name
    assert any(h["event"] == "merged_into" for h in duck["history1"])
    assert any(h["event"] == "split_from" for h in duck["history2"])
