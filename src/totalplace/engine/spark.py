"""The Spark backend: for places that outgrow one machine (local mode in tests).

Stages write SQL in DuckDB's dialect; this backend transpiles it to Spark SQL with sqlglot
(the same translator Splink uses) and fixes the few constructs sqlglot does not map, all in
``to_spark_sqls``. Tables are managed Parquet tables in a warehouse folder with a small
embedded (Derby) metastore beside it, so a place's tables survive between sessions just as a
DuckDB file does::

    from totalplace.engine import open_engine
    eng = open_engine("spark", "anytown/place.duckdb")   # tables in anytown/place.spark/
    eng.query("SELECT count(*) AS n FROM source_people")
    eng.close()                                           # stops the SparkSession

Only one process may open a given warehouse at a time (Derby's rule), and one SparkSession
per process: opening a second ``SparkEngine`` while one is open raises an error.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import sqlglot

from totalplace.engine.base import Engine
from totalplace.errors import StoreError
from totalplace.hooks import kill_point

# Type names sqlglot passes through but Spark has no such type (DuckDB JSON is text).
_TYPE_FIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<=\s)JSON(?=[\s,)])", re.IGNORECASE), "STRING"),
)
# DuckDB temp tables are materialised; Spark's nearest is a cached temporary view.
_TEMP_TABLE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TEMP(?:ORARY)?\s+TABLE\s+(\"[^\"]+\"|\S+)\s+AS\s+(.*)$",
    re.IGNORECASE | re.DOTALL,
)

_ACTIVE: list[SparkEngine] = []


def _transpile(sql: str) -> str:
    out = sqlglot.transpile(sql, read="duckdb", write="spark")
    if len(out) != 1:
        raise ValueError(f"expected one SQL statement, found {len(out)}")
    text = out[0]
    for pattern, replacement in _TYPE_FIXES:
        text = pattern.sub(replacement, text)
    return text


def to_spark_sqls(sql: str) -> list[str]:
    """Translate one DuckDB-dialect statement into the Spark SQL statements that do the same.

    Every dialect difference the engine knows about lives here (and in ``_TYPE_FIXES``):

    >>> to_spark_sqls('SELECT "a" FROM "t" WHERE x = ?')
    ['SELECT `a` FROM `t` WHERE x = ?']
    >>> to_spark_sqls('CREATE OR REPLACE TEMP TABLE "s" AS SELECT 1 AS a')
    ['UNCACHE TABLE IF EXISTS `s`', 'DROP VIEW IF EXISTS `s`', 'CACHE TABLE `s` AS SELECT 1 AS a']
    """
    m = _TEMP_TABLE.match(sql)
    if m:
        name = m.group(1).strip('"')
        query = _transpile(m.group(2))
        return [f"UNCACHE TABLE IF EXISTS `{name}`", f"DROP VIEW IF EXISTS `{name}`",
                f"CACHE TABLE `{name}` AS {query}"]
    return [_transpile(sql)]


def warehouse_for(path: str | os.PathLike[str]) -> Path | None:
    """The folder a store path keeps its Spark tables in (None for ``":memory:"``).

    A DuckDB-style file path ``x/place.duckdb`` maps to the sibling folder ``x/place.spark``,
    so one place.yaml ``store:`` setting serves both engines; any other path is the folder.
    """
    p = str(path)
    if p == ":memory:":
        return None
    path = Path(p)
    return path.with_suffix(".spark") if path.suffix else path


class SparkEngine(Engine):
    """Run the stages' SQL on a local (or given) SparkSession, tables stored as Parquet.

    Args:
        path: store path (see ``warehouse_for``); ``":memory:"`` uses a temporary folder that
            is removed on ``close()``.
        master: Spark master URL; ``local[2]`` fits this project's two-core machines.
        shuffle_partitions: ``spark.sql.shuffle.partitions``; small keeps small places fast.
        driver_memory: JVM heap for the driver (in local mode, everything runs there).
        conf: further Spark settings, e.g. ``{"spark.driver.maxResultSize": "4g"}``.
        spark: an existing SparkSession to use instead (it is then not stopped on close, and
            tables go wherever that session's catalog keeps them).
    """

    dialect = "spark"

    def __init__(self, path: str = ":memory:", *, master: str = "local[2]",
                 shuffle_partitions: int = 4, driver_memory: str = "2g",
                 conf: dict[str, str] | None = None, spark=None):
        self.path = str(path)
        self._own_session = spark is None
        wh = warehouse_for(path)
        self._temp_dir = None
        if wh is None:
            self._temp_dir = tempfile.mkdtemp(prefix="totalplace-spark-")
            wh = Path(self._temp_dir)
        self.warehouse = wh.resolve()
        if spark is None:
            if _ACTIVE:
                raise StoreError(
                    f"a Spark engine is already open in this process (on {_ACTIVE[0].path}); "
                    "close it first: Spark allows one session per process"
                )
            try:
                spark = _start_session(self.warehouse, master, shuffle_partitions, driver_memory,
                                       conf or {})
            except Exception as e:
                raise StoreError(
                    f"could not start Spark ({type(e).__name__}: {str(e)[:500]}); Spark needs "
                    "a Java runtime (17 or 21) on PATH or in JAVA_HOME"
                ) from e
        self.spark = spark
        _ACTIVE.append(self)
        self.spark.sparkContext.setCheckpointDir(str(self.warehouse / "checkpoints"))

    # --- backend methods ---------------------------------------------------------------
    def _execute(self, sql, params):
        df, last = self._sql(sql, params)
        # Spark builds plans lazily; commands run on spark.sql, but make sure any result is
        # realised so errors surface here, not later.
        if not last.lstrip().upper().startswith(("CREATE", "DROP", "ALTER", "INSERT",
                                                           "CACHE", "UNCACHE")):
            df.collect()

    def _fetch_arrow(self, sql, params):
        df, _ = self._sql(sql, params)
        return df.toArrow()

    def _create_from_arrow(self, name: str, table: pa.Table) -> None:
        self._to_spark(table).write.format("parquet").saveAsTable(f"`{name}`")

    def _swap(self, staged: Mapping[str, str], in_swap) -> None:
        # Spark has no multi-table transaction. Each table is swapped by drop-then-rename;
        # a crash between tables leaves the staging tables, which drop_staging() removes on
        # the next open. The window is milliseconds (catalog operations, no data is moved
        # beyond the rename of each table's folder). The run record follows the renames.
        for name, tmp in staged.items():
            self.spark.sql(f"DROP TABLE IF EXISTS `{name}`")
            self.spark.sql(f"ALTER TABLE `{tmp}` RENAME TO `{name}`")
        in_swap()
        kill_point("after_swap")

    def tables(self) -> list[str]:
        rows = self.spark.sql("SHOW TABLES").collect()
        return sorted(r.tableName for r in rows if not r.isTemporary)

    def register(self, name: str, table: pa.Table) -> None:
        self._to_spark(table).createOrReplaceTempView(name)

    def has_table(self, name: str) -> bool:
        # Registered (temporary) views count too, as they do for DuckDB's registered tables.
        return bool(self.spark.catalog.tableExists(name))

    def close(self) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
            if self._own_session:
                self.spark.stop()
            if self._temp_dir:
                shutil.rmtree(self._temp_dir, ignore_errors=True)

    # --- helpers -----------------------------------------------------------------------
    def _sql(self, sql: str, params: list | None):
        statements = to_spark_sqls(sql)
        for s in statements[:-1]:
            self.spark.sql(s)
        last = statements[-1]
        return (self.spark.sql(last, args=list(params)) if params else self.spark.sql(last)), last

    def _to_spark(self, table: pa.Table):
        if table.num_rows == 0:
            # createDataFrame cannot infer a schema from no rows; give it Arrow's.
            from pyspark.sql.pandas.types import from_arrow_schema

            return self.spark.createDataFrame([], schema=from_arrow_schema(table.schema))
        return self.spark.createDataFrame(table)


_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def _start_session(warehouse: Path, master: str, shuffle_partitions: int, driver_memory: str,
                   conf: dict[str, str]):
    from pyspark.sql import SparkSession

    try:
        from splink.backends.spark import similarity_jar_location

        jars = similarity_jar_location()  # Splink's Jaro-Winkler etc. as Spark UDFs
    except Exception:  # splink without its Spark extra: the engine still works for SQL
        jars = ""
    warehouse.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    # Spark's own start-up chatter and per-task warnings drown a CLI's output; errors only.
    log_conf = warehouse / "log4j2.properties"
    log_conf.write_text(_LOG4J2)
    java_opts = (f"-Dderby.system.home={warehouse} -Dlog4j2.configurationFile=file:{log_conf}")
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    builder = (
        SparkSession.builder.master(master)
        .appName("totalplace")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.warehouse.dir", str(warehouse / "tables"))
        .config("spark.sql.catalogImplementation", "hive")
        .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                f"jdbc:derby:;databaseName={warehouse / 'metastore_db'};create=true")
        .config("spark.driver.extraJavaOptions", java_opts)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.default", "parquet")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if jars:
        builder = builder.config("spark.jars", jars)
    for key, value in conf.items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# --- Splink on Spark --------------------------------------------------------------------
_OWNED_FOR_SPLINK: dict[int, SparkEngine] = {}


def splink_db_api(engine: SparkEngine | None = None, *, break_lineage_method: str = "persist"):
    """A Splink ``SparkAPI`` for the link stage's ``engine="spark"`` path.

    Uses ``engine``'s session when given (a place whose store is on Spark); else the Spark
    engine already open in this process; else starts a local session (``local[2]``, small
    shuffle partitions, Splink's similarity UDF jar loaded). Pass the result to
    ``stop_splink_db_api`` when done: it stops a session this function started and leaves
    any other alone.

    Example::

        from splink import Linker
        api = splink_db_api()
        try:
            linker = Linker(records, settings, db_api=api)
            ...
        finally:
            stop_splink_db_api(api)

    Args:
        engine: the Spark engine whose session to use.
        break_lineage_method: how Splink cuts Spark's query plans between steps: ``"persist"``
            (cache; fast for places that fit in memory) or ``"parquet"`` (write to the
            checkpoint folder; for big places).
    """
    from splink import SparkAPI

    owned = None
    if engine is None:
        engine = _ACTIVE[0] if _ACTIVE else None
    if engine is None:
        owned = engine = SparkEngine(":memory:")
    api = SparkAPI(spark_session=engine.spark, break_lineage_method=break_lineage_method)
    if owned is not None:
        _OWNED_FOR_SPLINK[id(api)] = owned
    return api


def stop_splink_db_api(api=None) -> None:
    """Stop the Spark session ``splink_db_api`` started for ``api`` (no-op otherwise).

    With no argument, stop every session it started (also done when Python exits).
    """
    keys = list(_OWNED_FOR_SPLINK) if api is None else [id(api)]
    for key in keys:
        owned = _OWNED_FOR_SPLINK.pop(key, None)
        if owned is not None and owned in _ACTIVE:
            owned.close()


atexit.register(stop_splink_db_api)
