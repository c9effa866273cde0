"""Green Book discounting and the measures of a cost-benefit analysis.

The social time preference rate is data (``totalplace/data/green_book_discount.csv``, each
row citing HM Treasury's Green Book): 3.5% a year for years 0-30, 3.0% for 31-75, 2.5% for
76-125, 2.0% for 126-200, 1.5% for 201-300 and 1.0% beyond, applied cumulatively by segment:
the factor for year 31 is the year-30 factor discounted one more year at 3.0%, not
``1.03 ** -31``. The ``health`` schedule is the Green Book's reduced rate (1.5% falling in the
same proportion) for health effects. Year 0 is the base year and is not discounted.

>>> round(float(discount_factors(32)[31]), 4)
0.3459
>>> r = measures(benefits=[0, 60, 60], costs=[100, 0, 0], fiscal=[0, 60, 60], rate=0.0)
>>> r["npv"], r["bcr"], round(r["payback_years"], 3)
(20.0, 1.2, 1.667)

Every function takes flows with the year as the last axis, so the same code serves one
central estimate and ten thousand Monte Carlo draws at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from totalplace.errors import TotalplaceError
from totalplace.prices import read_data_csv

SCHEDULES = ("standard", "health")


@dataclass(frozen=True)
class Segment:
    """One stretch of years discounted at one rate (``to_year`` None: every later year)."""

    from_year: int
    to_year: int | None
    rate: float
    source: str


@lru_cache(maxsize=4)
def load_schedule(name: str = "standard") -> tuple[Segment, ...]:
    """The segments of a discount schedule from ``green_book_discount.csv``."""
    if name not in SCHEDULES:
        raise TotalplaceError(
            f"discount schedule must be one of: {', '.join(SCHEDULES)}; found {name!r}"
        )
    rows = [r for r in read_data_csv("green_book_discount.csv") if r["schedule"] == name]
    segs = tuple(
        Segment(
            int(r["from_year"]),
            int(r["to_year"]) if r["to_year"] else None,
            float(r["rate"]),
            r["source"],
        )
        for r in rows
    )
    expect = 0
    for s in segs:  # the data file must cover every year once, in order
        if s.from_year != expect:
            raise TotalplaceError(f"green_book_discount.csv: {name} has a gap at year {expect}")
        expect = (s.to_year + 1) if s.to_year is not None else -1
    if expect != -1:
        raise TotalplaceError(f"green_book_discount.csv: {name} must end with an open segment")
    return segs


def yearly_rates(n_years: int, schedule: str = "standard") -> np.ndarray:
    """The rate that applies in each year 0..n_years-1 (year t is discounted from t-1 at it)."""
    years = np.arange(n_years)
    rates = np.empty(n_years)
    for s in load_schedule(schedule):
        hi = s.to_year if s.to_year is not None else np.iinfo(np.int64).max
        rates[(years >= s.from_year) & (years <= hi)] = s.rate
    return rates


def discount_factors(
    n_years: int, schedule: str = "standard", rate: float | None = None
) -> np.ndarray:
    """Discount factors for years 0..n_years-1 (``rate``: one flat rate instead)."""
    if rate is not None:
        return (1.0 + rate) ** -np.arange(n_years, dtype=np.float64)
    r = yearly_rates(n_years, schedule)
    r[0] = 0.0  # the base year is not discounted
    return np.cumprod(1.0 / (1.0 + r))


def present_value(flows: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Sum over the last (year) axis of flows x discount factors."""
    return np.asarray(flows, dtype=np.float64) @ df[: np.shape(flows)[-1]]


def payback_years(benefits: np.ndarray, costs: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Years until cumulative discounted benefits first cover cumulative discounted costs.

    Flows fall in years 0, 1, ...; within the year where the running balance turns
    non-negative the time is interpolated linearly (costs of 100 in year 0 and benefits of
    60 in years 1 and 2, undiscounted, pay back after 1 + 40/60 years). ``inf`` if never.
    """
    net = (np.asarray(benefits, np.float64) - np.asarray(costs, np.float64)) * df[
        : np.shape(benefits)[-1]
    ]
    cum = np.cumsum(net, axis=-1)
    ok = cum >= 0
    first = np.argmax(ok, axis=-1)
    never = ~ok.any(axis=-1)
    prev = np.take_along_axis(cum, np.maximum(first - 1, 0)[..., None], -1)[..., 0]
    step = np.take_along_axis(net, first[..., None], -1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(step > 0, -prev / step, 0.0)
    out = np.where(first == 0, 0.0, first - 1 + frac)
    return np.where(never, np.inf, out)


def measures(
    benefits,
    costs,
    fiscal=None,
    outcomes=None,
    schedule: str = "standard",
    rate: float | None = None,
) -> dict[str, float | np.ndarray]:
    """NPSV, BCR, fiscal ROI, payback and cost per outcome of yearly flows (year = last axis).

    Args:
        benefits: public value (fiscal + economic + social) by year.
        costs: costs by year.
        fiscal: the fiscal part of the benefits (default: all of them).
        outcomes: outcomes achieved by year (e.g. attendances avoided), for cost per outcome.
        schedule: 'standard' or 'health' Green Book rates; ``rate``: one flat rate instead.

    Returns:
        ``pv_benefits``, ``pv_costs``, ``npv`` (net present social value), ``bcr``
        (PV benefits / PV costs), ``fiscal_roi`` (PV fiscal benefits / PV costs, the 2014
        guidance's financial return on investment), ``payback_years`` (on fiscal benefits)
        and ``cost_per_outcome`` (PV costs / outcomes, undiscounted count). Scalars for 1-D
        flows, arrays over the leading axes otherwise.
    """
    b = np.asarray(benefits, np.float64)
    c = np.asarray(costs, np.float64)
    f = b if fiscal is None else np.asarray(fiscal, np.float64)
    df = discount_factors(b.shape[-1], schedule, rate)
    pvb, pvc, pvf = present_value(b, df), present_value(c, df), present_value(f, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: dict[str, float | np.ndarray] = {
            "pv_benefits": pvb,
            "pv_costs": pvc,
            "npv": pvb - pvc,
            "bcr": np.where(pvc > 0, pvb / pvc, np.nan),
            "fiscal_roi": np.where(pvc > 0, pvf / pvc, np.nan),
            "payback_years": payback_years(f, c, df),
        }
        if outcomes is not None:
            n = np.sum(np.asarray(outcomes, np.float64), axis=-1)
            out["cost_per_outcome"] = np.where(n > 0, pvc / n, np.nan)
    if b.ndim == 1:
        return {k: float(v) for k, v in out.items()}
    return out
