"""A past prevention programme with a known true effect (for testing the appraisal stage).

In year one, adults (with one of the programme's ``needs``, if the ``programme:`` part of
``data/activity_model.yaml`` lists any; by default it lists none: any adult) who
attended A&E at least ``min_prior`` times in the first half-year were eligible for a High
Intensity Use programme. Joining was not at random: the probability is ``scale * prior**power``
(capped at ``cap``), so the more attendances in that half-year, the likelier to be asked
(selection on recent high use, so part of any later fall is regression to the mean). ``scale``
is solved so that the expected number of joiners is ``participants_per_100k`` per 100,000
residents (the programme's size). Joiners enrolled in the second half of year one. From
joining to the end of the period, each of their A&E attendances is removed with probability ``1 - rate_ratio`` (and with it any admission it
would have led to): that is the true effect. The enrolment appears in the drug and alcohol
service's extract as an ordinary activity; the effect and each participant's counterfactual
cost are only in ``truth/programme.parquet``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from totalplace.synth.events import Batch
from totalplace.synth.health import Ctx
from totalplace.synth.model import DAY

# Fallbacks; data/activity_model.yaml ``programme:`` sets each of them, and a run's
# ``activity_config={"programme": {...}}`` overrides any of those.
DEFAULTS: dict[str, Any] = {
    "needs": [],  # any adult; e.g. [alcohol, drugs] to narrow it
    "min_prior": 2,  # A&E attendances in the look-back half-year to be eligible
    "rate_ratio": 0.70,  # the true effect: 30% fewer A&E attendances (and admissions)
    "participants_per_100k": 1200,  # None: probability = scale * prior**power, as given
    "scale": 0.05,
    "power": 1.0,
    "cap": 0.8,
}
MIN_PRIOR = DEFAULTS["min_prior"]
RATE_RATIO = DEFAULTS["rate_ratio"]


def settings(params: dict[str, Any]) -> dict[str, Any]:
    """The programme's parameters: the fallbacks, then ``data/activity_model.yaml``, then
    ``params['programme']`` (each key overridden on its own)."""
    from totalplace.synth.model import model_params

    return {
        **DEFAULTS,
        **(model_params().get("programme") or {}),
        **(params.get("programme") or {}),
    }


def join_scale(prior: np.ndarray, target: float, power: float, cap: float) -> float:
    """The ``scale`` at which the expected number of joiners, sum(min(cap, scale*prior**power)),
    equals ``target`` (all who may join, if the target is out of reach)."""
    w = prior.astype(np.float64) ** power
    if len(w) == 0 or target >= cap * len(w):
        return float(cap / w.min()) if len(w) else 0.0
    lo, hi = 0.0, float(cap / w.min())
    for _ in range(60):  # bisection: the expected count rises monotonically with the scale
        mid = (lo + hi) / 2
        if np.minimum(cap, mid * w).sum() < target:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass
class Programme:
    """The eligible cohort and what happened to it (truth)."""

    person: np.ndarray
    prior: np.ndarray  # A&E attendances in the look-back
    joined: np.ndarray  # bool
    join_day: np.ndarray  # day, or -1
    removed_uid: np.ndarray  # A&E attendances that did not happen because of the programme
    removed_person: np.ndarray
    removed_cost: np.ndarray  # pence: the attendance, plus the admission it led to
    rate_ratio: float = RATE_RATIO  # the true effect on joiners' A&E attendances


def select_and_apply(ctx: Ctx, ae: Batch) -> tuple[Batch, Programme]:
    """Choose the cohort from A&E use, then thin joiners' later attendances. Returns the kept
    attendances and the programme truth."""
    rng, ppl, grid = ctx.rng, ctx.ppl, ctx.grid
    cfg = settings(ctx.params)
    look_end = grid.half_ends[0] * DAY
    in_look = ae.start < look_end
    prior = np.bincount(ae.person[in_look], minlength=ppl.n)
    h1 = min(1, grid.n_halves - 1)
    need = np.zeros(ppl.n, bool) if cfg["needs"] else np.ones(ppl.n, bool)
    for name in cfg["needs"] or []:
        need |= ppl.active[name][:, 0] | ppl.active[name][:, h1]
    eligible = np.flatnonzero(
        need & (ppl.age >= 18) & (prior >= int(cfg["min_prior"])) & (ppl.died > grid.half_ends[0])
    )
    pr = prior[eligible]
    power, cap = float(cfg["power"]), float(cfg["cap"])
    scale = float(cfg["scale"])
    if cfg["participants_per_100k"] is not None:
        target = float(cfg["participants_per_100k"]) * ppl.n / 100_000
        scale = join_scale(pr, target, power, cap)
    joined = rng.random(len(eligible)) < np.minimum(cap, scale * pr.astype(np.float64) ** power)
    join_day = np.where(joined, grid.half_starts[h1] + rng.integers(0, 120, len(eligible)), -1)
    # Thin the joiners' attendances after their join date.
    jd = np.full(ppl.n, np.iinfo(np.int64).max, np.int64)
    jd[eligible[joined]] = join_day[joined] * DAY
    after = ae.start >= jd[ae.person]
    drop = after & (rng.random(len(ae)) > float(cfg["rate_ratio"]))
    admission_cost = ctx.costs.pence("nonelective_admission")
    removed_cost = ae.cost[drop] + np.where(
        ae.attrs["disposal"].codes[drop] == 1, admission_cost, 0
    )
    prog = Programme(
        eligible,
        pr,
        joined,
        join_day,
        ae.uid[drop],
        ae.person[drop],
        removed_cost,
        float(cfg["rate_ratio"]),
    )
    return ae.take(np.flatnonzero(~drop)), prog


def manifest_entries(start: dt.date, end: dt.date) -> dict[str, Any]:
    """``programmes:`` and ``appraise:`` for Anytown's place.yaml: how to find the past
    programme in the extracts (nothing from the truth), and two example business cases."""
    from totalplace.synth.model import EPOCH, Grid, model_params

    grid = Grid.of(start, end)
    cfg = settings(model_params())
    day = lambda d: (EPOCH + dt.timedelta(days=int(d))).isoformat()  # noqa: E731
    h1 = min(1, grid.n_halves - 1)
    programme = {
        "name": "hiu",
        "label": "High Intensity Use service",
        "participants": {
            "agency": "substance",
            "activity": "Enrolled: High Intensity Use programme",
        },
        "enrolment": {"start": day(grid.half_starts[h1]), "end": day(grid.half_ends[h1] - 1)},
        "eligibility": {
            "min_age": 18,
            "outcome": "ae_attendances",
            "at_least": int(cfg["min_prior"]),
            "look_back": {"start": day(grid.half_starts[0]), "end": day(grid.half_ends[0] - 1)},
        },
        "outcomes": [
            {"name": "ae_attendances", "label": "A&E attendances", "agency": "acute",
             "activity": "A&E attendance"},
            {"name": "emergency_admissions", "label": "Emergency admissions", "agency": "acute",
             "activity": ["Emergency - via A&E", "Emergency - readmission"]},
            {"name": "police_incidents", "label": "Police incidents", "agency": "police"},
        ],
    }  # fmt: skip
    hiu = {
        "name": "hiu_service",
        "description": "Recommission the High Intensity Use service for frequent A&E attenders",
        "cohort": "adults with 2+ A&E attendances in six months",
        "participants_per_year": 300,
        "take_up": {"value": 0.8, "low": 0.6, "high": 0.95},
        "duration_years": 3,
        "ramp_up": [0.6],
        "costs": [
            {"item": "HIU place", "kind": "revenue", "per": "participant",
             "amount_gbp": {"value": 1200, "low": 1000, "high": 1600}, "price_year": "2023/24",
             "payer": "public_health", "confidence": 2},
            {"item": "clinical lead", "kind": "revenue", "per": "year",
             "amount_gbp": {"value": 60000, "low": 55000, "high": 70000},
             "price_year": "2025/26", "payer": "acute", "confidence": 2},
        ],
        "effects": [
            {"outcome": "A&E attendances", "baseline_per_participant": 4.0,
             "from_programme": {"programme": "hiu", "outcome": "ae_attendances"},
             "unit_cost": "ae_not_admitted", "agency": "acute", "value": "fiscal",
             "confidence": 2},
            {"outcome": "emergency admissions", "baseline_per_participant": 1.5,
             "from_programme": {"programme": "hiu", "outcome": "emergency_admissions"},
             "unit_cost": "nonelective_admission", "agency": "acute", "value": "fiscal",
             "confidence": 2},
        ],
        "deadweight": 0.0,
        "persistence_years": {"value": 1.5, "low": 0.5, "high": 2.5},
        "decay": 0.3,
    }  # fmt: skip
    tenancy = {
        "name": "tenancy_sustainment",
        "description": "Tenancy sustainment officers for tenants at risk of eviction",
        "cohort": "tenants with rent arrears and a housing options contact",
        "participants_per_year": 120,
        "take_up": {"value": 0.7, "low": 0.5, "high": 0.9},
        "duration_years": 3,
        "costs": [
            {"item": "officer time", "kind": "revenue", "per": "participant",
             "amount_gbp": {"value": 900, "low": 700, "high": 1300}, "price_year": "2025/26",
             "payer": "housing", "confidence": 4},
            {"item": "case system", "kind": "capital", "per": "once",
             "amount_gbp": {"value": 25000, "low": 20000, "high": 40000},
             "price_year": "2025/26", "payer": "housing", "confidence": 3},
        ],
        "effects": [
            {"outcome": "homelessness applications", "baseline_per_participant": 0.25,
             "change": {"value": -0.4, "low": -0.6, "high": -0.1},
             "unit_cost": "homelessness_application", "agency": "housing", "value": "fiscal",
             "cashable": False, "confidence": 5},
            {"outcome": "temporary accommodation weeks", "baseline_per_participant": 2.0,
             "change": {"value": -0.3, "low": -0.5, "high": 0.0},
             "unit_cost": "temporary_accommodation_bb", "agency": "housing",
             "value": "fiscal", "cashable": True, "confidence": 5},
        ],
        "deadweight": {"value": 0.25, "low": 0.1, "high": 0.4},
        "persistence_years": {"value": 2, "low": 1, "high": 3},
        "decay": 0.2,
    }  # fmt: skip
    return {
        "appraise": {"horizon_years": 10, "discount": "standard", "interventions": [hiu, tenancy]},
        "programmes": [programme],
    }
