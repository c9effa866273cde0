"""A tiny synthetic place (300 residents) prepared stage by stage, for the crash tests."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

TINY_RESIDENTS = 300
TINY_SEED = 3


def table_digest(store, name: str) -> tuple[int, str]:
    """Row count and a hash of the sorted rows, leaving out run ids and timestamps.

    Floats are compared to 9 significant digits: multi-threaded sums (Splink's EM) differ in
    the last bits from run to run.
    """

    def norm(v):
        if isinstance(v, float):
            return float(f"{v:.9g}")
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        return v

    t = store.engine.query(f'SELECT * FROM "{name}"')
    cols = [c for c in t.column_names if c not in ("run_id", "at") and not c.endswith("_at")]
    rows = sorted(
        json.dumps(norm(r), default=str, sort_keys=True) for r in t.select(cols).to_pylist()
    )
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


def copy_place(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("truth"))
    return dst


@pytest.fixture(scope="session")
def tiny_stages(tmp_path_factory) -> dict:
    """Run every available stage once on a tiny place, keeping a copy of the place before
    each stage and the digest of each stage's tables after it (the uninterrupted run).

    Returns ``{"before": {stage: Path}, "tables": {stage: {table: digest}}, "stages": [...],
    "cannot": {stage: reason}, "failed": {stage: reason}}``. A stage whose reference run
    stops with a clear TotalplaceError (it cannot run on so small a place, e.g. appraise
    finds no comparison group among 300 residents) is in ``cannot`` and its tests skip; one
    that fails otherwise is in ``failed`` (its tests fail) and later stages are not prepared.
    """
    from totalplace.errors import TotalplaceError
    from totalplace.place import Place, available_stages
    from totalplace.synth import generate

    root = tmp_path_factory.mktemp("tiny")
    work = root / "work"
    generate(residents=TINY_RESIDENTS, seed=TINY_SEED, out=work)
    shutil.rmtree(work / "truth")
    out: dict = {"before": {}, "tables": {}, "stages": [], "failed": {}, "cannot": {}}
    for name in available_stages():
        out["before"][name] = copy_place(work, root / f"before-{name}")
        try:
            with Place.open(work) as place:
                result = place.stage(name).run()
                out["tables"][name] = {t: table_digest(place.store, t) for t in result.tables}
        except TotalplaceError as e:  # a clear "cannot on this place": that stage is skipped
            out["cannot"][name] = f"{type(e).__name__}: {str(e)[:300]}"
            continue
        except Exception as e:  # a bug: reported as a failure by that stage's tests
            out["failed"][name] = f"{type(e).__name__}: {str(e)[:300]}"
            break
        out["stages"].append(name)
    return out
