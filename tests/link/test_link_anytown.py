"""The link stage on a 20,000-resident Anytown with default noise, against its truth."""

from __future__ import annotations

import json

import duckdb
import pytest
from splink import DuckDBAPI, Linker

from totalplace.link.evaluate import pairwise_metrics
from totalplace.place import Place

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def metrics(linked_anytown):
    with Place.open(linked_anytown.root) as place:
        links = place.store.table("person_links")
    m = pairwise_metrics(
        duckdb.connect(),
        links.select(["unique_id", "person_id"]).rename_columns(["unique_id", "cluster_id"]),
        linked_anytown.truth,
    )
    print("\nAnytown 20k linkage:", json.dumps(m, indent=1))
    return m


def test_pairwise_precision_and_recall_meet_the_target(metrics):
    # Measured 0.9949 and 0.9915 (before households were modelled: 0.987 and 0.992).
    assert metrics["records"] > 20_000
    assert metrics["precision"] >= 0.99
    assert metrics["recall"] >= 0.99


def test_household_agreements_are_modelled_from_the_data(linked_anytown):
    """Members of a household share surname and address (and twins a dob): the model
    estimates how often non-matches do, so those agreements are not counted as independent."""
    hh = linked_anytown.result.detail["training"]["household_surname"]
    assert hh["used"] and hh["dob"]["used"]
    assert 0.2 < hh["u"] < 0.8  # share of same-address pairs of relatives sharing a surname
    assert hh["u"] > 8 * hh["u_all_records"]
    assert 0 < hh["dob"]["u"] < 0.2


def test_bcubed_f1_is_reported_and_high(metrics):
    assert metrics["bcubed_precision"] >= 0.98
    assert metrics["bcubed_recall"] >= 0.98
    assert metrics["bcubed_f1"] >= 0.98


def test_blocking_reports_pairs_per_rule_and_union_recall(linked_anytown):
    detail = linked_anytown.result.detail
    assert [b["rule"] for b in detail["blocking"]][:2] == ["nhs_number", "dob_str+given_name"]
    assert all(b["pairs"] >= 0 for b in detail["blocking"])
    assert sum(b["pairs"] for b in detail["blocking"]) == detail["comparisons"]
    recall = detail["blocking_recall"]
    assert recall["true_pairs"] > 10_000
    assert recall["union_recall"] >= 0.995


def test_every_record_gets_exactly_one_person(linked_anytown):
    with Place.open(linked_anytown.root) as place:
        e = place.store.engine
        n_source = e.count("source_people")
        assert e.count("person_links") == n_source
        assert e.scalar("SELECT count(DISTINCT (agency, source_id)) FROM person_links") == n_source
        assert e.scalar("SELECT count(*) FROM person_links WHERE person_id IS NULL") == 0
        assert (
            e.scalar(
                "SELECT count(*) FROM person_links "
                "WHERE match_probability < 0 OR match_probability > 1"
            )
            == 0
        )
        # persons agree with person_links
        assert e.scalar("SELECT count(DISTINCT person_id) FROM person_links") == e.count("persons")
        assert e.scalar("SELECT sum(n_records) FROM persons") == n_source


def test_singletons_have_probability_one_and_linked_records_meet_the_threshold(linked_anytown):
    threshold = linked_anytown.result.detail["threshold"]["value"]
    with Place.open(linked_anytown.root) as place:
        e = place.store.engine
        bad_single = e.scalar("""SELECT count(*)
            FROM person_links l JOIN persons p USING (person_id)
                                 WHERE p.n_records = 1 AND l.match_probability <> 1.0""")
        weak_linked = e.scalar(f"""SELECT count(*)
            FROM person_links l JOIN persons p USING (person_id)
                                   WHERE p.n_records > 1 AND l.match_probability < {threshold}""")
    assert bad_single == 0
    assert weak_linked == 0


