"""Link lists of people without a place: ``totalplace link-files A.csv B.csv --out DIR``.

>>> summary = link_files([Path("fsm.csv"), Path("benefits.csv")], id_cols=["ID"],
...     maps=["given_name=FORENAME,family_name=SURNAME,dob=DOB,postcode=POSTCODE"],
...     dob_formats=[], engine="duckdb", out=Path("matched"))      # doctest: +SKIP
>>> summary["clusters"]                                            # doctest: +SKIP
1873

Each file is read with DuckDB's CSV/Parquet readers (every column as text), its columns
renamed by ``--map`` to the canonical ``source_people`` names, and all files are linked
together with exactly the settings, training and clustering of the place stage
(``pipeline.run_linkage``), so duplicates within one file are found too. Writes:

- ``OUT/clusters.csv``: file, id, person_id, match_probability (one row per input row
  kept); ``person_id`` numbers clusters P0000001... by their first record.
- ``OUT/rejects.csv`` (only when rows are rejected): file, row_number, reason.
- ``OUT/summary.json``: records, rejected, pairs compared, clusters, the threshold and
  the model's estimated precision and recall, the dob format used per file, timings.
- ``OUT/model.json``: the trained Splink model.
"""

from __future__ import annotations

import csv
import difflib
import importlib
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from totalplace.errors import InputFileError, TotalplaceError
from totalplace.link.model import LinkageOptions
from totalplace.link.pipeline import run_linkage, work_connection
from totalplace.link.prepare import prepare_sql, register_nicknames, strip_suffix_sql

MAPPABLE = (
    "full_name",
    "given_name",
    "middle_names",
    "family_name",
    "dob",
    "postcode",
    "address",
    "nhs_number",
    "sex",
    "email",
    "phone",
    "uprn",
)

# Tried in order when no --dob-format is given; the one parsing most values wins, and on a
# tie the earlier (UK day-first before US month-first) does.
DOB_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%Y%m%d",
    "%d/%m/%y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%Y/%m/%d",
    "%m/%d/%Y",
)

SEX_SQL = """CASE
  WHEN upper(trim({c})) IN ('F', 'FEMALE', '2', 'W', 'WOMAN', 'GIRL') THEN 'F'
  WHEN upper(trim({c})) IN ('M', 'MALE', '1', 'MAN', 'BOY') THEN 'M'
  WHEN upper(trim({c})) IN ('X', 'I', 'INDETERMINATE', 'OTHER') THEN 'X' END"""


class LinkFilesError(ValueError, TotalplaceError):
    """A ``link-files`` option or input that cannot work; says what and what was expected."""


# A mapped name that is not canonical is an extra column (compared as free text) when it is
# a plain identifier and not a likely misspelling of a canonical name.
EXTRA_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Besides names, linking needs something that tells people of the same name apart.
DISTINGUISHING = ("dob", "postcode", "address", "nhs_number", "email", "phone", "uprn")


def parse_map(text: str) -> dict[str, str]:
    """``given_name=FORENAME,dob=DOB`` -> {"given_name": "FORENAME", "dob": "DOB"}.

    Keys are the canonical names (``MAPPABLE``) or any other lower-case name
    (``birth_place=POB``), which is linked as an extra free-text column.
    """
    out: dict[str, str] = {}
    for part in [p for p in text.split(",") if p.strip()]:
        if "=" not in part:
            raise LinkFilesError(
                f"--map: expected name=COLUMN pairs separated by commas; found {part!r}"
            )
        key, col = (s.strip() for s in part.split("=", 1))
        if not col:
            raise LinkFilesError(f"--map: {key!r} has no column after '='")
        if key not in MAPPABLE:
            near = difflib.get_close_matches(key, MAPPABLE, n=1, cutoff=0.75)
            if near or not EXTRA_KEY.fullmatch(key):
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise LinkFilesError(
                    f"--map: unknown name {key!r}{hint}; expected one of: "
                    f"{', '.join(MAPPABLE)}, or an extra column named in lower-case letters, "
                    "digits and _"
                )
        if key in out:
            raise LinkFilesError(f"--map: {key!r} is mapped twice")
        out[key] = col
    if not out:
        raise LinkFilesError("--map: no columns mapped")
    return out


