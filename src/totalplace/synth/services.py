"""Housing and homelessness, benefits and employment, drug and alcohol service, schools."""

from __future__ import annotations

import datetime as dt

import numpy as np

from totalplace.synth.care import birthday
from totalplace.synth.events import (
    Attr,
    Batch,
    episode_batch,
    expand,
    office_time,
    pick,
    within_spells,
)
from totalplace.synth.health import Ctx
from totalplace.synth.model import DAY, NO_TIME, days

HOUSING = [
    "Housing options advice",
    "Homelessness application",
    "Temporary accommodation placement",
    "Rough sleeping verified",
    "Eviction",
    "Homelessness application (care leaver)",
    "Homelessness application (prison leaver)",
]
HOMELESS_REASON = [
    "Family or friends no longer willing to accommodate",
    "End of private rented tenancy",
    "Domestic abuse",
    "Relationship breakdown",
    "Leaving an institution",
    "Rent arrears",
]
BENEFIT = [
    "Universal Credit",
    "Jobseeker's Allowance (new style)",
    "Employment and Support Allowance",
]
DWP_ACTIVITY = ["New claim", "Work coach appointment"]
SUBSTANCE = ["Opiates", "Crack cocaine", "Alcohol", "Cannabis", "Non-opiate only"]
SUBSTANCE_ACTIVITY = ["Structured treatment episode", "Enrolled: High Intensity Use programme"]
SCHOOL_ACTIVITY = [
    "Attendance summary",
    "Suspension",
    "Permanent exclusion",
    "Left school (end of Year 11)",
]
DESTINATION = [
    "Sixth form",
    "Further education college",
    "Apprenticeship",
    "Employment",
    "Not in education, employment or training",
]


def _office(day: np.ndarray, ctx: Ctx) -> np.ndarray:
    return office_time(day, ctx.rng, ctx.grid.end)


def housing(ctx: Ctx) -> list[Batch]:
    """Advice, homelessness applications, evictions, temporary accommodation, rough sleeping."""
    rng, ppl, grid, c, ep = ctx.rng, ctx.ppl, ctx.grid, ctx.costs, ctx.params["episodes"]
    out = []
    for name, code, cost_id in (
        ("housing_advice", 0, None),
        ("homelessness_application", 1, "homelessness_application"),
        ("eviction", 4, "complex_eviction"),
    ):
        person, _h, secs = expand(ctx.counts(name), grid, rng, None, ppl.died)
        day0 = secs // DAY
        m = len(person)
        cost = np.full(m, c.pence(cost_id) if cost_id else 0, np.int64)
        attrs = {"activity": Attr(np.full(m, code, np.int16), HOUSING)}
        if code == 1:
            da = ppl.active["domestic_abuse"].any(axis=1)[person]
            reason = np.where(
                da & (rng.random(m) < 0.6), 2, pick(rng, m, [0.3, 0.25, 0.0, 0.2, 0.1, 0.15])
            )
            attrs["reason"] = Attr(reason.astype(np.int16), HOMELESS_REASON)
        out.append(
            Batch(
                "housing",
                name,
                person,
                _office(day0, ctx),
                np.full(m, NO_TIME, np.int64),
                cost,
                attrs,
            )
        )
    ta = ep["temporary_accommodation"]
    p, s, e = within_spells(
        ppl.spells["homelessness"],
        ppl,
        grid,
        rng,
        share=ta["share"],
        lag_days=20,
        mean_days=ta["mean_days"],
        sigma=ta["sigma"],
    )
    out.append(
        episode_batch(
            "housing",
            "temporary_accommodation",
            p,
            s,
            e,
            grid,
            c.pence_per_day("temporary_accommodation_bb"),
            {"activity": Attr(np.full(len(p), 2, np.int16), HOUSING)},
        )
    )
    rs = ep["rough_sleeping"]
    share = np.clip(rs["share"] * np.exp(rs["complex"] * ppl.complex_factor), 0, 0.8)
    p, s, e = within_spells(
        ppl.spells["homelessness"],
        ppl,
        grid,
        rng,
        share=share,
        lag_days=10,
        mean_days=rs["mean_days"],
        sigma=rs["sigma"],
    )
    out.append(
        episode_batch(
            "housing",
            "rough_sleeping",
            p,
            s,
            e,
            grid,
            c.pence_per_day("rough_sleeper"),
            {"activity": Attr(np.full(len(p), 3, np.int16), HOUSING)},
        )
    )
    return out


