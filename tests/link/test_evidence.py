"""Linkage evidence: records and Plotly figures from the model and the published tables."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from totalplace.engine import open_engine
from totalplace.link import evidence

MODEL = {
    "probability_two_random_records_match": 0.001,
    "comparisons": [
        {
            "output_column_name": "dob",
            "comparison_levels": [
                {"label_for_charts": "dob is NULL", "is_null_level": True},
                {"label_for_charts": "Exact", "m_probability": 0.9, "u_probability": 0.01},
                {"label_for_charts": "Year", "m_probability": 0.08, "u_probability": 0.04},
                {"label_for_charts": "All other", "m_probability": 0.02, "u_probability": 0.95},
            ],
        },
        {
            "output_column_name": "given_name",
            "comparison_levels": [
                {
                    "label_for_charts": "Exact",
                    "m_probability": 0.8,
                    "u_probability": 0.02,
                    "tf_adjustment_column": "given_name",
                },
                {"label_for_charts": "All other", "m_probability": 0.2, "u_probability": 0.98},
            ],
        },
    ],
}


@pytest.fixture
def eng():
    e = open_engine("duckdb")
    e.register(
        "linkage_pairs",
        pa.table(
            {
                "unique_id_l": ["a|1", "a|1", "a|2", "a|3", "a|4"],
                "unique_id_r": ["b|1", "b|2", "b|2", "b|3", "b|4"],
                "match_weight": [10.2, 0.4, -3.5, 50.0, 0.9],
                "match_probability": [0.999, 0.57, 0.08, 1.0, 0.65],
                "match_key": ["0", "1", "2", "deterministic", "review"],
            }
        ),
    )
    e.register(
        "person_links",
        pa.table(
            {
                "person_id": ["P1", "P1", "P1", "P2", "P2", "P3", "P4", "P5"],
                "agency": ["a", "b", "c", "a", "b", "a", "a", "b"],
                "source_id": ["1", "1", "1", "2", "2", "3", "4", "4"],
            }
        ),
    )
    e.register(
        "link_flags",
        pa.table(
            {
                "person_id": ["P1", "P1", "P2"],
                "n_records": [3, 3, 2],
                "reason": ["size", "bridge", "bridge"],
                "detail": ["x", "y", "z"],
            }
        ),
    )
    e.register(
        "persons",
        pa.table(
            {"person_id": ["P1", "P2"], "n_agencies": [3, 2], "min_match_probability": [0.9, 0.6]}
        ),
    )
    yield e
    e.close()


def test_parameter_records_are_log2_of_m_over_u():
    recs = evidence.parameter_records(MODEL)
    assert [(r["comparison"], r["level"], r["level_index"]) for r in recs] == [
        ("dob", "Exact", 2),
        ("dob", "Year", 1),
        ("dob", "All other", 0),
        ("given_name", "Exact", 1),
        ("given_name", "All other", 0),
    ]
    assert recs[0]["match_weight"] == pytest.approx(math.log2(90))
    assert recs[1]["match_weight"] == pytest.approx(1.0)
    assert recs[3]["tf_adjusted"] and not recs[4]["tf_adjusted"]
    assert evidence.prior_match_weight(MODEL) == pytest.approx(math.log2(0.001 / 0.999))


def test_parameter_figures_are_plain_dicts():
    recs = evidence.parameter_records(MODEL)
    fig = evidence.parameters_figure(recs)
    assert [t["type"] for t in fig["data"]] == ["bar", "bar"]
    assert fig["data"][0]["x"] == [r["m_probability"] for r in recs]
    weights = evidence.match_weights_figure(recs, prior=-9.97)
    assert weights["data"][0]["y"][0].startswith("prior")
    assert weights["data"][0]["x"][1] == pytest.approx(math.log2(90))


def test_histogram_counts_scored_pairs_only(eng):
    h = evidence.histogram(eng, width=2.0)
    # deterministic and reviewed pairs carry no model weight worth plotting
    assert [(r["bin_start"], r["bin_end"], r["pairs"]) for r in h["records"]] == [
        (-4.0, -2.0, 1),
        (0.0, 2.0, 1),
        (10.0, 12.0, 1),
    ]
    assert h["figure"]["data"][0]["y"] == [1, 1, 1]
    with pytest.raises(ValueError, match="bin width must be positive"):
        evidence.histogram_sql("p", 0)


def test_cluster_sizes(eng):
    c = evidence.cluster_sizes(eng)
    assert c["records"] == [
        {"n_records": 1, "persons": 3},
        {"n_records": 2, "persons": 1},
        {"n_records": 3, "persons": 1},
    ]


def test_suspicious_clusters(eng):
    s = evidence.suspicious_clusters(eng)
    assert s["counts"] == {"bridge": 2, "size": 1}
    assert [(r["person_id"], r["reason"], r["n_agencies"]) for r in s["records"]] == [
        ("P1", "bridge", 3),
        ("P1", "size", 3),
        ("P2", "bridge", 2),
    ]
    assert {t["name"] for t in s["figure"]["data"]} == {"bridge", "size"}


def test_sample_pairs_are_nearest_to_targets(eng):
    got = eng.query(evidence.sample_pairs_sql("linkage_pairs", (0.99, 0.6, 0.0))).to_pylist()
    assert [(g["unique_id_l"], g["unique_id_r"]) for g in got] == [
        ("a|1", "b|1"),
        ("a|1", "b|2"),
        ("a|2", "b|2"),
    ]


def test_waterfall_figure_from_steps():
    steps = [
        {"step": "Prior", "label": "prior", "match_weight": -10.0, "value_l": "", "value_r": ""},
        {
            "step": "dob",
            "label": "Exact",
            "match_weight": 6.5,
            "value_l": "1980",
            "value_r": "1980",
        },
        {"step": "sex", "label": "null", "match_weight": 0.0, "value_l": "", "value_r": ""},
        {
            "step": "Final score",
            "label": "Final",
            "match_weight": -3.5,
            "value_l": "",
            "value_r": "",
        },
    ]
    fig = evidence.waterfall_figure(steps)
    trace = fig["data"][0]
    assert trace["type"] == "waterfall"
    assert trace["measure"] == ["absolute", "relative", "total"]  # zero-weight step hidden
    assert "probability 0.0812" in fig["layout"]["title"]["text"]


@pytest.fixture(scope="module")
def linked_place(tmp_path_factory):
    try:
        from totalplace import Place
        from totalplace.link import Link  # noqa: F401
        from totalplace.synth import generate
    except ImportError as e:
        pytest.skip(f"synth, ingest or link not available: {e}")
    out = tmp_path_factory.mktemp("evidence") / "town"
    generate(residents=2000, seed=1, out=out, activity=False)  # people only
    with Place.open(out) as place:
        place.ingest.run()
        place.link.run()
    return out


def test_linkage_section_on_a_linked_place(linked_place):
    from totalplace.store import Store

    with Store.open(linked_place / "place.duckdb") as store:
        section = evidence.linkage_section(
            store.engine, linked_place / "link" / "model.json", source=store.table("source_people")
        )
        n_pairs = store.engine.scalar(
            "SELECT count(*) FROM linkage_pairs WHERE match_key NOT IN ('deterministic', 'review')"
        )
        n_persons = store.engine.scalar("SELECT count(*) FROM persons")
    assert sum(r["pairs"] for r in section["histogram"]["records"]) == n_pairs
    assert sum(r["persons"] for r in section["cluster_sizes"]["records"]) == n_persons
    assert section["parameters"]["records"]
    assert len(section["waterfalls"]) == 3
    for w in section["waterfalls"]:
        # Splink's re-scoring of the pair reproduces the probability the run published.
        final = next(s["match_weight"] for s in w["steps"] if s["step"] == "Final score")
        assert 1 / (1 + 2**-final) == pytest.approx(w["pair"]["match_probability"], abs=1e-6)
        steps = [s["match_weight"] for s in w["steps"] if s["step"] != "Final score"]
        assert sum(steps) == pytest.approx(final, abs=1e-6)
