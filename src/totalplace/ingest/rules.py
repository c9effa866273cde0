"""Column rules: how each canonical column is parsed, checked and normalised, as SQL.

Every function here is pure: explicit arguments in, DuckDB SQL text out, so it can be read
and tested without a database. ``column_sql`` gives, for one canonical column, its value,
the problems that reject a row, and the warnings that keep a row but flag it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from totalplace.manifest import ColumnSpec, FileSpec
from totalplace.tables import Table

MAX_FIELD_CHARS = 100_000
RAW_VALUE_CHARS = 1_000  # rejects keep at most this much of each raw value
WHITESPACE = " \t\r\n\u00a0\ufeff"
TIME_DIRECTIVES = re.compile(r"%[HIMSTRXcfpz]")
ISO_DATETIMES = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
)
TEXT_TYPES = ("VARCHAR",)
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")
DATE_TYPES = (
    "DATE",
    "TIMESTAMP",
    "TIMESTAMP_NS",
    "TIMESTAMP_MS",
    "TIMESTAMP_S",
    "TIMESTAMP WITH TIME ZONE",
)

# Sex as written -> F / M / X; anything else becomes NULL with a warning. NHS codes:
# 1 male, 2 female, 9 indeterminate, 0 not known.
SEX_VALUES: dict[str, str | None] = {
    "F": "F",
    "FEMALE": "F",
    "W": "F",
    "WOMAN": "F",
    "GIRL": "F",
    "2": "F",
    "M": "M",
    "MALE": "M",
    "MAN": "M",
    "BOY": "M",
    "1": "M",
    "X": "X",
    "I": "X",
    "INDETERMINATE": "X",
    "OTHER": "X",
    "NON-BINARY": "X",
    "9": "X",
    "U": None,
    "UNKNOWN": None,
    "NOT KNOWN": None,
    "NOT STATED": None,
    "N/K": None,
    "0": None,
}

# Warnings: the row is kept, the value is flagged or set to NULL; counted per file.
WARNINGS: dict[str, str] = {
    "nhs_invalid": "NHS numbers fail the modulus-11 check (kept, flagged, not used for linkage)",
    "postcode_invalid": "postcodes are not in UK format (set to NULL)",
    "sex_unknown": "sex values are not recognised (set to NULL)",
    "uprn_invalid": "UPRNs are not 1-12 digits (set to NULL)",
    "category_unknown": "spend categories are not 'front line', 'support' or 'buildings' (kept as written)",
    "date_lost": "payment dates are missing or only a time such as 00:00:00 (kept without a date, never invented)",
}
BARE_TIME_RE = "[0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?"


def lit(value: object) -> str:
    """A SQL string literal (NULL for None)."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quoted_sql(expr: str, n: int = 60) -> str:
    """SQL giving ``'value'`` (cut to ``n`` characters) for use in a reason."""
    return (
        f"('''' || left({expr}, {n}) || CASE WHEN length({expr}) > {n} THEN '...' "
        "ELSE '' END || '''')"
    )


@dataclass(frozen=True)
class Context:
    """What validation needs beyond the file itself."""

    agency: str
    target: Table
    source_file: str  # path relative to the place, as shown to users
    timezone: str
    min_date: dt.date
    max_date: dt.date
    today: dt.date


def text_sql(column: str, col_type: str) -> str:
    """A source column as trimmed text; empty becomes NULL."""
    v = ident(column)
    if col_type.upper() in FLOAT_TYPES:
        # Floats from Parquet/Excel: drop binary noise (0.30000000000000004) but keep real digits.
        v = (
            f"CASE WHEN abs({v} - round({v}, 2)) < 1e-6 THEN CAST(round({v}, 2) AS VARCHAR) "
            f"ELSE CAST({v} AS VARCHAR) END"
        )
    elif col_type.upper() not in TEXT_TYPES:
        v = f"CAST({v} AS VARCHAR)"
    return f"NULLIF(trim({v}, {lit(WHITESPACE)}), '')"


def source_sql(spec: ColumnSpec, types: dict[str, str]) -> str:
    """The text a canonical column starts from: the source column (mapped) or a constant."""
    if spec.column is None:
        return lit(spec.value if not isinstance(spec.value, bool) else str(spec.value).lower())
    expr = text_sql(spec.column, types[spec.column])
    if spec.map:
        whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in spec.map.items())
        expr = f"(CASE {expr} {whens} ELSE {expr} END)"
    return expr


