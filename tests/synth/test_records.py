"""Anytown's person extracts: formats, identifier noise, truth, and no leakage of the truth."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from totalplace.manifest import load_manifest
from totalplace.synth.agencies import AGENCIES
from totalplace.synth.noise import NoiseConfig
from totalplace.synth.population import nhs_check_digit

HEALTH_AND_CARE = {"health", "mental_health", "social_care", "children"}


def read_extract(place: Path, f) -> pa.Table:
    """Read a file as the agency wrote it, every column as text (dates stay in their format)."""
    path = place / f.path
    fmt = f.resolved_format
    if fmt == "parquet":
        return pq.read_table(path)
    if fmt == "xlsx":
        from openpyxl import load_workbook

        ws = load_workbook(path, read_only=True).active
        rows = list(ws.iter_rows(values_only=True))
        return pa.table(
            {
                h: pa.array(
                    [None if i >= len(r) or r[i] is None else str(r[i]) for r in rows[1:]],
                    pa.string(),
                )
                for i, h in enumerate(rows[0])
            }
        )
    text = path.read_bytes().decode("utf-8" if f.encoding == "auto" else f.encoding).encode("utf-8")
    parse = pacsv.ParseOptions(delimiter=f.delimiter or ",")
    names = pacsv.read_csv(pa.py_buffer(text), parse_options=parse).schema.names
    return pacsv.read_csv(
        pa.py_buffer(text),
        parse_options=parse,
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


@pytest.fixture(scope="module")
def place(anytown_20k):
    return anytown_20k


@pytest.fixture(scope="module")
def manifest(place):
    return load_manifest(place)


@pytest.fixture(scope="module")
def truth(place):
    return pq.read_table(place / "truth" / "source_records.parquet")


@pytest.fixture(scope="module")
def people(place):
    return pq.read_table(place / "truth" / "people.parquet")


@pytest.fixture(scope="module")
def person_files(manifest):
    return {a.id: f for a, f in manifest.files() if f.table == "source_people"}


@pytest.fixture(scope="module")
def extracts(place, person_files):
    return {aid: read_extract(place, f) for aid, f in person_files.items()}


def test_manifest_validates_and_covers_every_agency(manifest, person_files):
    assert manifest.name == "Anytown"
    assert manifest.period.start == dt.date(2023, 4, 1) and manifest.period.end == dt.date(
        2026, 3, 31
    )
    assert len(manifest.agencies) >= 10
    assert set(person_files) == {a.id for a in AGENCIES}


def test_every_truth_record_is_in_its_extract_and_vice_versa(truth, extracts, person_files):
    for aid, t in extracts.items():
        col = person_files[aid].column_specs()["source_id"].column
        ids = t.column(col).to_pylist()
        assert len(ids) == len(set(ids)), f"{aid}: duplicate source ids"
        mine = truth.filter(pc.equal(truth.column("agency"), aid)).column("source_id").to_pylist()
        assert set(ids) == set(mine), aid


def test_each_agency_has_its_own_format(manifest, person_files, extracts):
    layouts = [tuple(t.column_names) for t in extracts.values()]
    assert len(set(layouts)) == len(layouts), "two agencies share a column layout"
    id_cols = [f.column_specs()["source_id"].column for f in person_files.values()]
    assert len(set(id_cols)) == len(id_cols)
    date_formats = {f.date_format for f in person_files.values()}
    assert len(date_formats) >= 7
    fmts = Counter(f.resolved_format for f in person_files.values())
    assert fmts["parquet"] >= 1 and fmts["xlsx"] >= 1 and fmts["csv"] >= 5
    assert any(f.encoding.lower() == "cp1252" for f in person_files.values())
    assert any((f.delimiter or ",") != "," for f in person_files.values())

    def shape(s: str) -> str:
        if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", s):
            return "GUID"
        return re.sub(r"\d", "9", s)

    shapes = {}
    for aid, t in extracts.items():
        col = person_files[aid].column_specs()["source_id"].column
        ids = t.column(col).cast(pa.string()).to_pylist()
        shapes[aid] = Counter(shape(i) for i in ids).most_common(1)[0][0]
    assert len(set(shapes.values())) == len(shapes), shapes


def test_cp1252_file_is_really_cp1252(place, person_files):
    f = next(f for f in person_files.values() if f.encoding.lower() == "cp1252")
    raw = (place / f.path).read_bytes()
    raw.decode("cp1252")  # must not fail
    if any(b > 127 for b in raw):
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")


def test_only_health_and_social_care_hold_nhs_numbers(manifest):
    for a, f in manifest.files():
        if f.table == "source_people" and "nhs_number" in f.columns:
            assert a.sector in HEALTH_AND_CARE, a.id
    holders = [
        a.id
        for a, f in manifest.files()
        if f.table == "source_people" and "nhs_number" in f.columns
    ]
    assert len(holders) >= 3


def test_nhs_numbers_valid_except_deliberate_corruption(truth, extracts, person_files):
    noise = dict(
        zip(
            zip(
                truth.column("agency").to_pylist(),
                truth.column("source_id").to_pylist(),
                strict=True,
            ),
            truth.column("noise").to_pylist(),
            strict=True,
        )
    )
    checked = corrupt = 0
    for aid, f in person_files.items():
        spec = f.column_specs()
        if "nhs_number" not in spec:
            continue
        t = extracts[aid]
        ids = t.column(spec["source_id"].column).to_pylist()
        nums = t.column(spec["nhs_number"].column).to_pylist()
        present = [(i, n) for i, n in zip(ids, nums, strict=True) if n]
        assert len(present) < len(ids), f"{aid}: some records should lack an NHS number"
        assert len(present) > 0.5 * len(ids)
        for sid, n in present:
            digits = n.replace(" ", "")
            assert re.fullmatch(r"\d{10}", digits)
            valid = nhs_check_digit(np.array([int(digits[:9])]))[0] == int(digits[9])
            if "nhs_corrupt" in noise[(aid, sid)]:
                corrupt += 1
                assert not valid
            else:
                assert valid, (aid, sid, n)
            checked += 1
    assert checked > 5_000 and corrupt > 0


def test_no_truth_leakage(truth, people):
    pid = truth.column("person_id").to_numpy()
    sid = truth.column("source_id").to_pylist()
    agencies = truth.column("agency").to_pylist()
    as_text = set(map(str, people.column("person_id").to_pylist()))
    assert not any(s in as_text for s in sid), "a source id equals a person id"
    # A source id containing its own person's id happens only by chance (long ids, small numbers).
    own = sum(str(p) in s for p, s in zip(pid, sid, strict=True) if p >= 1000)
    assert own < 0.01 * len(sid)
    # Within each agency, ids are unrelated to the true ids (rank correlation near zero).
    for aid in set(agencies):
        sel = np.array(agencies) == aid
        if sel.sum() < 200:
            continue
        order = np.argsort(np.array(sid, dtype=object)[sel].astype(str))
        rank_pid = np.argsort(np.argsort(pid[sel]))
        rho = np.corrcoef(np.arange(sel.sum()), rank_pid[order])[0, 1]
        assert abs(rho) < 0.1, (aid, rho)
    # The extracts carry no truth columns.
    for name in ("person_id", "household_id", "noise"):
        assert name in truth.column_names


def test_extract_columns_reveal_no_truth(extracts):
    for aid, t in extracts.items():
        for c in t.column_names:
            assert "person_id" not in c.lower() and "household" not in c.lower(), (aid, c)


def test_truth_shape(truth):
    assert truth.column_names == ["agency", "source_id", "person_id", "household_id", "noise"]
    assert truth.schema.field("noise").type == pa.list_(pa.string())
    keys = list(
        zip(truth.column("agency").to_pylist(), truth.column("source_id").to_pylist(), strict=True)
    )
    assert len(keys) == len(set(keys))


def noise_rate(truth: pa.Table, kind: str) -> float:
    return sum(kind in x for x in truth.column("noise").to_pylist()) / truth.num_rows


@pytest.mark.parametrize(
    "kind",
    [
        "typo",
        "case_whitespace",
        "address_format",
        "missing_postcode",
        "missing_dob",
        "missing_given_name",
        "dob_digit",
        "name_swap",
    ],
)
def test_unconditional_noise_at_its_rate(truth, kind):
    rate = noise_rate(truth, kind)
    expected = getattr(NoiseConfig(), kind)
    assert 0.6 * expected <= rate <= 1.4 * expected, (kind, rate, expected)


@pytest.mark.parametrize(
    "kind",
    [
        "dob_year_only",
        "address_format",
        "sex_unknown",
        "sex_miscoded",
        "known_by_middle_name",
        "nickname",
        "maiden_name",
        "double_barrelled",
        "dob_swap",
        "nhs_corrupt",
        "old_address",
        "missing_nhs_number",
        "duplicate",
        "twin",
        "shared_name",
    ],
)
def test_conditional_noise_and_hazards_present(truth, kind):
    n = sum(kind in x for x in truth.column("noise").to_pylist())
    assert n >= 5, (kind, n)
    if kind in NoiseConfig().kinds:
        assert n / truth.num_rows <= getattr(NoiseConfig(), kind) + 0.01


def test_every_noise_kind_has_a_default_above_zero():
    cfg = NoiseConfig()
    assert len(cfg.kinds) >= 6
    assert all(getattr(cfg, k) > 0 for k in cfg.kinds)
    with pytest.raises(ValueError, match="typo"):
        NoiseConfig(typo=1.5)


def test_duplicates_within_agency(truth):
    acute = truth.filter(pc.equal(truth.column("agency"), "acute"))
    counts = Counter(acute.column("person_id").to_pylist())
    share = sum(c > 1 for c in counts.values()) / len(counts)
    assert 0.015 <= share <= 0.06, share
    # Second records carry more name noise (that is why nobody matched them at registration).
    noise = truth.column("noise").to_pylist()
    dup = [("typo" in x or "nickname" in x) for x in noise if "duplicate" in x]
    rest = [("typo" in x or "nickname" in x) for x in noise if "duplicate" not in x]
    assert sum(dup) / len(dup) > 1.5 * sum(rest) / len(rest)


def _parse_dates(values: list[str | None], fmt: str | None) -> list[dt.date | None]:
    out = []
    for v in values:
        if v is None or v == "":
            out.append(None)
        elif isinstance(v, dt.date):
            out.append(v)
        else:
            out.append(dt.datetime.strptime(v, fmt).date())
    return out


@pytest.mark.parametrize("agency", [a.id for a in AGENCIES])
def test_clean_records_match_the_truth_and_noisy_ones_differ(
    agency, truth, people, extracts, person_files
):
    """Records with no noise carry the person's true name and dob; noise shows where recorded."""
    f = person_files[agency]
    spec = f.column_specs()
    t = extracts[agency]
    tr = truth.filter(pc.equal(truth.column("agency"), agency))
    by_id = {
        s: (p, n)
        for s, p, n in zip(
            tr.column("source_id").to_pylist(),
            tr.column("person_id").to_pylist(),
            tr.column("noise").to_pylist(),
            strict=True,
        )
    }
    given = t.column(spec["given_name"].column).to_pylist()
    family = t.column(spec["family_name"].column).to_pylist()
    dob_col = spec["dob"]
    dobs = _parse_dates(t.column(dob_col.column).to_pylist(), dob_col.format or f.date_format)
    ids = t.column(spec["source_id"].column).cast(pa.string()).to_pylist()
    true_given = people.column("given_name").to_pylist()
    true_family = people.column("family_name").to_pylist()
    true_dob = people.column("dob").to_pylist()
    clean = noisy_dob = 0
    for sid, g, fam, d in zip(ids, given, family, dobs, strict=True):
        pid, noise = by_id[sid]
        if not set(noise) - {
            "duplicate",
            "twin",
            "shared_name",
            "old_address",
            "missing_postcode",
            "missing_nhs_number",
            "nhs_corrupt",
            "address_format",
            "sex_unknown",
            "sex_miscoded",
        }:
            assert (
                g.lower() == true_given[pid].lower() and fam.lower() == true_family[pid].lower()
            ), (sid, g, fam)
            assert d == true_dob[pid], (sid, d, true_dob[pid])
            clean += 1
        if "dob_year_only" in noise:
            assert d is None or (d.month, d.day) == (1, 1)
        if "dob_swap" in noise or "dob_digit" in noise:
            assert d != true_dob[pid]
            noisy_dob += 1
        if "missing_dob" in noise:
            assert d is None
        if "missing_given_name" in noise:
            assert g is None
    assert clean > 0.6 * len(ids)
