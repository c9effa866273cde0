"""``link-files`` on bad and small inputs: one clear line each, nothing partial written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from totalplace.cli import main
from totalplace.link.files import parse_map


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


GIVEN = "amy ben cara dan eve finn gail hugo iris jack kate liam mia noah olga paul".split()
FAMILY = "smith jones brown taylor wilson davies evans thomas roberts walker wright green".split()


@pytest.fixture
def people(tmp_path) -> Path:
    """300 different people (no two share given name, family name and dob)."""
    rows = [
        [
            str(i),
            GIVEN[i % 16].title(),
            FAMILY[(i // 16) % 12].title(),
            f"{1940 + i % 60}-{1 + i % 12:02d}-{1 + (i * 7) % 28:02d}",
            f"AB{i % 9} {i % 7}CD",
            "M" if i % 2 else "F",
        ]
        for i in range(300)
    ]
    return write_csv(tmp_path / "people.csv", ["ID", "First", "Last", "DOB", "PC", "Sex"], rows)


GOOD_MAP = "given_name=First,family_name=Last,dob=DOB,postcode=PC"


def run(args: list[str]):
    return CliRunner().invoke(main, ["link-files", *args])


def assert_one_clear_line(r, *needles: str) -> None:
    assert r.exit_code != 0
    assert "Traceback" not in r.output and "SELECT" not in r.output
    lines = [line for line in r.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, r.output
    for n in needles:
        assert n in r.output, r.output


def test_unknown_map_name_suggests_the_right_one(people, tmp_path):
    out = tmp_path / "out"
    r = run([str(people), "--id-col", "ID", "--map", "given_nmae=First,dob=DOB", "--out", str(out)])
    assert_one_clear_line(r, "unknown name 'given_nmae'", "did you mean 'given_name'")
    assert not out.exists()


def test_missing_mapped_column_names_the_columns_available(people, tmp_path):
    out = tmp_path / "out"
    r = run(
        [str(people), "--id-col", "ID", "--map", "given_name=Forename,dob=DOB", "--out", str(out)]
    )
    assert_one_clear_line(r, "no column 'Forename'", "available: ID, First")
    assert not out.exists()


def test_a_dob_format_that_parses_nothing(people, tmp_path):
    out = tmp_path / "out"
    r = run(
        [
            str(people),
            "--id-col",
            "ID",
            "--map",
            GOOD_MAP,
            "--dob-format",
            "%d/%m/%Y",
            "--out",
            str(out),
        ]
    )
    assert_one_clear_line(r, "--dob-format '%d/%m/%Y' parses none of the 300 dates", "DOB")
    assert not out.exists()


def test_names_only_mapping(people, tmp_path):
    out = tmp_path / "out"
    r = run(
        [
            str(people),
            "--id-col",
            "ID",
            "--map",
            "given_name=First,family_name=Last",
            "--out",
            str(out),
        ]
    )
    assert_one_clear_line(r, "names alone cannot tell apart", "dob")
    assert not out.exists()


@pytest.mark.parametrize("content", [b"", b"ID,First,Last,DOB,PC\n"])
def test_empty_file(tmp_path, content):
    f = tmp_path / "empty.csv"
    f.write_bytes(content)
    out = tmp_path / "out"
    r = run([str(f), "--id-col", "ID", "--map", GOOD_MAP, "--out", str(out)])
    assert_one_clear_line(r, "empty.csv")
    assert "empty" in r.output or "no records" in r.output
    assert not out.exists()


def test_an_id_column_that_does_not_identify_rows(people, tmp_path):
    out = tmp_path / "out"
    r = run([str(people), "--id-col", "Sex", "--map", GOOD_MAP, "--out", str(out)])
    assert_one_clear_line(r, "column 'Sex' does not identify rows", "expected one unique id")
    assert not out.exists()


def test_binary_file(tmp_path):
    f = tmp_path / "photo.csv"
    f.write_bytes(bytes(range(256)) * 20)
    out = tmp_path / "out"
    r = run([str(f), "--id-col", "ID", "--map", GOOD_MAP, "--out", str(out)])
    assert_one_clear_line(r, "binary data")
    assert not out.exists()


def test_a_failed_run_leaves_an_earlier_result_alone(people, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "clusters.csv").write_text("earlier", encoding="utf-8")
    r = run([str(people), "--id-col", "ID", "--map", "given_name=Nope,dob=DOB", "--out", str(out)])
    assert r.exit_code != 0
    assert (out / "clusters.csv").read_text(encoding="utf-8") == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "people.csv"]


def test_extra_columns_are_accepted_and_typos_are_not():
    assert parse_map("given_name=A,birth_place=POB") == {"given_name": "A", "birth_place": "POB"}
    with pytest.raises(ValueError, match="did you mean 'postcode'"):
        parse_map("postcod=PC")
    with pytest.raises(ValueError, match="unknown name 'Birth Place'"):
        parse_map("Birth Place=POB")


def test_a_small_clean_file_links_and_prints_a_short_summary(people, tmp_path):
    """300 different people, 6 of them twice."""
    rows = list(csv.reader(open(people, encoding="utf-8")))
    extra = [[f"d{r[0]}", *r[1:]] for r in rows[1:7]]
    write_csv(people, rows[0], rows[1:] + extra)
    out = tmp_path / "out"
    r = run([str(people), "--id-col", "ID", "--map", GOOD_MAP + ",sex=Sex", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "{" not in r.output  # a human summary, not summary.json
    # Sentences, not lines: the terminal wraps a long output path (as under pytest-xdist).
    assert len(" ".join(r.output.split()).split(". ")) <= 8, r.output
    clusters = list(csv.DictReader(open(out / "clusters.csv", encoding="utf-8")))
    by_id = {c["id"]: c["person_id"] for c in clusters}
    assert all(by_id[e[0]] == by_id[e[0][1:]] for e in extra)
    assert len(set(by_id.values())) == 300
    assert {p.name for p in out.iterdir()} == {"clusters.csv", "summary.json", "model.json"}


def test_help_tells_the_truth():
    r = CliRunner().invoke(main, ["link-files", "--help"])
    text = " ".join(r.output.split())
    for word in (
        "given_name",
        "middle_names",
        "family_name",
        "nhs_number",
        "uprn",
        "email",
        "phone",
        "birth_place",
        "(required)",
        "clusters.csv",
        "summary.json",
        "model.json",
        "rejects.csv",
        "--engine",
        "--memory",
        "--min-precision",
    ):
        assert word in text, word
    r = CliRunner().invoke(main, ["link", "--help"])
    text = " ".join(r.output.split())
    for word in (
        "review_pairs.csv",
        "model.json",
        "--engine",
        "--memory",
        "--min-precision",
        "households",
    ):
        assert word in text, word


def test_one_name_column_titles_suffixes_and_year_only_dates(tmp_path):
    """'SMITH, John' and 'Mr John Smith Jr' are one person; '00/00/1970' is a year only."""
    from totalplace.link.files import link_files

    rows = []
    for i in range(120):  # other people, so there is something to tell apart
        g, f = GIVEN[i % 16].title(), FAMILY[(i // 16) % 12].title()
        rows.append(
            [f"o{i}", f"{f.upper()}, {g}", f"{1940 + i % 60}-01-{1 + i % 28:02d}", "AB1 2CD"]
        )
    rows += [
        ["a1", "SMITH, Johnathan", "00/00/1970", "ZZ1 1ZZ"],
        ["a2", "Mr Johnathan Smith Jr", "1970-00-00", "ZZ1 1ZZ"],
        ["a3", "Johnathan Smith", "1970", "ZZ1 1ZZ"],
        ["a4", "Johnathan Smith", "1850-00-00", "ZZ9 9ZZ"],  # a placeholder: no dob
    ]
    path = write_csv(tmp_path / "names.csv", ["ID", "Name", "DOB", "PC"], rows)
    out = tmp_path / "out"
    s = link_files(
        [path], ["ID"], ["full_name=Name,dob=DOB,postcode=PC"], ["%Y-%m-%d"], "duckdb", out
    )
    assert s["files"][0]["dob_unparsed"] == 1  # 1850-00-00 means "not known"
    clusters = {
        c["id"]: c["person_id"]
        for c in csv.DictReader(open(out / "clusters.csv", encoding="utf-8"))
    }
    assert clusters["a1"] == clusters["a2"] == clusters["a3"]
    assert clusters["a1"] != clusters["o0"]
