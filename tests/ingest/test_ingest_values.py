"""Values are normalised the documented way, and row numbers point at the right rows."""

from __future__ import annotations

import datetime as dt

import pytest


def test_postcode_sex_map_and_constants(make_place, default_manifest, ingest):
    text = (
        "ID,Sex,PC,Kind\n"
        "1,1,mt1 1aa,a\n2,2,  MT11AA ,b\n3,female,ec1a1bb,a\n4,9,SW1A 1AA,b\n"
        "5,0,NOT A POSTCODE,a\n6,Q,,b\n7,,m1 1ae,z\n"
    )
    cols = {
        "source_id": "ID",
        "sex": {"column": "Sex"},
        "postcode": "PC",
        "given_name": {"column": "Kind", "map": {"a": "Alpha", "b": "Beta", "z": None}},
        "family_name": {"value": "Smith"},
    }
    out = ingest(
        make_place(
            default_manifest([{"table": "source_people", "path": "p.csv", "columns": cols}]),
            {"p.csv": text},
        )
    )
    got = [
        (p["source_id"], p["sex"], p["postcode"], p["given_name"], p["family_name"])
        for p in out.tables["source_people"]
    ]
    assert got == [
        ("1", "M", "MT1 1AA", "Alpha", "Smith"),
        ("2", "F", "MT1 1AA", "Beta", "Smith"),
        ("3", "F", "EC1A 1BB", "Alpha", "Smith"),
        ("4", "X", "SW1A 1AA", "Beta", "Smith"),
        ("5", None, None, "Alpha", "Smith"),
        ("6", None, None, "Beta", "Smith"),
        ("7", None, "M1 1AE", None, "Smith"),
    ]
    assert out.file("p.csv")["warnings"] == {"postcode_invalid": 1, "sex_unknown": 1}
    assert out.tables["rejects"] == []


@pytest.mark.parametrize(
    "value, fmt, expected",
    [
        ("2024-07-01 12:00:00", None, dt.datetime(2024, 7, 1, 11, 0)),  # BST: UTC+1
        ("2024-12-01 12:00:00", None, dt.datetime(2024, 12, 1, 12, 0)),  # GMT
        ("2024-07-01", None, dt.datetime(2024, 7, 1, 0, 0)),  # a date alone is not shifted
        ("2024-07-01T12:00:00Z", None, dt.datetime(2024, 7, 1, 12, 0)),  # ISO 8601 in UTC
        ("2024-07-01T12:00:00+02:00", None, dt.datetime(2024, 7, 1, 10, 0)),  # ISO with an offset
        ("01/07/2024 12:00", "%d/%m/%Y %H:%M", dt.datetime(2024, 7, 1, 11, 0)),
        ("2024-07-01T12:00:00+0200", "%Y-%m-%dT%H:%M:%S%z", dt.datetime(2024, 7, 1, 10, 0)),
    ],
    ids=[
        "summer-time",
        "winter-time",
        "date-only",
        "iso-utc",
        "iso-offset",
        "column-format",
        "explicit-offset",
    ],
)
def test_timestamps_are_converted_to_utc(
    value, fmt, expected, make_place, default_manifest, ingest
):
    start = {"column": "When", **({"format": fmt} if fmt else {})}
    cols = {"event_id": "ID", "activity": {"value": "visit"}, "start_at": start}
    out = ingest(
        make_place(
            default_manifest([{"table": "events", "path": "e.csv", "columns": cols}]),
            {"e.csv": f"ID,When\nE1,{value}\n"},
        )
    )
    assert [e["start_at"] for e in out.tables["events"]] == [expected]


def test_file_timezone_overrides_the_place(make_place, default_manifest, ingest):
    cols = {"event_id": "ID", "activity": {"value": "visit"}, "start_at": "When"}
    spec = {"table": "events", "path": "e.csv", "timezone": "UTC", "columns": cols}
    out = ingest(
        make_place(default_manifest([spec]), {"e.csv": "ID,When\nE1,2024-07-01 12:00:00\n"})
    )
    assert out.tables["events"][0]["start_at"] == dt.datetime(2024, 7, 1, 12, 0)


