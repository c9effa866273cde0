"""A past prevention programme with a known true effect (for testing the appraisal stage).

In year one, adults with an alcohol (or drug) need who attended A&E at least ``MIN_PRIOR``
times in the first half-year were eligible for a High Intensity Use programme. Joining was not at
random: the more attendances in that half-year, the likelier to be asked (selection on
recent high use, so part of any later fall is regression to the mean). Joiners enrolled in
the second half of year one. From joining to the end of the period, each of their A&E
attendances is removed with probability ``1 - RATE_RATIO`` (and with it any admission it
would have led to): that is the true effect. The enrolment appears in the drug and alcohol
service's extract as an ordinary activity; the effect and each participant's counterfactual
cost are only in ``truth/programme.parquet``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from totalplace.synth.events import Batch
from totalplace.synth.health import Ctx
from totalplace.synth.model import DAY

MIN_PRIOR = 2  # A&E attendances in the look-back half-year to be eligible
RATE_RATIO = 0.70  # the true effect: 30% fewer A&E attendances (and admissions) after joining
JOIN_SCALE = 0.05  # probability of joining = JOIN_SCALE * prior**2, capped at 0.9


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


def select_and_apply(ctx: Ctx, ae: Batch) -> tuple[Batch, Programme]:
    """Choose the cohort from A&E use, then thin joiners' later attendances. Returns the kept
    attendances and the programme truth."""
    rng, ppl, grid = ctx.rng, ctx.ppl, ctx.grid
    look_end = grid.half_ends[0] * DAY
    in_look = ae.start < look_end
    prior = np.bincount(ae.person[in_look], minlength=ppl.n)
    h1 = min(1, grid.n_halves - 1)
    alcohol = (
        ppl.active["alcohol"][:, 0]
        | ppl.active["alcohol"][:, h1]
        | ppl.active["drugs"][:, 0]
        | ppl.active["drugs"][:, h1]
    )
    eligible = np.flatnonzero(
        alcohol & (ppl.age >= 18) & (prior >= MIN_PRIOR) & (ppl.died > grid.half_ends[0])
    )
    pr = prior[eligible]
    joined = rng.random(len(eligible)) < np.minimum(0.9, JOIN_SCALE * pr.astype(np.float64) ** 2)
    join_day = np.where(joined, grid.half_starts[h1] + rng.integers(0, 120, len(eligible)), -1)
    # Thin the joiners' attendances after their join date.
    jd = np.full(ppl.n, np.iinfo(np.int64).max, np.int64)
    jd[eligible[joined]] = join_day[joined] * DAY
    after = ae.start >= jd[ae.person]
    drop = after & (rng.random(len(ae)) > RATE_RATIO)
    admission_cost = ctx.costs.pence("nonelective_admission")
    removed_cost = ae.cost[drop] + np.where(
        ae.attrs["disposal"].codes[drop] == 1, admission_cost, 0
    )
    prog = Programme(eligible, pr, joined, join_day, ae.uid[drop], ae.person[drop], removed_cost)
    return ae.take(np.flatnonzero(~drop)), prog
