"""The cost-benefit model of an intervention: yearly flows, measures, Monte Carlo, tornado.

One code path serves the central estimate (one "draw" at every central value), the Monte
Carlo (``draws`` values of every uncertain input, each from a triangular distribution on its
low / central / high) and the tornado (one input at its low or high, the rest central).

For each intervention and year ``t`` of the horizon:

* participants = planned places (ramp-up, start year, duration) x take-up;
* costs = per-participant costs x participants + per-year costs while it runs + one-off
  costs in its first year, each uprated to the price year and raised by the optimism-bias
  uplift of its confidence grade (``data/optimism_bias.csv``);
* each participant's effect lasts ``persistence_years`` (a fractional last year counts in
  part), losing ``decay`` of its size each later year; events avoided = participants in
  the effect's years x baseline events per participant-year x -change x (1 - deadweight)
  x (1 - displacement) x attribution x (1 - the effect's optimism-bias uplift);
* benefits = events avoided x unit cost, kept apart as fiscal, economic and social, and by
  the agency that gains; the cashable part only where the effect is marked ``cashable``
  (the activity is decommissioned and its money released).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

from totalplace.appraise.discount import discount_factors, payback_years
from totalplace.appraise.settings import AppraiseSettings, Est, Intervention
from totalplace.errors import TotalplaceError
from totalplace.prices import load_deflator, read_data_csv, uprate

MEASURES = (
    "pv_costs",
    "pv_benefits",
    "pv_fiscal",
    "pv_economic",
    "pv_social",
    "pv_cashable",
    "npv",
    "bcr",
    "fiscal_roi",
    "payback_years",
    "cost_per_outcome",
    "outcomes_avoided",
)
UNITS = {"bcr": "ratio", "fiscal_roi": "ratio", "payback_years": "years"}
UNITS |= {"outcomes_avoided": "events", "prob_npv_positive": "probability"}
VALUE_TYPES = ("fiscal", "economic", "social")


def load_optimism_bias(path: str | Path | None = None) -> dict[int, float]:
    """Optimism-bias uplift by confidence grade, from ``data/optimism_bias.csv`` or a CSV
    with the same columns (grade, uplift, source): never a hard-coded percentage."""
    if path is None:
        rows = read_data_csv("optimism_bias.csv")
    else:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    out: dict[int, float] = {}
    for i, r in enumerate(rows, start=1):
        missing = {"grade", "uplift", "source"} - set(r)
        if missing:
            raise TotalplaceError(f"optimism bias table needs columns {sorted(missing)}")
        try:
            out[int(r["grade"])] = float(r["uplift"])
        except ValueError as e:
            raise TotalplaceError(f"optimism bias table row {i}: {e}") from e
        if not r["source"].strip():
            raise TotalplaceError(f"optimism bias table row {i}: every grade must cite a source")
    return out


@dataclass(frozen=True)
class CostLine:
    item: str
    kind: str
    per: str
    payer: str
    amount: Est  # in price-year pounds, before optimism bias
    uplift: float


@dataclass(frozen=True)
class EffectLine:
    outcome: str
    baseline: float
    change: Est
    unit_cost: float  # price-year pounds
    agency: str
    value: str
    cashable: bool
    uplift: float


@dataclass(frozen=True)
class Resolved:
    """An intervention with every amount in one price year and every reference resolved."""

    name: str
    planned: np.ndarray  # (H,) places planned each year, before take-up
    running: np.ndarray  # (H,) bool: the service runs that year
    take_up: Est
    costs: tuple[CostLine, ...]
    effects: tuple[EffectLine, ...]
    deadweight: Est
    additionality: float  # (1 - displacement) x attribution
    persistence: Est
    decay: float
    source: Intervention | None = None

    def uncertain(self) -> dict[str, Est]:
        """Every input with a range: the Monte Carlo draws these, the tornado swings them."""
        out = {"take_up": self.take_up, "deadweight": self.deadweight}
        out["persistence_years"] = self.persistence
        out |= {f"cost:{c.item}": c.amount for c in self.costs}
        out |= {f"effect:{e.outcome}": e.change for e in self.effects}
        return {k: v for k, v in out.items() if v.lo != v.hi}


def _pounds(amount: float, year: str | None, to_year: str, deflator) -> float:
    if not year or year == to_year:
        return float(amount)
    return float(uprate(Decimal(str(amount)), year, to_year, deflator))


def resolve(
    iv: Intervention,
    settings: AppraiseSettings,
    price_year: str,
    programme_effects: dict[tuple[str, str], tuple[float, float, float]] | None = None,
) -> Resolved:
    """One intervention's inputs in ``price_year`` pounds, optimism bias and programme
    estimates attached (``programme_effects``: (programme, outcome) -> effect, low, high)."""
    deflator = load_deflator()
    ob = load_optimism_bias(settings.optimism_bias)
    unit_costs = {r["cost_id"]: r for r in read_data_csv("unit_costs.csv")}
    h = settings.horizon_years
    years = np.arange(h)
    k = years - iv.start_year
    running = (k >= 0) & (k < iv.duration_years)
    ramp = np.ones(h)
    for i, share in enumerate(iv.ramp_up):
        ramp[k == i] = share
    planned = np.where(running, iv.participants_per_year * ramp, 0.0)
    costs = []
    for c in iv.costs:
        f = _pounds(1.0, c.price_year, price_year, deflator) if c.price_year else 1.0
        amt = Est(value=c.amount_gbp.value * f, low=c.amount_gbp.lo * f, high=c.amount_gbp.hi * f)
        costs.append(CostLine(c.item, c.kind, c.per, c.payer, amt, ob[c.confidence]))
    effects = []
    for e in iv.effects:
        if e.from_programme is not None:
            key = (e.from_programme.programme, e.from_programme.outcome)
            if not programme_effects or key not in programme_effects:
                raise TotalplaceError(
                    f"intervention {iv.name!r}: effect {e.outcome!r} comes from programme "
                    f"{key[0]}/{key[1]}, which has no estimate (has the evaluation run?)"
                )
            mid, lo, hi = programme_effects[key]
            change = Est(value=mid, low=min(lo, hi, mid), high=max(lo, hi, mid))
        else:
            assert e.change is not None
            change = e.change
        if e.unit_cost:
            row = unit_costs[e.unit_cost]
            unit = _pounds(float(row["cost_gbp"]), row["price_year"], price_year, deflator)
        else:
            assert e.unit_cost_gbp is not None
            unit = _pounds(e.unit_cost_gbp, e.price_year, price_year, deflator)
        uplift = ob[e.confidence] if settings.optimism_bias_on_benefits else 0.0
        effects.append(
            EffectLine(
                e.outcome,
                e.baseline_per_participant,
                change,
                unit,
                e.agency,
                e.value,
                e.cashable,
                uplift,
            )
        )
    return Resolved(
        iv.name,
        planned,
        running,
        iv.take_up,
        tuple(costs),
        tuple(effects),
        iv.deadweight,
        (1.0 - iv.displacement) * iv.attribution,
        iv.persistence_years,
        iv.decay,
        iv,
    )


def draw(est: Est, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from the triangular distribution (low, value, high); constant if no range."""
    if est.lo == est.hi:
        return np.full(n, est.value)
    return triangular(np.array([[est.lo, est.value, est.hi]]), rng.random((1, n)))[0]


