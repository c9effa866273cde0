"""Shared pieces of the activity model: the period's time grid, the people as numpy arrays,
person-level intensity, and the parameters in ``data/activity_model.yaml``.

Time is held as int64 seconds since 1970-01-01 in local (Europe/London) wall-clock time, the
way agencies write it; ``-1`` means "no time" (e.g. an episode still open at the period end).
The period is cut into half-years (April-September, October-March): every rate is drawn per
person per half-year, so use varies over time and regression to the mean is real.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

DAY = 86_400
NO_TIME = -1
EPOCH = dt.date(1970, 1, 1)


def days(d: dt.date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


@cache
def model_params() -> dict[str, Any]:
    """The parameters of the activity model (``data/activity_model.yaml``), read once."""
    text = resources.files("totalplace.data").joinpath("activity_model.yaml").read_text("utf-8")
    return yaml.safe_load(text)


@dataclass(frozen=True)
class Grid:
    """The period cut into half-years and financial years (all in days since 1970)."""

    start: int
    end: int  # inclusive last day
    half_starts: np.ndarray  # first day of each half-year
    half_ends: np.ndarray  # first day after each half-year
    year_labels: tuple[str, ...]  # financial years, e.g. ('2023/24', ...)
    year_starts: np.ndarray  # first day of each financial year (clipped to the period)

    @classmethod
    def of(cls, start: dt.date, end: dt.date) -> Grid:
        halves: list[int] = [days(start)]
        d = start
        while True:
            m = d.month + 6
            d = (
                dt.date(d.year + (m - 1) // 12, (m - 1) % 12 + 1, 1)
                if d.day == 1
                else d + dt.timedelta(183)
            )
            if d > end:
                break
            halves.append(days(d))
        ends = halves[1:] + [days(end) + 1]
        fy0 = start.year if start.month >= 4 else start.year - 1
        fy1 = end.year if end.month >= 4 else end.year - 1
        labels = tuple(f"{y}/{(y + 1) % 100:02d}" for y in range(fy0, fy1 + 1))
        ystarts = np.array([max(days(dt.date(y, 4, 1)), days(start)) for y in range(fy0, fy1 + 1)])
        return cls(days(start), days(end), np.array(halves), np.array(ends), labels, ystarts)

    @property
    def n_halves(self) -> int:
        return len(self.half_starts)

    @property
    def half_days(self) -> np.ndarray:
        return self.half_ends - self.half_starts

    def year_of_day(self, day: np.ndarray) -> np.ndarray:
        """Index of the financial year a day (days since 1970) falls in."""
        return np.clip(
            np.searchsorted(self.year_starts, day, side="right") - 1, 0, len(self.year_starts) - 1
        )


@dataclass
class People:
    """The columns of ``Population.people`` the activity model needs, as numpy arrays."""

    n: int
    person_id: np.ndarray
    household_id: np.ndarray
    age: np.ndarray  # whole years at the period start
    female: np.ndarray
    dob: np.ndarray  # days since 1970
    latent: np.ndarray
    complex_factor: np.ndarray
    died: np.ndarray  # day of death or a large number
    need: dict[str, np.ndarray]  # ever in the period
    active: dict[str, np.ndarray] = field(default_factory=dict)  # (n, halves) need active
    # Need episodes from the population's needs table: need -> (person index, from, to) in
    # days; an open episode ends far beyond the period.
    spells: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    def any_need(self, names: list[str]) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.int8)
        for nm in names:
            out += self.need[nm]
        return out


def people_from(pop: Any, grid: Grid) -> People:
    """Pull the arrays the activity model uses out of a ``Population``."""
    t = pop.people
    n = t.num_rows

    def col(name: str, default: Any = None) -> np.ndarray:
        if name not in t.column_names:
            if default is None:
                raise KeyError(f"population.people has no column {name!r}; it has {t.column_names}")
            return np.full(n, default)
        return t.column(name).to_numpy(zero_copy_only=False)

    dob = col("dob").astype("datetime64[D]").astype(np.int64)
    died_raw = t.column("died_on") if "died_on" in t.column_names else None
    died = np.full(n, 10**7, dtype=np.int64)
    if died_raw is not None:
        mask = died_raw.is_valid().to_numpy(zero_copy_only=False)
        vals = (
            died_raw.fill_null(0).cast("int32").to_numpy(zero_copy_only=False)
            if mask.any()
            else None
        )
        if vals is not None:
            died[mask] = vals[mask]
    need_names = [c.removeprefix("need_") for c in t.column_names if c.startswith("need_")]
    need = {nm: col(f"need_{nm}").astype(bool) for nm in need_names}
    age_col = "age_at_start" if "age_at_start" in t.column_names else "age"
    ppl = People(
        n=n,
        person_id=col("person_id").astype(np.int64),
        household_id=col("household_id").astype(np.int64),
        age=col(age_col).astype(np.int64),
        female=col("sex") == "F",
        dob=dob,
        latent=col("latent").astype(np.float64),
        complex_factor=col("complex_factor", 0.0).astype(np.float64),
        died=died,
        need=need,
    )
    ppl.active, ppl.spells = need_activity(pop, ppl, grid)
    return ppl


def need_activity(pop: Any, ppl: People, grid: Grid) -> tuple[dict[str, np.ndarray], dict]:
    """For each need, an (n, halves) boolean: the need was active in that half-year.

    Uses the episodes in ``pop.needs`` (person_id, need, from, to) when there are any, so
    activity follows a need's onset and end; otherwise the ever-in-period flag for every half
    (and one whole-period episode per person with the need).
    """
    H = grid.n_halves
    out = {nm: np.zeros((ppl.n, H), dtype=bool) for nm in ppl.need}
    spells: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    far = grid.end + 3650
    needs = getattr(pop, "needs", None)
    if needs is None or needs.num_rows == 0:
        for nm, v in ppl.need.items():
            out[nm][:] = v[:, None]
            i = np.flatnonzero(v)
            spells[nm] = (i, np.full(len(i), grid.start - 365), np.full(len(i), far))
        return out, spells
    pid = needs.column("person_id").to_numpy().astype(np.int64)
    nm_col = needs.column("need").to_numpy(zero_copy_only=False)
    f = needs.column("from").cast("int32").fill_null(grid.start).to_numpy(zero_copy_only=False)
    to = needs.column("to").cast("int32").fill_null(far).to_numpy(zero_copy_only=False)
    # person_id is 0..n-1 in the population; map through a search in case it is not.
    order = np.argsort(ppl.person_id)
    idx = order[np.searchsorted(ppl.person_id, pid, sorter=order)]
    for nm in out:
        sel = nm_col == nm
        if not sel.any():
            out[nm][:] = ppl.need[nm][:, None]
            i = np.flatnonzero(ppl.need[nm])
            spells[nm] = (i, np.full(len(i), grid.start - 365), np.full(len(i), far))
            continue
        i, a, b = idx[sel], f[sel].astype(np.int64), to[sel].astype(np.int64)
        spells[nm] = (i, a, b)
        for h in range(H):
            hit = (a < grid.half_ends[h]) & (b >= grid.half_starts[h])
            out[nm][i[hit], h] = True
    return out, spells


def intensity(
    n: int, halves: int, rng: np.random.Generator, rho: float, sigma: float, static: float = 0.0
) -> np.ndarray:
    """Person intensity per half-year: log-normal, mean 1, partly fixed and partly AR(1).

    The log intensity is ``sigma * (sqrt(static) * u + sqrt(1 - static) * z[h])`` where ``u``
    is fixed for the person and ``z`` follows an AR(1) with half-year correlation ``rho``: a
    person who is high this half-year tends to stay high, but drifts back towards their own
    level. That is what makes high cost only partly persistent.
    """
    z = np.empty((n, halves), dtype=np.float64)
    z[:, 0] = rng.standard_normal(n)
    s = np.sqrt(1 - rho * rho)
    for h in range(1, halves):
        z[:, h] = rho * z[:, h - 1] + s * rng.standard_normal(n)
    z = np.sqrt(1 - static) * z + np.sqrt(static) * rng.standard_normal(n)[:, None]
    return np.exp(sigma * z - sigma * sigma / 2).astype(np.float32)


def age_rate(age: np.ndarray, bands: dict[int, float]) -> np.ndarray:
    """Rate by age band; ``bands`` maps each band's lowest age to its rate."""
    lows = np.array(sorted(bands))
    rates = np.array([bands[k] for k in sorted(bands)], dtype=np.float64)
    i = np.searchsorted(lows, age, side="right") - 1
    return np.where(i >= 0, rates[np.clip(i, 0, None)], 0.0)
