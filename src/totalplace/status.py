"""Is each stage's output up to date? From lineage (``runs.reads``) and input hashes.

A stage is **fresh** when the run that published its live tables

- read input files (and ``place.yaml`` settings) whose SHA-256 is still the same, and
- read tables (its lineage) that are still the ones it read: no stage has republished them
  since, and the stages that made them are fresh themselves.

Otherwise it is **stale**, with the reasons. An input file that is no longer there (extracts
archived after ingest) is noted but does not make a stage stale.

>>> from totalplace import Place
>>> with Place.open("examples/minitown", read_only=True) as place:   # doctest: +SKIP
...     [(s.stage, s.state) for s in stage_status(place)]
[('ingest', 'fresh'), ('link', 'stale')]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from totalplace.lifecycle import pid_alive
from totalplace.store import sha256_file

State = Literal["fresh", "stale", "not run"]


@dataclass
class StageStatus:
    """One stage's state: its last run, the run behind its live tables, and why stale."""

    stage: str
    state: State
    last_run: dict[str, Any] | None = None
    current_run: dict[str, Any] | None = None
    tables: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        r = self.last_run
        return bool(r and r["outcome"] == "running" and r.get("pid") and pid_alive(r["pid"]))


def stage_status(place, stages: list[str] | None = None) -> list[StageStatus]:
    """The status of each stage (default: every available stage), in data-flow order."""
    from totalplace.place import available_stages

    names = stages or available_stages()
    store = place.store
    runs = store.runs()
    live = store.published()
    out: dict[str, StageStatus] = {}
    for name in names:
        out[name] = _one(place, name, runs, live, out)
    return [out[n] for n in names]


def is_fresh(place, stage: str) -> StageStatus:
    """``stage_status`` for one stage (its upstream stages are checked too)."""
    from totalplace.place import STAGES

    order = [s.name for s in STAGES]
    upto = order[: order.index(stage) + 1] if stage in order else [stage]
    return stage_status(place, upto)[-1]


def _one(place, name: str, runs: list[dict], live: dict[str, dict], done: dict) -> StageStatus:
    mine = [r for r in runs if r["stage"] == name]
    last = mine[-1] if mine else None
    tables = {t: int(i["rows"]) for t, i in live.items() if i["stage"] == name}
    by_id = {r["run_id"]: r for r in mine}
    current = None
    if tables:
        newest = max(
            (i for i in live.values() if i["stage"] == name), key=lambda i: i["published_at"]
        )
        current = by_id.get(newest["run_id"])
    if current is None:
        ok = [r for r in mine if r["outcome"] == "ok"]
        current = ok[-1] if ok else None
    st = StageStatus(name, "not run", last, current, tables)
    if current is None:
        return st
    _check_inputs(place, name, current, st)
    _check_reads(current, live, done, st)
    st.state = "stale" if st.reasons else "fresh"
    return st


def _check_inputs(place, name: str, run: dict, st: StageStatus) -> None:
    now_settings = (place.store.fingerprint or (lambda _s: {}))(name)
    for key, digest in (run.get("settings") or {}).items():
        if now_settings.get(key) != digest:
            sections = key.split(":", 1)[1] or "its settings"
            st.reasons.append(f"place.yaml ({sections}) changed since it ran")
    for key, digest in (run.get("inputs") or {}).items():
        path = Path(key)
        shown = _shown(place, path)
        if not path.is_file():
            st.notes.append(f"{shown} is no longer there (not checked)")
        elif sha256_file(path) != digest:
            st.reasons.append(f"{shown} changed since it ran")


def _check_reads(run: dict, live: dict[str, dict], done: dict, st: StageStatus) -> None:
    reads = run.get("reads")
    if reads is None:
        st.reasons.append("it ran before lineage was recorded; run it again to record it")
        return
    for table, run_id in reads.items():
        info = live.get(table)
        if info is None:
            st.reasons.append(f"{table}, which it read, is gone")
        elif info["run_id"] != run_id:
            st.reasons.append(f"{table} was republished by {info['stage']} since it ran")
        else:
            upstream = done.get(info["stage"])
            if upstream is not None and upstream.state == "stale":
                reason = f"{info['stage']} is stale"
                if reason not in st.reasons:
                    st.reasons.append(reason)


def _shown(place, path: Path) -> str:
    try:
        return path.relative_to(place.root).as_posix()
    except ValueError:
        return str(path)
