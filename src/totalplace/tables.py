"""The canonical tables every stage reads and writes, with their columns and types.

This is the contract between stages: ingest (and the synthetic generator's manifest) fill
``source_people``, ``events``, ``spend`` and ``payments``; later stages only read those names and columns.
Types are DuckDB SQL types; the Spark engine maps them through ``engine.dialect``.

Keys are the agencies' own identifiers, kept as text exactly as the source wrote them:
``(agency, source_id)`` for a person record and ``(agency, event_id)`` for an event.
Every ingested row also keeps its lineage (``source_file``, ``source_row``) so any result can
be traced back to the line of the extract it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    doc: str = ""
    # Columns a place.yaml may map from an extract (the rest are derived or lineage).
    mappable: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}; it has {self.column_names}")

    def create_sql(self, name: str | None = None) -> str:
        cols = ",\n  ".join(f'"{c.name}" {c.type}' for c in self.columns)
        return f'CREATE TABLE "{name or self.name}" (\n  {cols}\n)'


LINEAGE = (
    Column(
        "source_file", "VARCHAR", doc="extract file the row came from (path relative to the place)"
    ),
    Column("source_row", "BIGINT", doc="1-based data row number in that file (header excluded)"),
)

SOURCE_PEOPLE = Table(
    name="source_people",
    key=("agency", "source_id"),
    doc="One row per person record held by an agency.",
    columns=(
        Column("agency", "VARCHAR", True, "agency id from place.yaml"),
        Column("source_id", "VARCHAR", True, "the agency's own person identifier, as written"),
        Column("nhs_number", "VARCHAR", doc="10 digits, spaces removed; kept even when invalid"),
        Column(
            "nhs_number_valid", "BOOLEAN", doc="passes the modulus-11 check; only valid ones link"
        ),
        Column("given_name", "VARCHAR"),
        Column("middle_names", "VARCHAR"),
        Column("family_name", "VARCHAR"),
        Column("dob", "DATE"),
        Column("sex", "VARCHAR", doc="'F', 'M', 'X' (other/indeterminate) or NULL (not known)"),
        Column("postcode", "VARCHAR", doc="normalised UK format, e.g. 'AB1 2CD'"),
        Column("address", "VARCHAR"),
        Column("uprn", "VARCHAR", doc="Unique Property Reference Number, digits only"),
        Column("email", "VARCHAR"),
        Column("phone", "VARCHAR"),
        Column("valid_from", "DATE", doc="date the record's address was known from, if given"),
        Column("valid_to", "DATE"),
        *LINEAGE,
    ),
    mappable=(
        "source_id",
        "nhs_number",
        "given_name",
        "middle_names",
        "family_name",
        "dob",
        "sex",
        "postcode",
        "address",
        "uprn",
        "email",
        "phone",
        "valid_from",
        "valid_to",
    ),
)

EVENTS = Table(
    name="events",
    key=("agency", "event_id"),
    doc="One row per contact, episode or activity. Timestamps are UTC.",
    columns=(
        Column("agency", "VARCHAR", True),
        Column("event_id", "VARCHAR", True, "the agency's own event identifier, as written"),
        Column("source_id", "VARCHAR", doc="person record the event belongs to (may be NULL)"),
        Column("service", "VARCHAR", doc="the service within the agency"),
        Column("activity", "VARCHAR", True, "what happened, in the agency's own words"),
        Column("start_at", "TIMESTAMP", True, "UTC"),
        Column("end_at", "TIMESTAMP", doc="UTC; NULL for instantaneous events"),
        Column("channel", "VARCHAR", doc="phone, web, face to face, letter, ..."),
        Column("reason_text", "VARCHAR", doc="free text the citizen or officer gave"),
        Column("outcome", "VARCHAR"),
        Column("cost_gbp", "DECIMAL(18,2)", doc="cost if the extract carries one; else NULL"),
        *LINEAGE,
    ),
    mappable=(
        "event_id",
        "source_id",
        "service",
        "activity",
        "start_at",
        "end_at",
        "channel",
        "reason_text",
        "outcome",
        "cost_gbp",
    ),
)

SPEND = Table(
    name="spend",
    doc="One row per budget or outturn line. Amounts are exact decimals in pounds.",
    columns=(
        Column("agency", "VARCHAR", True),
        Column("year", "VARCHAR", True, "financial year, e.g. '2024/25'"),
        Column("funder", "VARCHAR"),
        Column("service", "VARCHAR", True),
        Column("theme", "VARCHAR"),
        Column("category", "VARCHAR", doc="'front line', 'support' or 'buildings'"),
        Column("amount_gbp", "DECIMAL(18,2)", True),
        *LINEAGE,
    ),
    mappable=("year", "funder", "service", "theme", "category", "amount_gbp"),
)

PAYMENTS = Table(
    name="payments",
    doc=(
        "One row per payment in a council's transparency file ('spend over £500'). Amounts "
        "are exact decimals in pounds; credits are negative."
    ),
    columns=(
        Column("agency", "VARCHAR", True),
        Column("payment_date", "DATE", doc="NULL when the file lost it (flagged, never invented)"),
        Column("supplier", "VARCHAR", doc="beneficiary as written, spaces trimmed"),
        Column("amount_gbp", "DECIMAL(18,2)", True, "negative for credits"),
        Column("service", "VARCHAR", doc="service, directorate or organisational unit"),
        Column("expense_type", "VARCHAR", doc="expenditure category or account"),
        Column("transaction_id", "VARCHAR", doc="the council's own reference, as written"),
        Column("description", "VARCHAR"),
        *LINEAGE,
    ),
    mappable=(
        "payment_date",
        "supplier",
        "amount_gbp",
        "service",
        "expense_type",
        "transaction_id",
        "description",
    ),
)

REJECTS = Table(
    name="rejects",
    doc="Input rows that failed validation, with a reason a person can act on. Never dropped.",
    columns=(
        Column("agency", "VARCHAR"),
        Column("target", "VARCHAR", doc="canonical table the row was meant for"),
        Column("source_file", "VARCHAR", True),
        Column("source_row", "BIGINT", True),
        Column("raw", "VARCHAR", True, "the row as read, JSON object of source column -> text"),
        Column("reason", "VARCHAR", True),
    ),
)

RUNS = Table(
    name="runs",
    doc="One row per stage run: what ran, when, on what inputs, with what result.",
    columns=(
        Column("run_id", "VARCHAR", True),
        Column("stage", "VARCHAR", True),
        Column("started_at", "TIMESTAMP", True, "UTC"),
        Column("finished_at", "TIMESTAMP", doc="UTC"),
        Column(
            "outcome",
            "VARCHAR",
            True,
            "'running', 'ok', 'failed: <cause>', 'interrupted' or 'killed'",
        ),
        Column("package_version", "VARCHAR", True),
        Column("rows", "JSON", doc="per table: rows in / out / rejected"),
        Column("inputs", "JSON", doc="input files with their SHA-256"),
        Column("detail", "JSON"),
        Column("pid", "BIGINT", doc="process id of the run (to tell a killed run)"),
        Column("host", "VARCHAR", doc="machine the run ran on"),
        Column("reads", "JSON", doc="lineage: each table the run read -> the run that made it"),
        Column("settings", "JSON", doc="place.yaml sections the stage uses -> their SHA-256"),
    ),
)

PUBLISHED = Table(
    name="published_tables",
    doc="One row per table per publish: which run made each table (the newest row is live).",
    columns=(
        Column("table_name", "VARCHAR", True),
        Column("stage", "VARCHAR", True),
        Column("run_id", "VARCHAR", True),
        Column("rows", "BIGINT", True),
        Column("published_at", "TIMESTAMP", True, "UTC"),
    ),
)

CANONICAL: dict[str, Table] = {t.name: t for t in (SOURCE_PEOPLE, EVENTS, SPEND, PAYMENTS)}
ALL: dict[str, Table] = {
    t.name: t for t in (SOURCE_PEOPLE, EVENTS, SPEND, PAYMENTS, REJECTS, RUNS, PUBLISHED)
}