def test_same_valid_nhs_number_and_dob_is_always_the_same_person(linked_anytown):
    with Place.open(linked_anytown.root) as place:
        split = place.store.engine.scalar("""
            SELECT count(*) FROM (
              SELECT s.nhs_number, s.dob
              FROM source_people s JOIN person_links l USING (agency, source_id)
              WHERE s.nhs_number_valid AND s.dob IS NOT NULL
              GROUP BY 1, 2 HAVING count(DISTINCT l.person_id) > 1)""")
        det = place.store.engine.scalar(
            "SELECT count(*) FROM linkage_pairs WHERE match_key = 'deterministic'"
        )
    assert split == 0
    assert det > 0


def test_linkage_pairs_are_above_the_floor_with_both_sides_named(linked_anytown):
    with Place.open(linked_anytown.root) as place:
        t = place.store.table("linkage_pairs")
    assert {
        "unique_id_l",
        "unique_id_r",
        "agency_l",
        "source_id_l",
        "agency_r",
        "source_id_r",
        "match_weight",
        "match_probability",
        "match_key",
    } <= set(t.column_names)
    assert min(t.column("match_probability").to_pylist()) >= 0.01
    assert all(
        left < right
        for left, right in zip(
            t.column("unique_id_l").to_pylist(), t.column("unique_id_r").to_pylist(), strict=True
        )
    )


def test_model_json_is_saved_and_loads_into_splink(linked_anytown):
    detail = linked_anytown.result.detail
    path = linked_anytown.root / "link" / "model.json"
    assert detail["model_path"] == str(path)
    model = json.loads(path.read_text())
    assert {c["output_column_name"] for c in model["comparisons"]} >= {
        "nhs_number",
        "given_name",
        "family_name",
        "dob",
        "address",
        "sex",
    }
    db = DuckDBAPI()
    df = db.register(duckdb.sql("SELECT 'x' AS unique_id").to_arrow_table())
    Linker(df, str(path), validate_settings=False)


def test_run_is_recorded_with_threshold_timings_and_flags(linked_anytown):
    with Place.open(linked_anytown.root) as place:
        run = place.store.last_run("link")
    d = run["detail"]
    assert d["threshold"]["method"] == "maximum expected F1"
    assert 0.5 <= d["threshold"]["value"] < 1
    assert d["threshold"]["estimated_precision"] >= 0.99
    with_cc = [c for c in d["threshold"]["curve"] if "est_cluster_f1" in c]
    assert len(with_cc) > 10  # every whole bit, and the half bits around the best
    best = max(with_cc, key=lambda c: c["est_cluster_f1"])
    assert best["threshold"] == pytest.approx(d["threshold"]["value"])
    for phase in ("train_u", "train_m_em", "predict", "cluster", "publish"):
        assert phase in d["timings"]
    assert set(d["flags"]) == {"size", "bridge"}
    assert run["rows"]["person_links"]["out"] == run["rows"]["source_people"]["in"]


def test_flagged_clusters_are_listed_with_reasons(linked_anytown):
    with Place.open(linked_anytown.root) as place:
        flags = place.store.table("link_flags").to_pylist()
        flagged = place.store.engine.scalar("SELECT count(*) FROM persons WHERE flagged")
    assert flags, "a 20k place with twins and shared names should have some weak bridges"
    assert {f["reason"] for f in flags} <= {"size", "bridge"}
    assert flagged == len({f["person_id"] for f in flags})


