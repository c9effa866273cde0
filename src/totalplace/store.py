"""The place store: one database per place, the tables each stage publishes, and ``runs``.

Stages never open connections themselves; they ask the store for its engine, publish
tables through ``Store.publish`` (atomic: all or nothing), and wrap their work in
``Store.stage_run`` so every run is recorded, failed and killed ones included::

    store = Store.open("anytown/place.duckdb")
    with store.stage_run("ingest", inputs=[...]) as run:
        counts = store.publish({"source_people": sql})
        run.rows["source_people"] = {"out": counts["source_people"]}

The run lifecycle (see docs/architecture.md): a ``runs`` row is written ``running`` when the
stage starts; ``publish`` swaps the tables, marks the run ``ok`` and records which run made
each table (``published_tables``) in one transaction; a stage that fails is recorded as
``failed: <cause>``, one stopped by Ctrl-C or SIGTERM as ``interrupted``, and one killed
outright is found on the next open and recorded as ``killed``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from totalplace import __version__
from totalplace.engine import Engine, SqlStep, open_engine
from totalplace.errors import StoreError
from totalplace.hooks import kill_point
from totalplace.lifecycle import interrupt_guard, outcome_of, pid_alive
from totalplace.tables import PUBLISHED, RUNS

# Which stage publishes which table, so a missing table's error can say what to run.
PRODUCED_BY: dict[str, str] = {
    "source_people": "ingest",
    "events": "ingest",
    "spend": "ingest",
    "rejects": "ingest",
    "person_links": "link",
    "persons": "link",
    "households": "link",
    "person_id_history": "link",
    "linkage_pairs": "link",
    "event_costs": "people",
    "person_costs": "people",
    "household_costs": "people",
    "person_needs": "people",
    "concentration": "people",
    "lorenz": "people",
    "decile_transitions": "people",
    "persistence": "people",
    "cohorts": "people",
    "cohort_members": "people",
    "segments": "people",
    "journey_steps": "journeys",
    "transitions": "journeys",
    "transition_summary": "journeys",
    "transition_gaps": "journeys",
    "transition_trend": "journeys",
    "handoffs": "journeys",
    "rework": "journeys",
    "programme_effects": "appraise",
    "appraisals": "appraise",
    "appraisal_by_agency": "appraise",
    "appraisal_flows": "appraise",
    "appraisal_tornado": "appraise",
    "money_count": "money",
    "activity_costs": "money",
    "failure_demand_costs": "money",
    "payments": "ingest",
    "demand": "demand",
    "demand_chains": "demand",
    "demand_weekly": "demand",
}

# The place's private work folder (beside the store file): temporary files of runs.
WORK_DIR = ".totalplace"
META_TABLES = (RUNS.name, PUBLISHED.name)
# Set to 0 to work in the store itself (holding it for the whole run) instead of a scratch
# database with the store attached read-only.
SCRATCH_ENV = "TOTALPLACE_SCRATCH"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERAL = re.compile(r"'(?:[^']|'')*'")  # string literals name files, not tables


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def utcnow() -> dt.datetime:
    """Now, in UTC, as a naive datetime (the store's TIMESTAMP columns are UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class StoreWarning(UserWarning):
    """Something went wrong that lost nothing (e.g. a checkpoint deferred by a full disk)."""


@dataclass
class RunRecord:
    """What a stage fills in while it runs; written to ``runs`` as the run goes.

    ``tmp`` is the run's private temporary folder (owner-only, inside the place's work
    folder, removed when the run ends however it ends).
    """

    run_id: str
    stage: str
    started_at: dt.datetime
    inputs: dict[str, str] = field(default_factory=dict)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    reads: dict[str, str | None] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    tmp: Path | None = None
    published: list[str] = field(default_factory=list)
    declared_reads: list[str] | None = None
    seen: set[str] = field(default_factory=set)


class Store:
    """A place's store. Use ``Store.open(path)``; close it when done (or use ``with``)."""

    def __init__(self, engine: Engine, path: str | Path | None = None, read_only: bool = False):
        self.engine = engine
        self.path = None if path in (None, ":memory:") else Path(path)
        self.read_only = read_only
        # stage -> {"place.yaml:<sections>": hash} of the settings it uses (set by Place).
        self.fingerprint: Callable[[str], dict[str, str]] | None = None
        self._active: RunRecord | None = None
        self._lock: _WriterLock | None = None
        if not read_only:
            self._migrate()
            self._recover()

    @classmethod
    def open(
        cls, path: str | Path, engine: str = "duckdb", read_only: bool = False, **options
    ) -> Store:
        """Open (creating if needed) the store at ``path``; ``read_only`` to only look.

        A second writer waits up to ``lock_wait`` seconds (``TOTALPLACE_LOCK_WAIT``, default
        5) for the first, then raises ``StoreLocked`` naming the other process.
        """
        local = engine == "duckdb" and str(path) != ":memory:"
        scratch = local and not read_only and os.environ.get(SCRATCH_ENV, "1") != "0"
        if local and not read_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            work = _work_root(Path(path))
            _private_dir(work)
            options.setdefault("temp_directory", str(_private_dir(work / "duckdb")))
            for left in Path(path).parent.glob(f"{Path(path).name}.new-*"):
                if not pid_alive(_pid_in(left.name + "-00000000") or 0):
                    left.unlink(missing_ok=True)  # a creation that was killed
            if not Path(path).exists():
                _create(Path(path), engine, options)
        if read_only:
            if local and not Path(path).exists():
                raise StoreError(f"{path}: no place store here yet (run `totalplace ingest`)")
            options["read_only"] = True
        lock = _WriterLock.acquire(Path(path), options.get("lock_wait")) if scratch else None
        try:
            store = cls(open_engine(engine, str(path), **options), path, read_only)
            if not read_only:
                store.engine.drop_staging()  # left by a run that was killed before its swap
                store.clean_work_folder()
            if scratch:
                # Prepared; now work in a scratch database with the store attached read-only,
                # so readers can open it while a stage runs (see docs/architecture.md).
                store.engine.close()
                store.engine = open_engine(engine, str(path), scratch=True, **options)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        store._lock = lock
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the store. A checkpoint that fails here (a full disk) loses nothing: every
        committed change is in the write-ahead log, which the next open applies."""
        try:
            self.engine.close()
            if self._lock is not None:
                self._lock.release()
                self._lock = None
        except Exception as e:
            if self._lock is not None:
                self._lock.release()
                self._lock = None
            if self.read_only:
                raise
            import warnings

            from totalplace.failures import explain

            why = explain(e)
            warnings.warn(
                StoreWarning(
                    f"{self.path}: could not compact the store on closing "
                    f"({why.what if why else e}); every published table is safe in its "
                    "write-ahead log and is applied on the next open"
                ),
                stacklevel=2,
            )

    # --- tables ----------------------------------------------------------------------------
    def publish(self, tables: Mapping[str, str | pa.Table | Iterable[SqlStep]]) -> dict[str, int]:
        """Atomically replace the named tables; returns each one's row count.

        Inside ``stage_run`` the run's record (``ok``, its lineage, and one
        ``published_tables`` row per table) commits in the same transaction as the swap.
        A stage may publish more than once; each publish is atomic on its own.
        """
        rec = self._active
        if rec is None:
            counts = self.engine.publish(tables)
            self._warn_deferred()
            return counts
        reads = self._reads(rec)

        def record(counts: dict[str, int]) -> None:
            now = utcnow()
            rows = {**rec.rows, **{n: {"out": c} for n, c in counts.items()}}
            self._set_run(
                rec.run_id,
                outcome="ok",
                finished_at=now,
                rows=json.dumps(rows),
                inputs=json.dumps(rec.inputs),
                settings=json.dumps(rec.settings),
                reads=json.dumps(reads),
            )
            for name, n in counts.items():
                self.engine.run(
                    f"INSERT INTO {PUBLISHED.name} VALUES (?, ?, ?, ?, ?)",
                    [name, rec.stage, rec.run_id, n, now],
                )

        counts = self.engine.publish(tables, on_swap=record)
        rec.reads = reads
        rec.published += [n for n in counts if n not in rec.published]
        if self.engine.deferred_checkpoint is not None:
            rec.detail["checkpoint_deferred"] = str(self.engine.deferred_checkpoint)[:500]
        self._warn_deferred()
        kill_point("published")
        return counts

    def _warn_deferred(self) -> None:
        e = self.engine.deferred_checkpoint
        if e is None:
            return
        import warnings

        from totalplace.failures import explain

        why = explain(e)
        warnings.warn(
            StoreWarning(
                f"published, but the store file could not be compacted "
                f"({why.what if why else e}): the new tables are safe in its write-ahead log "
                "(place.duckdb.wal, applied on the next open); free some space soon"
            ),
            stacklevel=3,
        )

    def require(self, *names: str) -> None:
        """Raise a StoreError naming each missing table and the stage that makes it."""
        have = set(self.engine.tables())
        missing = [n for n in names if n not in have]
        if missing:
            hints = ", ".join(f"{n} (run `totalplace {PRODUCED_BY.get(n, '?')}`)" for n in missing)
            raise StoreError(f"the place store has no table {hints}")

    def table(self, name: str) -> pa.Table:
        self.require(name)
        return self.engine.query(f'SELECT * FROM "{name}"')

    def published(self) -> dict[str, dict[str, Any]]:
        """Each live table -> the record of the publish that made it (stage, run_id, rows...)."""
        if not self.engine.has_table(PUBLISHED.name):
            return self._published_before_lineage()
        t = self.engine.query(
            f"SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY table_name "
            f"ORDER BY published_at DESC) AS _n FROM {PUBLISHED.name}) WHERE _n = 1"
        ).drop(["_n"])
        have = set(self.engine.tables())
        return {r["table_name"]: r for r in t.to_pylist() if r["table_name"] in have}

    def _published_before_lineage(self) -> dict[str, dict[str, Any]]:
        # A store written before published_tables, opened read-only (so not migrated).
        have = set(self.engine.tables())
        out = {}
        for name, stage in PRODUCED_BY.items():
            if name in have:
                last = self.last_run(stage) or {}
                out[name] = {
                    "table_name": name,
                    "stage": stage,
                    "run_id": last.get("run_id", "unknown"),
                    "rows": self.engine.count(name),
                    "published_at": last.get("finished_at") or utcnow(),
                }
        return out

    # --- runs ------------------------------------------------------------------------------
    @contextmanager
    def stage_run(
        self,
        stage: str,
        inputs: Iterable[str | Path] = (),
        reads: Iterable[str] | None = None,
    ) -> Iterator[RunRecord]:
        """Record one run of ``stage`` in ``runs``: ``running`` now, its outcome at the end.

        Args:
            stage: the stage's name.
            inputs: files the run reads; their SHA-256 is recorded (for freshness).
            reads: the tables the run reads (lineage). When not given, they are inferred:
                every published table of another stage whose name appears in the SQL the
                run sent to ``store.engine``.
        """
        if self.read_only:
            raise StoreError("this store was opened read-only; a stage cannot run on it")
        rec = RunRecord(run_id=uuid.uuid4().hex, stage=stage, started_at=utcnow())
        rec.declared_reads = list(reads) if reads is not None else None
        self._insert_running(rec)
        prev_active, prev_observer = self._active, self.engine.observer
        words = set(self.published())

        def observe(sql: str) -> None:
            rec.seen.update(w for w in _WORD.findall(_LITERAL.sub("", sql)) if w in words)
            if prev_observer is not None:
                prev_observer(sql)

        self._active, self.engine.observer = rec, observe
        try:
            with self._run_temp(rec), interrupt_guard() as stopped:
                try:
                    if self.fingerprint is not None:
                        rec.settings = self.fingerprint(stage)
                    for p in inputs:
                        rec.inputs[str(p)] = sha256_file(p)
                    kill_point("started")
                    yield rec
                except BaseException as e:
                    outcome, replacement = outcome_of(e, stopped)
                    self._finish_failed(rec, outcome, e)
                    if replacement is not None:
                        raise replacement from e
                    raise
        finally:
            self._active, self.engine.observer = prev_active, prev_observer
        self._finish_ok(rec)

    def runs(self, stage: str | None = None) -> list[dict[str, Any]]:
        """Every recorded run, oldest first (optionally for one stage)."""
        where = "WHERE stage = ?" if stage else ""
        t = self.engine.query(
            f"SELECT * FROM {RUNS.name} {where} ORDER BY started_at", [stage] if stage else None
        )
        out = t.to_pylist()
        for r in out:
            for k in ("rows", "inputs", "detail", "reads", "settings"):
                if isinstance(r.get(k), str):
                    r[k] = json.loads(r[k])
        return out

    def last_run(self, stage: str) -> dict[str, Any] | None:
        runs = [r for r in self.runs(stage) if r["outcome"] == "ok"]
        return runs[-1] if runs else None

    # --- the work folder ------------------------------------------------------------------
    @property
    def work_root(self) -> Path | None:
        """``PLACE/.totalplace``: temporary files of runs, owner-only (None for :memory:)."""
        return _work_root(self.path) if self.path is not None else None

    def clean_work_folder(self) -> list[Path]:
        """Remove temporary folders left by runs whose process is gone; returns them."""
        root = self.work_root
        removed = []
        if root is not None and (root / "duckdb").is_dir() and self._active is None:
            # DuckDB's spill files of a killed writer (this process now holds the store's lock,
            # so no other process is using them).
            for entry in (root / "duckdb").iterdir():
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(True)
                removed.append(entry)
        if root is None or not (root / "tmp").is_dir():
            return removed
        for entry in (root / "tmp").iterdir():
            pid = _pid_in(entry.name)
            if pid is not None and pid != os.getpid() and pid_alive(pid):
                continue
            if pid == os.getpid() and self._active is not None:
                continue
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(True)
            removed.append(entry)
        return removed

    @contextmanager
    def _run_temp(self, rec: RunRecord) -> Iterator[Path]:
        root = self.work_root
        if root is None:
            base = Path(tempfile.mkdtemp(prefix="totalplace-run-"))
        else:
            base = _private_dir(root / "tmp") / f"{rec.stage}-{os.getpid()}-{rec.run_id[:8]}"
            base.mkdir(mode=0o700)
        rec.tmp = base
        # Libraries that write temporary files (tempfile, DuckDB's own spill for in-memory
        # connections, ...) write them here too, not in the machine's /tmp.
        saved = tempfile.tempdir, os.environ.get("TMPDIR")
        tempfile.tempdir = str(base)
        os.environ["TMPDIR"] = str(base)
        try:
            yield base
        finally:
            tempfile.tempdir = saved[0]
            if saved[1] is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = saved[1]
            shutil.rmtree(base, ignore_errors=True)

    # --- recording ------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Create ``runs`` and ``published_tables``, or bring an older store's up to date."""
        have = set(self.engine.tables())
        if RUNS.name not in have:
            self.engine.run(RUNS.create_sql())
        else:
            cols = set(self.engine.columns(RUNS.name))
            for c in RUNS.columns:
                if c.name not in cols:
                    self.engine.run(f'ALTER TABLE {RUNS.name} ADD COLUMN "{c.name}" {c.type}')
        if PUBLISHED.name not in have:
            self.engine.run(PUBLISHED.create_sql())
            self._backfill_published(have)

    def _backfill_published(self, have: set[str]) -> None:
        # An older store: credit each existing table to its stage's last successful run.
        for name, stage in PRODUCED_BY.items():
            if name not in have:
                continue
            last = self.last_run(stage)
            run_id = last["run_id"] if last else "unknown"
            at = (last or {}).get("finished_at") or utcnow()
            self.engine.run(
                f"INSERT INTO {PUBLISHED.name} VALUES (?, ?, ?, ?, ?)",
                [name, stage, run_id, self.engine.count(name), at],
            )

    def _recover(self) -> None:
        """Runs still ``running`` whose process is gone were killed: say so."""
        host = socket.gethostname()
        t = self.engine.query(
            f"SELECT run_id, pid, host FROM {RUNS.name} WHERE outcome = 'running'"
        )
        for r in t.to_pylist():
            if r["host"] not in (None, host):
                continue  # another machine's run: its process cannot be checked from here
            if r["pid"] is not None and (r["pid"] == os.getpid() or pid_alive(r["pid"])):
                continue
            outcome = _pending_outcome(self.work_root, r["run_id"]) or "killed"
            self._set_run(r["run_id"], outcome=outcome)
            _clear_pending(self.work_root, r["run_id"])

    def _insert_running(self, rec: RunRecord) -> None:
        with self.engine.writing():
            self._insert_running_row(rec)
        _reserve_pending(self.work_root, rec.run_id)

    def _insert_running_row(self, rec: RunRecord) -> None:
        self.engine.run(
            f"INSERT INTO {RUNS.name} (run_id, stage, started_at, finished_at, outcome, "
            "package_version, rows, inputs, detail, pid, host, reads, settings) "
            "VALUES (?, ?, ?, NULL, 'running', ?, '{}', '{}', '{}', ?, ?, '{}', '{}')",
            [rec.run_id, rec.stage, rec.started_at, __version__, os.getpid(), socket.gethostname()],
        )

    def _finish_ok(self, rec: RunRecord) -> None:
        fields = {
            "finished_at": utcnow(),
            "rows": json.dumps(rec.rows),
            "inputs": json.dumps(rec.inputs),
            "settings": json.dumps(rec.settings),
            "detail": json.dumps(rec.detail, default=str),
        }
        if not rec.published:  # a run that published nothing: its record is all here
            fields.update(outcome="ok", reads=json.dumps(self._reads(rec)))
        try:
            self._set_run(rec.run_id, **fields)
            _clear_pending(self.work_root, rec.run_id)
        except Exception as e:
            if not rec.published:
                _save_pending(self.work_root, rec.run_id, "ok")
                raise
            # Its tables and 'ok' are committed; only the closing details could not be saved.
            import warnings

            warnings.warn(
                StoreWarning(f"run {rec.run_id} published, but its details were not saved: {e}"),
                stacklevel=3,
            )

    def _finish_failed(self, rec: RunRecord, outcome: str, error: BaseException) -> None:
        if rec.published:
            outcome = f"{outcome} (after publishing {', '.join(rec.published)})"
        detail = {**rec.detail, "error": f"{type(error).__name__}: {error}"[:4000]}
        try:
            self._set_run(
                rec.run_id,
                outcome=outcome[:2000],
                finished_at=utcnow(),
                rows=json.dumps(rec.rows),
                inputs=json.dumps(rec.inputs),
                settings=json.dumps(rec.settings),
                detail=json.dumps(detail, default=str),
            )
            _clear_pending(self.work_root, rec.run_id)
        except BaseException as e:  # never hide the run's own error behind this one
            _save_pending(self.work_root, rec.run_id, outcome[:2000])
            error.add_note(f"(the run's outcome could not be recorded in the store: {e})")

    def _set_run(self, run_id: str, **fields: Any) -> None:
        if self.engine.dialect == "duckdb":
            sets = ", ".join(f'"{k}" = ?' for k in fields)
            with self.engine.writing():
                self.engine.run(
                    f"UPDATE {RUNS.name} SET {sets} WHERE run_id = ?", [*fields.values(), run_id]
                )
            return
        # Spark's tables have no UPDATE: rewrite the (small) runs table.
        rows = self.engine.query(f"SELECT * FROM {RUNS.name}").to_pylist()
        for r in rows:
            if r["run_id"] == run_id:
                r.update(fields)
        schema = self.engine.query(f"SELECT * FROM {RUNS.name} LIMIT 0").schema
        self.engine.publish({RUNS.name: pa.Table.from_pylist(rows, schema=schema)})

    def _reads(self, rec: RunRecord) -> dict[str, str | None]:
        """The run's lineage: each table of another stage it read -> the run that made it."""
        live = self.published()
        declared = rec.declared_reads is not None
        names = rec.declared_reads if declared else sorted(rec.seen)
        later = _later_stages(rec.stage)
        out: dict[str, str | None] = {}
        for name in names:
            info = live.get(name)
            if name in META_TABLES or (info is not None and info["stage"] == rec.stage):
                continue
            # Data moves forwards: an inferred read of a later stage's table is a false match.
            if not declared and info is not None and info["stage"] in later:
                continue
            out[name] = info["run_id"] if info else None
        return out