def kind_of(table: Table, name: str) -> str:
    """How a canonical column is parsed and checked."""
    if name in ("nhs_number", "postcode", "sex", "uprn"):
        return name
    if table.name == "spend" and name == "category":
        return "category"
    if table.name == "spend" and name == "year":
        return "financial_year"
    if table.name == "payments" and name == "payment_date":
        return "payment_date"
    col_type = table.column(name).type
    if col_type == "DATE":
        return "date"
    if col_type == "TIMESTAMP":
        return "timestamp"
    if col_type.startswith("DECIMAL"):
        return "money"
    return "text"


def _is_dated(col_type: str | None) -> bool:
    return (col_type or "").upper() in DATE_TYPES


def date_parse_sql(t: str, fmt: str) -> str:
    """Parse text ``t`` as a DATE with strptime format ``fmt`` (NULL if it does not fit)."""
    return f"CAST(try_strptime({t}, {lit(fmt)}) AS DATE)"


def timestamp_parse_sql(t: str, fmt: str | None, file_level: bool, tz: str) -> str:
    """Parse text ``t`` as a UTC TIMESTAMP.

    Values with a time of day are read in zone ``tz`` and converted to UTC; values with an
    explicit offset (``%z``) keep it; values that are only a date are midnight of that date
    (not shifted, so the day stays the day the source wrote).
    """

    def local(fmts: list[str]) -> str:
        arr = "[" + ", ".join(lit(f) for f in fmts) + "]"
        return f"timezone('UTC', timezone({lit(tz)}, try_strptime({t}, {arr})))"

    if fmt is None:
        # ISO 8601: local time, or with an offset ('Z' is UTC), or a date alone.
        zoned = "[" + ", ".join(lit(f + "%z") for f in ISO_DATETIMES[:4]) + "]"
        offset = f"timezone('UTC', try_strptime(regexp_replace({t}, 'Z$', '+00:00'), {zoned}))"
        return f"coalesce({local(list(ISO_DATETIMES))}, {offset}, try_strptime({t}, '%Y-%m-%d'))"
    if "%z" in fmt or "%Z" in fmt:
        return f"timezone('UTC', try_strptime({t}, {lit(fmt)}))"
    if TIME_DIRECTIVES.search(fmt):
        return local([fmt])
    if file_level:  # a file's date_format also reads "date time" values in that file
        with_time = [fmt + " %H:%M:%S", fmt + " %H:%M", fmt + "T%H:%M:%S"]
        return f"coalesce({local(with_time)}, try_strptime({t}, {lit(fmt)}))"
    return f"try_strptime({t}, {lit(fmt)})"


def money_sql(t: str, decimal: str = ".") -> str:
    """Money text as a plain signed number: without £, spaces and thousands separators;
    '(12.50)' and the finance systems' trailing minus '12.50-' become '-12.50'; with
    ``decimal=','`` (a file that declares it) '1.234,50' becomes '1234.50'."""
    if decimal == ",":
        s = f"replace(regexp_replace({t}, '[£.\\s\u00a0]', '', 'g'), ',', '.')"
    else:
        s = f"regexp_replace({t}, '[£,\\s\u00a0]', '', 'g')"
    s = f"regexp_replace({s}, '^\\((.*)\\)$', '-\\1')"
    return f"regexp_replace({s}, '^([^-].*)-$', '-\\1')"


def nhs_valid_sql(n: str) -> str:
    """True when ``n`` is 10 digits, not all the same, and its check digit is right."""
    weighted = " + ".join(f"CAST(substr({n}, {i}, 1) AS INTEGER) * {11 - i}" for i in range(1, 10))
    return (
        f"CASE WHEN {n} IS NULL THEN NULL "
        f"WHEN NOT regexp_full_match({n}, '[0-9]{{10}}') THEN false "
        f"WHEN replace({n}, left({n}, 1), '') = '' THEN false "
        f"ELSE (11 - (({weighted}) % 11)) % 11 = CAST(substr({n}, 10, 1) AS INTEGER) END"
    )


POSTCODE_RE = "[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}"


@dataclass
class ColumnSql:
    """One canonical column: its value, the problems that reject a row, the warnings."""

    value: str
    problems: list[str]
    warnings: dict[str, str]  # warning kind -> condition


