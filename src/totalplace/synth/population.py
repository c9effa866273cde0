"""Anytown's residents: households, dwellings, people and their needs (the truth).

``make_population(residents, rng, period)`` returns a :class:`Population` whose tables are
the ground truth everything else is generated from. Nothing here is an agency's view: the
agencies' person records (with their identifier noise) are made from it in ``records.py``
and their activity in ``activity.py``.

The model, in brief (details and sources in ``docs/synth.md``):

* households with sizes drawn from ``data/households.csv`` (ONS Census 2021), of four
  kinds (one adult, couple, couple with children, lone parent with children, sharers);
  ages follow from the kind, so the age structure emerges rather than being imposed;
* dwellings in small areas (``lsoa``, about 1,500 residents each) grouped into postcodes of
  about 15 dwellings, each with a UPRN and an address; some households moved during the
  period and keep their previous address for agencies that did not hear of the move;
* a latent disadvantage score per person (z-score: area + household + individual parts)
  and a second "complex needs" factor shared by homelessness, substance misuse, offending
  and mental ill-health; each need is a probit threshold on a mix of the two, calibrated to
  the prevalences in ``data/prevalence.csv`` by age band and sex, so needs cluster the way
  the Hard Edges study describes.

Everything is vectorised (numpy / pyarrow); there is no loop per person.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

NEEDS: tuple[str, ...] = (
    "alcohol",
    "drugs",
    "mental_health",
    "unemployment",
    "offending",
    "homelessness",
    "domestic_abuse",
    "child_in_need",
    "looked_after",
    "frailty",
    "long_term_condition",
    "learning_disability",
)
# Mean length of an episode of need, in days; None = lifelong (from birth or onset, no end).
_EPISODE_DAYS: dict[str, float | None] = {
    "alcohol": 900,
    "drugs": 1200,
    "mental_health": 540,
    "unemployment": 270,
    "offending": 365,
    "homelessness": 180,
    "domestic_abuse": 365,
    "child_in_need": 300,
    "looked_after": 700,
    "frailty": None,
    "long_term_condition": None,
    "learning_disability": None,
}
# Share of episodes already under way when the period starts (the rest begin within it).
_ALREADY_STARTED = 0.45
RESIDENTS_PER_LSOA = 1_500
DWELLINGS_PER_POSTCODE = 15
MOVE_RATE = 0.15  # households that moved during the period (~5% a year)
TWIN_RATE = 0.03  # households with two or more children whose first two are twins
SHARED_NAME_RATE = 0.04  # father-and-son households where the son has his father's name
MARRIED_NAME_RATE = 0.75  # partners who took the head's surname (the rest kept their own)


class PeriodLike(Protocol):
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class Period:
    start: dt.date = dt.date(2023, 4, 1)
    end: dt.date = dt.date(2026, 3, 31)


@dataclass
class Population:
    """The true residents of Anytown. All tables are pyarrow Tables sorted by their id.

    ``people`` (one row per resident):
        person_id (int64, internal truth id, 0..n-1; never shown to any agency),
        household_id (int64), role ('head', 'partner', 'child', 'adult'),
        sex ('F'/'M'), dob (date32), age_at_start (int16, whole years on period.start),
        given_name, middle_name (null for ~40%), family_name (current),
        birth_family_name (differs from family_name for partners who took the head's name),
        nhs_number (str, 10 digits, valid modulus-11, in the never-issued 9xxxxxxxxx range),
        latent (float64, disadvantage z-score; higher = more disadvantaged),
        complex_factor (float64, z-score shared by the multiple-disadvantage needs),
        lsoa (str, e.g. 'E01900012'), uprn (str), address (str), postcode (str): the true
        current home; moved_on (date32 or null): date the household moved in, within the
        period; prev_uprn / prev_address / prev_postcode / prev_lsoa: the home before the
        move (null for non-movers); twin (bool): has a twin in the household;
        shares_name (bool): a son given his father's full name;
        died_on (date32 or null): died within the period;
        need_<name> (bool) for every name in NEEDS: had that need at some time in the period.
    ``households``: household_id, uprn, address, postcode, lsoa, size, kind
        ('single', 'couple', 'couple_children', 'lone_parent', 'sharers'), moved_on.
    ``needs`` (truth shape): person_id, need, from (date32), to (date32 or null = ongoing).
    ``areas``: lsoa, deprivation (z-score, higher = more deprived).
    """

    period: PeriodLike
    people: pa.Table
    households: pa.Table
    needs: pa.Table
    areas: pa.Table

    @property
    def size(self) -> int:
        return self.people.num_rows

    def col(self, name: str) -> np.ndarray:
        """A ``people`` column as a numpy array (dates as datetime64[D])."""
        return self.people.column(name).to_numpy(zero_copy_only=False)


# ----------------------------------------------------------------------------- data files


def _data_csv(*parts: str) -> pa.Table:
    path = resources.files("totalplace").joinpath("data", *parts)
    with resources.as_file(path) as p:
        return pacsv.read_csv(p)


def name_lists() -> dict[str, tuple[list[str], np.ndarray]]:
    """Bundled name lists: 'F', 'M' (given names) and 'family', each (names, weights).

    Given names are also listed per era: keys 'F:modern', 'F:middle', 'F:old' (and 'M:...').
    """
    out = {}
    for key, fname in (
        ("F", "given_female.csv"),
        ("M", "given_male.csv"),
        ("family", "surnames.csv"),
    ):
        t = _data_csv("names", fname)
        names = t.column("name").to_pylist()
        w = np.asarray(t.column("weight").to_numpy(), dtype=float)
        if key == "family":
            names, w = _with_surname_tail(names, w)
        out[key] = (names, w / w.sum())
        if "era" in t.column_names:
            era = np.array(t.column("era").to_pylist())
            for e in _ERAS:
                sel = era == e
                out[f"{key}:{e}"] = (
                    [n for n, k in zip(names, sel, strict=True) if k],
                    w[sel] / w[sel].sum(),
                )
    return out


_ERAS = ("modern", "middle", "old")

# Surnames in Britain are far more varied than any short list: Smith, the most common, is
# borne by a little over 1% of people (about 1 in 85 in the ONS count of surnames in
# England and Wales, 2002), and the few hundred commonest names cover only a minority.
# A place drawn from 261 common surnames alone gave Smith to 12.7% of its residents, so
# that namesakes sharing a full name and a date of birth were dozens of times more common
# than in a real place of that size (at 1.6M residents they dominated linkage's false
# links). So the bundled list keeps its order and relative weights, scaled to give the
# first name SURNAME_TOP_SHARE of people, and the rest of the population draws from a long
# tail of invented but English-looking compound surnames (place-name elements:
# "Ashford", "Brookley", ...), weighted by rank.
SURNAME_TOP_SHARE = 0.012
_SURNAME_STARTS = (
    "Ash", "Bar", "Bel", "Black", "Brad", "Bram", "Brook", "Burn", "Cal", "Carl", "Chad",
    "Clay", "Cold", "Crans", "Dal", "Dun", "East", "Elm", "Fair", "Farn", "Fen", "Fox",
    "Gar", "Glen", "Gold", "Hal", "Ham", "Har", "Haw", "Hay", "Hes", "High", "Hol", "Kel",
    "Kings", "Lang", "Lin", "Lock", "Mar", "Mel", "Mid", "Mill", "Mor", "New", "Nor", "Oak",
    "Pen", "Pres", "Red", "Ros", "Rush", "Sand", "Shel", "Stan", "Sten", "Stock", "Thorn",
    "Wal", "West", "Whit", "Wick", "Win", "Wood", "Wyn",
)  # fmt: skip
_SURNAME_ENDS = (
    "bury", "by", "cliffe", "combe", "croft", "dale", "den", "don", "field", "ford", "gate",
    "grave", "ham", "hill", "holm", "hurst", "ington", "land", "ley", "lock", "low", "mere",
    "more", "ridge", "shaw", "stead", "stone", "thorpe", "ton", "well", "wick", "win",
    "wood", "worth",
)  # fmt: skip


def _with_surname_tail(names: list[str], w: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The bundled surnames, scaled so the first has SURNAME_TOP_SHARE of people, then the
    compound tail (weights 1/rank**0.3) carrying the rest; names already listed are skipped."""
    listed = set(names)
    tail = [a + b for a in _SURNAME_STARTS for b in _SURNAME_ENDS if a + b not in listed]
    # Interleave the starts so that the heaviest tail names are not all "Ash..." names.
    tail.sort(key=lambda n: (hash_rank(n), n))
    head = w / w[0] * SURNAME_TOP_SHARE
    rest = max(1.0 - head.sum(), 0.0)
    tw = 1.0 / np.arange(1, len(tail) + 1) ** 0.3
    return names + tail, np.concatenate([head, tw / tw.sum() * rest])


def hash_rank(name: str) -> int:
    """A fixed pseudo-random order of names (the same on every machine and Python run)."""
    import zlib

    return zlib.crc32(name.encode())


def _era_probs(birth_year: np.ndarray) -> np.ndarray:
    """P(a name from each era) by year of birth: columns modern, middle, old."""
    return np.select(
        [birth_year[:, None] >= 1995, birth_year[:, None] >= 1960],
        [np.array([[0.85, 0.15, 0.0]]), np.array([[0.05, 0.80, 0.15]])],
        default=np.array([[0.0, 0.25, 0.75]]),
    )


def prevalence_table() -> pa.Table:
    """``data/prevalence.csv``: need, sex, age band, prevalence, loadings and source."""
    return _data_csv("prevalence.csv")


# ----------------------------------------------------------------------------- helpers


def _days(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def _to_date32(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype("int32"), type=pa.int32(), mask=mask).cast(pa.date32())


def _age_on(dob_days: np.ndarray, on: dt.date) -> np.ndarray:
    """Exact age in whole years on a date, vectorised."""
    dob = dob_days.astype("datetime64[D]")
    y = dob.astype("datetime64[Y]").astype(int) + 1970
    m = dob.astype("datetime64[M]").astype(int) % 12 + 1
    d = (dob - dob.astype("datetime64[M]")).astype(int) + 1
    before = (m > on.month) | ((m == on.month) & (d > on.day))
    return (on.year - y - before).astype(np.int16)


def nhs_check_digit(first9: np.ndarray) -> np.ndarray:
    """Modulus-11 check digit of 9-digit integers; 10 means the number is impossible."""
    total = np.zeros(len(first9), dtype=np.int64)
    x = first9.astype(np.int64).copy()
    for weight in range(2, 11):  # last digit has weight 2, first weight 10
        total += (x % 10) * weight
        x //= 10
    c = 11 - total % 11
    return np.where(c == 11, 0, c)


def _nhs_numbers(n: int, rng: np.random.Generator) -> np.ndarray:
    """n distinct valid NHS numbers in the 9xxxxxxxxx range (never issued to real patients)."""
    # Spaced random draws are distinct by construction; drop those whose check digit is 10.
    k = int(n * 1.15) + 16
    first9 = 900_000_000 + np.cumsum(rng.integers(1, max(2, 90_000_000 // k), k))
    check = nhs_check_digit(first9)
    ok = check != 10
    nums = (first9[ok] * 10 + check[ok])[:n]
    return rng.permutation(nums)


# ----------------------------------------------------------------------------- households

_KINDS = np.array(["single", "couple", "couple_children", "lone_parent", "sharers"])


def _households(residents: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Household sizes (summing exactly to ``residents``) and kinds."""
    t = _data_csv("households.csv")
    sizes, share = t.column("size").to_numpy(), t.column("share").to_numpy().astype(float)
    mean = float((sizes * share).sum() / share.sum())
    h = int(residents / mean * 1.05) + 10
    size = rng.choice(sizes, size=h, p=share / share.sum()).astype(np.int64)
    cum = np.cumsum(size)
    h = int(np.searchsorted(cum, residents) + 1)
    size = size[:h]
    size[-1] -= int(cum[h - 1] - residents)  # last household absorbs the remainder (>= 1)
    u = rng.random(h)
    kind = np.select(
        [size == 1, (size == 2) & (u < 0.86), size == 2, u < 0.55, u < 0.67],
        [0, 1, 3, 2, 3],
        default=4,
    )
    return size, kind


def _ages(
    hh_of: np.ndarray, pos: np.ndarray, kind_p: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Age at the start of the period for each person, from household kind and position."""
    n = len(hh_of)
    u = rng.random(n)
    older = np.minimum(65 + rng.gamma(2.0, 6.5, n), 101)
    young_adult = 18 + rng.gamma(2.2, 9.0, n)
    head_single = np.where(u < 0.62, older, np.minimum(young_adult, 64))
    head_couple = np.where(
        u < 0.38,
        np.minimum(20 + rng.gamma(2.0, 8.0, n), 64),
        np.minimum(55 + rng.gamma(2.0, 8.0, n), 100),
    )
    head_family = np.minimum(22 + rng.gamma(4.0, 4.5, n), 62)
    # 'sharers': adults only, e.g. parents with grown-up children, or friends sharing.
    head_sharers = np.where(u < 0.6, 45 + rng.gamma(2.0, 6.0, n), 18 + rng.gamma(2.0, 5.0, n))
    head_age = np.select(
        [kind_p == 0, kind_p == 1, (kind_p == 2) | (kind_p == 3)],
        [head_single, head_couple, head_family],
        default=head_sharers,
    )
    head_age = np.minimum(head_age, 101)
    # Every member needs the head's age: take it from the household's first member.
    first = np.r_[0, np.flatnonzero(np.diff(hh_of)) + 1]
    hh_head_age = head_age[first][np.searchsorted(first, np.arange(n), side="right") - 1]
    partner_age = np.clip(hh_head_age + rng.normal(-1.5, 3.0, n), 18, 101)
    max_child = np.clip(hh_head_age - 18, 0, 17.99)
    child_age = rng.random(n) * max_child
    adult_extra = np.clip(
        np.where(hh_head_age >= 45, 18 + rng.gamma(1.5, 4.0, n), hh_head_age + rng.normal(0, 4, n)),
        18,
        90,
    )
    is_family = (kind_p == 2) | (kind_p == 3)
    age = np.where(
        pos == 0,
        head_age,
        np.where(
            (pos == 1) & ((kind_p == 1) | (kind_p == 2)),
            partner_age,
            np.where(is_family, child_age, adult_extra),
        ),
    )
    return np.floor(age).astype(np.int64)


# ----------------------------------------------------------------------------- people


def _pick(
    names: dict, key: str, k: int, rng: np.random.Generator, birth_year: np.ndarray | None = None
) -> np.ndarray:
    """k names from list ``key``; with ``birth_year``, from the era each person was born in."""
    if birth_year is None:
        lst, p = names[key]
        return np.array(lst, dtype=object)[rng.choice(len(lst), size=k, p=p)]
    probs = _era_probs(birth_year)
    era = (rng.random(k)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    out = np.empty(k, dtype=object)
    for i, e in enumerate(_ERAS):  # a loop over three eras, not over people
        sel = era == i
        lst, p = names[f"{key}:{e}"]
        out[sel] = np.array(lst, dtype=object)[rng.choice(len(lst), size=int(sel.sum()), p=p)]
    return out


def make_population(
    residents: int, rng: np.random.Generator, period: PeriodLike | None = None
) -> Population:
    """Create Anytown's residents, households and needs.

    Args:
        residents: number of people (exactly this many rows in ``people``).
        rng: the generator every random draw comes from (same state, same population).
        period: object with ``start`` and ``end`` dates; default April 2023 to March 2026.

    Example:
        >>> pop = make_population(2_000, np.random.default_rng(1))
        >>> pop.people.num_rows
        2000
    """
    period = period or Period()
    start, end = period.start, period.end
    s0, s1 = _days(start), _days(end)

    size, kind = _households(residents, rng)
    h = len(size)
    hh_of = np.repeat(np.arange(h, dtype=np.int64), size)
    n = len(hh_of)
    first = np.r_[0, np.cumsum(size)[:-1]]
    pos = np.arange(n) - np.repeat(first, size)
    kind_p = kind[hh_of]
    is_family = (kind_p == 2) | (kind_p == 3)
    role_code = np.where(
        pos == 0,
        0,
        np.where((pos == 1) & ((kind_p == 1) | (kind_p == 2)), 1, np.where(is_family, 2, 3)),
    )
    role = np.array(["head", "partner", "child", "adult"])[role_code]

    age = _ages(hh_of, pos, kind_p, rng)
    # Sex: couples mostly mixed-sex; lone parents mostly mothers; older singles more often women.
    u = rng.random(n)
    head_f = np.select(
        [kind_p == 3, (kind_p == 0) & (age >= 70), kind_p == 0],
        [u < 0.89, u < 0.66, u < 0.46],
        default=u < 0.25,
    )
    head_f_hh = head_f[first][hh_of]
    partner_f = np.where(rng.random(n) < 0.96, ~head_f_hh, head_f_hh)
    sex_f = np.where(
        role_code == 0, head_f, np.where(role_code == 1, partner_f, rng.random(n) < 0.49)
    )

    # Twins: in some families the first two children share a birthday.
    first_child = is_family & (pos == np.where(kind_p == 2, 2, 1))
    twin_hh = np.zeros(h, dtype=bool)
    has_two = np.bincount(hh_of[role_code == 2], minlength=h) >= 2
    twin_hh[has_two & (rng.random(h) < TWIN_RATE)] = True
    twin_second = np.zeros(n, dtype=bool)
    twin_second[np.flatnonzero(first_child & twin_hh[hh_of]) + 1] = True
    twin = twin_second | np.roll(twin_second, -1)
    dob = s0 - age.astype(np.int64) * 365 - age // 4 - rng.integers(1, 365, n)
    dob = np.where(twin_second, np.roll(dob, 1), dob)
    age = _age_on(dob, start)

    names = name_lists()
    birth_year = dob.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    given = np.where(
        sex_f, _pick(names, "F", n, rng, birth_year), _pick(names, "M", n, rng, birth_year)
    )
    # Twins get different names (re-draw the second twin's name until it differs).
    for _ in range(10):
        same = twin_second & (given == np.roll(given, 1))
        if not same.any():
            break
        k = int(same.sum())
        given[same] = np.where(
            sex_f[same],
            _pick(names, "F", k, rng, birth_year[same]),
            _pick(names, "M", k, rng, birth_year[same]),
        )
    # Some sons carry their father's given name (same surname, same address, different dob).
    eldest_son = first_child & ~sex_f
    father_head = ~head_f_hh
    shares = eldest_son & father_head & (rng.random(n) < SHARED_NAME_RATE)
    given = np.where(shares, given[first][hh_of], given)
    middle = np.where(
        sex_f, _pick(names, "F", n, rng, birth_year), _pick(names, "M", n, rng, birth_year)
    )
    middle = np.where(
        middle == given,
        np.where(sex_f, _pick(names, "F", n, rng), _pick(names, "M", n, rng)),
        middle,
    )  # a middle name rarely repeats the given name
    middle = np.where(shares, middle[first][hh_of], middle)
    has_middle = (rng.random(n) < 0.6) | shares

    own_surname = _pick(names, "family", n, rng)
    hh_surname = own_surname[first][hh_of]
    took_name = (role_code == 1) & (rng.random(n) < MARRIED_NAME_RATE)
    family = np.where((role_code == 0) | (role_code == 2) | took_name, hh_surname, own_surname)
    birth_family = np.where(took_name, own_surname, family)

    # Places: current homes, plus the previous homes of the households that moved.
    from totalplace.synth.geography import make_dwellings

    moved = rng.random(h) < MOVE_RATE
    n_moved = int(moved.sum())
    dw = make_dwellings(h + n_moved, residents, rng)
    perm = rng.permutation(h + n_moved)
    home, prev_home = perm[:h], np.full(h, -1, dtype=np.int64)
    prev_home[moved] = perm[h:]
    moved_on = np.where(moved, rng.integers(s0 + 1, s1, h), -1)

    # Latent disadvantage: area + household + person, scaled to a z-score.
    area = dw.deprivation[dw.lsoa_idx[home]]
    hh_part = rng.standard_normal(h)
    latent = 0.45 * area[hh_of] + 0.55 * hh_part[hh_of] + 0.70 * rng.standard_normal(n)
    latent = (latent - latent.mean()) / latent.std()  # a z-score within the place
    complex_factor = rng.standard_normal(n)

    from totalplace.synth.needs import need_flags, need_spells

    flags, _ = need_flags(
        prevalence_table(), NEEDS, age, np.where(sex_f, "F", "M"), latent, complex_factor, rng
    )
    needs = need_spells(flags, _EPISODE_DAYS, _ALREADY_STARTED, dob, start, end, rng)

    # Deaths: Gompertz-like annual mortality, doubled by frailty; a date within the period.
    q = np.minimum(np.exp(-10.3 + 0.094 * age) * np.where(flags["frailty"], 2.0, 1.0), 0.6)
    years = (s1 - s0 + 1) / 365.25
    dies = rng.random(n) < 1 - (1 - q) ** years
    died_on = np.where(dies, rng.integers(s0, s1 + 1, n), -1)

    nhs = _nhs_numbers(n, rng)
    hh_home = home[hh_of]
    hh_prev = prev_home[hh_of]
    has_prev = hh_prev >= 0
    prev_idx = pa.array(np.where(has_prev, hh_prev, 0))

    def prev(arr: pa.Array) -> pa.Array:
        return pc.if_else(pa.array(has_prev), arr.take(prev_idx), pa.scalar(None, arr.type))

    cols: dict[str, pa.Array] = {
        "person_id": pa.array(np.arange(n, dtype=np.int64)),
        "household_id": pa.array(hh_of),
        "role": pa.array(role),
        "sex": pa.array(np.where(sex_f, "F", "M")),
        "dob": _to_date32(dob),
        "age_at_start": pa.array(age),
        "given_name": pa.array(given.astype(str)),
        "middle_name": pa.array(middle.astype(str), mask=~has_middle),
        "family_name": pa.array(family.astype(str)),
        "birth_family_name": pa.array(birth_family.astype(str)),
        "nhs_number": pa.array(nhs.astype(str)),
        "latent": pa.array(latent),
        "complex_factor": pa.array(complex_factor),
        "lsoa": dw.lsoa_codes.take(pa.array(dw.lsoa_idx[hh_home])),
        "uprn": dw.uprn.take(pa.array(hh_home)),
        "address": dw.address.take(pa.array(hh_home)),
        "postcode": dw.postcode.take(pa.array(hh_home)),
        "moved_on": _to_date32(moved_on[hh_of], mask=moved_on[hh_of] < 0),
        "prev_uprn": prev(dw.uprn),
        "prev_address": prev(dw.address),
        "prev_postcode": prev(dw.postcode),
        "prev_lsoa": prev(dw.lsoa_codes.take(pa.array(dw.lsoa_idx))),
        "twin": pa.array(twin),
        "shares_name": pa.array(shares),
        "died_on": _to_date32(died_on, mask=died_on < 0),
    }
    for need in NEEDS:
        cols[f"need_{need}"] = pa.array(flags[need])
    people = pa.table(cols)

    households = pa.table(
        {
            "household_id": pa.array(np.arange(h, dtype=np.int64)),
            "uprn": dw.uprn.take(pa.array(home)),
            "address": dw.address.take(pa.array(home)),
            "postcode": dw.postcode.take(pa.array(home)),
            "lsoa": dw.lsoa_codes.take(pa.array(dw.lsoa_idx[home])),
            "size": pa.array(size.astype(np.int16)),
            "kind": pa.array(_KINDS[kind]),
            "moved_on": _to_date32(moved_on, mask=moved_on < 0),
        }
    )
    areas = pa.table({"lsoa": dw.lsoa_codes, "deprivation": pa.array(dw.deprivation)})
    return Population(period=period, people=people, households=households, needs=needs, areas=areas)
