"""``link-files``: lists of people linked without a place, including Splink's fake_1000."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from totalplace.cli import main
from totalplace.errors import InputFileError
from totalplace.link.evaluate import pairwise_metrics
from totalplace.link.files import link_files, parse_map

FAKE_MAP = "given_name=first_name,family_name=surname,dob=dob,address=city,email=email"


def clusters_vs_truth(out: Path, truth_sql: str) -> dict:
    con = duckdb.connect()
    clusters = con.sql(
        f"SELECT file || '|' || id AS unique_id, person_id AS cluster_id "
        f"FROM read_csv('{out / 'clusters.csv'}', all_varchar = true)"
    ).to_arrow_table()
    return pairwise_metrics(con, clusters, con.sql(truth_sql).to_arrow_table())


def test_fake_1000_precision_and_recall(fake_1000, tmp_path):
    """Splink's public fake_1000 (MoJ splink_datasets, MIT): 1,000 records, 251 people.

    The data are far messier than any agency's (typos, swapped fields, nulls, 2,031 true
    pairs of which the equality blocking rules reach about 75%; 1,000 records are few
    enough to compare every pair). The default threshold (the highest expected F1 of the
    clustered pairs) measured precision 1.0 and recall 0.89 (plain Splink: 1.0 and 0.57).
    """
    out = tmp_path / "out"
    summary = link_files([fake_1000], ["unique_id"], [FAKE_MAP], [], "duckdb", out)
    m = clusters_vs_truth(
        out,
        f"SELECT '{fake_1000}' || '|' || unique_id AS unique_id, "
        f"cluster AS truth_id FROM read_csv('{fake_1000}', all_varchar = true)",
    )
    print("\nfake_1000:", json.dumps({k: m[k] for k in ("precision", "recall", "bcubed_f1")}))
    assert m["records"] == 1000 and m["true_pairs"] == 2031
    assert m["precision"] >= 0.98
    assert m["recall"] >= 0.85
    assert m["bcubed_f1"] >= 0.9
    assert summary["records"] == 1000 and summary["clusters"] == m["clusters"]
    assert summary["files"][0]["dob_format"] == "%Y-%m-%d"
    assert 0 < summary["estimated_recall"] <= 1 and 0.9 <= summary["estimated_precision"] <= 1
    assert summary["threshold_method"] == "maximum expected F1"
    assert summary["pairs_compared"] == 1000 * 999 // 2  # small enough for every pair
    assert summary["expected_false_links"] >= 0 and summary["threshold_curve"]


@pytest.fixture
def two_lists(fake_1000, tmp_path) -> tuple[Path, Path]:
    """fake_1000 split in two files with different headers and dob formats."""
    rows = list(csv.DictReader(open(fake_1000, encoding="utf-8")))
    a, b = tmp_path / "fsm.csv", tmp_path / "benefits.csv"
    with open(a, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ID", "FORENAME", "SURNAME", "DOB", "TRUTH"])
        for r in rows[::2]:
            w.writerow([r["unique_id"], r["first_name"], r["surname"], r["dob"], r["cluster"]])
    with open(b, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ClaimRef", "First", "Last", "BirthDate", "TRUTH"])
        for r in rows[1::2]:
            dob = r["dob"]
            uk = f"{dob[8:10]}/{dob[5:7]}/{dob[0:4]}" if len(dob) == 10 else dob
            w.writerow(["C" + r["unique_id"], r["first_name"], r["surname"], uk, r["cluster"]])
        w.writerow(["", "No", "Id", "01/01/1990", "x"])  # rejected: empty id
        w.writerow(["C1", "Dup", "Licate", "01/01/1990", "x"])  # rejected: id used twice
    return a, b


def test_two_files_with_their_own_columns_link_across_and_within(two_lists, tmp_path):
    a, b = two_lists
    out = tmp_path / "out"
    s = link_files(
        [a, b],
        ["ID", "ClaimRef"],
        [
            "given_name=FORENAME,family_name=SURNAME,dob=DOB",
            "given_name=First,family_name=Last,dob=BirthDate",
        ],
        [],
        "duckdb",
        out,
    )
    assert [f["dob_format"] for f in s["files"]] == ["%Y-%m-%d", "%d/%m/%Y"]
    assert s["rows_read"] == 1002 and s["rejected"] == 2 and s["records"] == 1000
    rejects = list(csv.DictReader(open(out / "rejects.csv", encoding="utf-8")))
    assert {r["reason"].split(" (")[0] for r in rejects} == {"empty id", "duplicate id C1"}
    clusters = list(csv.DictReader(open(out / "clusters.csv", encoding="utf-8")))
    assert len(clusters) == 1000
    assert set(clusters[0]) == {"file", "id", "person_id", "match_probability"}
    by_person: dict[str, set[str]] = {}
    for c in clusters:
        by_person.setdefault(c["person_id"], set()).add(Path(c["file"]).name)
    assert any(v == {"fsm.csv", "benefits.csv"} for v in by_person.values())
    # duplicates within one file are found too
    assert any(
        sum(1 for c in clusters if c["person_id"] == p and c["file"].endswith("fsm.csv")) > 1
        for p in by_person
    )
    m = clusters_vs_truth(
        out,
        f"""
        SELECT '{a}' || '|' || ID AS unique_id, TRUTH AS truth_id
        FROM read_csv('{a}', all_varchar = true)
        UNION ALL SELECT '{b}' || '|' || ClaimRef, TRUTH FROM read_csv('{b}', all_varchar = true)
        WHERE ClaimRef IS NOT NULL AND TRUTH <> 'x'""",
    )
    print(
        "\ntwo lists, names and dob only:", json.dumps({k: m[k] for k in ("precision", "recall")})
    )
    # Names and dob alone, on data this messy, reach far fewer pairs (measured recall 0.195).
    assert m["precision"] >= 0.98 and m["recall"] >= 0.15
    assert json.loads((out / "summary.json").read_text())["clusters"] == s["clusters"]


def test_missing_column_is_named_with_the_columns_available(two_lists, tmp_path):
    a, _ = two_lists
    with pytest.raises(InputFileError, match=r"no column 'Forename'; available: ID, FORENAME"):
        link_files([a], ["ID"], ["given_name=Forename,dob=DOB"], [], "duckdb", tmp_path / "o")


@pytest.mark.parametrize(
    "text, message",
    [
        ("given_name", "expected name=COLUMN"),
        ("shoe size=X", "unknown name 'shoe size'"),
        ("dob=A,dob=B", "mapped twice"),
    ],
)
def test_bad_maps(text, message):
    with pytest.raises(ValueError, match=message):
        parse_map(text)


def test_per_file_options_must_match_the_number_of_files(two_lists, tmp_path):
    a, b = two_lists
    with pytest.raises(ValueError, match="once for all files or once per file"):
        link_files(
            [a, b], ["ID", "ClaimRef", "X"], ["given_name=FORENAME"], [], "duckdb", tmp_path / "o"
        )


def test_the_totalplace_command_links_in_a_fresh_process(fake_1000, tmp_path):
    """The installed entry point (``cli.console_main``, which loads the command's modules
    with the garbage collector off and skips the collection at exit) links and writes
    everything, as a user runs it."""
    import subprocess
    import sys

    out = tmp_path / "entry"
    code = "from totalplace.cli import console_main; console_main()"
    args = ["link-files", str(fake_1000), "--id-col", "unique_id", "--map", FAKE_MAP]
    r = subprocess.run(
        [sys.executable, "-c", code, *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "Read 1,000 rows from 1 file(s)" in r.stdout
    assert json.loads((out / "summary.json").read_text())["records"] == 1000
    assert (out / "clusters.csv").read_text().count("\n") == 1001


def test_importing_the_cli_leaves_the_callers_collector_alone():
    import gc

    from totalplace import cli

    frozen = gc.get_freeze_count()
    with cli.imports_without_gc():
        assert gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_cli_link_files(fake_1000, tmp_path):
    out = tmp_path / "cli"
    r = CliRunner().invoke(
        main,
        [
            "link-files",
            str(fake_1000),
            "--id-col",
            "unique_id",
            "--map",
            FAKE_MAP,
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads((out / "summary.json").read_text())["records"] == 1000
    bad = CliRunner().invoke(
        main,
        ["link-files", str(fake_1000), "--id-col", "nope", "--map", FAKE_MAP, "--out", str(out)],
    )
    assert bad.exit_code != 0 and "no column 'nope'" in bad.output