@pytest.mark.parametrize(
    "text",
    [
        "ID,Name\nA,x\n\nB,y\nC,z,extra\nD,w\n",  # a blank line in the middle
        "ID,Name\r\nA,x\r\n\r\nB,y\r\nC,z,extra\r\nD,w\r\n",  # the same with CRLF line ends
    ],
    ids=["blank-line-lf", "blank-line-crlf"],
)
def test_blank_lines_count_as_rows_but_load_nothing(text, make_place, default_manifest, ingest):
    cols = {"source_id": "ID", "given_name": "Name"}
    out = ingest(
        make_place(
            default_manifest([{"table": "source_people", "path": "p.csv", "columns": cols}]),
            {"p.csv": text},
        )
    )
    rows = [(p["source_id"], p["source_row"]) for p in out.tables["source_people"]]
    assert rows == [("A", 1), ("B", 3), ("D", 5)]
    assert [(r["source_row"], r["reason"]) for r in out.tables["rejects"]] == [
        (
            4,
            "row has 3 fields but the header has 2 (a delimiter inside a value that is not quoted?)",
        )
    ]
    assert out.file("p.csv")["blank_rows"] == 1


def test_row_numbers_survive_quoted_newlines_and_rejected_rows(
    make_place, default_manifest, ingest
):
    lines = ["ID,Note"]
    expected = []
    for i in range(1, 3001):
        if i % 500 == 7:
            lines.append(f"R{i},a,b")  # ragged: rejected
        elif i % 400 == 3:
            lines.append(f'R{i},"two\nlines"')
            expected.append((f"R{i}", i))
        else:
            lines.append(f"R{i},note {i}")
            expected.append((f"R{i}", i))
    cols = {"source_id": "ID", "address": "Note"}
    out = ingest(
        make_place(
            default_manifest([{"table": "source_people", "path": "p.csv", "columns": cols}]),
            {"p.csv": "\n".join(lines) + "\n"},
        )
    )
    assert [(p["source_id"], p["source_row"]) for p in out.tables["source_people"]] == expected
    assert [r["source_row"] for r in out.tables["rejects"]] == [
        i for i in range(1, 3001) if i % 500 == 7
    ]
    assert out.tables["source_people"][2]["address"] == "two\nlines"


@pytest.mark.parametrize(
    "lead", ["\n", "\r\n", "\n\n", "\ufeff\n"], ids=["lf", "crlf", "two", "bom-lf"]
)
def test_blank_lines_before_the_header_are_skipped(lead, make_place, default_manifest, ingest):
    cols = {"source_id": "ID", "given_name": "Name"}
    spec = {"table": "source_people", "path": "p.csv", "columns": cols}
    out = ingest(make_place(default_manifest([spec]), {"p.csv": lead + "ID,Name\nA,x\nB,y\n"}))
    assert [(p["source_id"], p["source_row"]) for p in out.tables["source_people"]] == [
        ("A", 1),
        ("B", 2),
    ]


def test_duplicates_are_found_across_an_agencys_files(make_place, default_manifest, ingest):
    cols = {"source_id": "ID", "given_name": "Name"}
    files = [
        {"table": "source_people", "path": "current.csv", "columns": cols},
        {"table": "source_people", "path": "archive/old.csv", "columns": cols},
    ]
    out = ingest(
        make_place(
            default_manifest(files),
            {"current.csv": "ID,Name\nA,x\nB,y\n", "archive/old.csv": "ID,Name\nC,z\nA,x2\n"},
        )
    )
    assert [p["source_id"] for p in out.tables["source_people"]] == ["A", "B", "C"]
    assert out.reasons == [
        "source_id: duplicate 'A' for agency 'acute'; first seen in current.csv row 1"
    ]
    assert out.tables["rejects"][0]["source_file"] == "archive/old.csv"


