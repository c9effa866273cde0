"""Which agency knows whom, under which identifier: the record plan, and the person extracts.

The activity half of the generator asks the plan for the source id of each event's person::

    plan = RecordPlan(pop, rng)
    ids = plan.source_ids("acute", person_idx, rng)   # pa.Array of str, one per event

which also marks those people as known to the agency, so every event's source_id has a
person record in that agency's extract. People with a duplicate record in an agency get
either of their ids, so the linker has to join the duplicates up. Once activity is done,
``plan.extracts(noise, rng)`` writes every agency's person records with identifier noise and
returns them with the truth (``truth/source_records.parquet``).

Identifiers are never derived from ``person_id``: each agency draws distinct random numbers
(spaced random increments, then shuffled) and formats them in its own scheme.
"""

from __future__ import annotations

import binascii

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from totalplace.synth.agencies import AGENCIES, AGENCY_IDS, AgencySpec
from totalplace.synth.extract import ExtractFile
from totalplace.synth.noise import (
    HAZARDS,
    NoiseConfig,
    address_format,
    case_whitespace,
    corrupt_nhs,
    dob_digit,
    dob_swap,
    dob_swap_ok,
    nicknames,
    typos,
)
from totalplace.synth.population import Population

_LETTERS = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ"))


def _side_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator spawned from ``rng``'s seed without advancing ``rng`` itself."""
    seq = getattr(rng.bit_generator, "seed_seq", None)
    if seq is None or not hasattr(seq, "spawn"):
        return np.random.default_rng(0)
    return np.random.default_rng(seq.spawn(1)[0])


