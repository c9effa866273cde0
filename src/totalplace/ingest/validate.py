"""Validation SQL: from one extract's raw rows to canonical values plus reasons to reject.

Every function here is pure: it takes explicit arguments and returns SQL text (DuckDB
dialect), so it can be read and tested without a database. ``file_select_sql`` is the
heart of it: one SELECT that turns the loaded extract (``_tp_row`` plus the source columns)
into the canonical columns, a ``_reason`` (NULL when the row is good; otherwise every problem
found, joined with '; ') and one ``_w_*`` flag per kind of warning (kept rows whose value was
normalised away or flagged). The per-column rules live in ``rules``.
"""

from __future__ import annotations

from totalplace.ingest.rules import (
    MAX_FIELD_CHARS,
    POSTCODE_RE,
    RAW_VALUE_CHARS,
    TEXT_TYPES,
    WARNINGS,
    Context,
    column_sql,
    ident,
    kind_of,
    lit,
    money_sql,
    nhs_valid_sql,
    quoted_sql,
    source_sql,
)
from totalplace.manifest import REQUIRED, ColumnSpec, FileSpec
from totalplace.tables import Table

__all__ = [
    "POSTCODE_RE",
    "WARNINGS",
    "Context",
    "dedupe_sql",
    "empty_sql",
    "file_rejects_sql",
    "file_select_sql",
    "ident",
    "kind_of",
    "lit",
    "money_sql",
    "nhs_valid_sql",
    "raw_json_sql",
    "required_columns",
]


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