def test_the_same_id_in_two_agencies_is_not_a_duplicate(make_place, ingest):
    cols = {"source_id": "ID", "given_name": "Name"}
    m = {
        "name": "T",
        "period": {"start": "2024-04-01", "end": "2025-03-31"},
        "agencies": [
            {
                "id": a,
                "name": a,
                "sector": "other",
                "files": [{"table": "source_people", "path": f"{a}.csv", "columns": cols}],
            }
            for a in ("a", "b")
        ],
    }
    out = ingest(make_place(m, {"a.csv": "ID,Name\n1,x\n", "b.csv": "ID,Name\n1,y\n"}))
    assert [(p["agency"], p["source_id"]) for p in out.tables["source_people"]] == [
        ("a", "1"),
        ("b", "1"),
    ]


@pytest.mark.slow
def test_row_numbers_are_exact_when_duckdb_reads_a_big_file_in_parallel(
    make_place, default_manifest, ingest
):
    # ~100 MB: several of DuckDB's CSV buffers, so the file is parsed by more than one thread.
    n = 1_500_000
    bad = {17, 250_001, 250_002, 777_777, 1_499_999}
    parts = ["ID,Name,Pad\n"]
    for i in range(1, n + 1):
        parts.append(f"R{i},x\n" if i in bad else f"R{i},name {i},{'p' * 50}\n")
    root = make_place(
        default_manifest(
            [
                {
                    "table": "source_people",
                    "path": "p.csv",
                    "columns": {"source_id": "ID", "given_name": "Name"},
                }
            ]
        ),
        {"p.csv": "".join(parts)},
    )
    out = ingest(root)
    people = out.tables["source_people"]
    assert len(people) == n - len(bad)
    assert all(p["source_id"] == f"R{p['source_row']}" for p in people)
    assert sorted(r["source_row"] for r in out.tables["rejects"]) == sorted(bad)


def test_a_lone_carriage_return_still_ends_a_row(make_place, default_manifest, ingest):
    spec = {
        "table": "source_people",
        "path": "p.csv",
        "columns": {"source_id": "ID", "given_name": "Name"},
    }
    out = ingest(
        make_place(default_manifest([spec]), {"p.csv": "ID,Name\nP1,Ann\r\nP2,Bo\rP3,Cy\n"})
    )
    assert [(p["source_id"], p["given_name"]) for p in out.tables["source_people"]] == [
        ("P1", "Ann"),
        ("P2", "Bo"),
        ("P3", "Cy"),
    ]


def test_an_unclosed_quote_is_rejected_with_the_rest_of_the_file_as_raw(
    make_place, default_manifest, ingest
):
    spec = {
        "table": "source_people",
        "path": "p.csv",
        "columns": {"source_id": "ID", "given_name": "Name"},
    }
    out = ingest(
        make_place(default_manifest([spec]), {"p.csv": 'ID,Name\nP0,Al\nP1,"Ann\nP2,Bo\n'})
    )
    assert [p["source_id"] for p in out.tables["source_people"]] == ["P0"]
    assert [(r["source_row"], r["reason"], r["raw"]) for r in out.tables["rejects"]] == [
        (
            2,
            "a quoted value is not closed properly (quotes inside a value must be doubled)",
            '{"_line":"P1,\\"Ann\\nP2,Bo"}',
        )
    ]


def test_spend_categories_are_made_one_spelling(make_place, default_manifest, ingest):
    cols = {"year": "Y", "service": "S", "amount_gbp": "A", "category": "C"}
    text = "Y,S,A,C\n2024/25,a,1,Front Line\n2024/25,b,1,front-line\n2024/25,c,1,SUPPORT\n2024/25,d,1,Building\n2024/25,e,1,Grants\n"
    out = ingest(
        make_place(
            default_manifest([{"table": "spend", "path": "s.csv", "columns": cols}]),
            {"s.csv": text},
        )
    )
    assert [s["category"] for s in out.tables["spend"]] == [
        "front line",
        "front line",
        "support",
        "buildings",
        "Grants",
    ]
    assert out.file("s.csv")["warnings"] == {"category_unknown": 1}
