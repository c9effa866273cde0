"""What the readers share: the loaded-extract record, header names, small table helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from totalplace.engine import Engine
from totalplace.errors import InputFileError
from totalplace.ingest.rules import ident


@dataclass
class Loaded:
    """One extract loaded into the engine."""

    table: str  # _tp_row + the source columns
    columns: list[str]  # source column names, as in ``table``
    types: dict[str, str]  # source column -> DuckDB type
    parse_rejects: str  # table of rows that did not fit the header: _tp_row, raw, reason
    encoding: str | None = None
    blank_rows: int = 0
    # Rows a declared selection (``where:``) left out: read, but not meant for this place.
    not_selected: int = 0
    # Table of the rows as written, when ``table`` is reshaped (unpivoted); else ``table``.
    raw_table: str | None = None
    # What the reader noticed about the file as a whole (e.g. a data package's validation).
    notes: list[str] = field(default_factory=list)


def clean_names(names: list[object]) -> list[str]:
    """Header cells as names: whitespace and BOMs stripped, blanks named ``column<N>``."""
    out = []
    for i, n in enumerate(names, 1):
        s = "" if n is None else str(n).strip(" \t\r\n\u00a0\ufeff")
        out.append(s or f"column{i}")
    return out


def unique_names(names: list[str]) -> list[str]:
    """Repeated names get a suffix (``Date``, ``Date_2``) so every column can be read.

    Names that differ only in case (``ID``, ``id``) are repeats too: DuckDB ignores case.
    """
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n.lower()] = seen.get(n.lower(), 0) + 1
        out.append(n if seen[n.lower()] == 1 else f"{n}_{seen[n.lower()]}")
    return out


def check_not_empty(path: Path) -> None:
    if not path.exists():
        raise InputFileError(str(path), "file not found")
    if path.stat().st_size == 0:
        raise InputFileError(
            str(path), "file is empty (0 bytes); expected a header row naming the columns"
        )


def empty_rejects(engine: Engine, name: str) -> str:
    pr = f"{name}_pr"
    engine.run(
        f"CREATE OR REPLACE TEMP TABLE {ident(pr)} (_tp_row BIGINT, raw VARCHAR, reason VARCHAR)"
    )
    return pr


def column_types(engine: Engine, table: str) -> dict[str, str]:
    t = engine.query(f"DESCRIBE {ident(table)}")
    return {
        n: ty
        for n, ty in zip(
            t.column("column_name").to_pylist(), t.column("column_type").to_pylist(), strict=True
        )
        if n != "_tp_row"
    }


def insert_arrow(engine: Engine, name: str, t: pa.Table) -> None:
    view = f"{name}_arrow"
    engine.register(view, t)
    try:
        engine.run(f"INSERT INTO {ident(name)} SELECT * FROM {ident(view)}")
    finally:
        engine.run(f"DROP VIEW IF EXISTS {ident(view)}")


def append_rejects(engine: Engine, pr: str, rejects: list[tuple[int, str, str]]) -> None:
    r, raw, why = zip(*rejects, strict=True)
    insert_arrow(
        engine,
        pr,
        pa.table(
            {
                "_tp_row": pa.array(r, pa.int64()),
                "raw": pa.array(raw, pa.string()),
                "reason": pa.array(why, pa.string()),
            }
        ),
    )