def _create(path: Path, engine: str, options: dict) -> None:
    """Create an empty store under a temporary name, then rename it into place: a full
    disk or a kill during creation never leaves a half-written (unopenable) store file."""
    tmp = path.with_name(f"{path.name}.new-{os.getpid()}")
    try:
        eng = open_engine(engine, str(tmp), **options)
        try:
            eng.run(RUNS.create_sql())
            eng.run(PUBLISHED.create_sql())
            eng.run("CHECKPOINT")
        finally:
            eng.close()
        os.replace(tmp, path)
    finally:
        for p in (tmp, tmp.with_name(tmp.name + ".wal")):
            p.unlink(missing_ok=True)


class _WriterLock:
    """One writer per place: an exclusive ``flock`` on ``.totalplace/writer.lock`` holding the
    writer's PID, for as long as its store is open (re-entrant within one process)."""

    _held: dict[Path, _WriterLock] = {}

    def __init__(self, path: Path, fd: int):
        self.path, self.fd, self.count = path, fd, 1

    @classmethod
    def acquire(cls, store_path: Path, wait: float | None) -> _WriterLock:
        import fcntl
        import time

        from totalplace.engine.duckdb import lock_wait_seconds
        from totalplace.errors import StoreLocked

        path = _private_dir(_work_root(store_path)) / "writer.lock"
        held = cls._held.get(path)
        if held is not None:
            held.count += 1
            return held
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + lock_wait_seconds(wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise StoreLocked(str(store_path), int(pid) if pid.isdigit() else 0) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        lock = cls._held[path] = cls(path, fd)
        return lock

    def release(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._held.pop(self.path, None)
            os.close(self.fd)  # releases the flock


def _later_stages(stage: str) -> set[str]:
    from totalplace.place import STAGES

    order = [s.name for s in STAGES]
    return set(order[order.index(stage) + 1 :]) if stage in order else set()


def _work_root(store_path: Path) -> Path:
    return Path(store_path).resolve().parent / WORK_DIR


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _pid_in(name: str) -> int | None:
    m = re.search(r"-(\d+)-[0-9a-f]{8}$", name)
    return int(m.group(1)) if m else None


# When a failed run's outcome cannot be written to the store (a full disk, a lost
# connection), it is left in a small file and applied on the next open.
def _pending_path(root: Path | None, run_id: str) -> Path | None:
    return None if root is None else root / "outcomes" / run_id


_RESERVED = 4096


def _reserve_pending(root: Path | None, run_id: str) -> None:
    # Reserved when the run starts, so that a full disk later cannot stop its outcome being
    # written (overwriting reserved bytes needs no new space).
    p = _pending_path(root, run_id)
    if p is None:
        return
    try:
        _private_dir(p.parent)
        p.write_bytes(b" " * _RESERVED)
    except OSError:
        pass


def _save_pending(root: Path | None, run_id: str, outcome: str) -> None:
    p = _pending_path(root, run_id)
    if p is None:
        return
    data = outcome.encode()[: _RESERVED - 1].ljust(_RESERVED)
    try:
        _private_dir(p.parent)
        with open(p, "r+b" if p.exists() else "wb") as f:
            f.write(data)
    except OSError:
        pass


def _pending_outcome(root: Path | None, run_id: str) -> str | None:
    p = _pending_path(root, run_id)
    try:
        text = p.read_text().strip() if p is not None and p.is_file() else ""
    except OSError:
        return None
    return text or None


def _clear_pending(root: Path | None, run_id: str) -> None:
    p = _pending_path(root, run_id)
    if p is not None:
        p.unlink(missing_ok=True)
