"""Transitions between services, where the ball is dropped or not, with a built-in effect.

Four kinds, each with a follow-up that happens or not and an adverse outcome whose
probability is higher when it does not (the true effect, in ``TRANSITIONS`` below):

* ``hospital_discharge``: people aged 65+ discharged home after an emergency admission;
  follow-up = a social care visit within 7 days; adverse = emergency readmission within 30 days.
* ``prison_release``: follow-up = probation AND housing contact within 14 days; adverse =
  re-arrest within 180 days, or a homelessness application within 90 days.
* ``care_leaver``: a looked-after young person reaching 18; follow-up = pathway plan review
  within 28 days; adverse = homelessness application within 365 days.
* ``school_exclusion``: permanent exclusion; follow-up = early help within 14 days;
  adverse = arrest within 365 days.

Every follow-up and adverse outcome is an ordinary event in the agency's extract; only the
truth (``truth/transitions.parquet``) says which event was which.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from totalplace.synth import justice, services
from totalplace.synth.care import CSC_ACTIVITY, birthday
from totalplace.synth.events import Attr, Batch, nearest_working_day
from totalplace.synth.health import Ctx, readmissions
from totalplace.synth.justice import appointments
from totalplace.synth.model import DAY

# kind: (follow-up probability, adverse probability if followed up, if not, window days)
TRANSITIONS = {
    "hospital_discharge": (0.60, 0.11, 0.24, 30),
    "prison_release": (None, 0.22, 0.45, 180),
    "care_leaver": (0.65, 0.10, 0.32, 365),
    "school_exclusion": (0.55, 0.12, 0.32, 365),
}


@dataclass
class Transitions:
    """One row per transition (truth), with the index event's uid."""

    person: np.ndarray
    kind: np.ndarray  # str
    at: np.ndarray  # day
    followed_up: np.ndarray
    follow_up_days: np.ndarray  # -1 when not followed up in the window
    adverse: np.ndarray
    index_uid: np.ndarray


def _in_window(day: np.ndarray, ctx: Ctx, person: np.ndarray) -> np.ndarray:
    return (day <= ctx.grid.end) & (day <= ctx.ppl.died[person])