def _per_file(values: list[str], n: int, what: str) -> list[str | None]:
    if not values:
        return [None] * n
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise LinkFilesError(
            f"{what}: give it once for all files or once per file ({n}); found {len(values)}"
        )
    return list(values)


def read_sql(path: Path) -> str:
    """A DuckDB table function reading ``path`` with every column as text."""
    suffix = path.suffix.lower()
    p = str(path).replace("'", "''")
    if suffix in (".parquet", ".pq"):
        return f"read_parquet('{p}')"
    if suffix in (".csv", ".txt", ".tsv"):
        with open(path, "rb") as f:
            head = f.read(65536)
        if not head.strip():
            raise InputFileError(str(path), "is empty; expected a header row and records")
        if b"\x00" in head:
            raise InputFileError(
                str(path), "is not a text file (it holds binary data); expected CSV text"
            )
        return f"read_csv('{p}', all_varchar = true, header = true)"
    raise InputFileError(str(path), f"unsupported file type {suffix!r}; expected .csv or .parquet")


def detect_dob_format_sql(table: str, col: str) -> str:
    parts = [
        f"SELECT '{f}' AS fmt, {i} AS ord, count(try_strptime(CAST({col} AS VARCHAR), '{f}')) AS n "
        f"FROM {table}"
        for i, f in enumerate(DOB_FORMATS)
    ]
    return " UNION ALL ".join(parts) + " ORDER BY n DESC, ord LIMIT 1"


def _dob_format(con, view: str, path: Path, col: str, fmt: str | None) -> str | None:
    """The dob format to use: the one given (checked), or the one parsing the most values."""
    qc = _q(col)
    values = con.sql(
        f"SELECT count(nullif(trim(CAST({qc} AS VARCHAR)), '')) FROM {view}"
    ).fetchall()[0][0]
    if values == 0:
        return fmt
    example = con.sql(
        f"SELECT any_value(CAST({qc} AS VARCHAR)) FROM {view} "
        f"WHERE nullif(trim(CAST({qc} AS VARCHAR)), '') IS NOT NULL"
    ).fetchall()[0][0]
    if fmt is None:
        got = con.sql(detect_dob_format_sql(view, qc)).fetchall()
        if got and got[0][2]:
            return got[0][0]
        raise InputFileError(
            str(path),
            f"no known date format parses column {col!r} (e.g. {example!r}); "
            "give its format with --dob-format, e.g. --dob-format %d/%m/%Y",
        )
    fmt_sql = fmt.replace("'", "''")
    try:
        parsed = con.sql(
            f"SELECT count(try_strptime(CAST({qc} AS VARCHAR), '{fmt_sql}')) FROM {view}"
        ).fetchall()[0][0]
    except duckdb.Error:
        parsed = 0
    if parsed == 0:
        raise InputFileError(
            str(path),
            f"--dob-format {fmt!r} parses none of the {values:,} dates in column {col!r} "
            f"(e.g. {example!r}); leave --dob-format out to detect the format",
        )
    return fmt


# Only a year known: "1970", "00/00/1970", "1970-00-00". Recorded as 1 January of the year
# (the dob comparison has a level for it); years before 1890 are placeholders for "unknown".
YEAR_ONLY = r"(0{1,2}[-/. ]0{1,2}[-/. ])?((18|19|20)[0-9]{2})([-/. ]0{1,2}[-/. ]0{1,2})?"


def year_only_sql(v: str) -> str:
    year = f"CAST(regexp_extract(trim({v}), '((18|19|20)[0-9]{{2}})', 1) AS INTEGER)"
    return (
        f"CASE WHEN regexp_full_match(trim({v}), '{YEAR_ONLY}') AND {year} >= 1890 "
        f"THEN make_date({year}, 1, 1) END"
    )


def full_name_sql(v: str) -> tuple[str, str]:
    """(given, family) from one name column: ``SMITH, John`` or ``John Smith``."""
    x = strip_suffix_sql(f"trim({v})")
    given = (
        f"nullif(trim(CASE WHEN contains({x}, ',') THEN split_part({x}, ',', 2) "
        f"ELSE regexp_replace({x}, '\\s*\\S+$', '') END), '')"
    )
    family = (
        f"nullif(trim(CASE WHEN contains({x}, ',') THEN split_part({x}, ',', 1) "
        f"ELSE regexp_extract({x}, '(\\S+)$', 1) END), '')"
    )
    return given, family


