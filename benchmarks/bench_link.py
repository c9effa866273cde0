"""Benchmark: link a synthetic place end to end (synth -> ingest -> link) and score it.

Records the comparisons Splink made, the time of each linkage phase, and pairwise and
B-cubed precision/recall against the place's truth. The runner adds wall time and peak
memory for the whole subprocess (synth and ingest included).
"""

from __future__ import annotations

import time
from pathlib import Path

SUITE = "link"
DEFAULT_SIZES = [10_000, 100_000, 1_000_000]


def run(residents: int, workdir: Path) -> dict:
    """Build Anytown with ``residents`` people, ingest it, link it, compare with truth."""
    import duckdb

    from totalplace.link.evaluate import pairwise_metrics
    from totalplace.place import Place
    from totalplace.synth import generate

    out = workdir / "anytown"
    t0 = time.perf_counter()
    generate(residents=residents, seed=1, out=out)
    synth_s = time.perf_counter() - t0
    truth_path = out / "truth" / "source_records.parquet"
    truth = duckdb.sql(
        f"SELECT agency || '|' || source_id AS unique_id, CAST(person_id AS VARCHAR) "
        f"AS truth_id FROM read_parquet('{truth_path}')"
    ).to_arrow_table()
    with Place.open(out) as place:
        t0 = time.perf_counter()
        place.ingest.run()
        ingest_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = place.link.run(truth=truth)
        link_s = time.perf_counter() - t0
        links = place.store.engine.query(
            "SELECT unique_id, person_id AS cluster_id FROM person_links"
        )
    m = pairwise_metrics(duckdb.connect(), links, truth)
    d = result.detail
    return {
        "records": m["records"],
        "comparisons": d["comparisons"],
        "blocking_union_recall": round(d["blocking_recall"]["union_recall"], 5),
        "threshold": d["threshold"]["value"],
        "precision": round(m["precision"], 5),
        "recall": round(m["recall"], 5),
        "bcubed_f1": round(m["bcubed_f1"], 5),
        "est_precision": round(d["threshold"]["estimated_precision"], 5),
        "est_recall": round(d["threshold"]["estimated_recall"], 5),
        "persons": result.tables["persons"],
        "flagged": d["flags"]["size"] + d["flags"]["bridge"],
        "rules_dropped": [r["rule"] for r in d["rule_selection"] if not r["kept"]],
        "synth_s": round(synth_s, 1),
        "ingest_s": round(ingest_s, 1),
        "link_s": round(link_s, 1),
        **{f"{k}_s": round(v, 1) for k, v in d["timings"].items()},
    }