def hospital_discharges(ctx: Ctx, admissions: Batch) -> tuple[list[Batch], Transitions]:
    """Follow-ups and readmissions after older people's emergency admissions."""
    rng, ppl = ctx.rng, ctx.ppl
    p_fu, p_yes, p_no, window = TRANSITIONS["hospital_discharge"]
    sel = np.flatnonzero(
        (ppl.age[admissions.person] >= 65)
        & (admissions.attrs["destination"].codes == 0)
        & (admissions.attrs["method"].codes == 0)
        & (admissions.end // DAY <= ctx.grid.end)
    )
    person, day = admissions.person[sel], admissions.end[sel] // DAY
    m = len(sel)
    p = np.clip(p_fu - 0.08 * ppl.latent[person], 0.2, 0.9)
    fu = rng.random(m) < p
    delay = np.where(fu, 1 + rng.integers(0, 7, m), -1)
    late = ~fu & (rng.random(m) < 0.3)  # some get a visit, but after the window
    visit_day = np.where(fu, day + delay, day + 10 + rng.integers(0, 30, m))
    visit_day = nearest_working_day(visit_day, day)  # social workers visit on working days
    delay = np.where(fu, visit_day - day, -1)
    has_visit = (fu | late) & _in_window(visit_day, ctx, person)
    vis = appointments(
        "adult_social_care",
        "asc_assessment",
        person[has_visit],
        visit_day[has_visit],
        [
            "Care Act assessment",
            "Review",
            "Safeguarding enquiry",
            "Carer's assessment",
            "Hospital discharge assessment",
            "Reablement visit",
        ],
        4,
        rng,
    )
    vis.attrs["activity"].codes = np.where(rng.random(len(vis)) < 0.5, 4, 5).astype(np.int16)
    adverse = rng.random(m) < np.where(fu, p_yes, p_no)
    re_day = day + 1 + rng.integers(0, window, m)
    re_ok = adverse & _in_window(re_day, ctx, person)
    re_start = re_day[re_ok] * DAY + ctx.rng.integers(0, 86400, int(re_ok.sum()))
    readm = readmissions(ctx, person[re_ok], re_start)
    t = Transitions(
        person, np.full(m, "hospital_discharge"), day, fu, delay, re_ok, admissions.uid[sel]
    )
    return [vis, readm], t


def prison_releases(ctx: Ctx, releases: Batch) -> tuple[list[Batch], Transitions]:
    """Probation and housing contact after release; re-arrest and homelessness when missed."""
    rng, ppl = ctx.rng, ctx.ppl
    _, p_yes, p_no, window = TRANSITIONS["prison_release"]
    person, day = releases.person, releases.end // DAY
    m = len(person)
    homeless = ppl.need["homelessness"][person]
    prob = rng.random(m) < 0.8
    prob_day = nearest_working_day(day + rng.integers(1, 4, m), day)
    housing_c = rng.random(m) < np.where(homeless, 0.55, 0.4)
    housing_day = nearest_working_day(day + rng.integers(0, 14, m), day)
    fu = prob & housing_c
    out = []
    ok = prob & _in_window(prob_day, ctx, person)
    out.append(
        appointments(
            "probation",
            "probation_appointment",
            person[ok],
            prob_day[ok],
            justice.PROBATION,
            3,
            rng,
            {
                "establishment": Attr(
                    np.zeros(int(ok.sum()), np.int16), ["Anytown Probation Delivery Unit"]
                )
            },
        )
    )
    ok = housing_c & _in_window(housing_day, ctx, person)
    out.append(
        appointments(
            "housing", "housing_advice", person[ok], housing_day[ok], services.HOUSING, 0, rng
        )
    )
    out.append(justice.licence(ctx, person, day))
    adverse = rng.random(m) < np.where(fu, p_yes, p_no)
    arrest_day = day + 1 + rng.integers(0, window, m)
    # Without housing contact, some of the adverse outcomes are homelessness rather than arrest.
    as_homeless = adverse & ~housing_c & (rng.random(m) < 0.35)
    arr = adverse & ~as_homeless & _in_window(arrest_day, ctx, person)
    hom_day = day + 1 + rng.integers(0, 90, m)
    hom = as_homeless & _in_window(hom_day, ctx, person)
    out.append(
        justice.arrests(
            ctx, person[arr], arrest_day[arr] * DAY + rng.integers(0, 86400, int(arr.sum()))
        )
    )
    out.append(services.homeless_applications(ctx, person[hom], hom_day[hom], 6))
    delay = np.where(fu, np.maximum(prob_day, housing_day) - day, -1)
    return out, Transitions(
        person, np.full(m, "prison_release"), day, fu, delay, arr | hom, releases.uid
    )


def care_leavers(ctx: Ctx, placements: Batch) -> tuple[list[Batch], Transitions]:
    """Young people leaving care at 18: pathway plan review, or homelessness."""
    rng, ppl, grid = ctx.rng, ctx.ppl, ctx.grid
    p_fu, p_yes, p_no, window = TRANSITIONS["care_leaver"]
    end_day = placements.end // DAY
    b18 = birthday(ppl.dob[placements.person], 18)
    sel = np.flatnonzero(
        (placements.end > 0) & (end_day == b18) & (end_day >= grid.start) & (end_day <= grid.end)
    )
    # One transition per person (a child may have had several placements).
    _, first = np.unique(placements.person[sel], return_index=True)
    sel = sel[first]
    person, day = placements.person[sel], end_day[sel]
    m = len(sel)
    fu = rng.random(m) < p_fu
    delay = np.where(fu, nearest_working_day(day + rng.integers(0, 28, m), day) - day, -1)
    ok = fu & _in_window(day + delay, ctx, person)
    review = appointments(
        "childrens_social_care", "csc_referral", person[ok], (day + delay)[ok], CSC_ACTIVITY, 5, rng
    )
    adverse = rng.random(m) < np.where(fu, p_yes, p_no)
    hday = day + 1 + rng.integers(0, window, m)
    hom = adverse & _in_window(hday, ctx, person)
    apps = services.homeless_applications(ctx, person[hom], hday[hom], 5)
    return [review, apps], Transitions(
        person, np.full(m, "care_leaver"), day, fu, delay, hom, placements.uid[sel]
    )


def school_exclusions(ctx: Ctx, exclusions: Batch) -> tuple[list[Batch], Transitions]:
    """Early help after a permanent exclusion, or (more often without it) an arrest."""
    rng = ctx.rng
    p_fu, p_yes, p_no, window = TRANSITIONS["school_exclusion"]
    person, day = exclusions.person, exclusions.start // DAY
    m = len(person)
    fu = rng.random(m) < p_fu
    delay = np.where(fu, nearest_working_day(day + rng.integers(1, 14, m), day) - day, -1)
    ok = fu & _in_window(day + delay, ctx, person)
    eh = appointments(
        "childrens_social_care", "csc_referral", person[ok], (day + delay)[ok], CSC_ACTIVITY, 0, rng
    )
    adverse = rng.random(m) < np.where(fu, p_yes, p_no)
    aday = day + 1 + rng.integers(0, window, m)
    arr = adverse & _in_window(aday, ctx, person)
    arrests = justice.arrests(
        ctx, person[arr], aday[arr] * DAY + rng.integers(0, 86400, int(arr.sum()))
    )
    return [eh, arrests], Transitions(
        person, np.full(m, "school_exclusion"), day, fu, delay, arr, exclusions.uid
    )
