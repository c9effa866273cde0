"""The DuckDB backend: the default embedded store, one file per place."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa

from totalplace.engine.base import Engine


class DuckDBEngine(Engine):
    dialect = "duckdb"

    def __init__(
        self,
        path: str = ":memory:",
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
    ):
        self.path = str(path)
        self.con = duckdb.connect(self.path, read_only=read_only)
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        # Timestamps are UTC everywhere; never let the machine's zone leak into results.
        self.con.execute("SET TimeZone = 'UTC'")

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

    def _swap(self, staged: Mapping[str, str]) -> None:
        self.con.execute("BEGIN TRANSACTION")
        try:
            for name, tmp in staged.items():
                self.con.execute(f'DROP TABLE IF EXISTS "{name}"')
                self.con.execute(f'ALTER TABLE "{tmp}" RENAME TO "{name}"')
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("CHECKPOINT")

    def tables(self) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' ORDER BY table_name"
        ).fetchall()
        return [r[0] for r in rows]

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def close(self) -> None:
        self.con.close()
