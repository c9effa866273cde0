"""Vectorised building blocks for events: rates, over-dispersed counts, times and episodes.

An event type's rate for a person in a half-year is::

    rate = base(age) * prod(need multipliers for needs active then) * exp(latent * b)
           * intensity[person, half] ** w

and its count is gamma-Poisson (negative binomial) with shape ``k``: small ``k`` gives the
long tail of real service use. Events are held in :class:`Batch` objects (numpy arrays, one
row per event) until they are formatted into an agency's extract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from totalplace.synth.model import DAY, NO_TIME, Grid, People, age_rate


@dataclass
class Attr:
    """A categorical column: small integer codes into a list of labels (cheap at scale)."""

    codes: np.ndarray
    labels: list[str]

    def take(self, idx: np.ndarray) -> Attr:
        return Attr(self.codes[idx], self.labels)


@dataclass
class Batch:
    """Events of one type for one agency. ``cost`` is integer pence (0 = no unit cost)."""

    agency: str
    etype: str
    person: np.ndarray  # index into People (0..n-1)
    start: np.ndarray  # int64 seconds (local wall-clock)
    end: np.ndarray  # int64 seconds or NO_TIME
    cost: np.ndarray  # int64 pence
    attrs: dict[str, Attr | np.ndarray] = field(default_factory=dict)
    uid: np.ndarray | None = None  # global row id, set by the registry

    def __len__(self) -> int:
        return len(self.person)

    def take(self, idx: np.ndarray) -> Batch:
        attrs = {k: (v.take(idx) if isinstance(v, Attr) else v[idx]) for k, v in self.attrs.items()}
        return Batch(
            self.agency,
            self.etype,
            self.person[idx],
            self.start[idx],
            self.end[idx],
            self.cost[idx],
            attrs,
            None if self.uid is None else self.uid[idx],
        )


class Registry:
    """Collects batches and gives every event a global id (``uid``) in creation order."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.next_uid = 0

    def add(self, b: Batch) -> Batch:
        b.uid = np.arange(self.next_uid, self.next_uid + len(b), dtype=np.int64)
        self.next_uid += len(b)
        self.batches.append(b)
        return b

    def of(self, agency: str | None = None, etype: str | None = None) -> list[Batch]:
        return [
            b
            for b in self.batches
            if (agency is None or b.agency == agency) and (etype is None or b.etype == etype)
        ]

    def replace(self, old: Batch, new: Batch) -> None:
        """Swap a batch for a filtered copy of itself (uids are kept)."""
        self.batches[self.batches.index(old)] = new


def need_multiplier(ppl: People, needs: dict[str, float], grid: Grid) -> np.ndarray:
    """(n, halves) product of the multipliers of the needs active in each half-year."""
    m = np.ones((ppl.n, grid.n_halves), dtype=np.float32)
    for nm, mult in (needs or {}).items():
        act = ppl.active.get(nm)
        if act is None:
            continue
        m[act] *= np.float32(mult)
    return m


