"""Whole files: unreadable ones stop ingest with a one-line error and write nothing;
readable ones in every supported format and encoding load exactly."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from totalplace.errors import InputFileError, ManifestError
from totalplace.place import Place

COLUMNS = {"source_id": "ID", "given_name": "Name", "dob": "DOB"}
GOOD = "ID,Name,DOB\nP1,Ann,1980-02-01\nP2,Bo,1990-03-04\n"


def xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


PEOPLE_SHEET = [
    ["ID", "Name", "DOB"],
    ["P1", "Ann", dt.datetime(1980, 2, 1)],
    ["P2", "Bo", dt.datetime(1990, 3, 4)],
]

# (id, file name, content, extra FileSpec keys, exact error text after "<file>: ")
UNREADABLE = [
    (
        "missing-file",
        "people.csv",
        None,
        {},
        "file not found (agencies[0].files[0].path in place.yaml; looked for {root}/people.csv)",
    ),
    (
        "empty-file",
        "people.csv",
        b"",
        {},
        "file is empty (0 bytes); expected a header row naming the columns",
    ),
    ("only-blank-lines", "people.csv", b"\n\n\n", {}, "has no header row (only blank lines)"),
    (
        "wrong-delimiter",
        "people.csv",
        GOOD.replace(",", ";").encode(),
        {},
        "the header has only one column with delimiter ',', but it contains ';': set delimiter: ';' "
        "for this file in place.yaml",
    ),
    (
        "undecodable-as-declared",
        "people.csv",
        "ID,Name,DOB\nP1,Zoë,1980-02-01\n".encode("cp1252"),
        {"encoding": "utf-8"},
        "not valid UTF-8: byte 0xeb at line 2; if the file came from Excel or Windows set encoding: "
        "cp1252 (or encoding: auto)",
    ),
    (
        "binary-or-utf16-without-bom",
        "people.csv",
        GOOD.encode("utf-16-le"),
        {},
        "contains NUL bytes: this is a binary file or UTF-16 text without a byte-order mark, not a CSV",
    ),
    (
        "unknown-encoding",
        "people.csv",
        GOOD.encode(),
        {"encoding": "klingon"},
        "unknown encoding 'klingon'; use auto, utf-8, cp1252 or latin-1",
    ),
    (
        "not-really-parquet",
        "people.parquet",
        GOOD.encode(),
        {},
        "not a Parquet file (Parquet magic bytes not found in footer. Either the file is corrupted or "
        "this is not a parquet file.)",
    ),
    (
        "not-really-xlsx",
        "people.xlsx",
        GOOD.encode(),
        {},
        "not an XLSX workbook (BadZipFile: File is not a zip file)",
    ),
    (
        "xlsx-several-sheets-none-named",
        "people.xlsx",
        xlsx({"People": PEOPLE_SHEET, "Notes": [["x"]], "Lookup": [["y"]]}),
        {},
        "has 3 sheets (People, Notes, Lookup); say which one to read with sheet: in place.yaml",
    ),
    (
        "xlsx-sheet-not-there",
        "people.xlsx",
        xlsx({"People": PEOPLE_SHEET, "Notes": [["x"]]}),
        {"sheet": "Clients"},
        "no sheet 'Clients'; sheets: People, Notes",
    ),
    (
        "xlsx-empty-sheet",
        "people.xlsx",
        xlsx({"People": []}),
        {},
        "the sheet's first row is empty; expected a header row",
    ),
]


@pytest.mark.parametrize("case", UNREADABLE, ids=[c[0] for c in UNREADABLE])
def test_unreadable_file_stops_ingest_and_writes_nothing(
    case, make_place, default_manifest, ingest
):
    _, name, content, extra, message = case
    good_manifest = default_manifest(
        [{"table": "source_people", "path": "good.csv", "columns": COLUMNS}]
    )
    root = make_place(good_manifest, {"good.csv": GOOD})
    before = ingest(root).tables
    # Now the place gains the bad file: the previous tables must survive the failed run.
    bad = default_manifest(
        [
            {"table": "source_people", "path": "good.csv", "columns": COLUMNS},
            {"table": "source_people", "path": name, "columns": COLUMNS, **extra},
        ]
    )
    bad_root = make_place(
        bad, {"good.csv": GOOD, **({name: content} if content is not None else {})}
    )
    (bad_root / "place.duckdb").write_bytes((root / "place.duckdb").read_bytes())
    with Place.open(bad_root) as place, pytest.raises(InputFileError) as err:
        place.ingest.run()
    message = message.replace("{root}", str(bad_root.resolve())).replace(
        "agencies[0].files[0]", "agencies[0].files[1]"
    )
    assert str(err.value) == f"{name}: {message}"
    assert "\n" not in str(err.value)
    with Place.open(bad_root) as place:
        assert {t: place.store.table(t).to_pylist() for t in before} == before
        last = place.store.runs("ingest")[-1]
    assert last["outcome"] == f"failed: InputFileError: {name}: {message}"


def test_header_missing_promised_columns_lists_all_and_what_is_available(
    make_place, default_manifest
):
    cols = {"source_id": "PatientID", "given_name": "Name", "dob": "DateOfBirth", "sex": "Gender"}
    root = make_place(
        default_manifest([{"table": "source_people", "path": "p.csv", "columns": cols}]),
        {"p.csv": "ID,Name,DOB\n"},
    )
    with Place.open(root) as place, pytest.raises(ManifestError) as err:
        place.ingest.run()
    assert err.value.problems == [
        "agencies[0].files[0].columns.source_id: unknown source column 'PatientID'; available: ID, Name, DOB",
        "agencies[0].files[0].columns.dob: unknown source column 'DateOfBirth'; available: ID, Name, DOB",
        "agencies[0].files[0].columns.sex: unknown source column 'Gender'; available: ID, Name, DOB",
    ]
    with Place.open(root) as place:
        runs = place.store.runs("ingest")
        assert not place.store.engine.has_table("source_people")  # nothing was written
    assert [r["outcome"].split(":")[:2] for r in runs] == [["failed", " ManifestError"]]


def test_header_only_file_loads_zero_rows(make_place, default_manifest, ingest):
    root = make_place(
        default_manifest([{"table": "source_people", "path": "p.csv", "columns": COLUMNS}]),
        {"p.csv": "ID,Name,DOB\n"},
    )
    out = ingest(root)
    assert out.tables["source_people"] == [] and out.tables["rejects"] == []
    info = out.file("p.csv")
    assert (info["read"], info["loaded"], info["rejected"]) == (0, 0, 0)


ENCODED = [
    (
        "utf-8",
        "ID,Name,DOB\nP1,Siobhán Ó Súilleabháin,1980-02-01\n".encode(),
        "auto",
        "Siobhán Ó Súilleabháin",
        "utf-8",
    ),
    ("utf-8-with-bom", "\ufeffID,Name,DOB\nP1,Zoë,1980-02-01\n".encode(), "auto", "Zoë", "utf-8"),
    (
        "cp1252-detected",
        "ID,Name,DOB\nP1,Zoë “Zed” – £5,1980-02-01\n".encode("cp1252"),
        "auto",
        "Zoë “Zed” – £5",
        "cp1252",
    ),
    (
        "cp1252-declared",
        "ID,Name,DOB\nP1,Renée,1980-02-01\n".encode("cp1252"),
        "cp1252",
        "Renée",
        "cp1252",
    ),
    (
        "latin-1-detected",
        b"ID,Name,DOB\nP1,Gar\xe7on\x81,1980-02-01\n",
        "auto",
        "Garçon\x81",
        "latin-1",
    ),
    (
        "latin-1-declared",
        "ID,Name,DOB\nP1,Çelik,1980-02-01\n".encode("latin-1"),
        "latin-1",
        "Çelik",
        "latin-1",
    ),
    (
        "utf-16-with-bom",
        "ID,Name,DOB\nP1,Zoë,1980-02-01\n".encode("utf-16"),
        "auto",
        "Zoë",
        "utf-16",
    ),
    ("crlf-line-ends", b"ID,Name,DOB\r\nP1,Ann,1980-02-01\r\n", "auto", "Ann", "utf-8"),
]


@pytest.mark.parametrize("case", ENCODED, ids=[c[0] for c in ENCODED])
def test_encodings_are_decoded(case, make_place, default_manifest, ingest):
    _, content, encoding, name, shown = case
    spec = {"table": "source_people", "path": "p.csv", "encoding": encoding, "columns": COLUMNS}
    out = ingest(make_place(default_manifest([spec]), {"p.csv": content}))
    assert [p["given_name"] for p in out.tables["source_people"]] == [name]
    assert out.file("p.csv")["encoding"] == shown


def test_stray_whitespace_is_stripped_from_headers_and_values(make_place, default_manifest, ingest):
    text = " ID , Name\t,DOB \nP1 ,  Ann\u00a0 , 1980-02-01\n  P2,\t, \n"
    out = ingest(
        make_place(
            default_manifest([{"table": "source_people", "path": "p.csv", "columns": COLUMNS}]),
            {"p.csv": text},
        )
    )
    got = [(p["source_id"], p["given_name"], p["dob"]) for p in out.tables["source_people"]]
    assert got == [("P1", "Ann", dt.date(1980, 2, 1)), ("P2", None, None)]


def test_xlsx_with_the_sheet_named_loads_real_excel_dates(make_place, default_manifest, ingest):
    content = xlsx(
        {
            "Notes": [["exported 2025"]],
            "People": PEOPLE_SHEET + [[None, None, None], ["P3", "Cy", "not a date"]],
        }
    )
    spec = {"table": "source_people", "path": "p.xlsx", "sheet": "People", "columns": COLUMNS}
    out = ingest(make_place(default_manifest([spec]), {"p.xlsx": content}))
    got = [(p["source_id"], p["dob"], p["source_row"]) for p in out.tables["source_people"]]
    assert got == [("P1", dt.date(1980, 2, 1), 1), ("P2", dt.date(1990, 3, 4), 2)]
    assert out.reasons == ["dob: 'not a date' is not a date in the format '%Y-%m-%d'"]
    assert (
        out.tables["rejects"][0]["source_row"] == 4
    )  # the blank sheet row 4 counts, as Excel shows it
    assert out.file("p.xlsx")["blank_rows"] == 1


def test_parquet_keeps_typed_columns(make_place, default_manifest, ingest):
    t = pa.table(
        {
            "Ref": pa.array([1, 2, 3], pa.int64()),
            "When": pa.array(
                [dt.datetime(2024, 7, 1, 12, 0), dt.datetime(2024, 12, 1, 12, 0), None],
                pa.timestamp("us"),
            ),
            "What": ["a", "b", "c"],
            "Cost": pa.array([0.1 + 0.2, 12.5, 1.005], pa.float64()),
        }
    )
    cols = {"event_id": "Ref", "start_at": "When", "activity": "What", "cost_gbp": "Cost"}
    out = ingest(
        make_place(
            default_manifest([{"table": "events", "path": "e.parquet", "columns": cols}]),
            {"e.parquet": parquet(t)},
        )
    )
    got = [(e["event_id"], e["start_at"], e["cost_gbp"]) for e in out.tables["events"]]
    # Naive timestamps are local (Europe/London) and stored in UTC: BST in July, GMT in December.
    assert got == [
        ("1", dt.datetime(2024, 7, 1, 11, 0), Decimal("0.30")),
        ("2", dt.datetime(2024, 12, 1, 12, 0), Decimal("12.50")),
    ]
    assert out.reasons == [
        "start_at: required value is missing (column 'When' is empty); "
        "cost_gbp: '1.005' has more than 2 decimal places (pounds and pence)"
    ]


def test_minitown_ingests_from_the_command_line(minitown):
    from click.testing import CliRunner

    from totalplace.cli import main

    result = CliRunner().invoke(main, ["ingest", str(minitown)])
    assert result.exit_code == 0, result.output
    assert "8 files: read 182 = loaded 169 + rejected 13 (see the rejects table)" in result.output
    with Place.open(minitown) as place:
        counts = {
            t: place.store.engine.count(t) for t in ("source_people", "events", "spend", "rejects")
        }
        agencies = {r["agency"] for r in place.store.table("source_people").to_pylist()}
    assert counts == {"source_people": 62, "events": 96, "spend": 11, "rejects": 13}
    assert agencies == {"acute", "police", "council", "housing"}


def test_work_tables_are_dropped_after_success_and_failure(make_place, default_manifest):
    spec = {"table": "source_people", "path": "p.csv", "encoding": "utf-8", "columns": COLUMNS}
    root = make_place(default_manifest([spec]), {"p.csv": GOOD + "P3,x,y,z\n"})
    sql = "SELECT count(*) FROM duckdb_tables() WHERE temporary"
    with Place.open(root) as place:
        place.ingest.run()
        assert place.store.engine.scalar(sql) == 0
        (root / "p.csv").write_bytes(GOOD.encode() + "P4,Zoë,1980-01-01\n".encode("cp1252"))
        with pytest.raises(InputFileError):
            place.ingest.run()
        assert place.store.engine.scalar(sql) == 0


def test_xlsx_row_with_values_beyond_the_header_is_rejected(make_place, default_manifest, ingest):
    rows = PEOPLE_SHEET + [["P3", "Cy", dt.datetime(1991, 1, 1), "stray note"]]
    spec = {"table": "source_people", "path": "p.xlsx", "columns": COLUMNS}
    out = ingest(make_place(default_manifest([spec]), {"p.xlsx": xlsx({"People": rows})}))
    assert [p["source_id"] for p in out.tables["source_people"]] == ["P1", "P2"]
    assert [(r["source_row"], r["reason"], r["raw"]) for r in out.tables["rejects"]] == [
        (
            3,
            "row has values in 4 columns but the header has 3",
            '{"_cells": ["P3", "Cy", "1991-01-01 00:00:00", "stray note"]}',
        )
    ]


def test_minitown_warnings_and_rejects(minitown, ingest):
    out = ingest(minitown)
    assert out.file("police/incidents.csv")["warnings"] == {"person_unknown": 1}
    assert out.file("acute/patients.csv")["warnings"] == {"nhs_invalid": 1}
    assert out.file("housing/tenants.tsv")["warnings"] == {"postcode_invalid": 1}
    assert out.file("police/persons.csv")["encoding"] == "cp1252"
    assert out.file("police/incidents.csv")["encoding"] == "cp1252"  # detected, not declared
    assert out.file("housing/tenants.tsv")["encoding"] == "latin-1"
    by_file: dict[str, int] = {}
    for r in out.tables["rejects"]:
        by_file[r["source_file"]] = by_file.get(r["source_file"], 0) + 1
    assert by_file == {
        "acute/patients.csv": 3,
        "acute/attendances.csv": 3,
        "police/persons.csv": 2,
        "police/incidents.csv": 1,
        "council/clients.xlsx": 1,
        "council/contacts.parquet": 1,
        "council/spend.csv": 1,
        "housing/tenants.tsv": 1,
    }


def test_runs_records_counts_and_input_hashes(make_place, default_manifest, ingest):
    import hashlib

    spec = {"table": "source_people", "path": "p.csv", "columns": COLUMNS}
    root = make_place(default_manifest([spec]), {"p.csv": GOOD + "P3,Cy,not a date\n"})
    run = ingest(root).runs[-1]
    assert run["outcome"] == "ok"
    assert run["inputs"] == {
        str((root / "p.csv").resolve()): hashlib.sha256(
            (GOOD + "P3,Cy,not a date\n").encode()
        ).hexdigest()
    }
    assert run["rows"] == {
        "p.csv": {"read": 3, "loaded": 2, "rejected": 1},
        "source_people": {"out": 2},
        "events": {"out": 0},
        "spend": {"out": 0},
        "rejects": {"out": 1},
    }
