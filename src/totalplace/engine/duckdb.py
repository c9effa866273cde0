"""The DuckDB backend: the default embedded store, one file per place."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from totalplace.engine.base import Engine
from totalplace.errors import StoreLocked
from totalplace.hooks import fail_point, kill_point

# How long a second writer waits for the first to let go of the store, in seconds.
LOCK_WAIT_ENV = "TOTALPLACE_LOCK_WAIT"
DEFAULT_LOCK_WAIT = 5.0
# Catalog names in scratch mode: the in-memory work database and the attached store.
SCRATCH = "memory"
STORE = "place"
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")


def lock_wait_seconds(wait: float | None = None) -> float:
    """``wait`` if given, else ``TOTALPLACE_LOCK_WAIT``, else 5 seconds."""
    if wait is not None:
        return float(wait)
    try:
        return float(os.environ.get(LOCK_WAIT_ENV, DEFAULT_LOCK_WAIT))
    except ValueError:
        return DEFAULT_LOCK_WAIT


def connect(path: str, read_only: bool = False, wait: float | None = None):
    """``duckdb.connect``, waiting up to ``wait`` seconds for another process's lock."""
    deadline = time.monotonic() + lock_wait_seconds(wait)
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as e:
            held = _LOCK_HOLDER.search(str(e))
            if held is None:
                raise
            if time.monotonic() >= deadline:
                raise StoreLocked(path, int(held["pid"]), read_only) from None
            time.sleep(0.2)


class DuckDBEngine(Engine):
    dialect = "duckdb"

    def __init__(
        self,
        path: str = ":memory:",
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
        lock_wait: float | None = None,
        temp_directory: str | Path | None = None,
        scratch: bool = False,
    ):
        self.path = str(path)
        self.read_only = read_only
        self.lock_wait = lock_wait
        # Scratch mode (a writer): work happens in an in-memory database with the store
        # attached read-only; the store is attached read-write only to swap (``writing``).
        self.scratch = scratch and not read_only and self.path != ":memory:"
        self._writing = 0
        self._settings = []
        if memory_limit:
            self._settings.append(f"SET memory_limit = '{memory_limit}'")
        if threads:
            self._settings.append(f"SET threads = {int(threads)}")
        if temp_directory:
            # Spilled blocks hold personal data: keep them in the place's private work folder.
            self._settings.append(f"SET temp_directory = '{temp_directory}'")
        # Timestamps are UTC everywhere; never let the machine's zone leak into results.
        self._settings.append("SET TimeZone = 'UTC'")
        self.con = self._connect(lock_wait)

    def _connect(self, lock_wait: float | None = None):
        if not self.scratch:
            con = connect(self.path, read_only=self.read_only, wait=lock_wait)
        else:
            con = duckdb.connect(":memory:")
        for sql in self._settings:
            con.execute(sql)
        if self.scratch:
            self._attach(con, read_only=True)
            con.execute(f"SET search_path = '{SCRATCH}.main,{STORE}.main'")
        return con

    def _attach(self, con, read_only: bool) -> None:
        mode = " (READ_ONLY)" if read_only else ""
        deadline = time.monotonic() + lock_wait_seconds(self.lock_wait)
        path = self.path.replace("'", "''")
        while True:
            try:
                con.execute(f"ATTACH '{path}' AS {STORE}{mode}")
                return
            except duckdb.IOException as e:
                held = _LOCK_HOLDER.search(str(e))
                if held is None:
                    raise
                if time.monotonic() >= deadline:
                    raise StoreLocked(self.path, int(held["pid"]), read_only) from None
                time.sleep(0.2)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store read-write for the block (scratch mode); re-entrant."""
        if not self.scratch or self._writing:
            self._writing += 1
            try:
                yield
            finally:
                self._writing -= 1
            return
        self.con.execute(f"DETACH {STORE}")
        try:
            self._attach(self.con, read_only=False)
        except BaseException:
            self._attach(self.con, read_only=True)
            raise
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1
            try:
                self.con.execute(f"DETACH {STORE}")  # checkpoints and lets go of the lock
            except Exception:  # the session died (a failed checkpoint): start a fresh one
                try:
                    self.con.close()
                except Exception:
                    pass
                self.con = self._connect()
            else:
                self._attach(self.con, read_only=True)

    def _execute(self, sql, params):
        self.con.execute(sql, params or [])

    def _fetch_arrow(self, sql, params):
        rel = self.con.sql(sql, params=params or None)
        # DuckDB 2 renamed arrow() to to_arrow_table(); support both.
        fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
        return fetch()

    def _create_from_arrow(self, name: str, table: pa.Table) -> None:
        view = f"_tp_arrow_{name}"
        self.con.register(view, table)
        try:
            self.con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM "{view}"')
        finally:
            self.con.unregister(view)

    def _swap(self, staged: Mapping[str, str], in_swap: Callable[[], None]) -> None:
        if self.scratch:
            with self.writing():
                self._swap_in(staged, in_swap, copy=True)
            for tmp in staged.values():
                self.con.execute(f'DROP TABLE IF EXISTS {SCRATCH}."{tmp}"')
            return
        self._swap_in(staged, in_swap, copy=False)

    def _swap_in(self, staged: Mapping[str, str], in_swap: Callable[[], None], copy: bool) -> None:
        q = f"{STORE}." if copy else ""
        self.con.execute("BEGIN TRANSACTION")
        try:
            for name, tmp in staged.items():
                if copy:  # from the scratch database into the store
                    self.con.execute(f'CREATE TABLE {q}"{tmp}" AS SELECT * FROM {SCRATCH}."{tmp}"')
                self.con.execute(f'DROP TABLE IF EXISTS {q}"{name}"')
                self.con.execute(f'ALTER TABLE {q}"{tmp}" RENAME TO "{name}"')
            in_swap()
            self.con.execute("COMMIT")
        except BaseException:
            try:
                self.con.execute("ROLLBACK")
            except Exception:  # the transaction may already be gone (e.g. invalidated)
                pass
            raise
        kill_point("after_swap")
        # Committed: the swap is in the write-ahead log, which DuckDB replays on the next open
        # if the checkpoint cannot run now (a full disk). A failed checkpoint must not make a
        # published run look failed, so it is noted, not raised.
        try:
            fail_point("checkpoint")
            self.con.execute(f"CHECKPOINT {STORE}" if copy else "CHECKPOINT")
            self.deferred_checkpoint = None
        except Exception as e:
            self.deferred_checkpoint = e
            if copy:  # scratch mode: ``writing`` detaches the store and re-attaches it
                return
            # DuckDB invalidates a database whose checkpoint failed; open it again (which
            # replays the log) so the stage can finish. Session state (temporary tables,
            # registered views) does not survive this; the published tables do.
            try:
                self.con.close()
            except Exception:
                pass
            try:
                self.con = self._connect()
            except Exception:
                pass

    def tables(self) -> list[str]:
        if self.scratch:
            rows = self.con.execute(
                "SELECT DISTINCT table_name FROM duckdb_tables() WHERE NOT temporary "
                f"AND schema_name = 'main' AND database_name IN ('{SCRATCH}', '{STORE}') "
                "ORDER BY table_name"
            ).fetchall()
            return [r[0] for r in rows]
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' ORDER BY table_name"
        ).fetchall()
        return [r[0] for r in rows]

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def close(self) -> None:
        self.con.close()
