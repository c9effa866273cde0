"""The DuckDB engine: queries, errors carrying their SQL, Arrow round trips."""

from __future__ import annotations

import pyarrow as pa
import pytest

from totalplace.engine import open_engine
from totalplace.errors import MissingExtra, StoreError


@pytest.fixture
def eng():
    e = open_engine("duckdb", ":memory:")
    yield e
    e.close()


def test_query_returns_arrow(eng):
    t = eng.query("SELECT 1 AS a, 'x' AS b")
    assert isinstance(t, pa.Table)
    assert t.to_pylist() == [{"a": 1, "b": "x"}]


def test_parameters(eng):
    assert eng.scalar("SELECT ? + ?", [2, 3]) == 5


def test_errors_carry_the_sql(eng):
    with pytest.raises(StoreError, match=r"(?s)while running:\nSELECT nope FROM nowhere"):
        eng.query("SELECT nope FROM nowhere")


def test_register_arrow(eng):
    eng.register("t", pa.table({"x": [1, 2, 3]}))
    assert eng.scalar("SELECT sum(x) FROM t") == 6


def test_unknown_engine_is_a_clear_error():
    with pytest.raises(
        ValueError, match="engine must be one of: 'duckdb', 'spark'; found 'sqlite'"
    ):
        open_engine("sqlite")


def test_missing_extra_message_gives_the_pip_line():
    err = MissingExtra("pyspark", "spark")
    assert 'pip install "totalplace[spark]"' in str(err)
