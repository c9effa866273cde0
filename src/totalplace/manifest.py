"""The place manifest, ``place.yaml``: what a user writes to describe one place.

A manifest names the place, its analysis period, and each agency with its extract files and
a mapping from the agency's own column names and formats to the canonical tables
(see ``totalplace.tables``). No code is needed for a new extract layout, only YAML::

    name: Minitown
    period: {start: 2024-04-01, end: 2025-03-31}
    agencies:
      - id: acute
        name: Minitown Hospitals NHS Trust
        sector: health
        files:
          - table: source_people
            path: acute/patients.csv
            date_format: "%d/%m/%Y"
            columns:
              source_id: PatientID
              nhs_number: NHSNo
              given_name: Forename
              family_name: Surname
              dob: DateOfBirth
              sex: {column: Gender, map: {"1": M, "2": F}}
              postcode: PostCode

A column mapping is either the source column's name, or an object with ``column`` (the
source column), ``format`` (a strptime date format, overriding the file's ``date_format``)
and ``map`` (source value -> canonical value), or ``value`` (a constant for every row).

``load_manifest(path)`` validates the YAML and reports every problem at once, each with the
file and its key path, e.g. ``agencies[3].files[0].columns.dob: unknown source column
'DateOfBirth'; available: DOB, Forename, ...``. The result is frozen: stages read it, they
never change it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from totalplace.errors import InputFileError, ManifestError
from totalplace.tables import CANONICAL

MANIFEST_NAME = "place.yaml"

Sector = Literal[
    "health",
    "mental_health",
    "social_care",
    "children",
    "police",
    "justice",
    "housing",
    "welfare",
    "education",
    "council",
    "public_health",
    "fire",
    "voluntary",
    "other",
]
FileFormat = Literal["csv", "parquet", "xlsx", "xls", "fdp"]
TableName = Literal["source_people", "events", "spend", "payments"]

# Columns each canonical table cannot do without (the rest may be absent from an extract).
REQUIRED: dict[str, tuple[str, ...]] = {
    "source_people": ("source_id",),
    "events": ("event_id", "activity", "start_at"),
    "spend": ("year", "service", "amount_gbp"),
    "payments": ("amount_gbp",),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_zone(value: str | None) -> str | None:
    if value is not None:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; expected an IANA name such as "
                "'Europe/London' or 'UTC'"
            ) from None
    return value


class ColumnSpec(_Frozen):
    """How one canonical column is filled from an extract."""

    column: str | None = Field(None, description="the source column's name, as in the header")
    value: str | int | float | bool | None = Field(None, description="a constant for every row")
    format: str | None = Field(None, description="strptime format for dates and timestamps")
    map: dict[str, str | None] | None = Field(None, description="source value -> canonical value")

    @model_validator(mode="after")
    def _one_source(self) -> ColumnSpec:
        if (self.column is None) == (self.value is None):
            raise ValueError(
                "give exactly one of 'column' (a source column) or 'value' (a constant)"
            )
        return self


class UnpivotSpec(_Frozen):
    """Wide files (one column per service line) read as one row per (row, column)."""

    columns: list[str] = Field(min_length=1, description="the columns that are service lines")
    name: str = Field("column", description="new column holding each one's header")
    value: str = Field("value", description="new column holding each one's value")


class FileSpec(_Frozen):
    """One extract file and how its columns map to a canonical table."""

    table: TableName
    path: str = Field(description="relative to the place folder")
    format: FileFormat | None = Field(
        None, description="csv, parquet or xlsx; default from the extension"
    )
    encoding: str = Field("auto", description="'auto' detects UTF-8, cp1252 or latin-1")
    delimiter: str | None = Field(None, description="CSV delimiter; default ','")
    sheet: str | None = Field(None, description="XLSX sheet name; required when there are several")
    date_format: str | None = Field(None, description="default strptime format for date columns")
    timezone: str | None = Field(None, description="zone of naive timestamps; default the place's")
    allow_negative: bool = Field(
        False, description="spend only: accept negative amounts (refunds, credits)"
    )
    header_row: int | Literal["last"] | None = Field(
        None,
        description="row (1-based, counting blank lines) holding the header; 'last' when "
        "the header is the file's last row and the data is above it; default: the first "
        "row that is not blank",
    )
    where: dict[str, str | list[str]] | None = Field(
        None, description="read only rows whose column has this value (or one of these)"
    )
    unpivot: UnpivotSpec | None = None
    decimal: Literal[".", ","] = Field(
        ".", description="decimal mark of amounts: ',' for files written 1.234,50"
    )
    amount_scale: int = Field(
        1, gt=0, description="amounts are in units of this many pounds (1000: '£ thousand')"
    )
    measure: str | None = Field(
        None, description="Fiscal Data Package: the one measure to read (default: all)"
    )
    columns: dict[str, str | ColumnSpec]

    _zone = field_validator("timezone")(_check_zone)

    @field_validator("header_row")
    @classmethod
    def _header_row(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, int) and v < 1:
            raise ValueError(f"expected a row number from 1, or 'last'; found {v}")
        return v

    @property
    def needs_layout(self) -> bool:
        """Read through ``ingest.layout`` (header row, selection, unpivot, .xls, FDP)."""
        return (
            self.resolved_format in ("xls", "fdp")
            or self.header_row is not None
            or self.where is not None
            or self.unpivot is not None
        )

    @property
    def resolved_format(self) -> FileFormat:
        if self.format:
            return self.format
        if Path(self.path).name.lower() == "datapackage.json":
            return "fdp"
        suffix = Path(self.path).suffix.lower().lstrip(".")
        return {
            "csv": "csv",
            "txt": "csv",
            "tsv": "csv",
            "parquet": "parquet",
            "pq": "parquet",
            "xlsx": "xlsx",
            "xlsm": "xlsx",
            "xls": "xls",
        }.get(suffix, "csv")  # type: ignore[return-value]

    def column_specs(self) -> dict[str, ColumnSpec]:
        """Every mapping as a ColumnSpec (plain strings become ``ColumnSpec(column=...)``)."""
        return {
            k: (ColumnSpec(column=v) if isinstance(v, str) else v) for k, v in self.columns.items()
        }


class Agency(_Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="short id: lower case, digits, _")
    name: str
    sector: Sector
    files: list[FileSpec] = Field(default_factory=list)


class Period(_Frozen):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class DateRange(_Frozen):
    """Plausible dates: anything outside is rejected as a data error."""

    min: dt.date = dt.date(1900, 1, 1)
    max: dt.date | None = Field(None, description="default: the period's end plus one year")


class Manifest(_Frozen):
    """A validated place manifest. Build it with ``load_manifest``."""

    name: str
    period: Period
    timezone: str = "Europe/London"
    store: str = "place.duckdb"
    price_year: str | None = Field(
        None, description="financial year money is shown in, e.g. '2025/26'"
    )
    plausible_dates: DateRange = DateRange()
    agencies: list[Agency]
    # Stage settings are validated by the stage that owns them; kept here as plain mappings.
    linkage: dict[str, Any] = Field(default_factory=dict)
    demand: dict[str, Any] = Field(default_factory=dict)
    people: dict[str, Any] = Field(default_factory=dict)
    journeys: dict[str, Any] = Field(default_factory=dict)
    money: dict[str, Any] = Field(default_factory=dict)
    appraise: dict[str, Any] = Field(default_factory=dict)
    programmes: list[dict[str, Any]] = Field(default_factory=list)
    report: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    # Where the manifest was read from; set by load_manifest.
    root: Path = Field(Path("."), exclude=True)

    _zone = field_validator("timezone")(_check_zone)

    @model_validator(mode="after")
    def _cross_checks(self) -> Manifest:
        problems = cross_check_problems(self.model_dump(include={"agencies"}))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def max_plausible_date(self) -> dt.date:
        return self.plausible_dates.max or self.period.end.replace(year=self.period.end.year + 1)

    def agency(self, agency_id: str) -> Agency:
        for a in self.agencies:
            if a.id == agency_id:
                return a
        raise KeyError(
            f"no agency {agency_id!r}; agencies: {', '.join(a.id for a in self.agencies)}"
        )

    def files(self) -> list[tuple[Agency, FileSpec]]:
        """Every (agency, file) pair in manifest order."""
        return [(a, f) for a in self.agencies for f in a.files]

    def path_of(self, f: FileSpec) -> Path:
        return (self.root / f.path).resolve()

    @property
    def store_path(self) -> Path:
        return (self.root / self.store).resolve()


def cross_check_problems(data: Any) -> list[str]:
    """Checks across keys (agency ids unique, mapped columns exist, required ones mapped).

    Works on the raw YAML data too, so these problems are reported alongside type errors
    (pydantic skips a model's own checks while any field is invalid).
    """
    problems: list[str] = []
    seen: dict[str, int] = {}
    agencies = data.get("agencies") if isinstance(data, dict) else None
    for i, a in enumerate(agencies if isinstance(agencies, list) else []):
        if not isinstance(a, dict):
            continue
        aid = a.get("id")
        if isinstance(aid, str) and aid in seen:
            problems.append(
                f"agencies[{i}].id: duplicate agency id {aid!r} (also agencies[{seen[aid]}])"
            )
        if isinstance(aid, str):
            seen.setdefault(aid, i)
        files = a.get("files")
        for j, f in enumerate(files if isinstance(files, list) else []):
            if not isinstance(f, dict) or f.get("table") not in CANONICAL:
                continue
            table = CANONICAL[f["table"]]
            columns = f.get("columns") if isinstance(f.get("columns"), dict) else {}
            where = f"agencies[{i}].files[{j}]"
            for col in columns:
                if col not in table.mappable:
                    problems.append(
                        f"{where}.columns.{col}: {table.name} has no column {col!r}; "
                        f"expected one of: {', '.join(table.mappable)}"
                    )
            for col in REQUIRED[table.name]:
                if col not in columns:
                    problems.append(f"{where}.columns: {table.name} needs a mapping for {col!r}")
    return problems


def _loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "ColumnSpec", "function-after[_one_source(), ColumnSpec]"):
            continue  # pydantic's union-branch labels mean nothing to a user
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _pydantic_problems(err: ValidationError) -> list[str]:
    problems: list[str] = []
    for e in err.errors():
        if e["type"] == "string_type" and isinstance(e.get("input"), dict):
            continue  # the mapping form's own error says what is wrong with it
        msg = e["msg"].removeprefix("Value error, ")
        loc = _loc(e["loc"])
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling and indentation)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        if loc == "(top level)" and e["type"] == "value_error":
            continue  # Manifest._cross_checks: load_manifest re-runs them on the raw data
        problems.append(
            f"{loc}: {msg}"
            + (
                ""
                if e["type"] in ("extra_forbidden", "missing", "value_error")
                else f" (found {e.get('input')!r})"
            )
        )
    # A union field reports once per branch; keep the first of identical lines.
    return list(dict.fromkeys(problems))


HeaderReader = Callable[[Path, FileSpec], list[str]]


def load_manifest(path: str | Path, header_reader: HeaderReader | None = None) -> Manifest:
    """Read and validate ``place.yaml`` (or the ``place.yaml`` inside a folder).

    With ``header_reader`` (the ingest stage passes one), every file is also opened and each
    mapped source column checked against its header (see ``check_sources``); without one,
    the extract files are not touched, so later stages work after the extracts are archived.
    All problems are reported together in one ``ManifestError``.

    >>> m = load_manifest("examples/minitown")          # doctest: +SKIP
    >>> [a.id for a in m.agencies]                       # doctest: +SKIP
    ['acute', 'police', 'council']
    """
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST_NAME
    if not p.exists():
        raise ManifestError(str(p), [f"file not found (expected a {MANIFEST_NAME} here)"])
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ManifestError(str(p), [f"not valid YAML: {e}"]) from None
    if not isinstance(data, dict):
        raise ManifestError(
            str(p), [f"expected a mapping at the top level, found {type(data).__name__}"]
        )
    try:
        m = Manifest.model_validate({**data, "root": p.parent.resolve()})
    except ValidationError as e:
        problems = _pydantic_problems(e)
        problems += [q for q in cross_check_problems(data) if q not in problems]
        raise ManifestError(str(p), problems) from None

    if header_reader is not None:
        check_sources(m, header_reader, str(p))
    return m


def check_sources(
    m: Manifest, header_reader: HeaderReader, manifest_path: str | None = None
) -> None:
    """Open every file the manifest names and check its mapped columns against its header.

    A file that cannot be read at all (missing, empty, not the promised format) raises an
    ``InputFileError`` naming it (the first one; the message counts any others). Mapped
    columns the header lacks are all reported together in one ``ManifestError``.
    """
    unreadable: list[tuple[str, str]] = []
    problems: list[str] = []
    for i, a in enumerate(m.agencies):
        for j, f in enumerate(a.files):
            where = f"agencies[{i}].files[{j}]"
            fp = m.path_of(f)
            if not fp.exists():
                unreadable.append(
                    (f.path, f"file not found ({where}.path in place.yaml; looked for {fp})")
                )
                continue
            try:
                header = header_reader(fp, f)
            except InputFileError as e:
                unreadable.append((f.path, e.problem))
                continue
            # DuckDB ignores case in column names, so 'ID' and 'id' are the same column there.
            counts: dict[str, int] = {}
            for h in header:
                counts[h.lower()] = counts.get(h.lower(), 0) + 1
            for col, spec in f.column_specs().items():
                if spec.column is None:
                    continue
                if spec.column not in header:
                    problems.append(
                        f"{where}.columns.{col}: unknown source column {spec.column!r}; "
                        f"available: {', '.join(header)}"
                    )
                elif (n := counts[spec.column.lower()]) > 1:
                    case = (
                        ""
                        if header.count(spec.column) == n
                        else (" (names that differ only in case count as the same column)")
                    )
                    problems.append(
                        f"{where}.columns.{col}: source column {spec.column!r} is ambiguous: the "
                        f"header of {f.path} has it {n} times{case}"
                    )
    if unreadable:
        path, problem = unreadable[0]
        if len(unreadable) > 1:
            others = ", ".join(u[0] for u in unreadable[1:])
            problem += f" (and {len(unreadable) - 1} more file(s) cannot be read: {others})"
        raise InputFileError(path, problem)
    if problems:
        raise ManifestError(manifest_path or str(m.root / MANIFEST_NAME), problems)