def triangular(abc: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse CDF of triangular distributions: row i of ``abc`` is (low, mode, high), row i
    of ``u`` its uniform draws. One pass for every input of an intervention."""
    a, c, b = (abc[:, i : i + 1] for i in range(3))
    width = b - a
    cut = np.where(width > 0, (c - a) / np.where(width > 0, width, 1.0), 0.0)
    lo = a + np.sqrt(u * width * (c - a))
    hi = b - np.sqrt((1.0 - u) * width * (b - c))
    return np.where(u < cut, lo, hi)


@dataclass
class Flows:
    """Yearly flows of one intervention, shape (draws, years)."""

    participants: np.ndarray
    costs: np.ndarray
    costs_by_kind: dict[str, np.ndarray]
    costs_by_payer: dict[str, np.ndarray]
    benefits: dict[str, np.ndarray]  # by value type
    benefits_by_agency: dict[str, np.ndarray]
    cashable: np.ndarray
    cashable_by_agency: dict[str, np.ndarray]
    outcomes: np.ndarray  # events avoided
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def total_benefits(self) -> np.ndarray:
        b = self.benefits
        return b["fiscal"] + b["economic"] + b["social"]


def _add(d: dict[str, np.ndarray], key: str, v: np.ndarray) -> None:
    d[key] = d[key] + v if key in d else v


def flows(r: Resolved, p: dict[str, np.ndarray], n: int, detail: bool = True) -> Flows:
    """Yearly flows for ``n`` draws; ``p`` maps each uncertain input's name to (n,) values
    (inputs missing from ``p`` take their central value). ``detail=False`` skips the
    splits by kind, payer and agency (the Monte Carlo needs only totals)."""

    def val(key: str, est: Est) -> np.ndarray:
        return p[key][:, None] if key in p else np.full((n, 1), est.value)

    h = len(r.planned)
    take_up = val("take_up", r.take_up)
    part = r.planned[None, :] * take_up
    first = np.zeros(h)
    if r.running.any():
        first[np.argmax(r.running)] = 1.0
    basis = {"participant": part, "year": r.running[None, :] * 1.0, "once": first[None, :]}
    # Sum each basis's amounts per draw first: three (draws x years) products in all.
    per: dict[str, np.ndarray] = {}
    lines = []
    for c in r.costs:
        amt = val(f"cost:{c.item}", c.amount) * (1.0 + c.uplift)
        per[c.per] = per[c.per] + amt if c.per in per else amt
        lines.append((c, amt))
    costs = sum(basis[k] * a for k, a in per.items())
    costs = np.broadcast_to(costs, (n, h)) if not isinstance(costs, int) else np.zeros((n, h))
    by_kind: dict[str, np.ndarray] = {}
    by_payer: dict[str, np.ndarray] = {}
    if detail:
        for c, amt in lines:
            line = np.broadcast_to(basis[c.per] * amt, (n, h))
            _add(by_kind, c.kind, line)
            _add(by_payer, c.payer, line)
    # Participant-years of effect in each year: reached[t] = sum_s part[s] * left[t - s],
    # one matrix product per draw set with the Toeplitz matrix of planned places.
    persist = val("persistence_years", r.persistence)
    lags = np.arange(h)
    left = np.clip(persist - lags[None, :], 0.0, 1.0) * ((1.0 - r.decay) ** lags)[None, :]
    k, t = np.meshgrid(lags, lags, indexing="ij")
    toeplitz = np.where(t >= k, r.planned[np.clip(t - k, 0, h - 1)], 0.0)
    reached = (left @ toeplitz) * take_up
    net = (1.0 - val("deadweight", r.deadweight)) * r.additionality
    count = np.zeros((n, 1))
    money: dict[str, np.ndarray] = {}
    cash_f = np.zeros((n, 1))
    factors = []
    for e in r.effects:
        f = e.baseline * -val(f"effect:{e.outcome}", e.change) * net * (1.0 - e.uplift)
        count = count + f
        money[e.value] = money[e.value] + f * e.unit_cost if e.value in money else f * e.unit_cost
        if e.cashable:
            cash_f = cash_f + f * e.unit_cost
        factors.append((e, f))
    zero = np.zeros((n, h))
    benefits = {v: reached * money[v] if v in money else zero for v in VALUE_TYPES}
    by_agency: dict[str, np.ndarray] = {}
    cash_by: dict[str, np.ndarray] = {}
    if detail:
        for e, f in factors:
            _add(by_agency, e.agency, reached * f * e.unit_cost)
            if e.cashable:
                _add(cash_by, e.agency, reached * f * e.unit_cost)
    cash = reached * cash_f
    outcomes = reached * count
    return Flows(part, costs, by_kind, by_payer, benefits, by_agency, cash, cash_by, outcomes)


def summarise(f: Flows, df: np.ndarray) -> dict[str, np.ndarray]:
    """Every measure of ``MEASURES`` for each draw."""
    pvc = f.costs @ df
    pvb = f.total_benefits @ df
    pv = {f"pv_{v}": f.benefits[v] @ df for v in VALUE_TYPES}
    n_out = f.outcomes.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "pv_costs": pvc,
            "pv_benefits": pvb,
            **pv,
            "pv_cashable": f.cashable @ df,
            "npv": pvb - pvc,
            "bcr": np.where(pvc > 0, pvb / pvc, np.nan),
            "fiscal_roi": np.where(pvc > 0, pv["pv_fiscal"] / pvc, np.nan),
            "payback_years": payback_years(f.benefits["fiscal"], f.costs, df),
            "cost_per_outcome": np.where(n_out > 0, pvc / n_out, np.nan),
            "outcomes_avoided": n_out,
        }


def central(r: Resolved, df: np.ndarray) -> tuple[Flows, dict[str, float]]:
    """The central estimate: its yearly flows and measures."""
    f = flows(r, {}, 1)
    return f, {k: float(v[0]) for k, v in summarise(f, df).items()}


def monte_carlo(
    interventions: list[Resolved], df: np.ndarray, draws: int, seed: int
) -> dict[str, dict[str, np.ndarray]]:
    """``draws`` values of every measure for each intervention (seeded, reproducible)."""
    rng = np.random.default_rng(seed)
    out = {}
    for r in interventions:
        ranges = r.uncertain()
        if ranges:
            abc = np.array([[e.lo, e.value, e.hi] for e in ranges.values()])
            values = triangular(abc, rng.random((len(ranges), draws)))
            p = dict(zip(ranges, values, strict=True))
        else:
            p = {}
        out[r.name] = summarise(flows(r, p, draws, detail=False), df)
    return out


def percentiles(values: dict[str, np.ndarray]) -> dict[str, tuple[float, float, float]]:
    """P10, P50, P90 of each measure (infinite paybacks count as never), and P(NPV > 0)."""
    out = {}
    for k, v in values.items():
        if k == "payback_years":  # 'never' (inf) is a value here, not a gap
            lo, mid, hi = np.percentile(v, [10, 50, 90], method="nearest")
        elif np.isfinite(v).any():
            lo, mid, hi = np.nanpercentile(v, [10, 50, 90])
        else:
            lo = mid = hi = np.nan
        out[k] = (float(lo), float(mid), float(hi))
    prob = float(np.mean(values["npv"] > 0))
    out["prob_npv_positive"] = (prob, prob, prob)
    return out


def tornado(r: Resolved, df: np.ndarray) -> list[tuple[str, float, float]]:
    """NPV with each uncertain input at its low and at its high (the rest central), widest
    swing first: what matters most."""
    rows = []
    for key, est in r.uncertain().items():
        p = {key: np.array([est.lo, est.hi])}
        npv = summarise(flows(r, p, 2), df)["npv"]
        rows.append((key, float(npv[0]), float(npv[1])))
    rows.sort(key=lambda t: -abs(t[2] - t[1]))
    return rows


def horizon_factors(settings: AppraiseSettings) -> np.ndarray:
    return discount_factors(settings.horizon_years, settings.discount)
