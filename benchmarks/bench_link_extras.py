"""Benchmark: the link stage's extras on a synthetic place (households, stable ids, review).

Person links are taken from the truth (perfect linkage), so the numbers isolate these steps
from Splink: households built and scored against true households; stable ids assigned on a
first run and again after about 1% of records move to other clusters and 2% are new; the
clerical review file written for the uncertain band of a set of scored pairs (every true
pair within a household, with a made-up probability, so the file has realistic size).
"""

from __future__ import annotations

import time
from pathlib import Path

SUITE = "link_extras"
DEFAULT_SIZES = [10_000, 100_000, 1_000_000]


def run(residents: int, workdir: Path) -> dict:
    """Build Anytown (people only), ingest it, then time each extra step."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from totalplace.link.households import build, quality_sql
    from totalplace.link.review import write_review_file
    from totalplace.link.stable_ids import assign
    from totalplace.place import Place
    from totalplace.synth import generate

    out = workdir / "anytown"
    generate(residents=residents, seed=1, out=out, activity=False)
    truth = pq.read_table(out / "truth" / "source_records.parquet")
    metrics: dict = {}
    with Place.open(out) as place:
        place.ingest.run()
        store, eng = place.store, place.store.engine
        eng.register("truth", truth)
        links = eng.query("SELECT agency, source_id, agency || '|' || source_id AS unique_id, "
                          "'T' || person_id AS person_id FROM truth")
        metrics["records"] = links.num_rows
        eng.register("bench_links", links)

        t0 = time.perf_counter()
        counts = store.publish(build(eng, "bench_links"))
        metrics["households_s"] = round(time.perf_counter() - t0, 2)
        metrics["households"] = counts["households"]
        q = eng.query(quality_sql("household_members", "bench_links", "truth")).to_pylist()[0]
        metrics.update({k: round(q[k], 5) for k in ("purity", "completeness",
                                                    "reachable_completeness")})

        clusters = links.select(["agency", "source_id", "unique_id"]).append_column(
            "cluster_id", links.column("person_id"))
        t0 = time.perf_counter()
        mapping, history = assign(clusters, store, "bench-1")
        metrics["stable_ids_first_s"] = round(time.perf_counter() - t0, 2)
        store.publish({"person_links": mapping, "person_id_history": history})

        rng = np.random.default_rng(1)
        n = clusters.num_rows
        cid = np.array(clusters.column("cluster_id").to_pylist(), dtype=object)
        moved = rng.random(n) < 0.01
        cid[moved] = cid[rng.integers(0, n, int(moved.sum()))]
        k = int(n * 0.02)
        new = pa.table({"agency": ["new"] * k, "source_id": [str(i) for i in range(k)],
                        "unique_id": [f"new|{i}" for i in range(k)],
                        "cluster_id": [f"N{i // 2}" for i in range(k)]})
        second = pa.concat_tables([clusters.set_column(3, "cluster_id", pa.array(cid)), new])
        t0 = time.perf_counter()
        mapping2, history2 = assign(second, store, "bench-2")
        metrics["stable_ids_rerun_s"] = round(time.perf_counter() - t0, 2)
        old = dict(zip(mapping.column("unique_id").to_pylist(),
                       mapping.column("person_id").to_pylist(), strict=True))
        again = dict(zip(mapping2.column("unique_id").to_pylist(),
                         mapping2.column("person_id").to_pylist(), strict=True))
        metrics["ids_kept_share"] = round(
            sum(again[u] == p for u, p in old.items()) / len(old), 5)
        events = history2.slice(history.num_rows).column("event").to_pylist()
        metrics["history_events"] = {e: events.count(e) for e in sorted(set(events))}

        pairs = eng.query("""
            SELECT a.unique_id AS unique_id_l, b.unique_id AS unique_id_r,
                   (hash(a.unique_id || b.unique_id) % 1000) / 1000.0 AS match_probability,
                   0.0 AS match_weight
            FROM (SELECT agency || '|' || source_id AS unique_id, household_id FROM truth) a
            JOIN (SELECT agency || '|' || source_id AS unique_id, household_id FROM truth) b
              ON a.household_id = b.household_id AND a.unique_id < b.unique_id""")
        source = store.table("source_people")
        t0 = time.perf_counter()
        metrics["review_rows"] = write_review_file(pairs, workdir / "review_pairs.csv",
                                                   records=source)
        metrics["review_s"] = round(time.perf_counter() - t0, 2)
        metrics["review_pairs_in"] = pairs.num_rows
    return metrics
