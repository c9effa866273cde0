"""Validation SQL: from one extract's raw rows to canonical values plus reasons to reject.

Every function here is pure: it takes explicit arguments and returns SQL text (DuckDB
dialect), so it can be read and tested without a database. ``file_select_sql`` is the
heart of it: one SELECT that turns the loaded extract (``_tp_row`` plus the source columns)
into the canonical columns, a ``_reason`` (NULL when the row is good; otherwise every problem
found, joined with '; ') and one ``_w_*`` flag per kind of warning (kept rows whose value was
normalised away or flagged).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from totalplace.manifest import REQUIRED, ColumnSpec, FileSpec
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
}


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


def money_sql(t: str) -> str:
    """Money text without £, commas and spaces; '(12.50)' becomes '-12.50'."""
    s = f"regexp_replace({t}, '[£,\\s]', '', 'g')"
    return f"regexp_replace({s}, '^\\((.*)\\)$', '-\\1')"


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
        m = money_sql(t)
        value = f"TRY_CAST({m} AS DECIMAL(18,2))"
        problems.append(
            f"CASE WHEN {t} IS NOT NULL AND NOT regexp_full_match({m}, '-?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)') "
            f"THEN {lit(name + ': ')} || {bad} || ' is not an amount of money (expected a number "
            "such as 1234.56, optionally with £ and commas)' END"
        )
        problems.append(
            f"CASE WHEN regexp_full_match({m}, '-?[0-9]*\\.[0-9]{{2}}[0-9]*[1-9][0-9]*') THEN "
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
        elif not file.allow_negative:
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


def required_columns(table: Table) -> list[str]:
    """Canonical columns that must have a value for a row to load."""
    req = set(REQUIRED[table.name]) | {c.name for c in table.columns if c.required}
    return [c for c in table.mappable if c in req]


def file_select_sql(
    raw_table: str, types: dict[str, str], file: FileSpec, ctx: Context, file_idx: int
) -> str:
    """One SELECT over a loaded extract giving canonical columns, ``_reason`` and warnings.

    Args:
        raw_table: table holding ``_tp_row`` and the source columns.
        types: source column -> DuckDB type.
        file: the manifest's description of the file.
        ctx: agency, target table, place settings.
        file_idx: the file's position in the manifest (kept as ``_file_idx``).
    """
    table = ctx.target
    specs = file.column_specs()
    texts = {name: source_sql(spec, types) for name, spec in specs.items()}
    cols = {
        name: column_sql(
            name,
            kind_of(table, name),
            ident(f"t__{name}"),
            spec,
            file,
            types.get(spec.column or ""),
            ctx,
        )
        for name, spec in specs.items()
    }
    huge = [
        f"CASE WHEN length({ident(c)}) > {MAX_FIELD_CHARS} THEN "
        f"{lit(f'column {c!r} is ')} || format('{{:,}}', length({ident(c)})) || "
        f"' characters long; the limit is {MAX_FIELD_CHARS:,}' END"
        for c, ty in types.items()
        if ty.upper() in TEXT_TYPES
    ]
    problems: list[str] = []
    for name in required_columns(table):
        spec = specs.get(name)
        src = f" (column {spec.column!r} is empty)" if spec is not None and spec.column else ""
        problems.append(
            f"CASE WHEN {ident('t__' + name)} IS NULL THEN "
            f"{lit(f'{name}: required value is missing{src}')} END"
        )
    for c in cols.values():
        problems.extend(c.problems)
    if "start_at" in cols and "end_at" in cols:
        problems.append(
            'CASE WHEN "p__end_at" < "p__start_at" THEN \'end_at: \' || CAST("p__end_at" AS VARCHAR) '
            "|| ' is before start_at ' || CAST(\"p__start_at\" AS VARCHAR) END"
        )
    step1 = ", ".join(
        [ident("_tp_row")]
        + [ident(c) for c in types if c in _needed(specs)]
        + [f"{e} AS {ident('t__' + n)}" for n, e in texts.items()]
        + [f"concat_ws('; ', {', '.join(huge)}) AS _tp_huge" if huge else "'' AS _tp_huge"]
    )
    step2 = ", ".join(["*"] + [f"{c.value} AS {ident('p__' + n)}" for n, c in cols.items()])
    reason = "concat_ws('; ', " + ", ".join(["NULLIF(_tp_huge, '')"] + problems) + ")"
    out = [f"{file_idx} AS _file_idx", f"{lit(ctx.agency)} AS agency"]
    for c in table.columns:
        if c.name == "agency":
            continue
        if c.name == "source_file":
            out.append(f"{lit(ctx.source_file)} AS source_file")
        elif c.name == "source_row":
            out.append("_tp_row AS source_row")
        elif c.name == "nhs_number_valid":
            expr = nhs_valid_sql('"p__nhs_number"') if "nhs_number" in cols else "NULL"
            out.append(f"CAST({expr} AS BOOLEAN) AS nhs_number_valid")
        elif c.name in cols:
            out.append(f"CAST({ident('p__' + c.name)} AS {c.type}) AS {ident(c.name)}")
        else:
            out.append(f"CAST(NULL AS {c.type}) AS {ident(c.name)}")
    out.append(f"NULLIF({reason}, '') AS _reason")
    for kind in WARNINGS:
        conds = [c.warnings[kind] for c in cols.values() if kind in c.warnings]
        out.append(
            f"coalesce({' OR '.join(conds) if conds else 'false'}, false) AS {ident('_w_' + kind)}"
        )
    return (
        f"WITH s1 AS (SELECT {step1} FROM {ident(raw_table)}),\n"
        f"s2 AS (SELECT {step2} FROM s1)\n"
        f"SELECT {', '.join(out)} FROM s2"
    )


def _needed(specs: dict[str, ColumnSpec]) -> set[str]:
    # Typed date columns are read directly (not through their text), so carry them along.
    return {s.column for s in specs.values() if s.column is not None}


def dedupe_sql(candidates: str, table: Table) -> str:
    """Reject second and later occurrences of a key, naming where it was first seen."""
    if not table.key:
        return f"SELECT * FROM {ident(candidates)}"
    part = ", ".join(ident(k) for k in table.key)
    id_col = table.key[-1]
    win = f"OVER (PARTITION BY {part}, (_reason IS NULL) ORDER BY _file_idx, source_row)"
    dup = (
        f"CASE WHEN _reason IS NULL AND {ident(id_col)} IS NOT NULL AND row_number() {win} > 1 THEN "
        f"{lit(id_col + ': duplicate ')} || {quoted_sql(ident(id_col))} || {lit(' for agency ')} || "
        f"{quoted_sql('agency')} || '; first seen in ' || first_value(source_file) {win} || ' row ' || "
        f"CAST(first_value(source_row) {win} AS VARCHAR) END"
    )
    return f"SELECT * REPLACE (coalesce(_reason, {dup}) AS _reason) FROM {ident(candidates)}"


def raw_json_sql(columns: list[str], alias: str = "r") -> str:
    """The raw row as a JSON object of source column -> text (long values cut)."""
    if not columns:
        return "'{}'"
    parts = []
    for c in columns:
        v = f"CAST({alias}.{ident(c)} AS VARCHAR)"
        parts.append(
            f"{lit(c)}, CASE WHEN length({v}) > {RAW_VALUE_CHARS} THEN left({v}, {RAW_VALUE_CHARS}) "
            f"|| format('... ({{:,}} more characters)', length({v}) - {RAW_VALUE_CHARS}) ELSE {v} END"
        )
    return f"CAST(json_object({', '.join(parts)}) AS VARCHAR)"


def file_rejects_sql(
    candidates: str, raw_table: str, columns: list[str], file_idx: int, target: str
) -> str:
    """Rejected rows of one file, joined back to their raw values."""
    return (
        f"SELECT c.agency, {lit(target)} AS target, c.source_file, c.source_row, "
        f"{raw_json_sql(columns)} AS raw, c._reason AS reason "
        f"FROM {ident(candidates)} c JOIN {ident(raw_table)} r ON r._tp_row = c.source_row "
        f"WHERE c._file_idx = {file_idx} AND c._reason IS NOT NULL"
    )


def empty_sql(table: Table) -> str:
    """An empty result with ``table``'s columns and types."""
    cols = ", ".join(f"CAST(NULL AS {c.type}) AS {ident(c.name)}" for c in table.columns)
    return f"SELECT {cols} LIMIT 0"
