"""Anytown's small areas, postcodes, streets and dwellings (addresses with UPRNs).

The postcode area ``AT`` is not a real UK postcode area, so no synthetic address can be
mistaken for a real one. Small areas are coded ``E019xxxxx`` (real LSOA codes run from
E01000001 to about E01035000).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_STREET_WORDS = (
    "Mill",
    "Church",
    "Station",
    "Oak",
    "Elm",
    "Ash",
    "Beech",
    "Willow",
    "Park",
    "Victoria",
    "Albert",
    "Queens",
    "Kings",
    "Windsor",
    "York",
    "Manor",
    "Grange",
    "Meadow",
    "Orchard",
    "Chapel",
    "Castle",
    "Bridge",
    "Brook",
    "River",
    "Canal",
    "Market",
    "High",
    "North",
    "South",
    "West",
    "East",
    "Green",
    "Hill",
    "Valley",
    "Spring",
    "Forge",
    "Foundry",
    "Wharf",
    "Cedar",
    "Holly",
    "Rowan",
    "Hawthorn",
    "Cherry",
    "Chestnut",
    "Sycamore",
    "Lime",
    "Birch",
    "Heather",
    "Primrose",
    "Bluebell",
    "Clarence",
    "Alexandra",
    "Nelson",
    "Wellington",
    "Stanley",
    "Gladstone",
    "Cromwell",
    "Milton",
    "Shakespeare",
    "Tennyson",
    "Byron",
    "Kingsway",
    "Abbey",
    "Priory",
    "Rectory",
    "Vicarage",
    "School",
    "College",
    "Hospital",
    "Quarry",
)
_STREET_TYPES = (
    "Road",
    "Street",
    "Lane",
    "Avenue",
    "Close",
    "Way",
    "Drive",
    "Crescent",
    "Gardens",
    "Terrace",
    "Grove",
    "Place",
    "Court",
    "Walk",
    "Rise",
    "View",
)
_UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))  # the letters used in inward codes
TOWN = "ANYTOWN"


@dataclass
class Dwellings:
    """Every dwelling, as parallel arrays (index = dwelling number)."""

    lsoa_idx: np.ndarray  # int, index into ``lsoa_codes``
    uprn: pa.Array  # string
    address: pa.Array  # string, e.g. '12 Mill Lane, Anytown'
    postcode: pa.Array  # string, e.g. 'AT3 4BX'
    lsoa_codes: pa.Array  # string, one per small area
    deprivation: np.ndarray  # float, one per small area


def _postcodes(n_pc: int, pc_lsoa: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Distinct postcodes; neighbouring small areas share a postcode district."""
    lsoas_per_district = 10
    district = 1 + pc_lsoa // lsoas_per_district
    # Index of each postcode within its district, then a random (but distinct) inward code.
    order = np.argsort(district, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(district[order])) + 1]
    within_sorted = np.arange(n_pc) - np.repeat(starts, np.diff(np.r_[starts, n_pc]))
    within = np.empty(n_pc, dtype=np.int64)
    within[order] = within_sorted
    capacity = 10 * 400  # sector digit x two unit letters
    if within.max(initial=0) >= capacity:
        raise ValueError("too many postcodes in one district; raise lsoas_per_district")
    scramble = rng.permutation(capacity)[within]
    sector, pair = scramble % 10, scramble // 10
    l1, l2 = _UNIT_LETTERS[pair // 20], _UNIT_LETTERS[pair % 20]
    outward = pc.binary_join_element_wise(pa.scalar("AT"), pa.array(district.astype(str)), "")
    inward = pa.array(np.char.add(sector.astype(str), np.char.add(l1, l2)))
    return pc.binary_join_element_wise(outward, inward, " ")


def make_dwellings(n: int, residents: int, rng: np.random.Generator) -> Dwellings:
    """``n`` dwellings in about ``residents / 1,500`` small areas, with postcodes and UPRNs."""
    from totalplace.synth.population import DWELLINGS_PER_POSTCODE, RESIDENTS_PER_LSOA

    n_lsoa = max(1, round(residents / RESIDENTS_PER_LSOA))
    lsoa_codes = pa.array([f"E019{i:05d}" for i in rng.permutation(100_000)[:n_lsoa]])
    deprivation = rng.standard_normal(n_lsoa)
    # Dwellings are numbered area by area, postcode by postcode, so a street is contiguous.
    lsoa_idx = np.sort(rng.integers(0, n_lsoa, n))
    n_pc_per_lsoa = np.maximum(1, np.bincount(lsoa_idx, minlength=n_lsoa) // DWELLINGS_PER_POSTCODE)
    pc_offset = np.r_[0, np.cumsum(n_pc_per_lsoa)[:-1]]
    lsoa_start = np.r_[0, np.cumsum(np.bincount(lsoa_idx, minlength=n_lsoa))[:-1]]
    rank_in_lsoa = np.arange(n) - lsoa_start[lsoa_idx]
    pc_in_lsoa = np.minimum(rank_in_lsoa // DWELLINGS_PER_POSTCODE, n_pc_per_lsoa[lsoa_idx] - 1)
    pc_idx = pc_offset[lsoa_idx] + pc_in_lsoa
    n_pc = int(n_pc_per_lsoa.sum())
    pc_lsoa = np.repeat(np.arange(n_lsoa), n_pc_per_lsoa)
    postcodes = _postcodes(n_pc, pc_lsoa, rng)

    # One street per postcode; house numbers run along it (odd side first, like real streets).
    word = rng.integers(0, len(_STREET_WORDS), n_pc)
    stype = rng.integers(0, len(_STREET_TYPES), n_pc)
    street = pc.binary_join_element_wise(
        pa.array(np.array(_STREET_WORDS)[word]), pa.array(np.array(_STREET_TYPES)[stype]), " "
    )
    pc_start = np.r_[0, np.flatnonzero(np.diff(pc_idx)) + 1]
    rank_in_pc = np.arange(n) - np.repeat(pc_start, np.diff(np.r_[pc_start, n]))
    first_no = rng.integers(1, 60, n_pc)
    number = first_no[pc_idx] + rank_in_pc
    # About one dwelling in six is a flat in a numbered building.
    is_flat = rng.random(n) < 0.16
    flat_no = rng.integers(1, 24, n)
    flat_prefix = np.where(
        is_flat, np.char.add(np.char.add("Flat ", flat_no.astype(str)), ", "), ""
    )
    first_line = np.char.add(flat_prefix, number.astype(str))
    address = pc.binary_join_element_wise(
        pa.array(first_line), street.take(pa.array(pc_idx)), pa.scalar(TOWN.title()), " "
    )
    address = pc.replace_substring_regex(address, r"^(.*?\d+) (.*) (Anytown)$", r"\1 \2, \3")

    uprn = 100_000_000_000 + np.cumsum(rng.integers(1, 40, n))
    uprn = pa.array(rng.permutation(uprn).astype(str))
    return Dwellings(
        lsoa_idx=lsoa_idx,
        uprn=uprn,
        address=address,
        postcode=postcodes.take(pa.array(pc_idx)),
        lsoa_codes=lsoa_codes,
        deprivation=deprivation,
    )
