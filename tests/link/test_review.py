"""Clerical review: the file of uncertain pairs, and reviewed decisions overriding the model."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from totalplace.errors import InputFileError
from totalplace.link.review import apply_reviews, read_reviews, review_pairs_sql, write_review_file

EDGES = pa.table(
    {
        "unique_id_l": ["a|1", "a|1", "a|2", "a|3"],
        "unique_id_r": ["b|1", "b|2", "b|2", "b|3"],
        "match_weight": [10.0, 0.5, -1.0, 2.0],
        "match_probability": [0.999, 0.58, 0.33, 0.8],
        "match_key": ["0", "1", "2", "3"],
    }
)
RECORDS = pa.table(
    {
        "agency": ["a", "a", "a", "b", "b", "b"],
        "source_id": ["1", "2", "3", "1", "2", "3"],
        "given_name": ["ann", "bob", "cat", "ann", "rob", "kat"],
        "family_name": ["lee", "day", "fox", "lee", "day", "fox"],
        "dob": [dt.date(1980, 1, 2)] * 6,
    }
)


def write(tmp_path, text: str):
    p = tmp_path / "reviews.csv"
    p.write_text(text)
    return p


def test_review_file_has_band_pairs_side_by_side(tmp_path):
    out = tmp_path / "link" / "review_pairs.csv"
    n = write_review_file(EDGES, out, band=(0.3, 0.9), records=RECORDS)
    assert n == 3
    t = pacsv.read_csv(out, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
    assert t.column("unique_id_l").to_pylist() == ["a|3", "a|1", "a|2"]  # most likely first
    cols = t.column_names
    assert cols.index("given_name_r") == cols.index("given_name_l") + 1
    assert t.column("given_name_r").to_pylist() == ["kat", "rob", "rob"]
    assert str(t.column("dob_l").to_pylist()[0]) == "1980-01-02"
    assert cols[-1] == "decision" and t.column("decision").null_count == n  # all blank


def test_records_may_already_carry_unique_ids(tmp_path):
    ids = pa.array(
        [
            f"{a}|{s}"
            for a, s in zip(
                RECORDS.column("agency").to_pylist(),
                RECORDS.column("source_id").to_pylist(),
                strict=True,
            )
        ]
    )
    out = tmp_path / "r.csv"
    assert write_review_file(EDGES, out, records=RECORDS.append_column("unique_id", ids)) == 3
    t = pacsv.read_csv(out)
    assert t.column("given_name_l").to_pylist() == ["cat", "ann", "bob"]


def test_band_is_validated():
    with pytest.raises(ValueError, match="0 <= lo < hi <= 1"):
        review_pairs_sql("p", None, [], (0.9, 0.3))


def test_round_trip_decisions_override_the_model(tmp_path):
    out = tmp_path / "review_pairs.csv"
    write_review_file(EDGES, out, records=RECORDS)
    t = pacsv.read_csv(out, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
    # The reviewer says a|1-b|2 is a match, a|2-b|2 is not, leaves a|3-b|3 blank.
    decision = {("a|1", "b|2"): "match", ("a|2", "b|2"): "Non-Match ", ("a|3", "b|3"): ""}
    pairs = zip(
        t.column("unique_id_l").to_pylist(), t.column("unique_id_r").to_pylist(), strict=True
    )
    t = t.set_column(
        t.column_names.index("decision"), "decision", pa.array([decision[p] for p in pairs])
    )
    pacsv.write_csv(t, out)
    edges, summary = apply_reviews(EDGES, out)
    got = {
        (r["unique_id_l"], r["unique_id_r"]): (r["match_probability"], r["match_key"])
        for r in edges.to_pylist()
    }
    assert got[("a|1", "b|2")] == (1.0, "review")
    assert got[("a|2", "b|2")] == (0.0, "review")
    assert got[("a|3", "b|3")] == (0.8, "3")
    assert got[("a|1", "b|1")] == (0.999, "0")
    assert edges.schema == EDGES.schema
    assert summary == {
        "rows": 3,
        "undecided": 1,
        "match": 1,
        "non_match": 1,
        "pairs_overridden": 2,
        "pairs_added": 0,
    }


def test_a_match_blocking_missed_is_added_in_id_order(tmp_path):
    p = write(tmp_path, "unique_id_l,unique_id_r,decision\nc|9,a|3,match\n")
    edges, summary = apply_reviews(EDGES, p)
    (added,) = [r for r in edges.to_pylist() if r["match_key"] == "review"]
    assert added == {
        "unique_id_l": "a|3",
        "unique_id_r": "c|9",
        "match_weight": None,
        "match_probability": 1.0,
        "match_key": "review",
    }
    assert summary["pairs_added"] == 1 and edges.num_rows == EDGES.num_rows + 1


def test_decisions_about_records_no_longer_present_are_skipped(tmp_path):
    p = write(tmp_path, "unique_id_l,unique_id_r,decision\nc|9,a|3,match\na|1,b|2,match\n")
    known = ["a|1", "a|2", "a|3", "b|1", "b|2", "b|3"]
    edges, summary = apply_reviews(EDGES, p, known_ids=known)
    assert summary["unknown_records"] == 1 and summary["pairs_added"] == 0
    assert summary["pairs_overridden"] == 1


def test_a_non_match_for_an_unscored_pair_changes_nothing(tmp_path):
    p = write(tmp_path, "unique_id_l,unique_id_r,decision\nc|9,a|3,non-match\n")
    edges, summary = apply_reviews(EDGES, p)
    assert edges.sort_by("unique_id_r").equals(EDGES.sort_by("unique_id_r"))
    assert summary["pairs_overridden"] == 0 and summary["pairs_added"] == 0


def test_bad_decisions_are_named_by_line(tmp_path):
    p = write(
        tmp_path,
        "unique_id_l,unique_id_r,decision\n"
        "a|1,b|1,match\n"
        "a|1,b|2,yes\n"
        "a|2,,match\n"
        "b|1,a|1,non-match\n",
    )
    with pytest.raises(InputFileError) as e:
        read_reviews(p)
    msg = str(e.value)
    assert "3 problem(s)" in msg
    assert (
        "line 3 (a|1 / b|2): decision must be one of 'match', 'non-match' or blank; found 'yes'"
    ) in msg
    assert "line 4: unique_id_l and unique_id_r must be two different record ids" in msg
    assert "line 5 (a|1 / b|1): decision 'non-match' contradicts 'match' on line 2" in msg


def test_missing_columns_are_named(tmp_path):
    p = write(tmp_path, "left,right,decision\na,b,match\n")
    with pytest.raises(InputFileError, match=r"missing column\(s\) \['unique_id_l', 'uniq"):
        read_reviews(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        read_reviews(tmp_path / "nope.csv")


@pytest.mark.slow
def test_reviews_feed_back_into_the_next_run(tmp_path):
    """Review file -> decisions -> `link --reviews` -> the people change, ids stay stable."""
    try:
        from totalplace import Place
        from totalplace.link import Link  # noqa: F401
        from totalplace.synth import generate
    except ImportError as e:
        pytest.skip(f"synth, ingest or link not available: {e}")
    out = tmp_path / "town"
    generate(residents=2000, seed=1, out=out, activity=False)
    with Place.open(out) as place:
        place.ingest.run()
        first = place.link.run()
        before = place.store.table("person_links")
    threshold = first.detail["threshold"]["value"]
    review = out / "link" / "review_pairs.csv"
    t = pacsv.read_csv(review, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
    assert t.num_rows > 0 and t.column_names[-1] == "decision"
    person = dict(
        zip(
            before.column("unique_id").to_pylist(),
            before.column("person_id").to_pylist(),
            strict=True,
        )
    )
    rows = t.to_pylist()
    # A pair the model left apart (below the threshold) that the reviewer says is a match...
    join = next(
        r
        for r in rows
        if r["match_probability"] < threshold
        and person[r["unique_id_l"]] != person[r["unique_id_r"]]
    )
    # ...and a linked pair whose records have no other link, which the reviewer rejects.
    sizes: dict[str, int] = {}
    for pid in person.values():
        sizes[pid] = sizes.get(pid, 0) + 1
    cut = next(
        (
            r
            for r in rows
            if r["match_probability"] >= threshold
            and person[r["unique_id_l"]] == person[r["unique_id_r"]]
            and sizes[person[r["unique_id_l"]]] == 2
        ),
        None,
    )
    decisions = {(join["unique_id_l"], join["unique_id_r"]): "match"}
    if cut is not None:
        decisions[(cut["unique_id_l"], cut["unique_id_r"])] = "non-match"
    print("\nreviewed decisions:", decisions)
    reviewed = tmp_path / "reviewed.csv"
    t = t.set_column(
        t.column_names.index("decision"),
        "decision",
        pa.array([decisions.get((r["unique_id_l"], r["unique_id_r"]), "") for r in rows]),
    )
    pacsv.write_csv(t, reviewed)

    with Place.open(out) as place:
        second = place.link.run(reviews=reviewed)
        after = place.store.table("person_links")
        history = place.store.table("person_id_history").to_pylist()
    now = dict(
        zip(
            after.column("unique_id").to_pylist(),
            after.column("person_id").to_pylist(),
            strict=True,
        )
    )
    assert second.detail["reviews"]["match"] == 1
    assert now[join["unique_id_l"]] == now[join["unique_id_r"]]
    merged = {person[join["unique_id_l"]], person[join["unique_id_r"]]}
    second_run = [h for h in history if h["run_id"] != history[0]["run_id"]]
    assert any(h["event"] == "merged_into" and h["person_id"] in merged for h in second_run)
    if cut is not None:
        assert now[cut["unique_id_l"]] != now[cut["unique_id_r"]]
        assert any(h["event"] == "split_from" for h in second_run)
    # Everyone the reviews did not touch keeps their person id.
    touched = {join["unique_id_l"], join["unique_id_r"]} | (
        {cut["unique_id_l"], cut["unique_id_r"]} if cut else set()
    )
    touched_people = {person[u] for u in touched}
    kept = [u for u in person if person[u] not in touched_people]
    assert sum(now[u] == person[u] for u in kept) == len(kept)
