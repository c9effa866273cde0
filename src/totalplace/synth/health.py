"""Hospital (acute trust) and mental health trust activity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from totalplace.synth.costs import UnitCosts
from totalplace.synth.events import (
    Attr,
    Batch,
    Registry,
    draw_counts,
    episode_batch,
    episodes,
    expand,
    office_time,
    pick,
    rates,
    working_day,
)
from totalplace.synth.model import DAY, Grid, People, age_rate


@dataclass
class Ctx:
    """Everything an agency's generator needs."""

    ppl: People
    grid: Grid
    rng: np.random.Generator
    costs: UnitCosts
    inten: np.ndarray  # (n, halves) person intensity
    reg: Registry
    params: dict[str, Any]

    def counts(self, name: str, extra: np.ndarray | None = None) -> np.ndarray:
        spec = self.params["count"][name]
        lam = rates(self.ppl, spec, self.grid, self.inten, extra)
        return draw_counts(lam, float(spec["shape"]), self.rng)

    def season(self, name: str) -> float:
        return float(self.params["count"][name].get("season", 0.0))

    def hours(self, name: str) -> np.ndarray:
        return np.asarray(self.params["hours"][name], dtype=np.float64)


AE_DISPOSAL = ["Discharged home", "Admitted", "Left before being seen", "Referred to GP"]
ARRIVAL = ["Walk-in", "Ambulance"]
DISCHARGE_DEST = ["Usual place of residence", "Care home", "Other hospital", "Died"]
ADMIT_METHOD = ["Emergency - via A&E", "Elective - waiting list", "Emergency - readmission"]
SPECIALTY = [
    "General medicine",
    "Geriatric medicine",
    "Trauma & orthopaedics",
    "General surgery",
    "Respiratory medicine",
    "Cardiology",
    "Paediatrics",
    "Gastroenterology",
]


def ae_attendances(ctx: Ctx) -> Batch:
    """A&E attendances with arrival time, arrival mode and disposal (not yet costed)."""
    rng, ppl, p = ctx.rng, ctx.ppl, ctx.params["acute"]
    person, half, start = expand(
        ctx.counts("ae_attendance"),
        ctx.grid,
        rng,
        ctx.hours("ae"),
        ppl.died,
        ctx.season("ae_attendance"),
    )
    m = len(person)
    age = ppl.age[person]
    p_admit = age_rate(age, {int(k): v for k, v in p["admit_by_age"].items()})
    # Frail people and people with long-term conditions are admitted more often when they
    # attend: this is what makes emergency admissions recur for the same people.
    for need, mult in p.get("admit_needs", {}).items():
        p_admit = p_admit * np.where(ppl.active[need][person, half], float(mult), 1.0)
    admitted = rng.random(m) < np.minimum(p_admit, 0.9)
    lbs = ~admitted & (rng.random(m) < p["left_before_seen"])
    gp = ~admitted & ~lbs & (rng.random(m) < 0.08)
    disposal = np.select([admitted, lbs, gp], [1, 2, 3], default=0).astype(np.int16)
    amb = rng.random(m) < age_rate(age, {int(k): v for k, v in p["ambulance_by_age"].items()})
    # Time in the department: log-normal, about 3-4 hours, longer when admitted.
    stay = np.exp(np.log(3.2 * 3600) + 0.5 * rng.standard_normal(m)) * np.where(admitted, 1.5, 1.0)
    end = start + stay.astype(np.int64)
    return Batch(
        "acute",
        "ae_attendance",
        person,
        start,
        end,
        np.zeros(m, np.int64),
        {"disposal": Attr(disposal, AE_DISPOSAL), "arrival": Attr(amb.astype(np.int16), ARRIVAL)},
    )


def cost_ae(ctx: Ctx, b: Batch) -> None:
    """Unit cost of each attendance: admitted or not, plus an ambulance call-out."""
    c = ctx.costs
    admitted = b.attrs["disposal"].codes == 1
    b.cost = (
        np.where(admitted, c.pence("ae_admitted"), c.pence("ae_not_admitted"))
        + np.where(b.attrs["arrival"].codes == 1, c.pence("ambulance_callout"), 0)
    ).astype(np.int64)


def los_days(ctx: Ctx, age: np.ndarray) -> np.ndarray:
    """Length of stay for non-elective admissions, geometric with an age-dependent mean."""
    mean = age_rate(
        age, {int(k): v for k, v in ctx.params["acute"]["nonelective_los_mean_by_age"].items()}
    )
    return ctx.rng.geometric(1.0 / (1.0 + mean)) - 1


