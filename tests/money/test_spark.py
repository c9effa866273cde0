"""The count on both engines: DuckDB and Spark give the same money_count, to the penny."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import pyarrow as pa
import pytest

from totalplace.manifest import Manifest, Period
from totalplace.place import Place
from totalplace.store import Store

SPEND = pa.Table.from_pylist(
    [
        dict(
            agency=a,
            year=y,
            funder="F",
            service=s,
            theme="t",
            category=c,
            amount_gbp=Decimal(v),
            source_file="f",
            source_row=i,
        )
        for i, (a, y, s, c, v) in enumerate(
            [
                ("acute", "2024/25", "ED", "front line", "1000.10"),
                ("acute", "2024/25", "IT", "support", "100.01"),
                ("acute", "2025/26", "ED", "front line", "1100.20"),
                ("police", "2024/25", "Response", "front line", "500.00"),
                ("police", "2025/26", "Estates", "buildings", "60.05"),
            ],
            start=1,
        )
    ],
    schema=pa.schema(
        [
            ("agency", pa.string()),
            ("year", pa.string()),
            ("funder", pa.string()),
            ("service", pa.string()),
            ("theme", pa.string()),
            ("category", pa.string()),
            ("amount_gbp", pa.decimal128(18, 2)),
            ("source_file", pa.string()),
            ("source_row", pa.int64()),
        ]
    ),
)


def _count(tmp_path, engine: str) -> list[tuple]:
    m = Manifest(
        name="Two engines",
        period=Period(start=dt.date(2024, 4, 1), end=dt.date(2026, 3, 31)),
        agencies=[],
        money={"population": 1000},
        root=tmp_path,
    )
    store = Store.open(tmp_path / f"{engine}.duckdb", engine=engine)
    try:
        store.publish({"spend": SPEND})
        with Place(m, store) as place:
            place.money.run()
            rows = store.engine.query(
                "SELECT level, year, agency, category, amount_gbp, amount_real_gbp, "
                "change_real_gbp FROM money_count"
            ).to_pylist()
    finally:
        store.close()
    return sorted(tuple(r.values()) for r in rows)


@pytest.mark.spark
@pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime on PATH")
def test_money_count_same_on_duckdb_and_spark(tmp_path):
    pytest.importorskip("pyspark")
    duck = _count(tmp_path / "d", "duckdb")
    spark = _count(tmp_path / "s", "spark")
    assert duck == spark
    place = [r for r in duck if r[0] == "place"]
    assert [r[4] for r in place] == [Decimal("1600.11"), Decimal("1160.25")]
