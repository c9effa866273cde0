"""The engine interface: a fixed flow with small backend methods (after Splink's DatabaseAPI)."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import final

import pyarrow as pa

from totalplace.errors import StoreError
from totalplace.hooks import kill_point

STAGING_PREFIX = "_tp_new_"


@dataclass(frozen=True)
class SqlStep:
    """One SQL statement whose result becomes ``output_table`` (None: run for effect)."""

    sql: str
    output_table: str | None = None


class Engine(ABC):
    """Runs SQL for the stages. Subclasses fill in the small ``_``-prefixed methods."""

    dialect: str = "duckdb"
    # Told every statement run or queried (the store infers a run's lineage from them).
    observer: Callable[[str], None] | None = None
    # Set when a checkpoint after a committed swap failed (the data is safe in the WAL).
    deferred_checkpoint: BaseException | None = None

    # --- the fixed flow -------------------------------------------------------------------
    @final
    def run(self, sql: str, params: list | None = None) -> None:
        """Run one statement for its effect; failures are re-raised with the SQL attached."""
        if self.observer is not None:
            self.observer(sql)
        try:
            self._execute(sql, params)
        except Exception as e:
            raise StoreError(f"{type(e).__name__}: {e}\nwhile running:\n{_clip(sql)}") from e

    @final
    def query(self, sql: str, params: list | None = None) -> pa.Table:
        """Run a query and return the result as an Arrow table."""
        if self.observer is not None:
            self.observer(sql)
        try:
            return self._fetch_arrow(sql, params)
        except Exception as e:
            raise StoreError(f"{type(e).__name__}: {e}\nwhile running:\n{_clip(sql)}") from e

    @final
    def scalar(self, sql: str, params: list | None = None):
        t = self.query(sql, params)
        return t.column(0)[0].as_py() if t.num_rows else None

    @final
    def publish(
        self,
        tables: Mapping[str, str | pa.Table | Iterable[SqlStep]],
        on_swap: Callable[[dict[str, int]], None] | None = None,
    ) -> dict[str, int]:
        """Replace tables atomically: build each under a staging name, then swap all at once.

        A value is a SELECT statement, an Arrow table, or a list of ``SqlStep`` whose last
        step's result is the table. If anything fails (or the process dies) before the swap,
        the previous tables are untouched. Returns the row count of each published table.
        ``on_swap(counts)`` runs inside the swap's transaction (the store writes its run
        record there), so the tables and their record commit together or not at all.
        """
        token = uuid.uuid4().hex[:8]
        staged: dict[str, str] = {}
        try:
            for name, source in tables.items():
                tmp = f"{STAGING_PREFIX}{name}_{token}"
                if isinstance(source, pa.Table):
                    self._create_from_arrow(tmp, source)
                elif isinstance(source, str):
                    self.run(f'CREATE TABLE "{tmp}" AS {source}')
                else:
                    steps = list(source)
                    for step in steps[:-1]:
                        if step.output_table:
                            self.run(
                                f'CREATE OR REPLACE TEMP TABLE "{step.output_table}" AS {step.sql}'
                            )
                        else:
                            self.run(step.sql)
                    self.run(f'CREATE TABLE "{tmp}" AS {steps[-1].sql}')
                staged[name] = tmp
            counts = {n: int(self.scalar(f'SELECT count(*) FROM "{t}"')) for n, t in staged.items()}
            kill_point("staged")

            def in_swap() -> None:
                if on_swap is not None:
                    on_swap(counts)
                kill_point("in_swap")

            self._swap(staged, in_swap)
            return counts
        except BaseException:
            for tmp in staged.values():
                try:
                    self.run(f'DROP TABLE IF EXISTS "{tmp}"')
                except Exception:
                    pass
            raise

    @final
    def drop_staging(self) -> list[str]:
        """Remove staging tables a crashed run left behind; returns their names."""
        left = [t for t in self.tables() if t.startswith(STAGING_PREFIX)]
        for t in left:
            self.run(f'DROP TABLE IF EXISTS "{t}"')
        return left

    # --- backend methods ----------------------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, params: list | None) -> None: ...

    @abstractmethod
    def _fetch_arrow(self, sql: str, params: list | None) -> pa.Table: ...

    @abstractmethod
    def _create_from_arrow(self, name: str, table: pa.Table) -> None: ...

    @abstractmethod
    def _swap(self, staged: Mapping[str, str], in_swap: Callable[[], None]) -> None:
        """In one transaction, replace each table ``name`` by its staging table.

        Call ``in_swap()`` inside that transaction, after the renames and before COMMIT;
        then call ``kill_point("after_swap")`` once it has committed.
        """

    @abstractmethod
    def tables(self) -> list[str]: ...

    @abstractmethod
    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as ``name`` for this session (not persisted)."""

    @abstractmethod
    def close(self) -> None: ...

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store writable for the block (backends that do not always hold it)."""
        yield

    def has_table(self, name: str) -> bool:
        return name in self.tables()

    def columns(self, name: str) -> list[str]:
        return self.query(f'SELECT * FROM "{name}" LIMIT 0').column_names

    def count(self, name: str) -> int:
        return int(self.scalar(f'SELECT count(*) FROM "{name}"'))


def _clip(sql: str, n: int = 2000) -> str:
    return sql if len(sql) <= n else sql[:n] + f"\n... ({len(sql) - n} more characters)"
