"""Identifier noise like real records, vectorised (no loop per record).

Every kind has a rate in :class:`NoiseConfig` (all above zero by default). Each source
record's applied kinds are listed in ``truth/source_records.parquet`` (column ``noise``),
together with three hazards that are facts of life rather than errors: ``duplicate`` (a
second record of the same person in one agency), ``twin`` and ``shared_name`` (a son with
his father's name) -- records that look alike but must NOT be linked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

WIDTH = 32  # longest name handled by the character-level edits


@dataclass(frozen=True)
class NoiseConfig:
    """Rates of identifier noise, per source record (or per eligible record where noted).

    Attributes:
        typo: a name (given or family, equally likely) gets one keying error: a letter
            inserted, deleted, substituted or two letters transposed.
        nickname: the given name is written as a nickname or variant (Bob for Robert,
            Kate for Katherine, Jon for John) when the name has one.
        known_by_middle_name: the given name field holds the person's middle name (people
            known by their middle name), where they have one.
        maiden_name: of records of people who took a partner's surname, the share still
            held under the birth surname (the agency never heard of the change).
        double_barrelled: of the same people, the share recorded with both surnames
            joined by a hyphen (birth-married or married-birth).
        dob_swap: day and month of the date of birth swapped (only when both are <= 12
            and differ, so the result is a valid, wrong date).
        dob_digit: one digit of the date of birth wrong (a day off by one, or the last
            digit of the year).
        dob_year_only: only the year of birth was known, recorded as 1 January of it.
        name_swap: given and family names entered the wrong way round.
        missing_postcode, missing_dob, missing_given_name: the field is empty.
        missing_nhs_number: base rate of health and social care records without an NHS
            number; each agency scales it by its own coverage (at 0.10 an agency with
            ``nhs_coverage`` 0.93 leaves 7% empty).
        nhs_corrupt: the NHS number has one digit wrong (always failing the check digit).
        old_address: of records of people who moved during the period, the share that
            still hold the previous address, postcode and UPRN.
        case_whitespace: a name or the postcode in another case, or with stray spaces.
        sex_unknown: sex recorded as not known (where the agency records sex).
        sex_miscoded: sex recorded as the other one (M for F or F for M), where known.
        address_format: the address written another way: street types abbreviated
            ('Rd', 'St', 'Ave'), the town left off, or in capitals.

    A duplicate record (a person's second record in one agency) is three times as likely to
    carry a typo, a nickname or a missing NHS number: that is usually why nobody matched it
    to the first record when it was created.
    """

    typo: float = 0.03
    nickname: float = 0.06
    known_by_middle_name: float = 0.01
    maiden_name: float = 0.25
    double_barrelled: float = 0.06
    dob_swap: float = 0.008
    dob_digit: float = 0.01
    dob_year_only: float = 0.003
    name_swap: float = 0.004
    missing_postcode: float = 0.03
    missing_dob: float = 0.015
    missing_given_name: float = 0.005
    missing_nhs_number: float = 0.10
    nhs_corrupt: float = 0.004
    old_address: float = 0.45
    case_whitespace: float = 0.04
    address_format: float = 0.10
    sex_unknown: float = 0.004
    sex_miscoded: float = 0.002

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"NoiseConfig.{k} must be between 0 and 1, found {v}")

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(asdict(self))


HAZARDS = ("duplicate", "twin", "shared_name")


# ----------------------------------------------------------------------------- names


@cache
def nickname_map() -> dict[str, tuple[str, ...]]:
    """Given name -> its nicknames and variants (both directions of data/names/nicknames.csv)."""
    path = resources.files("totalplace").joinpath("data", "names", "nicknames.csv")
    with resources.as_file(path) as p:
        t = pacsv.read_csv(p)
    out: dict[str, list[str]] = {}
    for name, var in zip(
        t.column("name").to_pylist(), t.column("variant").to_pylist(), strict=True
    ):
        out.setdefault(name, []).append(var)
        out.setdefault(var, []).append(name)
    return {k: tuple(dict.fromkeys(v)) for k, v in out.items()}


def nicknames(names: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A variant of each name where one exists: (new names, mask of names that changed)."""
    vmap = nickname_map()
    uniq, code = np.unique(names.astype(str), return_inverse=True)
    counts = np.array([len(vmap.get(u, ())) for u in uniq], dtype=np.int64)
    flat = np.array([v for u in uniq for v in vmap.get(u, ())] or [""], dtype=object)
    start = np.r_[0, np.cumsum(counts)[:-1]]
    k = counts[code]
    has = k > 0
    pick = start[code] + np.floor(rng.random(len(names)) * np.maximum(k, 1)).astype(np.int64)
    out = np.where(has, flat[np.minimum(pick, len(flat) - 1)], names)
    return out, has


def typos(names: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One keying error per name: insert, delete, substitute or transpose a letter.

    Works on the code points of a fixed-width array, so a million names take milliseconds.
    The first letter is left alone (people rarely mistype it).
    """
    m = len(names)
    if m == 0:
        return names
    s = np.asarray(names, dtype=f"U{WIDTH}")
    codes = s.view(np.uint32).reshape(m, WIDTH).copy()
    length = np.char.str_len(s)
    op = rng.integers(0, 4, m)
    op = np.where(length < 3, 2, op)  # too short to delete or transpose: substitute
    pos = 1 + np.floor(rng.random(m) * np.maximum(length - 1, 1)).astype(np.int64)
    pos = np.minimum(pos, np.maximum(length - 1, 0))
    letter = (ord("a") + rng.integers(0, 26, m)).astype(np.uint32)
    rows = np.arange(m)
    idx = np.arange(WIDTH)[None, :]
    # delete: shift the tail left by one
    src_del = np.where(idx >= pos[:, None], idx + 1, idx)
    deleted = np.take_along_axis(np.pad(codes, ((0, 0), (0, 1))), src_del, axis=1)
    # insert: shift the tail right by one and put a letter at pos
    src_ins = np.where(idx > pos[:, None], idx - 1, idx)
    inserted = np.take_along_axis(codes, src_ins, axis=1)
    inserted[rows, pos] = letter
    # substitute: a different letter at pos
    substituted = codes.copy()
    same = substituted[rows, pos] == letter
    substituted[rows, pos] = np.where(same, (letter - ord("a") + 1) % 26 + ord("a"), letter)
    # transpose: swap pos-1 and pos (pos >= 1, so the first letter may move only to second)
    transposed = codes.copy()
    a, b = np.maximum(pos - 1, 1), np.maximum(pos, 2)
    b = np.minimum(b, np.maximum(length - 1, 0))
    transposed[rows, a], transposed[rows, b] = codes[rows, b], codes[rows, a]
    out = np.select(
        [op[:, None] == 0, op[:, None] == 1, op[:, None] == 2],
        [deleted, inserted, substituted],
        default=transposed,
    ).astype(np.uint32)
    return np.ascontiguousarray(out).view(f"U{WIDTH}").reshape(m)


def case_whitespace(values: pa.Array, rng: np.random.Generator) -> pa.Array:
    """Upper case, lower case, or stray spaces around a value (one of the three at random)."""
    k = len(values)
    style = rng.integers(0, 3, k)
    upper, lower = pc.utf8_upper(values), pc.utf8_lower(values)
    spaced = pc.binary_join_element_wise(pa.scalar(" "), values, pa.scalar("  "), "")
    return pc.case_when(
        pc.make_struct(pa.array(style == 0), pa.array(style == 1)), upper, lower, spaced
    )


_ABBREVIATIONS = (
    ("Road", "Rd"),
    ("Street", "St"),
    ("Avenue", "Ave"),
    ("Lane", "Ln"),
    ("Drive", "Dr"),
    ("Close", "Cl"),
    ("Crescent", "Cres"),
    ("Gardens", "Gdns"),
    ("Terrace", "Terr"),
    ("Place", "Pl"),
    ("Court", "Ct"),
    ("Grove", "Gr"),
)


def address_format(values: pa.Array, rng: np.random.Generator) -> pa.Array:
    """The same address written differently: abbreviated, without the town, or in capitals."""
    k = len(values)
    style = rng.integers(0, 3, k)
    abbreviated = values
    for full, short in _ABBREVIATIONS:
        abbreviated = pc.replace_substring_regex(abbreviated, rf"\b{full}\b", short)
    no_town = pc.replace_substring_regex(values, r",\s*[A-Za-z]+$", "")
    return pc.case_when(
        pc.make_struct(pa.array(style == 0), pa.array(style == 1)),
        abbreviated,
        no_town,
        pc.utf8_upper(values),
    )


# ------------------------------------------------------------------------ dates and NHS numbers


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = days.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dd = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return y, m, dd


def _days_of(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    months = ((y - 1970) * 12 + (m - 1)).astype("datetime64[M]")
    return (months.astype("datetime64[D]") + (d - 1)).astype(np.int64)


def dob_swap_ok(days: np.ndarray) -> np.ndarray:
    """Dates whose day and month can be swapped into a different valid date."""
    _, m, d = _ymd(days)
    return (d <= 12) & (d != m)


def dob_swap(days: np.ndarray) -> np.ndarray:
    y, m, d = _ymd(days)
    return _days_of(y, d, m)


def dob_digit(days: np.ndarray, rng: np.random.Generator, latest_year: int) -> np.ndarray:
    """One digit wrong: the last digit of the year, or the day off by one."""
    y, m, d = _ymd(days)
    k = len(days)
    year_digit = rng.random(k) < 0.5
    new_last = (y % 10 + rng.integers(1, 10, k)) % 10
    ny = y - y % 10 + new_last
    ny = np.where(ny > latest_year, ny - 10, ny)
    nd = np.where(d >= 28, d - 1, d + 1)
    return np.where(year_digit, _days_of(ny, m, d), _days_of(y, m, nd))


def corrupt_nhs(numbers: pa.Array, rng: np.random.Generator) -> pa.Array:
    """Change one digit of each 10-digit NHS number."""
    k = len(numbers)
    s = np.asarray(numbers.to_numpy(zero_copy_only=False), dtype="U10")
    codes = s.view(np.uint32).reshape(k, 10).copy()
    pos = rng.integers(0, 10, k)
    rows = np.arange(k)
    digit = codes[rows, pos] - ord("0")
    codes[rows, pos] = ord("0") + (digit + rng.integers(1, 10, k)) % 10
    return pa.array(np.ascontiguousarray(codes).view("U10").reshape(k))
