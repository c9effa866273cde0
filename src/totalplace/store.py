"""The place store: one database per place, the tables each stage publishes, and ``runs``.

Stages never open connections themselves; they ask the store for its engine, publish
tables through ``Store.publish`` (atomic: all or nothing), and wrap their work in
``Store.stage_run`` so every run is recorded, failed ones included::

    store = Store.open("anytown/place.duckdb")
    with store.stage_run("ingest", inputs=[...]) as run:
        counts = store.publish({"source_people": sql})
        run.rows["source_people"] = {"out": counts["source_people"]}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from totalplace import __version__
from totalplace.engine import Engine, SqlStep, open_engine
from totalplace.errors import StoreError
from totalplace.tables import RUNS

# Which stage publishes which table, so a missing table's error can say what to run.
PRODUCED_BY: dict[str, str] = {
    "source_people": "ingest",
    "events": "ingest",
    "spend": "ingest",
    "rejects": "ingest",
    "person_links": "link",
    "persons": "link",
    "households": "link",
    "person_id_history": "link",
    "linkage_pairs": "link",
    "programme_effects": "appraise",
    "appraisals": "appraise",
    "appraisal_by_agency": "appraise",
    "appraisal_flows": "appraise",
    "appraisal_tornado": "appraise",
    "money_count": "money",
    "activity_costs": "money",
    "failure_demand_costs": "money",
    "payments": "ingest",
}


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def utcnow() -> dt.datetime:
    """Now, in UTC, as a naive datetime (the store's TIMESTAMP columns are UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class RunRecord:
    """What a stage fills in while it runs; written to ``runs`` when it ends."""

    run_id: str
    stage: str
    started_at: dt.datetime
    inputs: dict[str, str] = field(default_factory=dict)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


class Store:
    """A place's store. Use ``Store.open(path)``; close it when done (or use ``with``)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._ensure_runs()

    @classmethod
    def open(cls, path: str | Path, engine: str = "duckdb", **options) -> Store:
        if engine == "duckdb" and str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        store = cls(open_engine(engine, str(path), **options))
        store.engine.drop_staging()  # left by a run that was killed before its swap
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.engine.close()

    # --- tables ----------------------------------------------------------------------------
    def publish(self, tables: Mapping[str, str | pa.Table | Iterable[SqlStep]]) -> dict[str, int]:
        """Atomically replace the named tables; returns each one's row count."""
        return self.engine.publish(tables)

    def require(self, *names: str) -> None:
        """Raise a StoreError naming each missing table and the stage that makes it."""
        have = set(self.engine.tables())
        missing = [n for n in names if n not in have]
        if missing:
            hints = ", ".join(f"{n} (run `totalplace {PRODUCED_BY.get(n, '?')}`)" for n in missing)
            raise StoreError(f"the place store has no table {hints}")

    def table(self, name: str) -> pa.Table:
        self.require(name)
        return self.engine.query(f'SELECT * FROM "{name}"')

    # --- runs ------------------------------------------------------------------------------
    def _ensure_runs(self) -> None:
        if not self.engine.has_table(RUNS.name):
            self.engine.run(RUNS.create_sql())

    @contextmanager
    def stage_run(self, stage: str, inputs: Iterable[str | Path] = ()) -> Iterator[RunRecord]:
        """Record one run of ``stage`` in ``runs``, with its outcome even when it fails."""
        rec = RunRecord(run_id=uuid.uuid4().hex, stage=stage, started_at=utcnow())
        for p in inputs:
            rec.inputs[str(p)] = sha256_file(p)
        outcome = "ok"
        try:
            yield rec
        except BaseException as e:
            outcome = f"failed: {type(e).__name__}: {e}"[:2000]
            raise
        finally:
            self.engine.run(
                f"INSERT INTO {RUNS.name} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    rec.run_id,
                    stage,
                    rec.started_at,
                    utcnow(),
                    outcome,
                    __version__,
                    json.dumps(rec.rows),
                    json.dumps(rec.inputs),
                    json.dumps(rec.detail, default=str),
                ],
            )

    def runs(self, stage: str | None = None) -> list[dict[str, Any]]:
        """Every recorded run, oldest first (optionally for one stage)."""
        where = "WHERE stage = ?" if stage else ""
        t = self.engine.query(
            f"SELECT * FROM {RUNS.name} {where} ORDER BY started_at", [stage] if stage else None
        )
        out = t.to_pylist()
        for r in out:
            for k in ("rows", "inputs", "detail"):
                if isinstance(r.get(k), str):
                    r[k] = json.loads(r[k])
        return out

    def last_run(self, stage: str) -> dict[str, Any] | None:
        runs = [r for r in self.runs(stage) if r["outcome"] == "ok"]
        return runs[-1] if runs else None