def homeless_applications(ctx: Ctx, person: np.ndarray, day: np.ndarray, code: int) -> Batch:
    """Homelessness applications caused by a transition (care or prison leavers)."""
    m = len(person)
    return Batch(
        "housing",
        "homelessness_application",
        person,
        _office(day, ctx),
        np.full(m, NO_TIME, np.int64),
        np.full(m, ctx.costs.pence("homelessness_application"), np.int64),
        {
            "activity": Attr(np.full(m, code, np.int16), HOUSING),
            "reason": Attr(np.full(m, 4, np.int16), HOMELESS_REASON),
        },
    )


def dwp(ctx: Ctx) -> list[Batch]:
    """Benefit claims inside unemployment episodes, and work coach appointments."""
    rng, ppl, grid, c, spec = (
        ctx.rng,
        ctx.ppl,
        ctx.grid,
        ctx.costs,
        ctx.params["episodes"]["benefit_claim"],
    )
    p, s, e = within_spells(
        ppl.spells["unemployment"], ppl, grid, rng, share=spec["share"], lag_days=10, mean_days=None
    )
    # The new-claim cost only falls in the period when the claim started in it.
    fixed = np.where(s >= grid.start, c.pence("jsa_new_claim"), 0)
    b = episode_batch(
        "dwp",
        "benefit_claim",
        p,
        s,
        e,
        grid,
        c.pence_per_day("jsa_maintain"),
        {
            "benefit": Attr(pick(rng, len(p), [0.8, 0.1, 0.1]), BENEFIT),
            "activity": Attr(np.zeros(len(p), np.int16), DWP_ACTIVITY),
        },
    )
    b.cost = b.cost + fixed
    person, _h, secs = expand(ctx.counts("jobcentre_appointment"), grid, rng, None, ppl.died)
    day0 = secs // DAY
    m = len(person)
    appts = Batch(
        "dwp",
        "work_coach",
        person,
        _office(day0, ctx),
        np.full(m, NO_TIME, np.int64),
        np.zeros(m, np.int64),
        {
            "activity": Attr(np.ones(m, np.int16), DWP_ACTIVITY),
            "benefit": Attr(np.zeros(m, np.int16), BENEFIT),
        },
    )
    return [b, appts]


def substance(ctx: Ctx) -> list[Batch]:
    """Structured treatment episodes for drug and alcohol dependence, costed per day."""
    rng, ppl, grid, c, spec = (
        ctx.rng,
        ctx.ppl,
        ctx.grid,
        ctx.costs,
        ctx.params["episodes"]["drug_treatment"],
    )
    out = []
    for need, share, subs in (
        ("drugs", spec["drugs"], [0.5, 0.2, 0.0, 0.2, 0.1]),
        ("alcohol", spec["alcohol"], [0, 0, 1, 0, 0]),
    ):
        p, s, e = within_spells(
            ppl.spells[need],
            ppl,
            grid,
            rng,
            share=share,
            lag_days=90,
            mean_days=spec["mean_days"],
            sigma=spec["sigma"],
        )
        out.append(
            episode_batch(
                "substance",
                "treatment",
                p,
                s,
                e,
                grid,
                c.pence_per_day("drug_treatment"),
                {
                    "substance": Attr(pick(rng, len(p), subs), SUBSTANCE),
                    "activity": Attr(np.zeros(len(p), np.int16), SUBSTANCE_ACTIVITY),
                },
            )
        )
    return out


def enrolments(ctx: Ctx, person: np.ndarray, day: np.ndarray) -> Batch:
    """Programme enrolments, recorded by the drug and alcohol service like any other activity."""
    m = len(person)
    return Batch(
        "substance",
        "programme_enrolment",
        person,
        _office(day, ctx),
        np.full(m, NO_TIME, np.int64),
        np.full(m, ctx.costs.pence("hiu_programme"), np.int64),
        {
            "substance": Attr(np.full(m, 2, np.int16), SUBSTANCE),
            "activity": Attr(np.ones(m, np.int16), SUBSTANCE_ACTIVITY),
        },
    )


