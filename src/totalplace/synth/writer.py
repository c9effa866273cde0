"""Write a synthetic place to disk, byte-for-byte deterministically.

CSV through pyarrow (fixed quoting), Parquet through pyarrow (no timestamps in its
metadata), XLSX through openpyxl with its zip entries and document properties pinned to a
fixed date, so the same seed gives the same bytes. ``place.yaml`` follows
``totalplace.manifest``.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import unicodedata
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from totalplace.errors import TotalplaceError
from totalplace.manifest import MANIFEST_NAME
from totalplace.synth.agencies import AGENCIES
from totalplace.synth.extract import ExtractFile

# Where the place's own transition library goes (journeys stage), and its package source.
TRANSITIONS_LIBRARY = "journeys/transitions.yaml"
LIBRARY_SOURCE = "anytown_transitions.yaml"

FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
FIXED_DOC_TIME = "2020-01-01T00:00:00Z"


def _strip_accent(err: UnicodeEncodeError) -> tuple[str, int]:
    """Encoding error handler: write 'ś' as 's' when the target code page lacks it."""
    bad = err.object[err.start : err.end]
    plain = unicodedata.normalize("NFKD", bad).encode("ascii", "ignore").decode() or "?"
    return plain, err.end


import codecs  # noqa: E402  (registered once, here, next to the handler)

codecs.register_error("totalplace_strip_accent", _strip_accent)


def write_csv(table: pa.Table, path: Path, encoding: str = "utf-8", delimiter: str = ",") -> None:
    buf = io.BytesIO()
    opts = pacsv.WriteOptions(include_header=True, delimiter=delimiter, quoting_style="needed")
    pacsv.write_csv(table, buf, write_options=opts)
    data = buf.getvalue()
    if encoding.lower().replace("-", "") not in ("utf8",):
        data = data.decode("utf-8").encode(encoding, errors="totalplace_strip_accent")
    path.write_bytes(data)


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", write_statistics=True)


def write_xlsx(table: pa.Table, path: Path, sheet: str | None) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet or "Sheet1")
    ws.append(table.column_names)
    cols = [table.column(c).to_pylist() for c in table.column_names]
    for row in zip(*cols, strict=True):
        ws.append(list(row))
    fixed = dt.datetime(2020, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    raw = io.BytesIO()
    wb.save(raw)
    # openpyxl stamps zip entries (and sometimes core.xml) with the current time: pin them.
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(raw.getvalue())) as zin,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", FIXED_DOC_TIME.encode(), data)
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zout.writestr(zi, data)
    path.write_bytes(out.getvalue())


def write_file(f: ExtractFile, root: Path) -> None:
    """Write one extract file under ``root``."""
    path = root / f.path
    path.parent.mkdir(parents=True, exist_ok=True)
    if f.format == "csv":
        write_csv(f.data, path, f.encoding, f.delimiter)
    elif f.format == "parquet":
        write_parquet(f.data, path)
    elif f.format == "xlsx":
        write_xlsx(f.data, path, f.sheet)
    else:
        raise ValueError(f"{f.path}: unknown format {f.format!r}")


def manifest_dict(
    files: list[ExtractFile],
    period: Any,
    price_year: str | None = None,
    people: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``place.yaml`` content for the files (agencies in the order of ``AGENCIES``)."""
    specs = {a.id: a for a in AGENCIES}
    unknown = sorted({f.agency for f in files} - set(specs))
    if unknown:
        raise TotalplaceError(
            f"synthetic files for unknown agencies {unknown}; known: {', '.join(specs)}"
        )
    agencies = []
    for a in AGENCIES:
        mine = [f for f in files if f.agency == a.id]
        if mine:
            agencies.append(
                {
                    "id": a.id,
                    "name": a.name,
                    "sector": a.sector,
                    "files": [f.manifest_entry() for f in mine],
                }
            )
    out: dict[str, Any] = {
        "name": "Anytown",
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "timezone": "Europe/London",
    }
    if price_year:
        out["price_year"] = price_year
    out["agencies"] = agencies
    out["journeys"] = {"transitions": TRANSITIONS_LIBRARY}
    if any(f.agency == "substance" for f in files) and any(f.agency == "acute" for f in files):
        from totalplace.synth.programme import manifest_entries

        out.update(manifest_entries(period.start, period.end))
    if people:
        out["people"] = dict(people)
    return out


def write_place(
    out: Path,
    files: list[ExtractFile],
    truth: dict[str, pa.Table],
    period: Any,
    force: bool = False,
    price_year: str | None = None,
    people: dict[str, Any] | None = None,
    texts: dict[str, str] | None = None,
    extra_files: dict[str, pa.Table] | None = None,
    manifest_extra: dict[str, Any] | None = None,
) -> list[str]:
    """Write every file, ``truth/<name>.parquet`` and ``place.yaml``; return the paths written.

    ``people`` becomes the manifest's ``people:`` settings; ``texts`` are extra text files
    (path relative to the place -> content), e.g. the unit-cost table the place was costed with.
    ``extra_files`` (path -> table, written as CSV) are files a place keeps beside its
    extracts (e.g. a staff-labelled sample); ``manifest_extra`` adds top-level keys to
    ``place.yaml`` (e.g. the ``demand`` settings that point at that sample).
    """
    if out.exists() and any(out.iterdir()):
        if not force:
            raise TotalplaceError(f"{out}: folder is not empty; pass --force to overwrite it")
        if not (out / MANIFEST_NAME).exists() and not (out / "truth").exists():
            raise TotalplaceError(
                f"{out}: not a synthetic place (no {MANIFEST_NAME}); refusing to delete "
                "its contents even with --force"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    seen: set[str] = set()
    for f in files:
        if f.path in seen:
            raise TotalplaceError(f"two synthetic files want the same path {f.path!r}")
        seen.add(f.path)
        write_file(f, out)
        written.append(f.path)
    for rel, content in (texts or {}).items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(rel)
    for path, table in (extra_files or {}).items():
        if path in seen:
            raise TotalplaceError(f"two synthetic files want the same path {path!r}")
        seen.add(path)
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        write_csv(table, out / path)
        written.append(path)
    (out / "truth").mkdir(exist_ok=True)
    for name in sorted(truth):
        write_parquet(truth[name], out / "truth" / f"{name}.parquet")
        written.append(f"truth/{name}.parquet")
    # Anytown's local transition definitions, for the journeys stage (package data).
    lib = out / TRANSITIONS_LIBRARY
    lib.parent.mkdir(exist_ok=True)
    lib.write_bytes(resources.files("totalplace.synth").joinpath(LIBRARY_SOURCE).read_bytes())
    written.append(TRANSITIONS_LIBRARY)
    manifest = manifest_dict(files, period, price_year, people)
    manifest.update(manifest_extra or {})
    text = yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100)
    (out / MANIFEST_NAME).write_text(
        "# Anytown: a synthetic place made by `totalplace synth`.\n" + text, encoding="utf-8"
    )
    written.append(MANIFEST_NAME)
    return written
