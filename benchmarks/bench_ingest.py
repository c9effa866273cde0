"""Benchmark: ingest a synthetic place (every extract into the canonical tables)."""

from __future__ import annotations

import time
from pathlib import Path

SUITE = "ingest"
DEFAULT_SIZES = [10_000, 100_000, 1_000_000]


def run(residents: int, workdir: Path) -> dict:
    """Generate Anytown (not timed), then time ``Place.ingest.run()`` on it."""
    from totalplace.place import Place
    from totalplace.synth import generate

    out = workdir / "anytown"
    generate(residents=residents, seed=1, out=out)
    input_mb = sum(
        p.stat().st_size for p in out.rglob("*") if p.is_file() and "truth" not in p.parts
    )
    t0 = time.perf_counter()
    with Place.open(out) as place:
        result = place.ingest.run()
    secs = time.perf_counter() - t0
    rows_read = sum(f["read"] for f in result.detail["files"])
    return {
        "ingest_s": round(secs, 2),
        "files": len(result.detail["files"]),
        "input_mb": round(input_mb / 2**20, 1),
        "rows_read": rows_read,
        "rows_per_s": round(rows_read / secs),
        **{f"{t}_rows": n for t, n in result.tables.items()},
    }