def _distinct_ints(m: int, capacity: int, rng: np.random.Generator) -> np.ndarray:
    """m distinct integers in [0, capacity), in random order."""
    if m * 2 > capacity:
        raise ValueError(f"identifier space too small: {m:,} ids wanted from {capacity:,}")
    step = max(2, capacity // m)
    vals = np.cumsum(rng.integers(1, step, m, dtype=np.int64))  # mean step ~ capacity / 2m
    return rng.permutation(vals)


def _zpad(x: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(x).cast(pa.string()), width, "0")


def format_ids(
    spec: AgencySpec, m: int, rng: np.random.Generator, year: np.ndarray | None = None
) -> pa.Array:
    """m distinct identifiers in the agency's scheme (random, unrelated to person_id).

    ``year`` (PNC scheme only) is the year each record was created, written into the id.
    """
    d = spec.id_digits
    while spec.id_scheme in ("prefix_digits", "numeric") and 9 * 10 ** (d - 1) < 4 * m:
        d += 1  # a bigger place needs longer numbers, as a real system would have
    if spec.id_scheme == "prefix_digits":
        u = _distinct_ints(m, 10**d - 10 ** (d - 1), rng) + 10 ** (d - 1)
        return pc.binary_join_element_wise(pa.scalar(spec.id_prefix), _zpad(u, d), "")
    if spec.id_scheme == "numeric":
        u = _distinct_ints(m, 9 * 10 ** (d - 1), rng) + 10 ** (d - 1)
        return pa.array(u).cast(pa.string())
    if spec.id_scheme == "pnc":  # 'PNC-2014-00123': year the record was created, and a serial
        while 10**d < 4 * m:
            d += 1
        u = _distinct_ints(m, 10**d, rng)  # serials distinct on their own, whatever the year
        if year is None:
            year = rng.integers(1995, 2026, m)
        return pc.binary_join_element_wise(
            pa.scalar("PNC"), pa.array(year).cast(pa.string()), _zpad(u, d), "-"
        )
    if spec.id_scheme == "crn":  # probation case reference: a letter and six digits
        u = _distinct_ints(m, len(_LETTERS) * 10**d, rng)
        return pc.binary_join_element_wise(pa.array(_LETTERS[u // 10**d]), _zpad(u % 10**d, d), "")
    if spec.id_scheme == "upn":  # pupil number: a letter and twelve digits
        u = _distinct_ints(m, len(_LETTERS) * 10**9, rng)
        tail = rng.integers(0, 1000, m)
        return pc.binary_join_element_wise(
            pa.array(_LETTERS[u // 10**9]), _zpad(u % 10**9, 9), _zpad(tail, 3), ""
        )
    if spec.id_scheme == "guid":
        raw = rng.bytes(16 * m)
        hexs = np.frombuffer(binascii.hexlify(raw), dtype="S32").astype(str)
        h = pa.array(hexs)
        parts = [
            pc.utf8_slice_codeunits(h, a, b)
            for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))
        ]
        return pc.binary_join_element_wise(*parts, "-")
    raise ValueError(f"unknown id scheme {spec.id_scheme!r}")


def base_membership(pop: Population, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Who each agency holds a record for regardless of this period's activity (history)."""
    n = pop.size
    age = pop.col("age_at_start")
    need = {
        c.removeprefix("need_"): pop.col(c)
        for c in pop.people.column_names
        if c.startswith("need_")
    }
    any_need = np.zeros(n, dtype=bool)
    for v in need.values():
        any_need |= v
    adult = age >= 18

    def p(rate: float) -> np.ndarray:
        return rng.random(n) < rate

    return {
        "acute": p(0.40) | (any_need & p(0.6)),
        "mental_health": (need["mental_health"] & p(0.22))
        | (need["drugs"] & p(0.25))
        | (need["learning_disability"] & p(0.1)),
        "adult_social_care": adult
        & (
            (need["frailty"] & p(0.45))
            | (need["learning_disability"] & p(0.35))
            | (need["long_term_condition"] & (age >= 65) & p(0.08))
        ),
        "childrens_social_care": (age <= 17)
        & (need["child_in_need"] | need["looked_after"] | p(0.004)),
        "police": (age >= 10)
        & (
            (need["offending"] & p(0.95))
            | (need["domestic_abuse"] & p(0.35))
            | (need["homelessness"] & p(0.3))
            | (need["drugs"] & p(0.3))
            | p(0.02)
        ),
        "housing": (age >= 16) & (need["homelessness"] | p(0.025)),
        "dwp": (age >= 16)
        & (age <= 66)
        & (
            need["unemployment"]
            | (need["long_term_condition"] & p(0.12))
            | (need["learning_disability"] & p(0.3))
            | p(0.05)
        ),
        "probation": (age >= 18) & need["offending"] & p(0.45),
        "substance": (need["drugs"] & p(0.55)) | (need["alcohol"] & p(0.25)),
        "schools": (age >= 3) & (age <= 17) & p(0.97),
        "council_contact": adult & (p(0.30) | (any_need & p(0.4))),
    }


class RecordPlan:
    """Every agency's identifiers for every person, and who is known to whom.

    Args:
        pop: the population.
        rng: random generator (ids, duplicates and base membership are drawn from it).
        agencies: the agency specs (default: all of ``AGENCIES``).
    """

    def __init__(
        self, pop: Population, rng: np.random.Generator, agencies: tuple[AgencySpec, ...] = AGENCIES
    ) -> None:
        self.pop = pop
        self.agencies = {a.id: a for a in agencies}
        n = pop.size
        self.known: dict[str, np.ndarray] = base_membership(pop, rng)
        self._ids: dict[str, pa.Array] = {}
        self._dup_slot: dict[str, np.ndarray] = {}
        self._dup_ids: dict[str, pa.Array] = {}
        for a in agencies:
            dup = rng.random(n) < a.duplicate_rate
            slot = np.full(n, -1, dtype=np.int64)
            slot[dup] = np.arange(int(dup.sum()))
            year = None
            if a.id_scheme == "pnc":
                # The year a record was created: at 10 or older (the age of criminal
                # responsibility), from 1995, and not after the period.
                born = pop.col("dob").astype("datetime64[Y]").astype(np.int64) + 1970
                born = np.concatenate([born, born[dup]])
                lo = np.maximum(1995, born + 10)
                hi = np.maximum(lo, pop.period.end.year)
                year = lo + np.floor(rng.random(len(born)) * (hi - lo + 1)).astype(np.int64)
                year = np.minimum(year, pop.period.end.year)
            ids = format_ids(a, n + int(dup.sum()), rng, year)
            if isinstance(ids, pa.ChunkedArray):
                ids = ids.combine_chunks()
            self._ids[a.id] = ids.slice(0, n)
            self._dup_ids[a.id] = ids.slice(n)
            self._dup_slot[a.id] = slot

    @property
    def agency_ids(self) -> list[str]:
        return [a for a in AGENCY_IDS if a in self.agencies]

    def source_ids(
        self,
        agency: str,
        person_idx: np.ndarray,
        rng: np.random.Generator,
        second_share: float = 0.4,
    ) -> pa.Array:
        """The agency's source id for each given person (index into ``pop.people``).

        Marks the people as known to the agency. A person with a duplicate record gets the
        second record's id with probability ``second_share`` (events spread over both).
        """
        if agency not in self.agencies:
            raise KeyError(f"no agency {agency!r}; agencies: {', '.join(self.agencies)}")
        person_idx = np.asarray(person_idx, dtype=np.int64)
        self.known[agency][person_idx] = True
        slot = self._dup_slot[agency][person_idx]
        use2 = (slot >= 0) & (rng.random(len(person_idx)) < second_share)
        first = self._ids[agency].take(pa.array(person_idx))
        if use2.any():
            second = self._dup_ids[agency].take(pa.array(np.where(use2, slot, 0)))
            first = pc.if_else(pa.array(use2), second, first)
        # Always a plain Array (pyarrow may chunk large results), so callers can concatenate.
        return first.combine_chunks() if isinstance(first, pa.ChunkedArray) else first

    def records(self, agency: str) -> pa.Table:
        """Truth for the agency's person records: source_id, person_id, duplicate (bool).

        One row per record of every known person (two for people with a duplicate), in a
        shuffled order that reveals nothing about person_id.
        """
        who = np.flatnonzero(self.known[agency])
        slot = self._dup_slot[agency][who]
        dup_who = who[slot >= 0]
        ids = pa.concat_arrays(
            [
                self._ids[agency].take(pa.array(who)),
                self._dup_ids[agency].take(pa.array(slot[slot >= 0])),
            ]
        )
        person = np.concatenate([who, dup_who])
        duplicate = np.concatenate([np.zeros(len(who), bool), np.ones(len(dup_who), bool)])
        t = pa.table(
            {"source_id": ids, "person_id": pa.array(person), "duplicate": pa.array(duplicate)}
        )
        # Sort by the agency's own id: the row order is then the agency's, not the truth's.
        return t.take(pc.sort_indices(t, [("source_id", "ascending")]))


# ----------------------------------------------------------------------------- person extracts

_PEOPLE_COLS = (
    "person_id",
    "household_id",
    "sex",
    "dob",
    "given_name",
    "middle_name",
    "family_name",
    "birth_family_name",
    "nhs_number",
    "uprn",
    "address",
    "postcode",
    "moved_on",
    "prev_uprn",
    "prev_address",
    "prev_postcode",
    "twin",
    "shares_name",
)


def _np(t: pa.Table, name: str) -> np.ndarray:
    return t.column(name).to_numpy(zero_copy_only=False)


def _unencodable(values: pa.Array, encoding: str) -> np.ndarray:
    """Which values cannot be written in ``encoding`` as they are."""
    out = np.zeros(len(values), dtype=bool)
    non_ascii = pc.invert(pc.fill_null(pc.string_is_ascii(values), True))
    idx = np.flatnonzero(non_ascii.to_numpy(zero_copy_only=False))
    bad = set()
    for v in set(values.take(pa.array(idx)).to_pylist()):  # a handful of distinct names
        try:
            v.encode(encoding)
        except UnicodeEncodeError:
            bad.add(v)
    if bad:
        out[idx] = pc.is_in(values.take(pa.array(idx)), pa.array(sorted(bad))).to_numpy(
            zero_copy_only=False
        )
    return out


def _noisy_people(
    spec: AgencySpec,
    truth: pa.Table,
    people: pa.Table,
    cfg: NoiseConfig,
    rng: np.random.Generator,
    latest_year: int,
) -> tuple[dict[str, pa.Array], dict[str, np.ndarray]]:
    """The agency's view of each record's person (canonical names), and the noise applied."""
    m = truth.num_rows
    P = people.take(truth.column("person_id"))
    tags: dict[str, np.ndarray] = {}

    dup_boost = np.where(_np(truth, "duplicate").astype(bool), 3.0, 1.0)

    def draw(rate: float, eligible: np.ndarray | None = None, boost: bool = False) -> np.ndarray:
        sel = rng.random(m) < (rate * dup_boost if boost else rate)
        return sel if eligible is None else sel & eligible

    given = _np(P, "given_name").astype(object)
    family = _np(P, "family_name").astype(object)
    birth = _np(P, "birth_family_name").astype(object)

    sel = draw(cfg.nickname, boost=True)
    new, has = nicknames(given[sel], rng)
    given[sel] = new
    tags["nickname"] = np.zeros(m, bool)
    tags["nickname"][np.flatnonzero(sel)[has]] = True

    middle = _np(P, "middle_name").astype(object)
    tags["known_by_middle_name"] = draw(
        cfg.known_by_middle_name,
        P.column("middle_name").is_valid().to_numpy(zero_copy_only=False) & ~tags["nickname"],
    )
    # ... and the middle-name field then holds the first given name (the two swap places).
    middle_out = pc.if_else(
        pa.array(tags["known_by_middle_name"]),
        pa.array(given, pa.string()),
        P.column("middle_name").combine_chunks(),
    )
    given = np.where(tags["known_by_middle_name"], middle, given)

    took = birth != family
    u = rng.random(m)
    tags["maiden_name"] = took & (u < cfg.maiden_name)
    tags["double_barrelled"] = (
        took & (u >= cfg.maiden_name) & (u < cfg.maiden_name + cfg.double_barrelled)
    )
    dbl = tags["double_barrelled"]
    birth_first = rng.random(m) < 0.5
    joined = np.where(birth_first, birth + "-" + family, family + "-" + birth)
    family = np.where(tags["maiden_name"], birth, np.where(dbl, joined, family))

    tags["typo"] = draw(cfg.typo, boost=True)
    on_given = rng.random(m) < 0.5
    g, f = tags["typo"] & on_given, tags["typo"] & ~on_given
    given[g] = typos(given[g], rng)
    family[f] = typos(family[f], rng)
    tags["name_swap"] = draw(cfg.name_swap)
    given, family = (
        np.where(tags["name_swap"], family, given),
        np.where(tags["name_swap"], given, family),
    )

    dob = _np(P, "dob").astype("datetime64[D]").astype(np.int64)
    tags["dob_swap"] = draw(cfg.dob_swap, dob_swap_ok(dob))
    dob = np.where(tags["dob_swap"], dob_swap(dob), dob)
    tags["dob_digit"] = draw(cfg.dob_digit, ~tags["dob_swap"])
    dob[tags["dob_digit"]] = dob_digit(dob[tags["dob_digit"]], rng, latest_year)
    tags["dob_year_only"] = draw(cfg.dob_year_only, ~tags["dob_swap"] & ~tags["dob_digit"])
    year_start = dob.astype("datetime64[D]").astype("datetime64[Y]").astype("datetime64[D]")
    dob = np.where(tags["dob_year_only"], year_start.astype(np.int64), dob)

    moved = P.column("moved_on").is_valid().to_numpy(zero_copy_only=False)
    tags["old_address"] = draw(cfg.old_address, moved)
    old = pa.array(tags["old_address"])
    address = pc.if_else(old, P.column("prev_address"), P.column("address"))
    postcode = pc.if_else(old, P.column("prev_postcode"), P.column("postcode"))
    uprn = pc.if_else(old, P.column("prev_uprn"), P.column("uprn"))

    nhs = P.column("nhs_number").combine_chunks()
    if spec.nhs_coverage > 0:
        tags["nhs_corrupt"] = draw(cfg.nhs_corrupt)
        if tags["nhs_corrupt"].any():
            bad = corrupt_nhs(nhs.filter(pa.array(tags["nhs_corrupt"])), rng)
            idx = np.flatnonzero(tags["nhs_corrupt"])
            full = nhs.to_numpy(zero_copy_only=False).astype(object)
            full[idx] = bad.to_numpy(zero_copy_only=False)
            nhs = pa.array(full, type=pa.string())
        tags["missing_nhs_number"] = draw(
            min(1.0, cfg.missing_nhs_number / 0.10 * (1 - spec.nhs_coverage)), boost=True
        )

    tags["case_whitespace"] = draw(cfg.case_whitespace)
    which = rng.integers(0, 3, m)
    cw = tags["case_whitespace"]
    given_a, family_a = pa.array(given, type=pa.string()), pa.array(family, type=pa.string())
    given_a = pc.if_else(pa.array(cw & (which == 0)), case_whitespace(given_a, rng), given_a)
    family_a = pc.if_else(pa.array(cw & (which == 1)), case_whitespace(family_a, rng), family_a)
    postcode = pc.if_else(pa.array(cw & (which == 2)), case_whitespace(postcode, rng), postcode)

    if "address" in spec.cols:
        tags["address_format"] = draw(cfg.address_format)
        address = pc.if_else(
            pa.array(tags["address_format"]), address_format(address, rng), address
        )
    tags["missing_postcode"] = draw(cfg.missing_postcode)
    tags["missing_dob"] = draw(cfg.missing_dob)
    tags["missing_given_name"] = draw(cfg.missing_given_name)

    def blank(arr: pa.Array, mask: np.ndarray) -> pa.Array:
        return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)

    if spec.upper_names:  # the agency's system stores names in capitals (style, not noise)
        given_a, family_a = pc.utf8_upper(given_a), pc.utf8_upper(family_a)
    if spec.encoding.lower().replace("-", "") not in ("utf8",):
        # The agency's code page lacks some letters (e.g. 'ś' in cp1252): the writer drops the
        # accent. Not configurable noise, but the record differs from the truth, so say so.
        tags["transliterated"] = _unencodable(given_a, spec.encoding) | _unencodable(
            family_a, spec.encoding
        )
    sex = P.column("sex").combine_chunks()
    if "sex" in spec.cols:
        tags["sex_unknown"] = draw(cfg.sex_unknown)
        sex = pc.if_else(pa.array(tags["sex_unknown"]), pa.scalar("U"), sex)
        # Drawn from a side stream, so adding this kind leaves every other draw as it was.
        known = pc.is_in(sex, pa.array(["M", "F"])).to_numpy(zero_copy_only=False)
        tags["sex_miscoded"] = (_side_rng(rng).random(m) < cfg.sex_miscoded) & known
        flipped = pc.if_else(pc.equal(sex, "M"), pa.scalar("F"), pa.scalar("M"))
        sex = pc.if_else(pa.array(tags["sex_miscoded"]), flipped, sex)
    view = {
        "nhs_number": blank(nhs, tags.get("missing_nhs_number", np.ones(m, bool))),
        "given_name": blank(given_a, tags["missing_given_name"]),
        "middle_names": middle_out,
        "family_name": family_a,
        "dob": blank(pa.array(dob.astype("int32")).cast(pa.date32()), tags["missing_dob"]),
        "sex": sex,
        "address": address,
        "postcode": blank(postcode, tags["missing_postcode"]),
        "uprn": uprn,
    }
    tags["duplicate"] = _np(truth, "duplicate").astype(bool)
    tags["twin"] = _np(P, "twin").astype(bool)
    tags["shared_name"] = _np(P, "shares_name").astype(bool)
    return view, tags


def _format(
    spec: AgencySpec, source_id: pa.Array, view: dict[str, pa.Array]
) -> tuple[pa.Table, dict]:
    """The agency's file layout: its own column names, date format, codes; and its mapping."""
    cols: dict[str, pa.Array] = {}
    mapping: dict[str, object] = {}
    for canon, name in spec.cols.items():
        if canon == "source_id":
            arr = source_id
        elif canon == "dob" and spec.dob_format:
            arr = pc.strftime(view["dob"], format=spec.dob_format)
        elif canon == "sex":
            codes = spec.sex_codes
            arr = pc.case_when(
                pc.make_struct(pc.equal(view["sex"], "F"), pc.equal(view["sex"], "M")),
                pa.scalar(codes["F"]),
                pa.scalar(codes["M"]),
                pa.scalar(codes.get("U", "U")),
            )
            mapping[canon] = {
                "column": name,
                "map": {v: k for k, v in codes.items() if k in ("F", "M")}
                | ({codes["U"]: None} if codes.get("U") else {}),
            }
            cols[name] = arr
            continue
        elif canon == "nhs_number" and spec.nhs_spaced:
            n = view["nhs_number"]
            arr = pc.binary_join_element_wise(
                pc.utf8_slice_codeunits(n, 0, 3),
                pc.utf8_slice_codeunits(n, 3, 6),
                pc.utf8_slice_codeunits(n, 6, 10),
                " ",
            )
        elif canon == "postcode" and spec.id == "dwp":  # DWP's system drops the space
            arr = pc.replace_substring(view["postcode"], " ", "")
        else:
            arr = view[canon]
        cols[name] = arr
        mapping.setdefault(canon, name)
    return pa.table(cols), mapping


def person_extracts(
    plan: RecordPlan, cfg: NoiseConfig, rng: np.random.Generator
) -> tuple[list[ExtractFile], pa.Table]:
    """Every agency's person-record file, and the truth of every record.

    Call after the activity has asked for its source ids (so everyone with an event has a
    record). Returns the files and ``source_records`` (agency, source_id, person_id,
    household_id, noise: list of noise kinds and hazards applied to that record).
    """
    people = plan.pop.people.select(list(_PEOPLE_COLS))
    latest = plan.pop.period.end.year
    files, truths = [], []
    for agency_id in plan.agency_ids:
        spec = plan.agencies[agency_id]
        truth = plan.records(agency_id)
        view, tags = _noisy_people(spec, truth, people, cfg, rng, latest)
        data, mapping = _format(spec, truth.column("source_id"), view)
        files.append(
            ExtractFile(
                agency=agency_id,
                table="source_people",
                path=spec.path,
                data=data,
                columns=mapping,
                format=spec.format,
                encoding=spec.encoding,
                delimiter=spec.delimiter,
                date_format=spec.dob_format,
            )
        )
        kinds = [k for k in (*cfg.kinds, *HAZARDS, "transliterated") if k in tags]
        matrix = np.column_stack([tags[k] for k in kinds])
        rows, cols_ = np.nonzero(matrix)
        offsets = np.r_[0, np.cumsum(np.bincount(rows, minlength=truth.num_rows))].astype(np.int32)
        # Dictionary-encode the kind names via their codes (a big numpy string array would
        # come back from pa.array as a ChunkedArray, which ListArray does not take).
        values = pa.array(np.array(kinds, dtype=object), pa.string()).take(pa.array(cols_))
        noise = pa.ListArray.from_arrays(pa.array(offsets), values)
        pid = truth.column("person_id")
        truths.append(
            pa.table(
                {
                    "agency": pa.array([agency_id] * truth.num_rows, type=pa.string()),
                    "source_id": truth.column("source_id"),
                    "person_id": pid,
                    "household_id": people.column("household_id").take(pid),
                    "noise": noise,
                }
            )
        )
    return files, pa.concat_tables(truths).combine_chunks()
