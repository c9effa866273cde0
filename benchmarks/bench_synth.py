"""Benchmark: generate Anytown (population, activity, extracts, truth) at a given size."""

from __future__ import annotations

from pathlib import Path

SUITE = "synth"
DEFAULT_SIZES = [10_000, 100_000, 1_000_000]


def run(residents: int, workdir: Path) -> dict:
    """Generate a place of ``residents`` people; return stage timings and output sizes."""
    from totalplace.synth import generate

    out = workdir / "anytown"
    s = generate(residents=residents, seed=1, out=out)
    files = [p for p in out.rglob("*") if p.is_file()]
    return {
        "households": s.households,
        "person_records": s.records,
        "files": len(files),
        "output_mb": round(sum(p.stat().st_size for p in files) / 2**20, 1),
        **{f"{k}_s": round(v, 2) for k, v in s.timings.items()},
    }