def discharge_time(ctx: Ctx, start: np.ndarray, los: np.ndarray) -> np.ndarray:
    """Discharge after ``los`` midnights, in the day (09:00-18:59); same-day stays last 4-12 h."""
    m = len(start)
    later = (start // DAY + los) * DAY + ctx.rng.integers(9, 19, m) * 3600
    same_day = start + ctx.rng.integers(4 * 3600, 12 * 3600, m)
    return np.where(los == 0, same_day, np.maximum(later, start + 3600))


def admissions_from_ae(ctx: Ctx, ae: Batch) -> Batch:
    """One non-elective admission for every attendance whose disposal was 'Admitted'."""
    rng = ctx.rng
    # Admitted when they leave A&E; those admitted after the period's last midnight fall
    # outside the period (their attendance is still in it).
    period_end = (ctx.grid.end + 1) * DAY
    idx = np.flatnonzero((ae.attrs["disposal"].codes == 1) & (ae.end < period_end))
    person = ae.person[idx]
    start = ae.end[idx]
    age = ctx.ppl.age[person]
    los = los_days(ctx, age)
    discharge = discharge_time(ctx, start, los)
    return _admission_batch(ctx, person, start, discharge, 0, "nonelective_admission", rng)


def _admission_batch(
    ctx: Ctx,
    person: np.ndarray,
    start: np.ndarray,
    discharge: np.ndarray,
    method: int,
    etype: str,
    rng: np.random.Generator,
) -> Batch:
    m = len(person)
    age = ctx.ppl.age[person]
    dest = np.where(
        age >= 75, pick(rng, m, [0.86, 0.08, 0.03, 0.03]), pick(rng, m, [0.96, 0.005, 0.03, 0.005])
    )
    died_before = ctx.ppl.died[person] * DAY < discharge
    dest = np.where(died_before, 3, dest).astype(np.int16)
    spec = np.where(
        age >= 75,
        pick(rng, m, [0.3, 0.35, 0.15, 0.05, 0.1, 0.05, 0.0, 0.0]),
        np.where(age < 16, 6, pick(rng, m, [0.3, 0.0, 0.2, 0.2, 0.1, 0.1, 0.0, 0.1])),
    )
    cost_id = "elective_admission" if etype == "elective_admission" else "nonelective_admission"
    cost = np.full(m, ctx.costs.pence(cost_id), dtype=np.int64)
    return Batch(
        "acute",
        etype,
        person,
        start,
        discharge,
        cost,
        {
            "method": Attr(np.full(m, method, np.int16), ADMIT_METHOD),
            "destination": Attr(dest, DISCHARGE_DEST),
            "specialty": Attr(spec.astype(np.int16), SPECIALTY),
        },
    )


def readmissions(ctx: Ctx, person: np.ndarray, start: np.ndarray) -> Batch:
    """Emergency readmissions starting at the given times (from the transitions model)."""
    los = los_days(ctx, ctx.ppl.age[person])
    discharge = discharge_time(ctx, start, los)
    return _admission_batch(ctx, person, start, discharge, 2, "nonelective_admission", ctx.rng)


def elective_admissions(ctx: Ctx) -> Batch:
    """Planned admissions (date and a morning admission time)."""
    person, _h, day0 = expand(
        ctx.counts("elective_admission"), ctx.grid, ctx.rng, None, ctx.ppl.died
    )
    start = (
        working_day(day0 // DAY, ctx.rng, ctx.grid.end) * DAY
        + ctx.rng.integers(7, 11, len(person)) * 3600
    )
    los = ctx.rng.geometric(1 / 1.8, len(person)) - 1
    discharge = start + los * DAY + ctx.rng.integers(2, 9, len(person)) * 3600
    return _admission_batch(ctx, person, start, discharge, 1, "elective_admission", ctx.rng)


MH_TEAM = [
    "Community Mental Health Team",
    "Crisis Resolution & Home Treatment",
    "Early Intervention in Psychosis",
    "Older Adults CMHT",
    "Liaison Psychiatry",
]
MH_CONTACT = ["Face to face", "Telephone", "Video", "Did not attend"]


def mental_health(ctx: Ctx) -> list[Batch]:
    """Community contacts (per contact) and inpatient spells (per bed day)."""
    rng, ppl, c = ctx.rng, ctx.ppl, ctx.costs
    person, _h, day0 = expand(ctx.counts("mh_contact"), ctx.grid, rng, None, ppl.died)
    m = len(person)
    start = office_time(day0 // DAY, rng, ctx.grid.end)
    age = ppl.age[person]
    team = np.where(
        age >= 65, np.where(rng.random(m) < 0.8, 3, 0), pick(rng, m, [0.62, 0.15, 0.08, 0.0, 0.15])
    ).astype(np.int16)
    mode = pick(rng, m, [0.55, 0.25, 0.08, 0.12])
    cost = np.where(mode == 3, 0, c.pence("mh_community_contact")).astype(
        np.int64
    )  # DNA: no contact
    contacts = Batch(
        "mental_health",
        "mh_contact",
        person,
        start,
        start + 3600 * np.ones(m, np.int64),
        cost,
        {"team": Attr(team, MH_TEAM), "mode": Attr(mode, MH_CONTACT)},
    )
    cnt = ctx.counts("mh_admission")
    who = np.repeat(np.arange(ppl.n), cnt.sum(axis=1))
    p, s, e = episodes(
        ppl,
        who,
        ctx.grid,
        rng,
        mean_days=35,
        sigma=0.9,
        prevalent=0.1,
        inten=ctx.inten,
        max_days=400,
    )
    ward = pick(rng, len(p), [0.7, 0.2, 0.1])
    spells = episode_batch(
        "mental_health",
        "mh_admission",
        p,
        s,
        e,
        ctx.grid,
        c.pence_per_day("mh_bed_day"),
        {
            "ward": Attr(
                ward, ["Acute adult ward", "Psychiatric intensive care", "Older adult ward"]
            )
        },
    )
    spells.start = spells.start + rng.integers(10, 23, len(p)) * 3600
    return [contacts, spells]
