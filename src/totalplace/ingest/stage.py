"""The ingest stage: every extract in place.yaml into the canonical tables, losing nothing."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from totalplace.engine import SqlStep
from totalplace.errors import InputFileError, StoreError
from totalplace.ingest.common import Loaded, column_types
from totalplace.ingest.readers import load_extract, read_header
from totalplace.ingest.validate import (
    WARNINGS,
    Context,
    dedupe_sql,
    empty_sql,
    file_rejects_sql,
    file_select_sql,
    ident,
    lit,
)
from totalplace.manifest import check_sources
from totalplace.tables import CANONICAL, REJECTS

# Canonical tables published only by a place whose manifest has files for them.
OPTIONAL_TABLES = ("payments",)

# Test hook: when set to a file path, ingest writes that file once the canonical tables are
# staged and then waits, so a test can kill it part-way through publishing.
PAUSE_ENV = "TOTALPLACE_TEST_PAUSE_IN_PUBLISH"


def warning_counts_sql(final: str) -> str:
    """Per file: rows loaded, rows rejected, and each warning among the loaded rows."""
    warns = ", ".join(
        f"count(*) FILTER (WHERE _reason IS NULL AND {ident('_w_' + k)}) AS {ident(k)}"
        for k in WARNINGS
    )
    return (
        f"SELECT _file_idx, count(*) FILTER (WHERE _reason IS NULL) AS loaded, "
        f"count(*) FILTER (WHERE _reason IS NOT NULL) AS rejected, {warns} "
        f"FROM {ident(final)} GROUP BY _file_idx"
    )


def unknown_person_sql(events: str, people: str) -> str:
    """Per events file: loaded events whose person is not among the agency's loaded records."""
    return (
        f"SELECT e._file_idx, count(*) AS n FROM {ident(events)} e "
        f"WHERE e._reason IS NULL AND e.source_id IS NOT NULL "
        f"AND e.agency IN (SELECT agency FROM {ident(people)}) "
        f"AND NOT EXISTS (SELECT 1 FROM {ident(people)} p WHERE p._reason IS NULL "
        f"AND p.agency = e.agency AND p.source_id = e.source_id) GROUP BY e._file_idx"
    )


