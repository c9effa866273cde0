"""One file an agency hands over, described well enough to write it and to map it.

Both halves of the generator return their outputs as :class:`ExtractFile` objects;
``generate`` writes them and ``manifest_writer`` turns their ``columns`` into ``place.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa


@dataclass
class ExtractFile:
    """A file in an agency's extract.

    Attributes:
        agency: agency id (see ``agencies.AGENCIES``).
        table: canonical table it maps to: 'source_people', 'events' or 'spend'.
        path: path relative to the place folder, e.g. 'acute/ae_attendances.csv'.
        data: the rows exactly as they go into the file: every column already formatted as
            the agency writes it (dates as strings in the agency's format for CSV/XLSX; real
            date / timestamp / decimal types are fine for Parquet).
        columns: place.yaml mapping: canonical column -> source column name, or a dict
            ``{"column": ..., "format": ..., "map": {...}}`` / ``{"value": ...}``.
        format: 'csv', 'parquet' or 'xlsx'.
        encoding: for CSV: 'utf-8' (default) or e.g. 'cp1252'.
        delimiter: for CSV; default ','.
        date_format: default strptime format of the file's date columns (None if not needed).
        sheet: XLSX sheet name.
    """

    agency: str
    table: Literal["source_people", "events", "spend"]
    path: str
    data: pa.Table
    columns: dict[str, Any]
    format: Literal["csv", "parquet", "xlsx"] = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    date_format: str | None = None
    sheet: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def manifest_entry(self) -> dict[str, Any]:
        """This file's entry under ``agencies[].files`` in place.yaml."""
        entry: dict[str, Any] = {"table": self.table, "path": self.path}
        if self.format != "csv" or not self.path.endswith(".csv"):
            entry["format"] = self.format
        if self.format == "csv" and self.encoding.lower() not in ("utf-8", "utf8"):
            entry["encoding"] = self.encoding
        if self.format == "csv" and self.delimiter != ",":
            entry["delimiter"] = self.delimiter
        if self.sheet:
            entry["sheet"] = self.sheet
        if self.date_format:
            entry["date_format"] = self.date_format
        entry["columns"] = dict(self.columns)
        return entry
