"""OpenSpending Fiscal Data Packages: ``datapackage.json`` read with ``frictionless``.

The descriptor (resources, schema, the ``mapping`` of measures and dimensions) is read and
validated by the frictionless library; its findings (a declared byte size the file does
not have, cells that do not fit the schema's types) are kept as notes on the file and shown
in ingest's summary. The data itself is read as text by ingest's own CSV reader, so amounts
stay exact. Measures become rows: the package's measure columns are unpivoted into
``measure`` (the column's name) and ``amount``; ``currency`` and ``fiscal_year`` are added
where the package says them, for the manifest to map like any other column::

    - table: spend
      path: au-budget/datapackage.json
      columns: {year: measure, service: Program, theme: Portfolio, amount_gbp: amount}

``fiscal_year`` comes from a ``date`` dimension's year (a calendar-year budget is labelled
by the financial year that starts in it, e.g. 2012 -> '2012/13'); a measure named like a
financial year ('2014-15') is read as one by the ``year`` rule itself.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

from totalplace.errors import InputFileError
from totalplace.ingest.layout import Grid, csv_grid
from totalplace.manifest import FileSpec, UnpivotSpec

YEAR_RE = re.compile(r"^\s*([0-9]{4})\s*$")


def _package(path: Path):
    from frictionless import FrictionlessException, Package

    try:
        return Package(str(path))
    except FrictionlessException as e:
        raise InputFileError(str(path), f"not a valid data package: {e}") from None


def validation_notes(path: Path) -> list[str]:
    """frictionless's validation of the package, one line per kind of problem."""
    from frictionless import validate

    report = validate(str(path))
    errors = [e for task in report.tasks for e in task.errors] + list(report.errors)
    if not errors:
        return ["frictionless: the data package is valid"]
    by_type: dict[str, list] = collections.defaultdict(list)
    for e in errors:
        by_type[e.type].append(e)
    notes = [f"frictionless: the data package is not valid ({len(errors):,} errors)"]
    for kind, es in by_type.items():
        notes.append(f"frictionless {kind} x{len(es):,}: {es[0].message}")
    return notes


def fdp_grid(path: Path, spec: FileSpec, validate: bool = True) -> tuple[Grid, FileSpec]:
    """The package's data as a grid, and the spec that unpivots its measures."""
    pkg = _package(path)
    desc = pkg.to_descriptor()
    mapping = desc.get("mapping") or {}
    measures: dict = mapping.get("measures") or {}
    if not measures:
        raise InputFileError(
            str(path), "the data package has no mapping.measures; expected a Fiscal Data Package"
        )
    if spec.measure is not None:
        if spec.measure not in measures:
            raise InputFileError(
                str(path), f"measure: no measure {spec.measure!r}; measures: {', '.join(measures)}"
            )
        measures = {spec.measure: measures[spec.measure]}
    res_names = {m.get("resource") for m in measures.values()} - {None}
    if len(res_names) > 1:
        raise InputFileError(str(path), "the measures come from several resources; pick one")
    resource = (
        pkg.get_resource(res_names.pop()) if res_names else pkg.resources[0]  # type: ignore[arg-type]
    )
    data = Path(pkg.basepath or path.parent) / str(resource.path)
    if not data.exists():
        raise InputFileError(str(path), f"the resource's file {resource.path} is missing")
    grid = csv_grid(data, spec.encoding, spec.delimiter)
    if validate:
        grid.notes = validation_notes(path)
    if not grid.rows:
        raise InputFileError(str(data), "is empty")
    header = [str(c).strip() for c in grid.rows[0]]
    sources = [m.get("source", name) for name, m in measures.items()]
    absent = [s for s in sources if s not in header]
    if absent:
        raise InputFileError(str(data), f"measure column(s) {', '.join(absent)} not in the header")
    currencies = {m.get("currency") for m in measures.values()} - {None}
    year_col = None
    for dim in (mapping.get("dimensions") or {}).values():
        for attr_name, attr in (dim.get("attributes") or {}).items():
            if attr_name == "year" and attr.get("source") in header:
                year_col = header.index(attr["source"])
    extra = ["currency", "fiscal_year"]
    rows = [grid.rows[0] + extra]
    for r in grid.rows[1:]:
        fy = None
        if year_col is not None and year_col < len(r):
            m = YEAR_RE.match(str(r[year_col]))
            if m:
                y = int(m.group(1))
                fy = f"{y}/{(y + 1) % 100:02d}"
        pad = [None] * (len(header) - len(r))
        rows.append(list(r) + pad + [",".join(sorted(currencies)) or None, fy])
    grid.rows = rows
    shaped = spec.model_copy(
        update={
            "format": "csv",
            "unpivot": spec.unpivot or UnpivotSpec(columns=sources, name="measure", value="amount"),
        }
    )
    return grid, shaped
