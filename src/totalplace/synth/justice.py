"""Police (incidents, arrests and custody) and probation (prison releases, supervision)."""

from __future__ import annotations

import numpy as np

from totalplace.synth.events import (
    Attr,
    Batch,
    episode_batch,
    expand,
    lognormal_days,
    office_time,
    pick,
    within_spells,
)
from totalplace.synth.health import Ctx
from totalplace.synth.model import DAY, NO_TIME

INCIDENT = [
    "Domestic incident",
    "Anti-social behaviour",
    "Violence against the person",
    "Theft",
    "Criminal damage",
    "Concern for welfare",
    "Missing person",
    "Road traffic collision",
    "Public order",
]
ROLE = ["Victim", "Suspect", "Witness", "Reporting person", "Subject"]
CUSTODY_OUTCOME = [
    "Charged",
    "Remanded in custody",
    "Released under investigation",
    "No further action",
    "Simple caution",
    "Community resolution",
]
PROBATION = [
    "Released from custody",
    "Community order",
    "Licence supervision",
    "Initial appointment",
    "Supervision appointment",
]
PRISON = ["HMP Anytown", "HMP Northfield", "HMP & YOI Eastmoor", "HMP Riverside"]


def police(ctx: Ctx) -> list[Batch]:
    """Incidents (a few costed: domestic abuse, anti-social behaviour) and arrests with custody."""
    rng, ppl, grid, c = ctx.rng, ctx.ppl, ctx.grid, ctx.costs
    person, half, start = expand(
        ctx.counts("police_incident"),
        grid,
        rng,
        ctx.hours("police"),
        ppl.died,
        ctx.season("police_incident"),
    )
    m = len(person)
    act = ctx.ppl.active
    # Category weights depend on the needs active for the person in that half-year.
    w = np.tile(np.array([0.02, 0.2, 0.1, 0.15, 0.08, 0.1, 0.02, 0.1, 0.05]), (m, 1))
    w[:, 0] += 3.0 * act["domestic_abuse"][person, half]
    off = act["offending"][person, half]
    w[:, 2] += 0.3 * off
    w[:, 3] += 0.3 * off
    w[:, 4] += 0.1 * off
    w[:, 8] += 0.1 * off
    w[:, 5] += 0.5 * act["mental_health"][person, half]
    w[:, 6] += 0.6 * act["looked_after"][person, half]
    sub = act["alcohol"][person, half] | act["drugs"][person, half]
    w[:, 1] += 0.15 * sub
    w[:, 8] += 0.1 * sub
    cum = np.cumsum(w, axis=1)
    cat = (cum < (rng.random(m) * cum[:, -1])[:, None]).sum(axis=1).astype(np.int16)
    role = np.where(
        off & np.isin(cat, [2, 3, 4, 8]) & (rng.random(m) < 0.7),
        1,
        np.where(cat == 0, 0, pick(rng, m, [0.45, 0.1, 0.15, 0.2, 0.1])),
    ).astype(np.int16)
    further = rng.random(m) < 0.5  # ASB needing further action is what the unit cost covers
    cost = np.select(
        [cat == 0, (cat == 1) & further], [c.pence("dv_incident"), c.pence("asb_incident")], 0
    )
    end = start + np.exp(np.log(2 * 3600) + 0.6 * rng.standard_normal(m)).astype(np.int64)
    incidents = Batch(
        "police",
        "police_incident",
        person,
        start,
        end,
        cost.astype(np.int64),
        {"category": Attr(cat, INCIDENT), "role": Attr(role, ROLE)},
    )
    return [
        incidents,
        arrests(ctx, *expand(ctx.counts("arrest"), grid, rng, ctx.hours("police"), ppl.died)[::2]),
    ]


