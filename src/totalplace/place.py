"""``Place``: the one entry object. One namespace per stage, in data-flow order.

>>> from totalplace import Place
>>> place = Place.open("examples/minitown")         # doctest: +SKIP
>>> result = place.ingest.run()                      # doctest: +SKIP
>>> result.tables["source_people"]                   # doctest: +SKIP
42

Stages are found by name in ``STAGES``; one that this version does not provide raises
``StageNotAvailable`` rather than pretending to work.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from totalplace.errors import StageNotAvailable
from totalplace.manifest import Manifest, load_manifest
from totalplace.store import Store


@dataclass
class StageResult:
    """What a stage run returns: the tables it published (with row counts) and a summary."""

    stage: str
    tables: dict[str, int] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    headline: str = ""
    # True when `totalplace run` found the stage up to date and did not run it.
    skipped: bool = False

    @property
    def one_line(self) -> str:
        """The line `totalplace run` shows for this stage."""
        return self.headline or (self.summary[0] if self.summary else "")


@dataclass(frozen=True)
class StageInfo:
    name: str
    module: str
    cls: str
    help: str


# In data-flow order; `totalplace run` runs the available ones in this order. A stage is a
# package with a class (``run()`` -> StageResult) and a module-level ``section(place,
# disclosure)`` that returns its part of the report (see ``totalplace.section``).
STAGES: tuple[StageInfo, ...] = (
    StageInfo(
        "ingest", "totalplace.ingest", "Ingest", "read the agencies' extracts into the store"
    ),
    StageInfo("link", "totalplace.link", "Link", "link records into people and households"),
    StageInfo("demand", "totalplace.demand", "Demand", "value and failure demand, repeat demand"),
    StageInfo("people", "totalplace.people", "People", "costs, needs, concentration, cohorts"),
    StageInfo("journeys", "totalplace.journeys", "Journeys", "timelines, transitions, handoffs"),
    StageInfo("money", "totalplace.money", "Money", "the count of all public money"),
    StageInfo("appraise", "totalplace.appraise", "Appraise", "prevention business cases"),
    StageInfo("report", "totalplace.report", "Report", "the HTML report"),
)

# `totalplace analyse PLACE` runs these, in this order.
ANALYSIS_STAGES: tuple[str, ...] = ("demand", "people", "journeys", "money")


def stage_class(name: str):
    """The class implementing stage ``name``; raises StageNotAvailable if there is none yet."""
    info = next((s for s in STAGES if s.name == name), None)
    if info is None:
        raise ValueError(f"no stage {name!r}; stages: {', '.join(s.name for s in STAGES)}")
    try:
        mod = importlib.import_module(info.module)
    except ModuleNotFoundError as e:
        if e.name and (info.module == e.name or info.module.startswith(e.name + ".")):
            raise StageNotAvailable(name) from None
        raise
    cls = getattr(mod, info.cls, None)
    if cls is None:
        raise StageNotAvailable(name)
    return cls


def available_stages() -> list[str]:
    out = []
    for s in STAGES:
        try:
            stage_class(s.name)
        except StageNotAvailable:
            continue
        out.append(s.name)
    return out


# The place.yaml sections each stage reads; ingest reads everything else (agencies, period,
# files, ...). A change to a stage's sections makes that stage stale.
SETTINGS_KEYS: dict[str, tuple[str, ...]] = {
    "link": ("linkage",),
    "demand": ("demand",),
    "people": ("people",),
    "journeys": ("journeys",),
    "money": ("money",),
    "appraise": ("appraise", "programmes"),
    "report": ("report",),
}


def settings_fingerprint(manifest: Manifest, stage: str) -> dict[str, str]:
    """``{"place.yaml:<sections>": sha256}`` of the settings ``stage`` uses."""
    data = manifest.model_dump(mode="json")
    if stage in SETTINGS_KEYS:
        keys = [k for k in SETTINGS_KEYS[stage] if k in data]
    else:
        others = {k for ks in SETTINGS_KEYS.values() for k in ks}
        keys = sorted(k for k in data if k not in others)
    blob = json.dumps({k: data[k] for k in keys}, sort_keys=True, default=str)
    return {f"place.yaml:{','.join(keys)}": hashlib.sha256(blob.encode()).hexdigest()}


class Place:
    """One place: its manifest, its store, and a namespace per stage."""

    def __init__(self, manifest: Manifest, store: Store):
        self.manifest = manifest
        self.store = store
        self._stages: dict[str, Any] = {}
        # Every run records a fingerprint of the place.yaml settings its stage uses, so a
        # change to them makes the stage stale (see totalplace.status).
        store.fingerprint = lambda stage: settings_fingerprint(manifest, stage)

    @classmethod
    def open(
        cls,
        path: str | Path,
        engine: str = "duckdb",
        store_path: str | Path | None = None,
        read_only: bool = False,
    ) -> Place:
        """Open the place in folder ``path`` (or a ``place.yaml`` path).

        ``read_only`` opens the store only to look (``totalplace status``, the web app):
        several readers may do so at once.
        """
        manifest = load_manifest(path)
        store = Store.open(store_path or manifest.store_path, engine=engine, read_only=read_only)
        return cls(manifest, store)

    @property
    def root(self) -> Path:
        return self.manifest.root

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Place:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stage(self, name: str):
        if name not in self._stages:
            self._stages[name] = stage_class(name)(self)
        return self._stages[name]

    def __getattr__(self, name: str):
        if any(s.name == name for s in STAGES):
            return self.stage(name)
        raise AttributeError(name)