def column_sql(
    name: str,
    kind: str,
    t: str,
    spec: ColumnSpec,
    file: FileSpec,
    col_type: str | None,
    ctx: Context,
) -> ColumnSql:
    """SQL for canonical column ``name`` from its (already trimmed and mapped) text ``t``.

    The parsed value is referenced as ``"p__<name>"`` in problems, so the caller must
    compute values in one CTE and problems in the next.
    """
    p = ident(f"p__{name}")
    bad = quoted_sql(t)
    problems: list[str] = []
    warnings: dict[str, str] = {}
    if kind == "payment_date":
        # A date the publisher lost ('00:00:00', or nothing) is kept as NULL and flagged;
        # text that is not a date at all (or an impossible one) still rejects the row.
        lost = f"({t} IS NULL OR regexp_full_match({t}, {lit(BARE_TIME_RE)}))"
        inner = f"CASE WHEN regexp_full_match({t}, {lit(BARE_TIME_RE)}) THEN NULL ELSE {t} END"
        out = column_sql(name, "date", inner, spec, file, col_type, ctx)
        out.warnings["date_lost"] = lost if not _is_dated(col_type) else f"{p} IS NULL"
        return out
    if kind in ("date", "timestamp"):
        fmt = spec.format or file.date_format
        if _is_dated(col_type):
            value = (
                f"CAST({ident(spec.column or '')} AS DATE)"
                if kind == "date"
                else _typed_timestamp_sql(ident(spec.column or ""), col_type or "", ctx.timezone)
            )
        elif kind == "date":
            value = (
                date_parse_sql(t, fmt)
                if fmt
                # ISO 8601, with or without a time
                else f"CAST(try_strptime({t}, ['%Y-%m-%d', '%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%S']) AS DATE)"
            )
        else:
            value = timestamp_parse_sql(t, fmt, spec.format is None, ctx.timezone)
        what = "date" if kind == "date" else "date/time"
        shown = fmt or ("%Y-%m-%d" if kind == "date" else "ISO 8601, e.g. 2024-05-01 14:30:00")
        problems.append(
            f"CASE WHEN {t} IS NOT NULL AND {p} IS NULL THEN "
            f"{lit(name + ': ')} || {bad} || {lit(f' is not a {what} in the format {shown!r}')} END"
        )
        day = f"CAST({p} AS DATE)"
        problems.append(
            f"CASE WHEN {day} < {lit(ctx.min_date)} THEN {lit(name + ': ')} || "
            f"CAST({day} AS VARCHAR) || {lit(f' is before the earliest plausible date {ctx.min_date}')} END"
        )
        problems.append(
            f"CASE WHEN {day} > {lit(ctx.max_date)} THEN {lit(name + ': ')} || "
            f"CAST({day} AS VARCHAR) || {lit(f' is after the latest plausible date {ctx.max_date}')} END"
        )
        if name == "dob":
            problems.append(
                f"CASE WHEN {day} > {lit(ctx.today)} AND {day} <= {lit(ctx.max_date)} THEN "
                f"'dob: ' || CAST({day} AS VARCHAR) || ' is in the future' END"
            )
        return ColumnSql(value, problems, warnings)
    if kind == "money":
        m = money_sql(t, file.decimal)
        value = f"TRY_CAST({m} AS DECIMAL(18,2))"
        if file.amount_scale != 1:
            # Figures in thousands of pounds: scaled exactly, then rounded to the penny
            # (spreadsheet formulas leave sub-penny digits in such figures).
            value = (
                f"TRY_CAST(round(TRY_CAST({m} AS DECIMAL(38,12)) * {int(file.amount_scale)}, 2) "
                "AS DECIMAL(18,2))"
            )
        problems.append(
            f"CASE WHEN {t} IS NOT NULL AND NOT regexp_full_match({m}, '-?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)') "
            f"THEN {lit(name + ': ')} || {bad} || ' is not an amount of money (expected a number "
            "such as 1234.56, optionally with £ and commas)' END"
        )
        problems.append(
            "NULL"
            if file.amount_scale != 1
            else f"CASE WHEN regexp_full_match({m}, '-?[0-9]*\\.[0-9]{{2}}[0-9]*[1-9][0-9]*') THEN "
            f"{lit(name + ': ')} || {bad} || ' has more than 2 decimal places (pounds and pence)' END"
        )
        problems.append(
            f"CASE WHEN regexp_full_match({m}, '-?[0-9]+(\\.[0-9]*)?') AND {p} IS NULL THEN "
            f"{lit(name + ': ')} || {bad} || ' is too large (at most 16 digits before the point)' END"
        )
        if name == "cost_gbp":
            problems.append(
                f"CASE WHEN {p} < 0 THEN 'cost_gbp: ' || CAST({p} AS VARCHAR) || "
                "' is negative; a cost cannot be negative' END"
            )
        elif not file.allow_negative and ctx.target.name != "payments":
            problems.append(
                f"CASE WHEN {p} < 0 THEN {lit(name + ': ')} || CAST({p} AS VARCHAR) || "
                "' is negative; if this file has refunds or credits set allow_negative: true "
                "for it in place.yaml' END"
            )
        return ColumnSql(value, problems, warnings)
    if kind == "nhs_number":
        value = f"regexp_replace({t}, '[\\s-]', '', 'g')"
        warnings["nhs_invalid"] = f"{p} IS NOT NULL AND NOT {nhs_valid_sql(p)}"
        return ColumnSql(value, problems, warnings)
    if kind == "postcode":
        u = f"upper(regexp_replace({t}, '\\s', '', 'g'))"
        value = (
            f"CASE WHEN regexp_full_match({u}, {lit(POSTCODE_RE)}) "
            f"THEN left({u}, length({u}) - 3) || ' ' || right({u}, 3) END"
        )
        warnings["postcode_invalid"] = f"{t} IS NOT NULL AND {p} IS NULL"
        return ColumnSql(value, problems, warnings)
    if kind == "sex":
        u = f"upper({t})"
        whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in SEX_VALUES.items())
        value = f"(CASE {u} {whens} END)"
        known = ", ".join(lit(k) for k in SEX_VALUES)
        warnings["sex_unknown"] = f"{t} IS NOT NULL AND {u} NOT IN ({known})"
        return ColumnSql(value, problems, warnings)
    if kind == "uprn":
        u = f"regexp_replace({t}, '\\s', '', 'g')"
        value = f"CASE WHEN regexp_full_match({u}, '[0-9]{{1,12}}') THEN {u} END"
        warnings["uprn_invalid"] = f"{t} IS NOT NULL AND {p} IS NULL"
        return ColumnSql(value, problems, warnings)
    if kind == "category":
        # Spend categories drive the money analysis, so common spellings are made one.
        u = f"lower(regexp_replace({t}, '[\\s_-]+', ' ', 'g'))"
        value = (
            f"CASE WHEN {u} IN ('front line', 'frontline') THEN 'front line' "
            f"WHEN {u} = 'support' THEN 'support' "
            f"WHEN {u} IN ('buildings', 'building') THEN 'buildings' ELSE {t} END"
        )
        warnings["category_unknown"] = (
            f"{t} IS NOT NULL AND {u} NOT IN "
            "('front line', 'frontline', 'support', 'buildings', 'building')"
        )
        return ColumnSql(value, problems, warnings)
    if kind == "financial_year":
        rx = "'^([0-9]{4})\\s*[/-]\\s*([0-9]{2}|[0-9]{4})$'"
        y1 = f"TRY_CAST(regexp_extract({t}, {rx}, 1) AS INTEGER)"
        y2 = f"TRY_CAST(regexp_extract({t}, {rx}, 2) AS INTEGER)"
        value = (
            f"CASE WHEN {y2} IN ({y1} + 1, ({y1} + 1) % 100) "
            f"THEN CAST({y1} AS VARCHAR) || '/' || lpad(CAST(({y1} + 1) % 100 AS VARCHAR), 2, '0') END"
        )
        problems.append(
            f"CASE WHEN {t} IS NOT NULL AND {p} IS NULL THEN {lit(name + ': ')} || {bad} || "
            "' is not a financial year (expected e.g. ''2024/25'')' END"
        )
        return ColumnSql(value, problems, warnings)
    return ColumnSql(t, problems, warnings)


def _typed_timestamp_sql(col: str, col_type: str, tz: str) -> str:
    if col_type.upper() == "TIMESTAMP WITH TIME ZONE":
        return f"timezone('UTC', {col})"
    if col_type.upper() == "DATE":
        return f"CAST({col} AS TIMESTAMP)"
    return f"timezone('UTC', timezone({lit(tz)}, CAST({col} AS TIMESTAMP)))"
