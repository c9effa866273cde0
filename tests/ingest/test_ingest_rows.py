"""Bad rows: each kind is rejected (or kept and flagged) with an exact, actionable reason.

Every case also checks that, for the file, rows read = rows loaded + rows rejected (the
``ingest`` fixture asserts it for every file, on screen and in ``runs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

PEOPLE_HEADER = "ID,NHS,First,Last,DOB,Sex,Postcode\n"
PEOPLE_COLUMNS = {
    "source_id": "ID",
    "nhs_number": "NHS",
    "given_name": "First",
    "family_name": "Last",
    "dob": "DOB",
    "sex": "Sex",
    "postcode": "Postcode",
}
EVENTS_HEADER = "EventID,PersonID,Type,Start,End,Cost\n"
EVENTS_COLUMNS = {
    "event_id": "EventID",
    "source_id": "PersonID",
    "activity": "Type",
    "start_at": "Start",
    "end_at": "End",
    "cost_gbp": "Cost",
}
SPEND_HEADER = "Year,Service,Amount\n"
SPEND_COLUMNS = {"year": "Year", "service": "Service", "amount_gbp": "Amount"}
GOOD_PERSON = "P0,9434765919,Ann,Lee,01/02/1980,F,MT1 1AA\n"
GOOD_EVENT = "E0,P0,visit,01/05/2024 10:00,01/05/2024 11:00,10.00\n"


@dataclass
class Case:
    id: str
    table: str
    rows: str  # data rows (the header is added)
    reasons: list[str]
    loaded: int
    extra: dict[str, Any] = field(default_factory=dict)  # FileSpec keys
    top: dict[str, Any] = field(default_factory=dict)  # manifest keys


def person(**kw: str) -> str:
    v = {
        "ID": "P1",
        "NHS": "",
        "First": "Ann",
        "Last": "Lee",
        "DOB": "01/02/1980",
        "Sex": "F",
        "Postcode": "MT1 1AA",
        **kw,
    }
    return ",".join(v[k] for k in ("ID", "NHS", "First", "Last", "DOB", "Sex", "Postcode")) + "\n"


def event(**kw: str) -> str:
    v = {
        "EventID": "E1",
        "PersonID": "P0",
        "Type": "visit",
        "Start": "01/05/2024 10:00",
        "End": "01/05/2024 11:00",
        "Cost": "10.00",
        **kw,
    }
    return ",".join(v[k] for k in ("EventID", "PersonID", "Type", "Start", "End", "Cost")) + "\n"


CASES = [
    Case(
        "unparseable-date",
        "source_people",
        GOOD_PERSON + person(DOB="31/02/1985"),
        ["dob: '31/02/1985' is not a date in the format '%d/%m/%Y'"],
        1,
    ),
    Case(
        "date-in-wrong-format",
        "source_people",
        person(DOB="1985-02-03"),
        ["dob: '1985-02-03' is not a date in the format '%d/%m/%Y'"],
        0,
    ),
    Case(
        "date-before-plausible-range",
        "source_people",
        person(DOB="01/01/1850"),
        ["dob: 1850-01-01 is before the earliest plausible date 1900-01-01"],
        0,
    ),
    Case(
        "date-after-plausible-range",
        "events",
        GOOD_EVENT + event(Start="01/01/2030 09:00", End=""),
        ["start_at: 2030-01-01 is after the latest plausible date 2026-03-31"],
        1,
    ),
    Case(
        "dob-in-the-future",
        "source_people",
        person(DOB="01/01/2029"),
        ["dob: 2029-01-01 is in the future"],
        0,
        top={"plausible_dates": {"max": "2030-12-31"}},
    ),
    Case(
        "timestamp-unparseable",
        "events",
        event(Start="01/05/2024 25:10"),
        ["start_at: '01/05/2024 25:10' is not a date/time in the format '%d/%m/%Y'"],
        0,
    ),
    Case(
        "end-before-start",
        "events",
        event(Start="02/05/2024 10:00", End="01/05/2024 10:00"),
        ["end_at: 2024-05-01 09:00:00 is before start_at 2024-05-02 09:00:00"],
        0,
    ),
    Case(
        "negative-cost",
        "events",
        event(Cost="-12.50"),
        ["cost_gbp: -12.50 is negative; a cost cannot be negative"],
        0,
    ),
    Case(
        "negative-spend-refused",
        "spend",
        "2024/25,Care,-100.00\n",
        [
            "amount_gbp: -100.00 is negative; if this file has refunds or credits set "
            "allow_negative: true for it in place.yaml"
        ],
        0,
    ),
    Case(
        "negative-spend-allowed",
        "spend",
        '2024/25,Care,"(£1,100.00)"\n',
        [],
        1,
        extra={"allow_negative": True},
    ),
    Case(
        "non-numeric-money",
        "events",
        event(Cost="£12.x"),
        [
            "cost_gbp: '£12.x' is not an amount of money (expected a number such as 1234.56, "
            "optionally with £ and commas)"
        ],
        0,
    ),
    Case(
        "money-with-fractions-of-a-penny",
        "events",
        event(Cost="12.345"),
        ["cost_gbp: '12.345' has more than 2 decimal places (pounds and pence)"],
        0,
    ),
    Case(
        "money-too-large",
        "spend",
        "2024/25,Care,12345678901234567\n",
        ["amount_gbp: '12345678901234567' is too large (at most 16 digits before the point)"],
        0,
    ),
    Case(
        "duplicate-person-id",
        "source_people",
        person(ID="P7") + GOOD_PERSON + person(ID="P7", First="Anne"),
        ["source_id: duplicate 'P7' for agency 'acute'; first seen in extract.csv row 1"],
        2,
    ),
    Case(
        "duplicate-event-id",
        "events",
        event(EventID="E9") + event(EventID="E9", Cost="11.00"),
        ["event_id: duplicate 'E9' for agency 'acute'; first seen in extract.csv row 1"],
        1,
    ),
    Case(
        "ragged-row-too-few-fields",
        "source_people",
        GOOD_PERSON + "P2,,Bo,Ray,01/01/1990,M\n" + person(),
        ["row has 6 fields but the header has 7"],
        2,
    ),
    Case(
        "ragged-row-too-many-fields",
        "source_people",
        "P2,,Bo,Ray,Jr,01/01/1990,M,MT1 1AA\n" + GOOD_PERSON,
        ["row has 8 fields but the header has 7 (a delimiter inside a value that is not quoted?)"],
        1,
    ),
    Case(
        "huge-field",
        "source_people",
        GOOD_PERSON + person(First="x" * 150_000),
        ["column 'First' is 150,000 characters long; the limit is 100,000"],
        1,
    ),
    Case(
        "required-value-missing",
        "source_people",
        person(ID="  "),
        ["source_id: required value is missing (column 'ID' is empty)"],
        0,
    ),
    Case(
        "several-problems-in-one-row",
        "source_people",
        person(ID="", DOB="yesterday"),
        [
            "source_id: required value is missing (column 'ID' is empty); "
            "dob: 'yesterday' is not a date in the format '%d/%m/%Y'"
        ],
        0,
    ),
    Case(
        "not-a-financial-year",
        "spend",
        "2024,Care,1.00\n2024-25,Care,2.00\n",
        ["year: '2024' is not a financial year (expected e.g. '2024/25')"],
        1,
    ),
    Case("invalid-nhs-number-kept-and-flagged", "source_people", person(NHS="943 476 5918"), [], 1),
    Case(
        "required-event-fields-missing",
        "events",
        event(Type="", Start=""),
        [
            "activity: required value is missing (column 'Type' is empty); "
            "start_at: required value is missing (column 'Start' is empty)"
        ],
        0,
    ),
]


def _manifest(case: Case, default_manifest) -> dict[str, Any]:
    columns = {"source_people": PEOPLE_COLUMNS, "events": EVENTS_COLUMNS, "spend": SPEND_COLUMNS}[
        case.table
    ]
    spec = {
        "table": case.table,
        "path": "extract.csv",
        "date_format": "%d/%m/%Y",
        "columns": columns,
        **case.extra,
    }
    return default_manifest([spec], **case.top)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_rows_are_rejected_with_a_reason(case, make_place, ingest, default_manifest):
    header = {"source_people": PEOPLE_HEADER, "events": EVENTS_HEADER, "spend": SPEND_HEADER}[
        case.table
    ]
    root = make_place(_manifest(case, default_manifest), {"extract.csv": header + case.rows})
    out = ingest(root)
    n_rows = case.rows.count("\n")
    info = out.file("extract.csv")
    assert out.reasons == case.reasons
    assert (info["read"], info["loaded"], info["rejected"]) == (
        n_rows,
        case.loaded,
        len(case.reasons),
    )
    assert len(out.tables[case.table]) == case.loaded
    for r in out.tables["rejects"]:
        assert (r["agency"], r["target"], r["source_file"]) == ("acute", case.table, "extract.csv")
    assert (
        f"read {n_rows:,} = loaded {case.loaded:,} + rejected {len(case.reasons):,}"
        in out.result.summary[1]
    )


def test_rejects_keep_row_number_and_raw_values(make_place, ingest, default_manifest):
    rows = (
        GOOD_PERSON
        + person(ID="P2", DOB="31/02/1985")
        + "P3,,Bo\n"
        + person(ID="P4", First="x" * 150_000)
    )
    root = make_place(_manifest(CASES[0], default_manifest), {"extract.csv": PEOPLE_HEADER + rows})
    rej = ingest(root).tables["rejects"]
    assert [r["source_row"] for r in rej] == [2, 3, 4]
    assert rej[0]["raw"] == (
        '{"ID":"P2","NHS":null,"First":"Ann","Last":"Lee","DOB":"31/02/1985",'
        '"Sex":"F","Postcode":"MT1 1AA"}'
    )
    assert rej[1]["raw"] == '{"_line":"P3,,Bo"}'
    assert '"First":"' + "x" * 1000 + '... (149,000 more characters)"' in rej[2]["raw"]


def test_invalid_nhs_numbers_are_kept_but_flagged(make_place, ingest, default_manifest):
    rows = (
        person(ID="A", NHS="943 476 5919")
        + person(ID="B", NHS="943-476-5918")
        + person(ID="C", NHS="1111111111")
        + person(ID="D", NHS="12345")
        + person(ID="E", NHS="")
    )
    root = make_place(_manifest(CASES[0], default_manifest), {"extract.csv": PEOPLE_HEADER + rows})
    out = ingest(root)
    got = [
        (p["source_id"], p["nhs_number"], p["nhs_number_valid"])
        for p in out.tables["source_people"]
    ]
    assert got == [
        ("A", "9434765919", True),
        ("B", "9434765918", False),
        ("C", "1111111111", False),
        ("D", "12345", False),
        ("E", None, None),
    ]
    assert out.file("extract.csv")["warnings"] == {"nhs_invalid": 3}
    assert (
        "3 NHS numbers fail the modulus-11 check (kept, flagged, not used for linkage)"
        in out.result.summary[1]
    )


def test_money_is_exact_and_accepts_pounds_commas_and_brackets(
    make_place, ingest, default_manifest
):
    rows = '2024/25,A,"£1,234,567.89"\n2024-25,B,(12.5)\n2024/2025,C, 7 \n'
    root = make_place(_manifest(CASES[9], default_manifest), {"extract.csv": SPEND_HEADER + rows})
    spend = ingest(root).tables["spend"]
    assert [(s["year"], s["service"], s["amount_gbp"]) for s in spend] == [
        ("2024/25", "A", Decimal("1234567.89")),
        ("2024/25", "B", Decimal("-12.50")),
        ("2024/25", "C", Decimal("7.00")),
    ]
