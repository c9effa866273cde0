"""``generate()``: build Anytown into a folder (extracts, place.yaml, truth).

The contract with the activity half (``totalplace.synth.activity``)::

    result = make_activity(pop, plan, rng)

where ``pop`` is a :class:`~totalplace.synth.population.Population`, ``plan`` a
:class:`~totalplace.synth.records.RecordPlan` (ask it ``plan.source_ids(agency, person_idx,
rng)`` for each event's person) and ``rng`` a numpy Generator. ``result`` has
``files: list[ExtractFile]`` (events and spend files for any agency) and
``truth: dict[str, pyarrow.Table]`` (written as ``truth/<name>.parquet``, e.g. 'contacts',
'transitions', 'programme', 'costs'), and optionally ``lines: list[str]`` for the summary.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from totalplace.errors import TotalplaceError
from totalplace.manifest import MANIFEST_NAME
from totalplace.synth.noise import NoiseConfig
from totalplace.synth.population import Period, make_population
from totalplace.synth.records import RecordPlan, person_extracts
from totalplace.synth.writer import write_place

UNIT_COSTS_PATH = "costs/unit_costs.csv"


def read_data_text(name: str) -> str:
    """A file shipped in ``totalplace/data``, as text."""
    from importlib import resources

    return resources.files("totalplace.data").joinpath(name).read_text(encoding="utf-8")


ACTIVITY_MODULE = "totalplace.synth.activity"


class SynthError(TotalplaceError):
    """The synthetic place could not be written (e.g. the folder is not empty)."""


@dataclass
class SynthSummary:
    """What ``generate`` made: counts for the CLI, and the files written."""

    out: Path
    residents: int
    households: int
    records: int
    files: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def _records_with_noise(source_records: pa.Table, kinds: tuple[str, ...]) -> int:
    """How many records carry at least one identifier-noise kind (hazards not counted)."""
    lists = source_records.column("noise").combine_chunks()
    hit = pc.is_in(pc.list_flatten(lists), pa.array(kinds))
    parents = pc.list_parent_indices(lists).filter(hit)
    return len(pc.unique(parents))


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SynthError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise SynthError(
                f"{out}: folder is not empty; pass force=True (--force) to overwrite it"
            )
        if not (out / MANIFEST_NAME).exists() and not (out / "truth").is_dir():
            raise SynthError(
                f"{out}: not a synthetic place (no {MANIFEST_NAME}); refusing to delete its "
                "contents even with --force"
            )


def generate(
    residents: int,
    seed: int,
    out: Path | str,
    force: bool = False,
    noise: NoiseConfig | None = None,
    period: Period | None = None,
    activity: bool = True,
    activity_config: dict | None = None,
) -> SynthSummary:
    """Create Anytown in ``out``: every agency's extracts, ``place.yaml`` and ``truth/``.

    Args:
        residents: number of residents.
        seed: random seed; the same seed gives the same bytes in every file.
        out: folder to write (created if missing; must be empty unless ``force``).
        force: replace the contents of a non-empty ``out``.
        noise: identifier-noise rates (default :class:`NoiseConfig`).
        period: analysis period (default April 2023 to March 2026).
        activity: also generate events, spend and their truth (False: person records only,
            e.g. for linkage experiments).
        activity_config: overrides for ``data/activity_model.yaml`` (top-level keys
            replaced), e.g. ``{"programme": {"participants_per_100k": 2000}}``.

    Example:
        >>> s = generate(residents=2_000, seed=1, out=tmp_path / "anytown")  # doctest: +SKIP
        >>> s.lines[0]                                                       # doctest: +SKIP
        'Anytown: 2,000 residents in 843 households'
    """
    out = Path(out)
    _check_out(out, force)
    noise = noise or NoiseConfig()
    period = period or Period()
    # Independent streams per part, so adding draws to one part leaves the others unchanged.
    pop_rng, plan_rng, act_rng, rec_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    timings: dict[str, float] = {}
    t = time.perf_counter()
    pop = make_population(residents, pop_rng, period)
    timings["population"] = time.perf_counter() - t

    t = time.perf_counter()
    plan = RecordPlan(pop, plan_rng)
    files, truth, extra_lines, price_year = [], {}, [], None
    if activity and importlib.util.find_spec(ACTIVITY_MODULE) is not None:
        from totalplace.synth.activity import make_activity

        result = make_activity(pop, plan, act_rng, activity_config)
        files.extend(result.files)
        truth.update(result.truth)
        extra_lines = list(getattr(result, "lines", []) or [])
        price_year = getattr(result, "price_year", None)
    timings["activity"] = time.perf_counter() - t

    t = time.perf_counter()
    person_files, source_records = person_extracts(plan, noise, rec_rng)
    timings["records"] = time.perf_counter() - t
    truth["source_records"] = source_records
    truth["needs"] = pop.needs
    truth["people"] = pop.people
    truth["households"] = pop.households

    t = time.perf_counter()
    # The place ships the unit-cost table it was costed with (when it has activity), and says
    # how many residents it has (a real place takes this from the ONS mid-year estimates).
    people = {"population": int(pop.size)}
    if price_year:
        people["unit_costs"] = UNIT_COSTS_PATH
    from totalplace.synth import labels

    # A fifth stream, so the staff sample leaves the other four unchanged.
    label_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[4])
    sample = labels.staff_sample(files, truth.get("contacts"), label_rng)
    extra = {labels.SAMPLE_PATH: sample} if sample is not None else {}
    written = write_place(
        out,
        person_files + files,
        truth,
        period,
        force=force,
        price_year=price_year,
        people=people,
        texts={UNIT_COSTS_PATH: read_data_text("unit_costs.csv")} if price_year else None,
        extra_files=extra,
        manifest_extra={"demand": labels.demand_settings()} if extra else None,
    )
    timings["write"] = time.perf_counter() - t

    n_noisy = _records_with_noise(source_records, noise.kinds)
    lines = [
        f"Anytown: {pop.size:,} residents in {pop.households.num_rows:,} households",
        f"{source_records.num_rows:,} person records across {len(plan.agency_ids)} agencies; "
        f"{n_noisy:,} ({n_noisy / max(source_records.num_rows, 1):.0%}) with identifier noise",
        *extra_lines,
        f"Wrote {len(written)} files; truth in {out / 'truth'}",
    ]
    return SynthSummary(
        out=out,
        residents=pop.size,
        households=pop.households.num_rows,
        records=source_records.num_rows,
        files=written,
        timings=timings,
        lines=lines,
    )
