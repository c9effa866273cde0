"""Adult and children's social care activity."""

from __future__ import annotations

import numpy as np

from totalplace.synth.events import (
    Attr,
    Batch,
    episode_batch,
    episodes,
    expand,
    office_time,
    pick,
    within_spells,
)
from totalplace.synth.health import Ctx
from totalplace.synth.model import DAY

ASC_ACTIVITY = [
    "Care Act assessment",
    "Review",
    "Safeguarding enquiry",
    "Carer's assessment",
    "Hospital discharge assessment",
    "Reablement visit",
]
CARE_SETTING = ["Home care", "Residential care", "Nursing care"]
CSC_ACTIVITY = [
    "Contact",
    "Referral",
    "Child and family assessment",
    "Strategy discussion",
    "Initial child protection conference",
    "Pathway plan review",
    "Care leaver contact",
]
PLACEMENT = [
    "Foster care (in-house)",
    "Foster care (agency)",
    "Children's home",
    "Placed with parents",
]


def adult_social_care(ctx: Ctx) -> list[Batch]:
    """Assessments and reviews (no unit cost), home care packages and residential placements."""
    rng, ppl, grid, c, ep = ctx.rng, ctx.ppl, ctx.grid, ctx.costs, ctx.params["episodes"]
    person, _h, day0 = expand(ctx.counts("asc_assessment"), grid, rng, None, ppl.died)
    m = len(person)
    start = office_time(day0 // DAY, rng, grid.end)
    act = pick(rng, m, [0.45, 0.35, 0.1, 0.1, 0.0, 0.0])
    assess = Batch(
        "adult_social_care",
        "asc_assessment",
        person,
        start,
        np.full(m, -1, np.int64),
        np.zeros(m, np.int64),
        {"activity": Attr(act, ASC_ACTIVITY)},
    )
    frail = ppl.need["frailty"]
    hc = ep["home_care"]
    p_home = np.where(frail & (ppl.age >= 65), hc["frail_65"], 0.0)
    p_home = np.where(
        ppl.need["learning_disability"] & (ppl.age >= 18),
        np.maximum(p_home, hc["learning_disability_18"]),
        p_home,
    )
    rc = ep["residential_care"]
    p_res = np.where(
        frail & (ppl.age >= 80),
        rc["frail_80"],
        np.where(frail & (ppl.age >= 65), rc["frail_65"], 0.0),
    )
    # Disadvantage makes formal care more likely (fewer private payers, less informal care).
    lift = np.exp(0.25 * ppl.latent)
    u = rng.random(ppl.n)
    res_who = np.flatnonzero(u < p_res * lift)
    home_who = np.flatnonzero((u >= p_res * lift) & (u < (p_res + p_home) * lift))
    out = [assess]
    for who, spec, setting, cost_id in (
        (home_who, hc, 0, "home_care"),
        (res_who, rc, 1, "residential_care_older"),
    ):
        p, s, e = episodes(
            ppl,
            who,
            grid,
            rng,
            mean_days=spec["mean_days"],
            sigma=spec["sigma"],
            prevalent=spec["prevalent"],
            inten=ctx.inten,
        )
        code = np.full(len(p), setting, np.int16)
        if setting == 1:
            code = np.where(rng.random(len(p)) < 0.35, 2, 1).astype(np.int16)
        etype = "home_care" if setting == 0 else "residential_care"
        b = episode_batch(
            "adult_social_care",
            etype,
            p,
            s,
            e,
            grid,
            c.pence_per_day(cost_id),
            {"activity": Attr(code, CARE_SETTING)},
        )
        out.append(b)
    return out


def childrens_social_care(ctx: Ctx) -> list[Batch]:
    """Contacts, referrals and assessments (no unit cost), and looked-after placements."""
    rng, ppl, grid, c, ep = ctx.rng, ctx.ppl, ctx.grid, ctx.costs, ctx.params["episodes"]
    person, _h, day0 = expand(ctx.counts("csc_referral"), grid, rng, None, ppl.died)
    m = len(person)
    start = office_time(day0 // DAY, rng, grid.end)
    act = pick(rng, m, [0.35, 0.3, 0.25, 0.06, 0.04, 0.0, 0.0])
    referrals = Batch(
        "childrens_social_care",
        "csc_referral",
        person,
        start,
        np.full(m, -1, np.int64),
        np.zeros(m, np.int64),
        {"activity": Attr(act, CSC_ACTIVITY)},
    )
    lac = ep["lac_placement"]
    p, s, e = within_spells(
        ppl.spells["looked_after"], ppl, grid, rng, share=lac["share"], lag_days=3, mean_days=None
    )
    # Care ends at 18 (leaving care is a transition, modelled in transitions.py). Most
    # young people in care in their last year before 18 stay until then.
    b18 = birthday(ppl.dob[p], 18)
    stay = (e >= b18 - 365) & (s < b18) & (rng.random(len(p)) < 0.8)
    e = np.where(stay, b18, np.minimum(e, b18))
    ok = e > np.maximum(s, grid.start)
    p, s, e = p[ok], s[ok], e[ok]
    home_p = np.clip(
        lac["childrens_home"] * np.exp(lac["childrens_home_complex"] * ppl.complex_factor[p]),
        0,
        0.6,
    )
    home = rng.random(len(p)) < home_p
    kind = np.where(home, 2, pick(rng, len(p), [0.55, 0.35, 0.0, 0.10])).astype(np.int16)
    per_day = np.where(home, c.pence_per_day("childrens_home"), c.pence_per_day("foster_care"))
    per_day = np.where(kind == 3, c.pence_per_day("foster_care") * 0.3, per_day)
    b = episode_batch(
        "childrens_social_care",
        "lac_placement",
        p,
        s,
        e,
        grid,
        1.0,
        {"placement": Attr(kind, PLACEMENT)},
    )
    b.cost = np.rint((b.cost * per_day)).astype(np.int64)
    return [referrals, b]


def birthday(dob: np.ndarray, years: int) -> np.ndarray:
    """Day (since 1970) of the ``years``-th birthday for dob days since 1970."""
    d = dob.astype("datetime64[D]")
    y = d.astype("datetime64[Y]")
    offset = d - y  # days into the birth year
    target = (y + np.timedelta64(years, "Y")).astype("datetime64[D]") + offset
    return target.astype(np.int64)


def at_office_hours(days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seconds for a working-day time on the given days."""
    return days * DAY + rng.integers(9, 17, len(days)) * 3600 + rng.integers(0, 3600, len(days))
