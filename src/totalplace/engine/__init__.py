"""The only code that talks to a database.

Stages build SQL with small pure functions (in DuckDB's dialect) and hand it to an
``Engine``; the engine runs it, translating the dialect where needed. DuckDB is the
default; Spark arrives for places that outgrow one machine.

>>> from totalplace.engine import open_engine
>>> eng = open_engine("duckdb", ":memory:")
>>> eng.query("SELECT 1 + 1 AS two").to_pylist()
[{'two': 2}]
"""

from __future__ import annotations

from totalplace.engine.base import Engine, SqlStep
from totalplace.errors import MissingExtra


def open_engine(kind: str = "duckdb", path: str = ":memory:", **options) -> Engine:
    """Open an engine by name: ``"duckdb"`` (a file or ``":memory:"``) or ``"spark"``."""
    if kind == "duckdb":
        from totalplace.engine.duckdb import DuckDBEngine

        return DuckDBEngine(path, **options)
    if kind == "spark":
        try:
            import pyspark  # noqa: F401
        except ImportError:
            raise MissingExtra("pyspark", "spark") from None
        from totalplace.engine.spark import SparkEngine  # type: ignore[import-not-found]

        return SparkEngine(path, **options)
    raise ValueError(f"engine must be one of: 'duckdb', 'spark'; found {kind!r}")


__all__ = ["Engine", "SqlStep", "open_engine"]