def test_review_file_is_written_and_reviews_override_the_model(linked_anytown, tmp_path):
    """A reviewed 'non-match' splits a two-record person; a 'match' joins two singletons."""
    import csv
    import shutil

    root = tmp_path / "anytown"
    shutil.copytree(linked_anytown.root, root)
    assert (root / "link" / "review_pairs.csv").exists()
    with Place.open(root) as place:
        e = place.store.engine
        pair = e.query("""SELECT min(unique_id) AS l, max(unique_id) AS r FROM person_links
                          GROUP BY person_id HAVING count(*) = 2 ORDER BY 1 LIMIT 1""").to_pylist()[
            0
        ]
        singles = (
            e.query("""SELECT unique_id FROM person_links WHERE person_id IN (
                               SELECT person_id FROM persons WHERE n_records = 1)
                             ORDER BY unique_id LIMIT 2""")
            .column(0)
            .to_pylist()
        )
        reviews = tmp_path / "reviews.csv"
        with open(reviews, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["unique_id_l", "unique_id_r", "decision"])
            w.writerow([pair["l"], pair["r"], "non-match"])
            w.writerow([singles[0], singles[1], "match"])
        result = place.link.run(reviews=reviews)
        person = {
            r["unique_id"]: r["person_id"]
            for r in e.query("SELECT unique_id, person_id FROM person_links").to_pylist()
        }
    assert result.detail["reviews"]
    assert person[pair["l"]] != person[pair["r"]]
    assert person[singles[0]] == person[singles[1]]


def test_summary_and_headline_name_the_review_file(linked_anytown):
    r = linked_anytown.result
    assert "records ->" in r.headline and "people" in r.headline
    assert r.detail["review_pairs"] > 0
    assert any("review_pairs.csv" in line for line in r.summary)


def test_flipping_sex_on_one_record_of_a_confident_pair_does_not_break_it(linked_anytown):
    """Anytown never miscodes sex; the model must not learn that a mismatch is damning."""
    from totalplace.link.prepare import prepare_sql, register_nicknames

    threshold = linked_anytown.result.detail["threshold"]["value"]
    path = linked_anytown.root / "link" / "model.json"
    con = duckdb.connect()
    with Place.open(linked_anytown.root) as place:
        source = place.store.table("source_people")
        pairs = place.store.engine.query(
            "SELECT unique_id_l, unique_id_r FROM linkage_pairs "
            "WHERE match_probability >= 0.999 AND match_key <> 'deterministic' "
            "ORDER BY unique_id_l, unique_id_r"
        )
    con.register("src", source)
    register_nicknames(con)
    frame = con.sql(prepare_sql("src", source.column_names)).to_arrow_table()
    con.register("frame", frame)
    con.register("pairs", pairs)
    # 200 pairs whose records agree on sex, each record in one chosen pair only.
    chosen = con.sql("""
        WITH p AS (
          SELECT p.* FROM pairs p JOIN frame l ON l.unique_id = p.unique_id_l
          JOIN frame r ON r.unique_id = p.unique_id_r WHERE l.sex = r.sex),
        once AS (SELECT * FROM p QUALIFY count(*) OVER (PARTITION BY unique_id_l) = 1
                 AND count(*) OVER (PARTITION BY unique_id_r) = 1)
        SELECT * FROM once ORDER BY hash(unique_id_l) LIMIT 200""").to_arrow_table()
    assert chosen.num_rows == 200
    con.register("chosen", chosen)
    flipped = con.sql("""SELECT * REPLACE (CASE WHEN unique_id IN
        (SELECT unique_id_l FROM chosen) THEN (CASE sex WHEN 'F' THEN 'M' ELSE 'F' END)
        ELSE sex END AS sex) FROM frame""").to_arrow_table()
    db = DuckDBAPI(connection=con)
    linker = Linker(db.register(flipped, table_name="flipped"), str(path), validate_settings=False)
    pred = linker.inference.predict(threshold_match_probability=0.01).as_pyarrow_table()
    con.register("pred", pred.select(["unique_id_l", "unique_id_r", "match_probability"]))
    kept = con.sql(f"""
        SELECT count(*) FROM chosen c JOIN pred p
          ON (p.unique_id_l = c.unique_id_l AND p.unique_id_r = c.unique_id_r)
          OR (p.unique_id_l = c.unique_id_r AND p.unique_id_r = c.unique_id_l)
        WHERE p.match_probability >= {threshold}""").fetchall()[0][0]
    # With sex mismatch at -64 bits, 16% survived; at -10 bits, 183 of 200. A mismatch now
    # weighs at most about -5.6 bits (1% of matches are taken to disagree on sex).
    assert kept == 200, f"only {kept} of 200 confident pairs survive a flipped sex"