def rates(
    ppl: People,
    spec: dict[str, Any],
    grid: Grid,
    inten: np.ndarray,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Expected events per person per half-year for a count spec from the model YAML."""
    # The person-level part first (one value per person), then the per half-year part.
    person = age_rate(ppl.age, {int(k): float(v) for k, v in spec["base_per_year"].items()})
    person = person * np.exp(
        float(spec.get("latent", 0.0)) * ppl.latent
        + float(spec.get("complex", 0.0)) * ppl.complex_factor
    )
    if spec.get("female") is not None:
        person = person * np.where(ppl.female, float(spec["female"]), 1.0)
    lam = need_multiplier(ppl, spec.get("needs", {}), grid)
    lam *= person.astype(np.float32)[:, None]
    lam *= (grid.half_days / 365.25).astype(np.float32)[None, :]
    season = float(spec.get("season", 0.0))  # winter peak (negative: summer), see expand()
    if season:
        lam *= (1 + season * half_season(grid)).astype(np.float32)[None, :]
    trend = float(spec.get("trend", 0.0))  # growth a year, e.g. 0.03 = 3% more each year
    if trend:
        lam *= ((1 + trend) ** (np.arange(grid.n_halves) / 2)).astype(np.float32)[None, :]
    w = float(spec.get("intensity", 1.0))
    if w == 1.0:
        lam *= inten
    elif w:
        lam *= inten ** np.float32(w)
    if extra is not None:
        lam *= extra
    # Nobody uses services after they died (only the few who died need the adjustment).
    dead = np.flatnonzero(ppl.died <= grid.end)
    if len(dead):
        alive = np.clip(
            (ppl.died[dead, None] - grid.half_starts[None, :]) / grid.half_days[None, :], 0, 1
        )
        lam[dead] *= alive.astype(np.float32)
    return lam


def half_season(grid: Grid) -> np.ndarray:
    """Mean of the seasonal curve cos(2 pi (day - 15 Jan) / year) over each half-year."""
    out = np.empty(grid.n_halves)
    for h in range(grid.n_halves):
        d = np.arange(grid.half_starts[h], grid.half_ends[h])
        out[h] = np.cos(2 * np.pi * ((d - 14) % 365.25) / 365.25).mean()
    return out


def draw_counts(lam: np.ndarray, shape: float, rng: np.random.Generator) -> np.ndarray:
    """Gamma-Poisson counts: mean ``lam``, variance ``lam + lam**2 / shape``.

    Cells with a tiny rate (most people, for most event types) are drawn as plain Poisson:
    at such rates the chance of two or more events, where over-dispersion shows, is
    negligible, and skipping their gamma draws makes a million residents fast.
    """
    out = np.zeros(lam.shape, dtype=np.int32)
    big = lam >= 0.02
    small = ~big & (lam > 0)
    out[small] = rng.poisson(lam[small])
    g = rng.gamma(shape, 1.0 / shape, int(big.sum())) * lam[big]
    out[big] = rng.poisson(g)
    return out


def expand(
    counts: np.ndarray,
    grid: Grid,
    rng: np.random.Generator,
    hours: np.ndarray | None,
    died: np.ndarray | None = None,
    season: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn (n, halves) counts into one row per event: person, half-year, start (seconds).

    The day within the half-year follows a seasonal curve ``1 + season * cos(...)`` peaking
    in mid-January (a negative ``season`` peaks in mid-July; 0 is uniform); the time of day
    follows ``hours`` (24 weights), or is midnight (date only) when ``hours`` is None.
    Events are kept before a death.
    """
    flat = counts.ravel()
    nz = np.flatnonzero(flat)
    rep = flat[nz]
    cell = np.repeat(nz, rep)
    person, half = np.divmod(cell, counts.shape[1])
    u = rng.random(len(cell))
    if season:
        day = np.empty(len(cell), np.int64)
        for h in range(grid.n_halves):
            sel = half == h
            d = np.arange(grid.half_starts[h], grid.half_ends[h])
            doy = (d - 14) % 365.25  # days since 15 January (1970-01-15 is day 14)
            cdf = np.cumsum(1 + season * np.cos(2 * np.pi * doy / 365.25))
            day[sel] = d[np.minimum(np.searchsorted(cdf, u[sel] * cdf[-1]), len(d) - 1)]
    else:
        day = grid.half_starts[half] + (u * grid.half_days[half]).astype(np.int64)
    if died is not None:
        day = np.minimum(day, died[person])
    secs = day * DAY
    if hours is not None:
        secs = secs + time_of_day(len(cell), hours, rng)
    return person.astype(np.int64), half.astype(np.int64), secs


def working_day(day: np.ndarray, rng: np.random.Generator, last: int | None = None) -> np.ndarray:
    """Move Saturdays and Sundays to a random working day of the following week (never
    beyond ``last``, the period's last day, when given)."""
    wd = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    out = np.where(wd >= 5, day + (7 - wd) + rng.integers(0, 5, len(day)), day)
    return out if last is None else np.minimum(out, last)


def nearest_working_day(day: np.ndarray, not_before: np.ndarray) -> np.ndarray:
    """A weekend day becomes the Friday before (if not before ``not_before``) or the Monday
    after: follow-ups stay within a few days of what triggered them."""
    wd = (day + 3) % 7
    friday = day - (wd - 4)
    monday = day + (7 - wd)
    return np.where(wd >= 5, np.where(friday >= not_before, friday, monday), day)


def office_time(day: np.ndarray, rng: np.random.Generator, last: int | None = None) -> np.ndarray:
    """Seconds for an appointment on a working day, 09:00-16:59, on or after ``day``."""
    d = working_day(np.asarray(day, dtype=np.int64), rng, last)
    return d * DAY + rng.integers(9, 17, len(d)) * 3600 + rng.integers(0, 4, len(d)) * 900


def time_of_day(m: int, hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seconds after midnight for ``m`` events, hour drawn from 24 weights."""
    p = np.asarray(hours, dtype=np.float64)
    h = rng.choice(24, size=m, p=p / p.sum())
    return h * 3600 + rng.integers(0, 3600, m)


def pick(rng: np.random.Generator, m: int, probs: dict[str, float] | list[float]) -> np.ndarray:
    """Category codes 0..k-1 for ``m`` rows with the given probabilities."""
    p = np.array(list(probs.values()) if isinstance(probs, dict) else probs, dtype=np.float64)
    return rng.choice(len(p), size=m, p=p / p.sum()).astype(np.int16)


def episodes(
    ppl: People,
    who: np.ndarray,
    grid: Grid,
    rng: np.random.Generator,
    *,
    mean_days: float,
    sigma: float,
    prevalent: float,
    inten: np.ndarray | None = None,
    max_days: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One episode (placement, claim, treatment...) for each person index in ``who``.

    A share ``prevalent`` were already under way at the period start (start drawn before
    it); the rest start within the period, in a half-year chosen in proportion to the
    person's intensity. Length is log-normal with mean ``mean_days``. Returns person, start
    day, end day (exclusive; may lie beyond the period end = still open).
    """
    m = len(who)
    mu = np.log(mean_days) - sigma * sigma / 2
    length = np.maximum(1, np.exp(mu + sigma * rng.standard_normal(m))).astype(np.int64)
    if max_days is not None:
        length = np.minimum(length, int(max_days))
    already = rng.random(m) < prevalent
    if inten is not None:
        w = inten[who] * grid.half_days[None, :]
    else:
        w = np.broadcast_to(grid.half_days[None, :], (m, grid.n_halves)).astype(np.float64)
    cum = np.cumsum(w, axis=1)
    u = rng.random(m) * cum[:, -1]
    half = (cum < u[:, None]).sum(axis=1)
    start = grid.half_starts[half] + (rng.random(m) * grid.half_days[half]).astype(np.int64)
    # Under way already: the start lies before the period, somewhere within the episode.
    back = (rng.random(m) * length).astype(np.int64) + 1
    start = np.where(already, grid.start - back, start)
    end = start + length
    end = np.minimum(end, np.maximum(ppl.died[who], start + 1))
    return who.astype(np.int64), start, end


def overlap_days(start: np.ndarray, end: np.ndarray, grid: Grid) -> np.ndarray:
    """Days of [start, end) that fall inside the period."""
    return np.clip(np.minimum(end, grid.end + 1) - np.maximum(start, grid.start), 0, None)


def episode_batch(
    agency: str,
    etype: str,
    person: np.ndarray,
    start_day: np.ndarray,
    end_day: np.ndarray,
    grid: Grid,
    pence_per_day: float,
    attrs: dict | None = None,
    fixed_pence: int = 0,
) -> Batch:
    """A batch of episodes costed per day within the period (plus a fixed cost, if any).

    Episodes still open at the period end get no end time.
    """
    cost = (
        np.rint(overlap_days(start_day, end_day, grid) * pence_per_day).astype(np.int64)
        + fixed_pence
    )
    end = np.where(end_day > grid.end, NO_TIME, end_day * DAY)
    return Batch(agency, etype, person, start_day * DAY, end, cost, attrs or {})


def eligible(
    ppl: People, need: str | None = None, age_min: int = 0, age_max: int = 200
) -> np.ndarray:
    """Boolean mask of people with a need (ever in the period) in an age range."""
    m = (ppl.age >= age_min) & (ppl.age <= age_max)
    if need is not None:
        m &= ppl.need[need]
    return m


def lognormal_days(rng: np.random.Generator, m: int, mean_days: float, sigma: float) -> np.ndarray:
    """Whole-day lengths (>= 1) from a log-normal with the given mean."""
    mu = np.log(mean_days) - sigma * sigma / 2
    return np.maximum(1, np.exp(mu + sigma * rng.standard_normal(m))).astype(np.int64)


def within_spells(
    spell: tuple[np.ndarray, np.ndarray, np.ndarray],
    ppl: People,
    grid: Grid,
    rng: np.random.Generator,
    *,
    share: float | np.ndarray,
    lag_days: float,
    mean_days: float | None,
    sigma: float = 0.7,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Service episodes inside need episodes (e.g. a benefit claim inside unemployment).

    A share of need episodes gets a service episode starting an exponential lag after the
    need began and lasting a log-normal time (or to the need's end when ``mean_days`` is
    None), never beyond the need's end or a death. Only episodes touching the period are kept.
    Returns person index, start day, end day (exclusive).
    """
    i, a, b = spell
    p = share[i] if isinstance(share, np.ndarray) else share
    keep = rng.random(len(i)) < p
    i, a, b = i[keep], a[keep], b[keep]
    start = a + rng.exponential(lag_days, len(i)).astype(np.int64)
    end = (
        b
        if mean_days is None
        else np.minimum(start + lognormal_days(rng, len(i), mean_days, sigma), b)
    )
    end = np.minimum(end, ppl.died[i] + 1)
    ok = (start < end) & (end > grid.start) & (start <= grid.end)
    return i[ok], start[ok], end[ok]
