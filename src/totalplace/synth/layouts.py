"""Each agency's event extract: its own file, column names, date formats and event ids.

A layout is a SQL ``SELECT`` over one registered Arrow table ``ev`` (one row per event:
uid, src, etype, st, en, cost in pence and the event's attributes) that produces the file
exactly as the agency writes it, plus the ``place.yaml`` mapping of its columns. Event ids are
numbered in order of time within each file, so they say nothing about the person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FMT = {
    "acute": "%d/%m/%Y %H:%M",
    "mh": "%Y-%m-%d %H:%M:%S",
    "asc": "%d-%b-%Y",
    "csc": "%Y-%m-%d",
    "police": "%d.%m.%Y %H:%M",
    "housing": "%m/%d/%Y",
    "dwp": "%Y%m%d",
    "probation": "%d/%m/%Y",
    "substance": "%d %B %Y",
    "schools": "%d/%m/%Y",
    "contact": "%Y/%m/%d %H:%M:%S",
}


@dataclass(frozen=True)
class Layout:
    """One event file: which event types go in it, its columns (SQL) and its mapping."""

    agency: str
    path: str
    etypes: tuple[str, ...]
    cols: dict[str, str]  # output column -> SQL expression over ev (+ seq)
    mapping: dict[str, Any]
    format: str = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    extra: dict[str, Any] = field(default_factory=dict)


def d(col: str, fmt: str) -> str:
    """SQL: a timestamp column as text in an agency's format (NULL stays NULL)."""
    return f"strftime({col}, '{fmt}')"


def money(col: str = "cost") -> str:
    """SQL: integer pence as exact text pounds ('1234.50'); NULL when no unit cost applies."""
    return (
        f"CASE WHEN {col} > 0 THEN CAST({col} // 100 AS VARCHAR) || '.' || "
        f"lpad(CAST({col} % 100 AS VARCHAR), 2, '0') END"
    )


def seq(prefix: str, width: int) -> str:
    return f"'{prefix}' || lpad(CAST(seq AS VARCHAR), {width}, '0')"


def ts_map(column: str, fmt: str | None) -> dict[str, str] | str:
    return {"column": column, "format": fmt} if fmt else column


LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "acute",
        "acute/ae_attendances.csv",
        ("ae_attendance",),
        {
            "AttendanceID": seq("AE", 9),
            "PatientID": "src",
            "ArrivalDateTime": d("st", FMT["acute"]),
            "DepartureDateTime": d("en", FMT["acute"]),
            "ArrivalMode": "arrival",
            "Disposal": "disposal",
        },
        {
            "event_id": "AttendanceID",
            "source_id": "PatientID",
            "activity": {"value": "A&E attendance"},
            "service": {"value": "Emergency department"},
            "start_at": ts_map("ArrivalDateTime", FMT["acute"]),
            "end_at": ts_map("DepartureDateTime", FMT["acute"]),
            "channel": "ArrivalMode",
            "outcome": "Disposal",
        },
    ),
    Layout(
        "acute",
        "acute/admissions.parquet",
        ("nonelective_admission", "elective_admission"),
        {
            "SpellID": seq("SP", 8),
            "PatientID": "src",
            "AdmissionDateTime": "st",
            "DischargeDateTime": "en",
            "AdmissionMethod": "method",
            "Specialty": "specialty",
            "DischargeDestination": "destination",
        },
        {
            "event_id": "SpellID",
            "source_id": "PatientID",
            "activity": "AdmissionMethod",
            "service": "Specialty",
            "start_at": "AdmissionDateTime",
            "end_at": "DischargeDateTime",
            "outcome": "DischargeDestination",
        },
        format="parquet",
    ),
    Layout(
        "mental_health",
        "mental_health/contacts.parquet",
        ("mh_contact",),
        {
            "contact_id": seq("MHC", 8),
            "client_ref": "src",
            "contact_start": "st",
            "contact_end": "en",
            "team": "team",
            "contact_mode": "mode",
        },
        {
            "event_id": "contact_id",
            "source_id": "client_ref",
            "activity": {"value": "Community contact"},
            "service": "team",
            "start_at": "contact_start",
            "end_at": "contact_end",
            "channel": "contact_mode",
        },
        format="parquet",
    ),
    Layout(
        "mental_health",
        "mental_health/inpatient_spells.csv",
        ("mh_admission",),
        {
            "spell_ref": seq("IP", 6),
            "client_ref": "src",
            "admitted": d("st", FMT["mh"]),
            "discharged": d("en", FMT["mh"]),
            "ward": "ward",
        },
        {
            "event_id": "spell_ref",
            "source_id": "client_ref",
            "activity": {"value": "Inpatient admission"},
            "service": "ward",
            "start_at": ts_map("admitted", FMT["mh"]),
            "end_at": ts_map("discharged", FMT["mh"]),
        },
    ),
    Layout(
        "adult_social_care",
        "adult_social_care/activity.csv",
        ("asc_assessment", "home_care", "residential_care"),
        {
            "Activity ID": "CAST(4000000 + seq AS VARCHAR)",
            "Person ID": "src",
            "Activity Type": "activity",
            "Start Date": d("st", FMT["asc"]),
            "End Date": d("en", FMT["asc"]),
            "Cost to Council (GBP)": money(),
        },
        {
            "event_id": "Activity ID",
            "source_id": "Person ID",
            "activity": "Activity Type",
            "service": {"value": "Adult social care"},
            "start_at": ts_map("Start Date", FMT["asc"]),
            "end_at": ts_map("End Date", FMT["asc"]),
            "cost_gbp": "Cost to Council (GBP)",
        },
    ),
    Layout(
        "childrens_social_care",
        "childrens_social_care/episodes.csv",
        ("csc_referral", "lac_placement"),
        {
            "EpisodeRef": seq("EP", 7),
            "ChildID": "src",
            "EventType": (
                "CASE WHEN etype = 'lac_placement' THEN 'Looked after placement' ELSE activity END"
            ),
            "Service": (
                "CASE WHEN etype = 'lac_placement' THEN 'Looked After Children' "
                "ELSE 'Children in Need' END"
            ),
            "PlacementType": "placement",
            "StartDate": d("st", FMT["csc"]),
            "EndDate": d("en", FMT["csc"]),
        },
        {
            "event_id": "EpisodeRef",
            "source_id": "ChildID",
            "activity": "EventType",
            "service": "Service",
            "start_at": ts_map("StartDate", FMT["csc"]),
            "end_at": ts_map("EndDate", FMT["csc"]),
            "outcome": "PlacementType",
        },
    ),
    Layout(
        "police",
        "police/incidents.csv",
        ("police_incident",),
        {
            "Incident No": (
                "'INC-' || strftime(st, '%Y') || '-' || lpad(CAST(seq AS VARCHAR), 7, '0')"
            ),
            "Nominal Ref": "src",
            "Reported": d("st", FMT["police"]),
            "Closed": d("en", FMT["police"]),
            "Category": "category",
            "Role": "role",
        },
        {
            "event_id": "Incident No",
            "source_id": "Nominal Ref",
            "activity": "Category",
            "service": {"value": "Response"},
            "start_at": ts_map("Reported", FMT["police"]),
            "end_at": ts_map("Closed", FMT["police"]),
            "outcome": "Role",
        },
        encoding="cp1252",
    ),
    Layout(
        "police",
        "police/custody.csv",
        ("arrest",),
        {
            "Custody Ref": (
                "'CU/' || strftime(st, '%y') || '/' || lpad(CAST(seq AS VARCHAR), 6, '0')"
            ),
            "Nominal Ref": "src",
            "Arrest Time": d("st", FMT["police"]),
            "Release Time": d("en", FMT["police"]),
            "Disposal": "outcome",
        },
        {
            "event_id": "Custody Ref",
            "source_id": "Nominal Ref",
            "activity": {"value": "Arrest"},
            "service": {"value": "Custody"},
            "start_at": ts_map("Arrest Time", FMT["police"]),
            "end_at": ts_map("Release Time", FMT["police"]),
            "outcome": "Disposal",
        },
        encoding="cp1252",
    ),
    Layout(
        "housing",
        "housing/cases.csv",
        (
            "housing_advice",
            "homelessness_application",
            "eviction",
            "temporary_accommodation",
            "rough_sleeping",
        ),
        {
            "case_ref": seq("HC", 7),
            "app_no": "src",
            "activity": "activity",
            "reason": "reason",
            "start": d("st", FMT["housing"]),
            "end": d("en", FMT["housing"]),
        },
        {
            "event_id": "case_ref",
            "source_id": "app_no",
            "activity": "activity",
            "service": {"value": "Housing options"},
            "start_at": ts_map("start", FMT["housing"]),
            "end_at": ts_map("end", FMT["housing"]),
            "reason_text": "reason",
        },
    ),
    Layout(
        "dwp",
        "dwp/claims.csv",
        ("benefit_claim", "work_coach"),
        {
            "CLAIM_ID": seq("C", 9),
            "CLAIMANT_REF": "src",
            "BENEFIT": "benefit",
            "ACTIVITY": "activity",
            "START_DATE": d("st", FMT["dwp"]),
            "END_DATE": d("en", FMT["dwp"]),
        },
        {
            "event_id": "CLAIM_ID",
            "source_id": "CLAIMANT_REF",
            "activity": "ACTIVITY",
            "service": "BENEFIT",
            "start_at": ts_map("START_DATE", FMT["dwp"]),
            "end_at": ts_map("END_DATE", FMT["dwp"]),
        },
    ),
    Layout(
        "probation",
        "probation/events.csv",
        ("prison_release", "community_order", "licence", "probation_appointment"),
        {
            "EVENT_NO": "lpad(CAST(seq AS VARCHAR), 8, '0')",
            "CRN": "src",
            "EVENT_TYPE": "activity",
            "START_DATE": d("st", FMT["probation"]),
            "END_DATE": d("en", FMT["probation"]),
            "ESTABLISHMENT": "establishment",
        },
        {
            "event_id": "EVENT_NO",
            "source_id": "CRN",
            "activity": "EVENT_TYPE",
            "service": "ESTABLISHMENT",
            "start_at": ts_map("START_DATE", FMT["probation"]),
            "end_at": ts_map("END_DATE", FMT["probation"]),
        },
        delimiter=";",
    ),
    Layout(
        "substance",
        "substance/episodes.csv",
        ("treatment", "programme_enrolment"),
        {
            "Episode ID": seq("EP-", 6),
            "Client ID": "src",
            "Activity": "activity",
            "Substance": "substance",
            "Start date": d("st", FMT["substance"]),
            "End date": d("en", FMT["substance"]),
            "Episode cost": money(),
        },
        {
            "event_id": "Episode ID",
            "source_id": "Client ID",
            "activity": "Activity",
            "service": "Substance",
            "start_at": ts_map("Start date", FMT["substance"]),
            "end_at": ts_map("End date", FMT["substance"]),
            "cost_gbp": "Episode cost",
        },
    ),
    Layout(
        "schools",
        "schools/events.csv",
        ("attendance", "leaver", "suspension", "permanent_exclusion"),
        {
            "Record ID": seq("R", 8),
            "UPN": "src",
            "Event": "activity",
            "Start Date": d("st", FMT["schools"]),
            "End Date": d("en", FMT["schools"]),
            "Sessions Possible": "possible",
            "Sessions Attended": "attended",
            "Outcome": (
                "CASE WHEN etype = 'attendance' "
                "THEN 'Attended ' || attended || ' of ' || possible || ' sessions' "
                "WHEN etype = 'leaver' THEN destination END"
            ),
        },
        {
            "event_id": "Record ID",
            "source_id": "UPN",
            "activity": "Event",
            "start_at": ts_map("Start Date", FMT["schools"]),
            "end_at": ts_map("End Date", FMT["schools"]),
            "outcome": "Outcome",
        },
    ),
    Layout(
        "council_contact",
        "council_contact/contacts.csv",
        ("contact",),
        {
            "ContactID": seq("CRM-", 8),
            "CustomerNo": "src",
            "Channel": "channel",
            "Service": "service",
            "ContactDateTime": d("st", FMT["contact"]),
            "EndDateTime": d("en", FMT["contact"]),
            "Reason": "reason",
            "Outcome": "outcome",
        },
        {
            "event_id": "ContactID",
            "source_id": "CustomerNo",
            "activity": {"value": "Customer contact"},
            "service": "Service",
            "channel": "Channel",
            "start_at": ts_map("ContactDateTime", FMT["contact"]),
            "end_at": ts_map("EndDateTime", FMT["contact"]),
            "reason_text": "Reason",
            "outcome": "Outcome",
        },
    ),
)


# Every event attribute a layout may refer to; a file whose events lack one gets NULLs.
ATTRS = (
    "arrival",
    "disposal",
    "method",
    "specialty",
    "destination",
    "team",
    "mode",
    "ward",
    "activity",
    "placement",
    "category",
    "role",
    "outcome",
    "reason",
    "benefit",
    "establishment",
    "substance",
    "possible",
    "attended",
    "channel",
    "service",
)


def layout_sql(layout: Layout, available: set[str]) -> str:
    """The SELECT that turns the rows of ``ev`` into the agency's file.

    ``ev`` holds only this layout's event types, already in time order with ``seq`` =
    1, 2, ... (sorting is done in Arrow; DuckDB keeps insertion order for a projection).
    Attribute columns an event type does not have are NULL; ``uid`` comes first so the
    caller can map event ids back to the truth, and is dropped before writing.
    """
    exprs = []
    for name, expr in layout.cols.items():
        if (
            expr.isidentifier()
            and expr not in available
            and expr not in ("src", "st", "en", "cost", "etype", "seq")
        ):
            expr = "CAST(NULL AS VARCHAR)"
        exprs.append(f'{expr} AS "{name}"')
    return f"SELECT uid, {', '.join(exprs)} FROM ev"