def _terms(grid_start: dt.date, grid_end: dt.date) -> list[tuple[dt.date, dt.date, int, int]]:
    """School terms in the period: start, end, academic year (September) and sessions possible."""
    out = []
    for y in range(grid_start.year - 1, grid_end.year + 1):
        for a, b, sess in (
            (dt.date(y, 9, 4), dt.date(y, 12, 20), 146),
            (dt.date(y + 1, 1, 6), dt.date(y + 1, 3, 28), 118),
            (dt.date(y + 1, 4, 14), dt.date(y + 1, 7, 22), 126),
        ):
            if a >= grid_start and b <= grid_end:
                out.append((a, b, y, sess))
    return out


def schools(ctx: Ctx) -> list[Batch]:
    """Termly attendance for pupils in Reception to Year 11, suspensions, exclusions, leavers."""
    rng, ppl, grid, c = ctx.rng, ctx.ppl, ctx.grid, ctx.costs
    start_d = dt.date(1970, 1, 1) + dt.timedelta(int(grid.start))
    end_d = dt.date(1970, 1, 1) + dt.timedelta(int(grid.end))
    out = []
    absence = (
        0.055
        * np.exp(0.35 * ppl.latent)
        * np.where(ppl.need["child_in_need"], 2.2, 1.0)
        * np.where(ppl.need["learning_disability"], 1.4, 1.0)
    )
    for a, b, ay, sess in _terms(start_d, end_d):
        sept = days(dt.date(ay, 8, 31))
        age_sept = (sept - ppl.dob) / 365.25
        who = np.flatnonzero((age_sept >= 4) & (age_sept < 16) & (ppl.died > days(a)))
        m = len(who)
        h = np.searchsorted(grid.half_starts, days(a), side="right") - 1
        rate = np.clip(absence[who] * np.sqrt(ctx.inten[who, h]), 0, 0.8)
        attended = sess - rng.binomial(sess, rate)
        out.append(
            Batch(
                "schools",
                "attendance",
                who,
                np.full(m, days(a) * DAY),
                np.full(m, days(b) * DAY),
                np.zeros(m, np.int64),
                {
                    "activity": Attr(np.zeros(m, np.int16), SCHOOL_ACTIVITY),
                    "possible": np.full(m, sess, np.int32),
                    "attended": attended.astype(np.int32),
                },
            )
        )
        if a.month == 4:  # summer term: Year 11 leave in July
            leave = who[(age_sept[who] >= 15)]
            k = len(leave)
            neet_p = np.clip(
                0.04
                * np.exp(0.5 * ppl.latent[leave])
                * np.where(ppl.need["looked_after"][leave], 3, 1),
                0,
                0.6,
            )
            dest = np.where(
                rng.random(k) < neet_p, 4, pick(rng, k, [0.45, 0.35, 0.1, 0.1, 0.0])
            ).astype(np.int16)
            out.append(
                Batch(
                    "schools",
                    "leaver",
                    leave,
                    np.full(k, days(b) * DAY),
                    np.full(k, NO_TIME),
                    np.zeros(k, np.int64),
                    {
                        "activity": Attr(np.full(k, 3, np.int16), SCHOOL_ACTIVITY),
                        "destination": Attr(dest, DESTINATION),
                    },
                )
            )
    for name, code, cost_id in (
        ("suspension", 1, None),
        ("permanent_exclusion", 2, "permanent_exclusion"),
    ):
        person, _h, secs = expand(ctx.counts(name), grid, rng, None, ppl.died)
        day0 = secs // DAY
        m = len(person)
        length = np.where(code == 1, rng.integers(1, 6, m), 0)
        start = _office(day0, ctx)
        out.append(
            Batch(
                "schools",
                name,
                person,
                start,
                np.where(code == 1, (start // DAY + length) * DAY, NO_TIME),
                np.full(m, c.pence(cost_id) if cost_id else 0, np.int64),
                {"activity": Attr(np.full(m, code, np.int16), SCHOOL_ACTIVITY)},
            )
        )
    return out


__all__ = [
    "birthday",
    "dwp",
    "enrolments",
    "homeless_applications",
    "housing",
    "schools",
    "substance",
]