def effective_mapping(mapping: dict[str, str]) -> dict[str, str]:
    """The canonical columns a mapping fills (``full_name`` fills given and family name)."""
    if "full_name" not in mapping:
        return dict(mapping)
    both = [k for k in ("given_name", "family_name") if k in mapping]
    if both:
        raise LinkFilesError(
            f"--map: full_name and {' and '.join(both)} both mapped; map either the one name "
            "column (full_name) or the separate ones"
        )
    out = {k: v for k, v in mapping.items() if k != "full_name"}
    out["given_name"] = out["family_name"] = mapping["full_name"]
    return out


def canonical_sql(
    table: str, label: str, id_col: str, mapping: dict[str, str], dob_format: str | None
) -> str:
    """Rows of one file in ``source_people`` shape (agency = the file's label)."""
    q = _q
    cols = [f"'{label}' AS agency", f"trim(CAST({q(id_col)} AS VARCHAR)) AS source_id"]
    for key, src in mapping.items():
        v = f"CAST({q(src)} AS VARCHAR)"
        if key == "full_name":
            given, family = full_name_sql(v)
            cols += [f"{given} AS given_name", f"{family} AS family_name"]
            continue
        if key == "dob":
            parsed = (
                f"CAST(try_strptime({v}, '{dob_format}') AS DATE)"
                if dob_format
                else f"TRY_CAST({q(src)} AS DATE)"
            )
            expr = f"coalesce({parsed}, {year_only_sql(v)})"
        elif key == "sex":
            expr = SEX_SQL.format(c=v)
        else:
            expr = f"nullif(trim({v}), '')"
        cols.append(f"{expr} AS {key}")
    return f"SELECT row_number() OVER () AS row_number, {', '.join(cols)} FROM {table}"


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _labels(files: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for f in files:
        base = "".join(ch if ch.isalnum() else "_" for ch in f.stem.lower()) or "file"
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return out


def load_files(
    con, files: list[Path], id_cols: list[str], maps: list[str], dob_formats: list[str]
) -> tuple[pa.Table, list[dict[str, Any]], list[dict[str, Any]]]:
    """Read, map and check every file; returns (records, per-file info, rejected rows)."""
    n = len(files)
    ids, mps, fmts = (
        _per_file(id_cols, n, "--id-col"),
        _per_file(maps, n, "--map"),
        _per_file(dob_formats, n, "--dob-format"),
    )
    labels = _labels(files)
    parts, info, rejects = [], [], []
    for i, path in enumerate(files):
        if ids[i] is None:
            raise InputFileError(
                str(path), "no --id-col given (the column that identifies each row)"
            )
        if mps[i] is None:
            raise InputFileError(str(path), "no --map given (which columns hold names, dob, ...)")
        mapping = parse_map(mps[i])
        effective_mapping(mapping)  # fails early on full_name mapped with given_name
        view = f"_tp_file_{i}"
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {view} AS SELECT * FROM {read_sql(path)}")
        except duckdb.Error as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputFileError(
                str(path), f"cannot be read as {path.suffix.lstrip('.') or 'CSV'}: {first[:200]}"
            ) from None
        header = [r[0] for r in con.sql(f"DESCRIBE {view}").fetchall()]
        n_rows = con.sql(f"SELECT count(*) FROM {view}").fetchall()[0][0]
        if n_rows == 0:
            raise InputFileError(str(path), "has a header but no records")
        missing = [c for c in [ids[i], *mapping.values()] if c not in header]
        if missing:
            raise InputFileError(
                str(path),
                f"no column {', '.join(map(repr, missing))}; available: {', '.join(header)}",
            )
        fmt = fmts[i]
        if "dob" in mapping:
            fmt = _dob_format(con, view, path, mapping["dob"], fmt)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {view}_c AS "
            f"{canonical_sql(view, labels[i], ids[i], mapping, fmt)}"
        )
        # Rejected: no id, or an id used twice in the file (a person list needs unique ids).
        bad = con.sql(f"""
            SELECT row_number, CASE WHEN source_id IS NULL OR source_id = '' THEN 'empty id'
              ELSE 'duplicate id ' || source_id || ' (also row ' || first_row || ')' END AS reason
            FROM (SELECT *, min(row_number) OVER (PARTITION BY source_id) AS first_row
                  FROM {view}_c)
            WHERE source_id IS NULL OR source_id = '' OR row_number > first_row
            ORDER BY row_number""").fetchall()
        rows = con.sql(f"SELECT count(*) FROM {view}_c").fetchall()[0][0]
        if len(bad) > max(10, 0.1 * rows):
            example = "; ".join(why for _, why in bad[:2])
            raise InputFileError(
                str(path),
                f"column {ids[i]!r} does not identify rows: {len(bad):,} of {rows:,} rows have an "
                f"empty or repeated value (e.g. {example}); expected one unique id per row",
            )
        rejects += [{"file": str(path), "row_number": int(r), "reason": why} for r, why in bad]
        dob_bad = 0
        if "dob" in mapping:
            raw = con.sql(
                f"SELECT count(nullif(trim(CAST({_q(mapping['dob'])} AS VARCHAR)), '')) FROM {view}"
            ).fetchall()[0][0]
            dob_bad = raw - con.sql(f"SELECT count(dob) FROM {view}_c").fetchall()[0][0]
        info.append(
            {
                "file": str(path),
                "label": labels[i],
                "rows": int(rows),
                "rejected": len(bad),
                "dob_format": fmt,
                "dob_unparsed": int(dob_bad),
                "mapped": effective_mapping(mapping),
            }
        )
        parts.append(f"""SELECT * EXCLUDE (row_number, first_row) FROM (
            SELECT *, min(row_number) OVER (PARTITION BY source_id) AS first_row FROM {view}_c)
            WHERE source_id IS NOT NULL AND source_id <> '' AND row_number = first_row""")
    present = sorted({k for part in info for k in part["mapped"]})
    if not set(present) & set(DISTINGUISHING):
        raise LinkFilesError(
            f"--map: only {', '.join(present)} mapped; names alone cannot tell apart different "
            f"people of the same name: map at least one of {', '.join(DISTINGUISHING)}"
        )
    selects = []
    for part, inf in zip(parts, info, strict=True):
        cols = ["agency", "source_id"] + [
            k
            if k in inf["mapped"]
            else f"CAST(NULL AS {'DATE' if k == 'dob' else 'VARCHAR'}) AS {k}"
            for k in present
        ]
        selects.append(f"SELECT {', '.join(cols)} FROM ({part})")
    records = con.sql(" UNION ALL ".join(selects)).to_arrow_table()
    return records, info, rejects