class Ingest:
    """Read every extract named in the manifest into ``source_people``, ``events``, ``spend``.

    Rows that fail validation go to ``rejects`` with a reason; for every file, rows read =
    rows loaded + rows rejected. All four tables are replaced in one atomic swap.

    >>> from totalplace import Place
    >>> with Place.open("examples/minitown") as place:      # doctest: +SKIP
    ...     print(place.ingest.run().summary[0])
    """

    def __init__(self, place):
        self.place = place

    def run(self, progress: Callable[[str], None] | None = None, **_opts: Any):
        """Ingest every file; ``progress`` (optional) is told what is happening, for a UI."""
        from totalplace.place import StageResult

        say = progress or (lambda _msg: None)

        m = self.place.manifest
        store = self.place.store
        engine = store.engine
        if engine.dialect != "duckdb":
            # The readers use DuckDB's own CSV and Parquet scanners.
            raise StoreError(
                f"ingest runs on the DuckDB engine, not {engine.dialect!r}: ingest "
                "with the default engine, then run later stages on Spark"
            )
        files = m.files()
        paths = [m.path_of(f) for _, f in files]
        t0 = time.perf_counter()
        per_file: list[dict[str, Any]] = []
        # Every run is recorded in `runs`, failed ones too; a missing file cannot be hashed.
        # Transcoded copies of extracts go to the run's private folder in the place (0700,
        # removed however the run ends; a killed run's is removed on the next open).
        with (
            store.stage_run("ingest", inputs=[p for p in paths if p.is_file()]) as run,
            _dropping_work_tables(engine),
        ):
            tmp = run.tmp
            say("checking every file's header")
            check_sources(m, read_header)
            loaded: list[Loaded] = []
            for k, ((_agency, f), path) in enumerate(zip(files, paths, strict=True)):
                say(f"reading {_shown(f.path)} ({k + 1}/{len(files)})")
                try:
                    loaded.append(load_extract(engine, path, f, f"_tp_in_{k}", Path(tmp)))
                except InputFileError as e:  # name the file as place.yaml does
                    raise InputFileError(_shown(f.path), e.problem) from None
            finals: dict[str, str] = {}
            # "The future" starts after today, or after the period's end for a place whose
            # period is still running or (synthetic) not yet reached, so runs are reproducible.
            now = max(dt.date.today(), m.period.end)
            say("validating")
            for target, table in CANONICAL.items():
                idx = [k for k, (_, f) in enumerate(files) if f.table == target]
                if not idx:
                    continue
                cand = f"_tp_cand_{target}"
                for n, k in enumerate(idx):
                    agency, f = files[k]
                    ctx = Context(
                        agency=agency.id,
                        target=table,
                        source_file=_shown(f.path),
                        timezone=f.timezone or m.timezone,
                        min_date=m.plausible_dates.min,
                        max_date=m.max_plausible_date,
                        today=now,
                    )
                    sql = file_select_sql(loaded[k].table, loaded[k].types, f, ctx, k)
                    if n == 0:
                        engine.run(
                            f"CREATE OR REPLACE TEMP TABLE {ident(cand)} AS SELECT * FROM ({sql})"
                        )
                    else:
                        engine.run(f"INSERT INTO {ident(cand)} SELECT * FROM ({sql})")
                final = f"_tp_final_{target}"
                engine.run(
                    f"CREATE OR REPLACE TEMP TABLE {ident(final)} AS {dedupe_sql(cand, table)}"
                )
                engine.run(f"DROP TABLE {ident(cand)}")
                finals[target] = final
            per_file = self._count(files, loaded, finals)
            publish: dict[str, Any] = {}
            for target, table in CANONICAL.items():
                if target in OPTIONAL_TABLES and target not in finals:
                    if engine.has_table(target):  # left by an earlier manifest: empty it
                        publish[target] = empty_sql(table)
                    continue
                cols = ", ".join(ident(c) for c in table.column_names)
                publish[target] = (
                    f"SELECT {cols} FROM {ident(finals[target])} WHERE _reason IS NULL "
                    f"ORDER BY _file_idx, source_row"
                    if target in finals
                    else empty_sql(table)
                )
            publish[REJECTS.name] = _paused(self._rejects_sql(files, loaded, finals))
            say("publishing")
            counts = store.publish(publish)
            for info in per_file:
                run.rows[info["file"]] = {k: info[k] for k in ("read", "loaded", "rejected")}
            for name, n in counts.items():
                run.rows[name] = {"out": n}
            run.detail["files"] = per_file
        secs = time.perf_counter() - t0
        read = sum(i["read"] for i in per_file)
        rejected = sum(i["rejected"] for i in per_file)
        summary = [
            f"{len(per_file)} files: read {read:,} = loaded {read - rejected:,} + rejected "
            f"{rejected:,}" + (" (see the rejects table)" if rejected else "")
        ]
        summary += [_file_line(info) for info in per_file]
        summary.append(
            "published " + ", ".join(f"{n} {c:,}" for n, c in counts.items()) + f" in {secs:.1f}s"
        )
        return StageResult(
            stage="ingest",
            tables=counts,
            summary=summary,
            detail={"files": per_file},
            headline=summary[0],
        )

    def _count(self, files, loaded: list[Loaded], finals: dict[str, str]) -> list[dict[str, Any]]:
        engine = self.place.store.engine
        stats: dict[int, dict[str, int]] = {}
        for final in finals.values():
            for r in engine.query(warning_counts_sql(final)).to_pylist():
                stats[r.pop("_file_idx")] = r
        unknown: dict[int, int] = {}
        if "events" in finals and "source_people" in finals:
            sql = unknown_person_sql(finals["events"], finals["source_people"])
            unknown = {r["_file_idx"]: r["n"] for r in engine.query(sql).to_pylist()}
        out = []
        for k, ((agency, f), ld) in enumerate(zip(files, loaded, strict=True)):
            n_in = engine.count(ld.table)
            n_parse = engine.count(ld.parse_rejects)
            s = stats.get(k, {"loaded": 0, "rejected": 0})
            info: dict[str, Any] = {
                "file": _shown(f.path),
                "agency": agency.id,
                "table": f.table,
                "format": f.resolved_format,
                "encoding": ld.encoding,
                "read": n_in + n_parse,
                "loaded": s["loaded"],
                "rejected": s["rejected"] + n_parse,
                "blank_rows": ld.blank_rows,
                "not_selected": ld.not_selected,
                "notes": ld.notes,
                "warnings": {w: s[w] for w in WARNINGS if s.get(w)},
            }
            if unknown.get(k):
                info["warnings"]["person_unknown"] = unknown[k]
            if info["read"] != info["loaded"] + info["rejected"]:
                raise StoreError(
                    f"{info['file']}: internal error: read {info['read']} != loaded "
                    f"{info['loaded']} + rejected {info['rejected']}"
                )
            out.append(info)
        return out

    def _rejects_sql(self, files, loaded: list[Loaded], finals: dict[str, str]) -> str:
        parts = []
        for k, ((agency, f), ld) in enumerate(zip(files, loaded, strict=True)):
            parts.append(
                f"SELECT {k} AS _fi, * FROM ({_file_rejects(self.place.store.engine, finals[f.table], ld, k, f.table)})"
            )
            parts.append(
                f"SELECT {k} AS _fi, {lit(agency.id)} AS agency, {lit(f.table)} AS target, "
                f"{lit(_shown(f.path))} AS source_file, _tp_row AS source_row, raw, reason "
                f"FROM {ident(ld.parse_rejects)}"
            )
        if not parts:
            return empty_sql(REJECTS)
        cols = ", ".join(
            f"CAST({ident(c.name)} AS {c.type}) AS {ident(c.name)}" for c in REJECTS.columns
        )
        return f"SELECT {cols} FROM ({' UNION ALL '.join(parts)}) ORDER BY _fi, source_row"


