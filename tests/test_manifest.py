"""place.yaml validation: every problem at once, each with its key path and the exact text."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from totalplace.errors import ManifestError
from totalplace.ingest import read_header
from totalplace.manifest import FileSpec, load_manifest

GOOD = {
    "name": "Testtown",
    "period": {"start": "2024-04-01", "end": "2025-03-31"},
    "agencies": [
        {
            "id": "acute",
            "name": "Acute",
            "sector": "health",
            "files": [
                {
                    "table": "source_people",
                    "path": "p.csv",
                    "columns": {"source_id": "ID", "dob": {"column": "DOB", "format": "%d/%m/%Y"}},
                }
            ],
        },
        {"id": "police", "name": "Police", "sector": "police", "files": []},
    ],
}


def edit(path: str, value, delete: bool = False):
    """A change to GOOD: ``path`` like 'agencies.0.files.0.columns.dob'."""

    def apply(m):
        *parents, last = path.split(".")
        node = m
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        key = int(last) if last.isdigit() else last
        if delete:
            del node[key]
        else:
            node[key] = value

    return apply


BAD = [
    (
        "unknown-top-level-key",
        [edit("nmae", "x")],
        ["nmae: unknown key (check its spelling and indentation)"],
    ),
    (
        "unknown-file-key",
        [edit("agencies.0.files.0.colums", {})],
        ["agencies[0].files[0].colums: unknown key (check its spelling and indentation)"],
    ),
    ("missing-required-key", [edit("name", None, delete=True)], ["name: required key is missing"]),
    (
        "unknown-canonical-column",
        [edit("agencies.0.files.0.columns.date_of_birth", "DOB")],
        [
            "agencies[0].files[0].columns.date_of_birth: source_people has no column 'date_of_birth'; expected "
            "one of: source_id, nhs_number, given_name, middle_names, family_name, dob, sex, postcode, address, "
            "uprn, email, phone, valid_from, valid_to"
        ],
    ),
    (
        "missing-required-mapping",
        [edit("agencies.0.files.0.columns.source_id", None, delete=True)],
        ["agencies[0].files[0].columns: source_people needs a mapping for 'source_id'"],
    ),
    (
        "duplicate-agency-id",
        [edit("agencies.1.id", "acute")],
        ["agencies[1].id: duplicate agency id 'acute' (also agencies[0])"],
    ),
    (
        "bad-agency-id",
        [edit("agencies.1.id", "Police Force")],
        ["agencies[1].id: String should match pattern '^[a-z][a-z0-9_]*$' (found 'Police Force')"],
    ),
    (
        "bad-sector",
        [edit("agencies.0.sector", "hospital")],
        [
            "agencies[0].sector: Input should be 'health', 'mental_health', 'social_care', 'children', 'police', "
            "'justice', 'housing', 'welfare', 'education', 'council', 'public_health', 'fire', 'voluntary' or "
            "'other' (found 'hospital')"
        ],
    ),
    (
        "bad-date-in-period",
        [edit("period.end", "2025-13-31")],
        [
            "period.end: Input should be a valid date or datetime, month value is outside expected range of "
            "1-12 (found '2025-13-31')"
        ],
    ),
    (
        "period-ends-before-it-starts",
        [edit("period.end", "2023-03-31")],
        ["period: end (2023-03-31) is before start (2024-04-01)"],
    ),
    (
        "bad-table",
        [edit("agencies.0.files.0.table", "people")],
        [
            "agencies[0].files[0].table: Input should be 'source_people', 'events', 'spend' or 'payments' (found 'people')"
        ],
    ),
    (
        "bad-format",
        [edit("agencies.0.files.0.format", "json")],
        [
            "agencies[0].files[0].format: Input should be 'csv', 'parquet', 'xlsx', 'xls' or 'fdp' (found 'json')"
        ],
    ),
    (
        "column-and-value-both-given",
        [edit("agencies.0.files.0.columns.dob", {"column": "DOB", "value": "x"})],
        [
            "agencies[0].files[0].columns.dob: give exactly one of 'column' (a source column) or 'value' "
            "(a constant)"
        ],
    ),
    (
        "unknown-time-zone",
        [edit("timezone", "Europe/Londn")],
        [
            "timezone: unknown time zone 'Europe/Londn'; expected an IANA name such as 'Europe/London' or 'UTC'"
        ],
    ),
    (
        "several-problems-at-once",
        [
            edit("agencies.0.sector", "nhs"),
            edit("agencies.1.id", "acute"),
            edit("agencies.0.files.0.columns.dob_", "x"),
        ],
        [
            "agencies[0].sector: Input should be 'health', 'mental_health', 'social_care', 'children', 'police', "
            "'justice', 'housing', 'welfare', 'education', 'council', 'public_health', 'fire', 'voluntary' or "
            "'other' (found 'nhs')",
            "agencies[0].files[0].columns.dob_: source_people has no column 'dob_'; expected one of: source_id, "
            "nhs_number, given_name, middle_names, family_name, dob, sex, postcode, address, uprn, email, phone, "
            "valid_from, valid_to",
            "agencies[1].id: duplicate agency id 'acute' (also agencies[0])",
        ],
    ),
]


@pytest.mark.parametrize("edits, problems", [(e, p) for _, e, p in BAD], ids=[b[0] for b in BAD])
def test_bad_manifest_lists_every_problem_with_its_key_path(edits, problems, make_place):
    m = copy.deepcopy(GOOD)
    for e in edits:
        e(m)
    root = make_place(m, {"p.csv": "ID,DOB\n"})
    with pytest.raises(ManifestError) as err:
        load_manifest(root)
    assert err.value.problems == problems
    assert str(err.value).startswith(f"{root / 'place.yaml'}: {len(problems)} problem")


def test_good_manifest_loads_and_is_frozen(make_place):
    root = make_place(GOOD, {"p.csv": "ID,DOB\n"})
    m = load_manifest(root, header_reader=read_header)
    assert [a.id for a in m.agencies] == ["acute", "police"]
    assert m.max_plausible_date.isoformat() == "2026-03-31"
    with pytest.raises(ValidationError):
        m.agencies[0].files[0].path = "other.csv"  # type: ignore[misc]


def test_unknown_source_column_lists_the_available_ones(make_place):
    m = copy.deepcopy(GOOD)
    m["agencies"][0]["files"][0]["columns"]["dob"] = "DateOfBirth"
    root = make_place(m, {"p.csv": "ID,DOB,Forename\n"})
    with pytest.raises(ManifestError) as err:
        load_manifest(root, header_reader=read_header)
    assert err.value.problems == [
        "agencies[0].files[0].columns.dob: unknown source column 'DateOfBirth'; "
        "available: ID, DOB, Forename"
    ]


def test_a_repeated_header_name_is_ambiguous(make_place):
    root = make_place(GOOD, {"p.csv": "ID,DOB,DOB\n"})
    with pytest.raises(ManifestError) as err:
        load_manifest(root, header_reader=read_header)
    assert err.value.problems == [
        "agencies[0].files[0].columns.dob: source column 'DOB' is ambiguous: "
        "the header of p.csv has it 2 times"
    ]
    root = make_place(GOOD, {"p.csv": "ID,DOB,dob\n"})  # one column to DuckDB
    with pytest.raises(ManifestError) as err:
        load_manifest(root, header_reader=read_header)
    assert err.value.problems == [
        "agencies[0].files[0].columns.dob: source column 'DOB' is ambiguous: "
        "the header of p.csv has it 2 times (names that differ only in case count as the "
        "same column)"
    ]


def test_missing_manifest_and_bad_yaml(tmp_path):
    with pytest.raises(ManifestError) as err:
        load_manifest(tmp_path)
    assert err.value.problems == ["file not found (expected a place.yaml here)"]
    (tmp_path / "place.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ManifestError) as err:
        load_manifest(tmp_path)
    assert err.value.problems[0].startswith("not valid YAML: ")


def test_without_a_header_reader_the_extracts_are_not_opened(make_place):
    root = make_place(GOOD)  # p.csv does not exist: later stages can still open the place
    assert load_manifest(root).name == "Testtown"


@pytest.mark.parametrize(
    "path, fmt",
    [
        ("a.csv", "csv"),
        ("a.TSV", "csv"),
        ("a.txt", "csv"),
        ("a.parquet", "parquet"),
        ("a.xlsx", "xlsx"),
        ("a.xlsm", "xlsx"),
    ],
)
def test_file_format_defaults_from_the_extension(path, fmt):
    assert FileSpec(table="spend", path=path, columns={}).resolved_format == fmt