def link_files(
    files: list[Path],
    id_cols: list[str],
    maps: list[str],
    dob_formats: list[str],
    engine: str,
    out: Path,
    options: LinkageOptions | None = None,
    truth: pa.Table | None = None,
    memory: str | None = None,
    progress=None,
) -> dict[str, Any]:
    """Link the people in ``files`` to each other; write clusters.csv and summary.json to ``out``.

    Args:
        files: CSV or Parquet files, one row per person record.
        id_cols: the ID column, once for all files or once per file.
        maps: ``canonical=SOURCE,...`` mappings, once for all files or once per file.
        dob_formats: strptime formats of the dob column (once, per file, or none to detect).
        engine: ``"duckdb"`` or ``"spark"``.
        out: output folder (created).
        options: linkage options (default: a place's defaults).
        truth: optional ``unique_id`` (``label|id``), ``truth_id`` table for blocking recall.

    Returns:
        The summary written to ``out/summary.json``.

    Raises:
        InputFileError, LinkFilesError: a file or option that cannot work (nothing is
            written to ``out``).
    """
    t0 = time.perf_counter()
    _warm_imports()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LinkFilesError(f"--out {out}: exists and is not a folder")
    options = options or LinkageOptions()
    # Everything is written to a scratch folder next to OUT and moved in only when the whole
    # run has succeeded, so a failed run leaves nothing partial behind.
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}-partial-", dir=out.parent))
    try:
        summary = _link_files(
            files, id_cols, maps, dob_formats, engine, stage, options, truth, memory, progress
        )
        summary["seconds"] = round(time.perf_counter() - t0, 2)
        text = json.dumps(summary, indent=2, default=str)
        (stage / "summary.json").write_text(text, encoding="utf-8")
        out.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_FILES:
            if (out / name).exists():
                (out / name).unlink()
            if (stage / name).exists():
                shutil.move(str(stage / name), str(out / name))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return json.loads(text)


OUTPUT_FILES = ("clusters.csv", "rejects.csv", "summary.json", "model.json")