def _file_rejects(engine, final: str, ld: Loaded, k: int, target: str) -> str:
    if ld.raw_table is None:
        return file_rejects_sql(final, ld.table, ld.columns, k, target)
    # A reshaped (unpivoted) file: a rejected cell is shown with its whole row as written
    # (its reason quotes the cell's value).
    cols = list(column_types(engine, ld.raw_table))
    return file_rejects_sql(final, ld.raw_table, cols, k, target)


@contextmanager
def _dropping_work_tables(engine) -> Iterator[None]:
    # Work tables are temporary (gone if the process dies); drop them when done or failed
    # so a long-lived session does not hold extracts in memory.
    try:
        yield
    finally:
        names = (
            engine.query(
                "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, '_tp_')"
            )
            .column(0)
            .to_pylist()
        )
        for name in names:
            engine.run(f"DROP TABLE IF EXISTS temp.{ident(name)}")


def _paused(sql: str) -> Iterator[SqlStep]:
    # A generator: Engine.publish only consumes it once the tables before it are staged.
    marker = os.environ.get(PAUSE_ENV)
    if marker:
        Path(marker).write_text("staged\n")
        time.sleep(600)
    yield SqlStep(sql)


def _shown(path: str) -> str:
    return Path(path).as_posix()


def _file_line(info: dict[str, Any]) -> str:
    enc = f", {info['encoding']}" if info.get("encoding") else ""
    line = (
        f"{info['file']} ({info['agency']} -> {info['table']}{enc}): read {info['read']:,} = "
        f"loaded {info['loaded']:,} + rejected {info['rejected']:,}"
    )
    notes = []
    if info.get("blank_rows"):
        notes.append(f"{info['blank_rows']:,} blank rows skipped")
    if info.get("not_selected"):
        notes.append(f"{info['not_selected']:,} rows not selected (where: in place.yaml)")
    notes.extend(info.get("notes") or [])
    for w, n in info.get("warnings", {}).items():
        text = WARNINGS.get(
            w, "events' person (source_id) is not among the agency's person records"
        )
        notes.append(f"{n:,} {text}")
    return line + ("; " + "; ".join(notes) if notes else "")
