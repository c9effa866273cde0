"""Benchmark: link one place on DuckDB and on Spark with default settings, and compare.

Spark must finish on this machine with its default memory (sized from the machine) and
link the same people as DuckDB. Records each engine's link time and threshold, and the
share of records whose whole cluster is the same on both engines (`same_cluster_share`).
The runner adds wall time and peak memory of the Python process (Spark's JVM is a child
process and is not included).
"""

from __future__ import annotations

import time
from pathlib import Path

SUITE = "link_spark"
DEFAULT_SIZES = [5_000]


def run(residents: int, workdir: Path) -> dict:
    from totalplace.engine.spark import stop_splink_db_api
    from totalplace.link.evaluate import same_cluster_share
    from totalplace.place import Place
    from totalplace.synth import generate

    out = workdir / "anytown"
    generate(residents=residents, seed=5, out=out, activity=False)
    with Place.open(out) as place:
        place.ingest.run()
    row: dict = {}
    links = {}
    try:
        for engine in ("duckdb", "spark"):
            t0 = time.perf_counter()
            with Place.open(out) as place:
                res = place.link.run(engine=engine)
                links[engine] = place.store.table("person_links")
            row[engine] = {
                "link_s": round(time.perf_counter() - t0, 1),
                "threshold": round(res.detail["threshold"]["value"], 4),
                "comparisons": res.detail["comparisons"],
                "persons": res.tables["persons"],
            }
    finally:
        stop_splink_db_api()
    row["records"] = links["duckdb"].num_rows
    row["same_cluster_share"] = round(same_cluster_share(links["duckdb"], links["spark"]), 5)
    return row