# Modules the run needs later whose import is slow: pandas (DuckDB imports it the first time
# an Arrow table is registered, and Splink registers several) and scipy's graph routines
# (the threshold chooser clusters at each candidate threshold). About 0.6 s and 0.5 s of a
# 10,000-record run on this machine's cores.
WARM_MODULES = ("pandas", "scipy.sparse.csgraph")


def _warm_imports() -> None:
    """Import ``WARM_MODULES`` on a second thread while the files are read and linked.

    DuckDB releases the GIL while it reads, prepares and compares records, so the imports
    overlap that work instead of adding to it. (Python's import lock makes the main
    thread's own import of a module wait until the second thread has finished it.)"""
    todo = [m for m in WARM_MODULES if m not in sys.modules]
    if todo:
        threading.Thread(
            target=lambda: [importlib.import_module(m) for m in todo], daemon=True
        ).start()


def _link_files(
    files, id_cols, maps, dob_formats, engine, out, options, truth, memory, progress=None
) -> dict[str, Any]:
    try:
        con = work_connection(out, memory)
    except ValueError as e:
        raise LinkFilesError(f"--memory: {e}") from None
    try:
        register_nicknames(con)
        records, info, rejects = load_files(
            con, [Path(f) for f in files], id_cols, maps, dob_formats
        )
        extras = tuple(sorted({k for i in info for k in i["mapped"] if k not in MAPPABLE}))
        con.register("_tp_records", records)
        frame = con.sql(
            prepare_sql("_tp_records", records.column_names, extras=extras)
        ).to_arrow_table()
        result = run_linkage(
            frame,
            options,
            work_dir=out,
            engine=engine,
            model_path=out / "model.json",
            truth=truth,
            con=con,
            memory=memory,
            progress=progress,
        )
        con.register("_tp_clusters", result.clusters)
        con.register(
            "_tp_labels",
            pa.table({"label": [i["label"] for i in info], "file": [i["file"] for i in info]}),
        )
        con.execute(f"""COPY (
            WITH firsts AS (SELECT cluster_id, min(unique_id) AS first_id
                            FROM _tp_clusters GROUP BY cluster_id),
            ids AS (SELECT cluster_id,
                      'P' || lpad(CAST(row_number() OVER (ORDER BY first_id) AS VARCHAR), 7, '0')
                      AS person_id FROM firsts)
            SELECT l.file, substr(c.unique_id, strpos(c.unique_id, '|') + 1) AS id, i.person_id,
              round(c.match_probability, 6) AS match_probability
            FROM _tp_clusters c JOIN ids i USING (cluster_id)
            JOIN _tp_labels l ON l.label = split_part(c.unique_id, '|', 1)
            ORDER BY l.file, id
        ) TO '{str(out / "clusters.csv").replace("'", "''")}' (HEADER, DELIMITER ',')""")
        n_clusters = con.sql("SELECT count(DISTINCT cluster_id) FROM _tp_clusters").fetchall()[0][0]
        n_linked = con.sql(
            "SELECT count(*) FROM (SELECT cluster_id FROM _tp_clusters GROUP BY cluster_id "
            "HAVING count(*) > 1)"
        ).fetchall()[0][0]
    finally:
        con.close()
    if rejects:
        with open(out / "rejects.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["file", "row_number", "reason"])
            w.writeheader()
            w.writerows(rejects)
    t = result.threshold
    return {
        "records": frame.num_rows,
        "rows_read": sum(i["rows"] for i in info),
        "rejected": len(rejects),
        "pairs_compared": result.comparisons,
        "clusters": int(n_clusters),
        "clusters_with_several_records": int(n_linked),
        "threshold": t.value,
        "threshold_method": t.method,
        "estimated_precision": round(t.estimated_precision, 6),
        "estimated_recall": round(t.estimated_recall, 6),
        **t.expected(),
        "threshold_curve": t.curve_points(),
        "estimated_blocking_recall": result.estimated_blocking_recall,
        "m_source": result.training.get("m_source"),
        "prior_history": result.detail.get("prior_history"),
        "household_surname": result.training.get("household_surname"),
        "flagged_clusters": result.flags.num_rows,
        "files": info,
        "blocking": result.blocking,
        "blocking_recall": result.blocking_recall,
        "engine": engine,
        "timings": result.timings,
    }
