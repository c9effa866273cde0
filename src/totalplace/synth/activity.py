"""Everything that happens to Anytown's residents: events, costs, spend, demand, transitions.

``generate()`` calls::

    result = make_activity(pop, plan, rng)

with the :class:`~totalplace.synth.population.Population`, the
:class:`~totalplace.synth.records.RecordPlan` (asked for each event's source id, which also
makes sure the person has a record in that agency) and a numpy Generator. ``result`` is an
:class:`ActivityResult`: ``files`` (every agency's event and spend files as ExtractFiles,
with their place.yaml mappings), ``truth`` (tables written to ``truth/<name>.parquet``) and
``lines`` (a summary for the CLI).

Truth tables:

* ``event_costs``: agency, event_id, person_id, cost_gbp (DECIMAL(18,2), uprated to the price
  year; only events a unit cost applies to).
* ``person_costs``: person_id, year, agency, cost_gbp (each event's cost split over the
  financial years its days fall in).
* ``contacts``: agency, event_id, service, demand_type ('value'/'failure'), category,
  after_handoff, follows_event_id.
* ``transitions``: person_id, kind, at, followed_up, followed_up_within_days,
  adverse_outcome, adverse_added, observed_days, agency, event_id.
* ``programme``: person_id, eligible, joined, join_date, prior_ae_attendances,
  effect_rate_ratio, cost_after_gbp, counterfactual_cost_after_gbp, programme_cost_gbp.
* ``spend``: agency, year, funder, service, theme, category, amount_gbp, activity_cost_gbp.

Example:
    >>> import numpy as np
    >>> from totalplace.synth.population import Period, make_population
    >>> from totalplace.synth.records import RecordPlan
    >>> pop = make_population(2_000, np.random.default_rng(1), Period())   # doctest: +SKIP
    >>> res = make_activity(pop, RecordPlan(pop, np.random.default_rng(2)),
    ...                     np.random.default_rng(3))                          # doctest: +SKIP
    >>> sorted(res.truth)                                                      # doctest: +SKIP
    ['contacts', 'event_costs', 'person_costs', 'programme', 'spend', 'transitions']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from totalplace.synth import care, contacts, health, justice, programme, services, transitions
from totalplace.synth.costs import load_unit_costs
from totalplace.synth.events import Registry
from totalplace.synth.extract import ExtractFile
from totalplace.synth.health import Ctx
from totalplace.synth.model import Grid, intensity, model_params, people_from
from totalplace.synth.truth import build_extracts, build_truth

PRICE_YEAR = "2025/26"


@dataclass
class ActivityResult:
    """What ``make_activity`` returns to ``generate``."""

    files: list[ExtractFile]
    truth: dict[str, pa.Table]
    lines: list[str] = field(default_factory=list)
    price_year: str = PRICE_YEAR


def make_activity(
    pop: Any, plan: Any, rng: np.random.Generator, config: dict[str, Any] | None = None
) -> ActivityResult:
    """Generate every agency's events, spend and the activity truth for a population.

    Args:
        pop: the Population (people, needs, period).
        plan: the RecordPlan; ``plan.source_ids(agency, person_idx, rng)`` gives the agency's
            id for each event's person.
        rng: numpy Generator (the only source of randomness: same seed, same result).
        config: overrides for ``data/activity_model.yaml`` (top-level keys replaced), and
            ``price_year`` (default '2025/26').

    Returns:
        An :class:`ActivityResult`.
    """
    config = dict(config or {})
    price_year = config.pop("price_year", PRICE_YEAR)
    params = {**model_params(), **config}
    grid = Grid.of(pop.period.start, pop.period.end)
    ppl = people_from(pop, grid)
    inten = intensity(
        ppl.n,
        grid.n_halves,
        rng,
        float(params["intensity"]["rho"]),
        float(params["intensity"]["sigma"]),
        float(params["intensity"].get("static", 0.0)),
    )
    reg = Registry()
    ctx = Ctx(ppl, grid, rng, load_unit_costs(price_year), inten, reg, params)
    sim = simulate(ctx)
    files, ids = build_extracts(reg, plan, rng)
    truth = build_truth(ctx, sim, ids, rng)
    files.extend(truth.pop("_spend_files"))
    lines = summary_lines(truth, len(ids.uid))
    return ActivityResult(files, truth, lines, price_year)


@dataclass
class Simulated:
    """Internal results beyond the events themselves, for the truth tables."""

    contacts: contacts.Contacts
    contact_uid: np.ndarray
    transitions: list[transitions.Transitions]
    programme: programme.Programme
    enrol_cost: int


def simulate(ctx: Ctx) -> Simulated:
    """Run every agency's model in order (some depend on others' events)."""
    reg, ppl = ctx.reg, ctx.ppl
    ae = health.ae_attendances(ctx)
    health.cost_ae(ctx, ae)
    reg.add(ae)
    kept, prog = programme.select_and_apply(ctx, ae)
    reg.replace(ae, kept)
    joined = prog.joined
    enrol = reg.add(services.enrolments(ctx, prog.person[joined], prog.join_day[joined]))
    admissions = reg.add(health.admissions_from_ae(ctx, kept))
    reg.add(health.elective_admissions(ctx))
    for b in health.mental_health(ctx):
        reg.add(b)
    for b in care.adult_social_care(ctx):
        reg.add(b)
    csc = [reg.add(b) for b in care.childrens_social_care(ctx)]
    for b in justice.police(ctx):
        reg.add(b)
    releases = reg.add(justice.prison_releases(ctx))
    reg.add(justice.community_orders(ctx))
    for b in services.housing(ctx) + services.dwp(ctx) + services.substance(ctx):
        reg.add(b)
    school = [reg.add(b) for b in services.schools(ctx)]
    trans = []
    exclusions = [b for b in school if b.etype == "permanent_exclusion"][0]
    placements = [b for b in csc if b.etype == "lac_placement"][0]
    for fn, index in (
        (transitions.hospital_discharges, admissions),
        (transitions.prison_releases, releases),
        (transitions.care_leavers, placements),
        (transitions.school_exclusions, exclusions),
    ):
        batches, t = fn(ctx, index)
        for b in batches:
            reg.add(b)
        trans.append(t)
    cc = contacts.contact_centre(ctx)
    reg.add(cc.batch)
    del ppl
    return Simulated(cc, cc.batch.uid, trans, prog, int(enrol.cost[0]) if len(enrol) else 0)


def summary_lines(truth: dict[str, pa.Table], n_events: int) -> list[str]:
    """A few lines for the CLI about what was generated."""
    c = truth["contacts"]
    joiners = int(np.sum(truth["programme"].column("joined").to_numpy(zero_copy_only=False)))
    failure = int(
        np.sum(np.asarray(c.column("demand_type").to_numpy(zero_copy_only=False)) == "failure")
    )
    return [
        f"{n_events:,} events; {c.num_rows:,} contact-centre contacts "
        f"({failure / max(1, c.num_rows):.0%} failure demand)",
        f"{truth['transitions'].num_rows:,} transitions; {joiners:,} programme joiners",
    ]


__all__ = ["ActivityResult", "make_activity"]