def arrests(ctx: Ctx, person: np.ndarray, start: np.ndarray) -> Batch:
    """Arrests with a custody record: time in custody and the outcome decide the unit cost."""
    rng, c = ctx.rng, ctx.costs
    m = len(person)
    outcome = pick(rng, m, [0.3, 0.05, 0.3, 0.2, 0.1, 0.05])
    detained = outcome <= 1
    cost = np.where(detained, c.pence("arrest_detained"), c.pence("arrest_nfa")).astype(np.int64)
    hours_in = np.exp(np.log(11) + 0.6 * rng.standard_normal(m)) * np.where(detained, 1.6, 1.0)
    end = start + (hours_in * 3600).astype(np.int64)
    return Batch(
        "police", "arrest", person, start, end, cost, {"outcome": Attr(outcome, CUSTODY_OUTCOME)}
    )


def prison_releases(ctx: Ctx) -> Batch:
    """Releases from prison in the period: the custodial spell, costed per day in the period."""
    rng, ppl, grid, c, spec = (
        ctx.rng,
        ctx.ppl,
        ctx.grid,
        ctx.costs,
        ctx.params["episodes"]["prison"],
    )
    idx, a, b = ppl.spells["offending"]
    share = np.clip(spec["share"] * np.exp(spec["complex"] * ppl.complex_factor[idx]), 0, 0.9)
    keep = rng.random(len(idx)) < share
    p = idx[keep]
    lo, hi = np.maximum(a[keep], grid.start), np.minimum(b[keep], grid.end)
    ok = hi > lo
    p, lo, hi = p[ok], lo[ok], hi[ok]
    release = lo + (rng.random(len(p)) * (hi - lo)).astype(np.int64)
    release = np.minimum(release, ppl.died[p])
    length = lognormal_days(rng, len(p), spec["mean_days"], spec["sigma"])
    start = release - length
    cost_day = c.pence_per_day("prison_place")
    b_ = episode_batch(
        "probation",
        "prison_release",
        p,
        start,
        release,
        grid,
        cost_day,
        {
            "activity": Attr(np.zeros(len(p), np.int16), PROBATION),
            "establishment": Attr(pick(rng, len(p), [0.5, 0.2, 0.2, 0.1]), PRISON),
        },
    )
    b_.end = release * DAY  # releases are all within the period
    return b_


def community_orders(ctx: Ctx) -> Batch:
    """Community orders supervised by probation, costed per day."""
    rng, ppl, grid, spec = ctx.rng, ctx.ppl, ctx.grid, ctx.params["episodes"]["community_order"]
    p, s, e = within_spells(
        ppl.spells["offending"],
        ppl,
        grid,
        rng,
        share=spec["share"],
        lag_days=60,
        mean_days=spec["mean_days"],
        sigma=spec["sigma"],
    )
    return episode_batch(
        "probation",
        "community_order",
        p,
        s,
        e,
        grid,
        ctx.costs.pence_per_day("probation_supervision"),
        {
            "activity": Attr(np.ones(len(p), np.int16), PROBATION),
            "establishment": Attr(np.zeros(len(p), np.int16), ["Anytown Probation Delivery Unit"]),
        },
    )


def licence(ctx: Ctx, person: np.ndarray, release_day: np.ndarray) -> Batch:
    """Licence supervision after release from custody (about a year), costed per day."""
    length = lognormal_days(ctx.rng, len(person), 300, 0.4)
    b = episode_batch(
        "probation",
        "licence",
        person,
        release_day,
        release_day + length,
        ctx.grid,
        ctx.costs.pence_per_day("probation_supervision"),
        {
            "activity": Attr(np.full(len(person), 2, np.int16), PROBATION),
            "establishment": Attr(
                np.zeros(len(person), np.int16), ["Anytown Probation Delivery Unit"]
            ),
        },
    )
    return b


def appointments(
    agency: str,
    etype: str,
    person: np.ndarray,
    day: np.ndarray,
    labels: list[str],
    code: int,
    rng: np.random.Generator,
    attrs_extra: dict | None = None,
    last: int | None = None,
) -> Batch:
    """Office-hours appointments with no unit cost (follow-ups, reviews, contacts), on
    working days no later than ``last``."""
    m = len(person)
    start = office_time(day, rng, last)
    attrs = {"activity": Attr(np.full(m, code, np.int16), labels)}
    attrs.update(attrs_extra or {})
    return Batch(
        agency, etype, person, start, np.full(m, NO_TIME, np.int64), np.zeros(m, np.int64), attrs
    )
