"""Anytown's residents: households, ages, needs and their clustering, addresses, twins."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from totalplace.synth.population import NEEDS, make_population, nhs_check_digit, prevalence_table

N = 20_000


@pytest.fixture(scope="module")
def pop():
    return make_population(N, np.random.default_rng(11))


def test_exact_size_and_ids(pop):
    assert pop.people.num_rows == N
    assert pop.people.column("person_id").to_pylist() == list(range(N))
    sizes = np.bincount(pop.col("household_id"))
    assert (sizes >= 1).all()
    assert sizes.tolist() == pop.households.column("size").to_pylist()


def test_household_size_mean_about_2_4(pop):
    mean = N / pop.households.num_rows
    assert 2.25 <= mean <= 2.5, mean


def test_age_structure_is_plausible(pop):
    age = pop.col("age_at_start")
    share = lambda lo, hi: float(((age >= lo) & (age <= hi)).mean())  # noqa: E731
    # England mid-2022: 0-15 ~19%, 16-64 ~63%, 65+ ~19%, 85+ ~2.5% (ONS mid-year estimates)
    assert 0.15 <= share(0, 15) <= 0.25
    assert 0.55 <= share(16, 64) <= 0.68
    assert 0.13 <= share(65, 200) <= 0.24
    assert 0.01 <= share(85, 200) <= 0.045
    assert age.min() == 0 and age.max() <= 105
    # Children live with an adult at least 16 years older.
    hh = pop.col("household_id")
    head_age = age[np.r_[0, np.flatnonzero(np.diff(hh)) + 1]][hh]
    child = pop.col("role") == "child"
    assert (age[child] <= 17).all()
    assert (head_age[child] - age[child] >= 16).all()


def test_age_at_start_agrees_with_dob(pop):
    dob = pop.people.column("dob").to_pylist()
    age = pop.col("age_at_start")
    start = pop.period.start
    for i in range(0, N, 997):
        d = dob[i]
        expected = start.year - d.year - ((start.month, start.day) < (d.month, d.day))
        assert age[i] == expected


@pytest.mark.parametrize(
    "row",
    prevalence_table().to_pylist(),
    ids=lambda r: f"{r['need']}-{r['sex'] or 'all'}-{r['age_min']}",
)
def test_prevalence_matches_data_file(pop, row):
    age, sex = pop.col("age_at_start"), pop.col("sex")
    eligible = (age >= row["age_min"]) & (age <= row["age_max"])
    if row["sex"]:
        eligible &= sex == row["sex"]
    rate = pop.col(f"need_{row['need']}")[eligible].mean()
    p = row["prevalence"]
    assert abs(rate - p) <= 0.01 * p + 2 / eligible.sum(), (rate, p)
    assert row["source"], "every prevalence needs its source"


def test_needs_respect_age_constraints(pop):
    age = pop.col("age_at_start")
    for need in ("child_in_need", "looked_after"):
        assert (age[pop.col(f"need_{need}")] <= 17).all()
    assert (age[pop.col("need_frailty")] >= 65).all()
    assert (
        (age[pop.col("need_unemployment")] >= 16) & (age[pop.col("need_unemployment")] <= 64)
    ).all()
    # Every looked-after child is also a child in need (as in DfE statistics).
    assert (pop.col("need_child_in_need")[pop.col("need_looked_after")]).all()


def test_needs_cluster_like_hard_edges(pop):
    h, d, o, a = (pop.col(f"need_{k}") for k in ("homelessness", "drugs", "offending", "alcohol"))
    assert h[d].mean() > 8 * h.mean()
    assert o[d].mean() > 5 * o.mean()
    # Hard Edges (2015): of ~586k in contact with homelessness, substance-misuse or criminal-justice
    # services, ~38% were in contact with two or more and ~10% with all three.
    domains = h.astype(int) + (d | a) + o
    two_plus = (domains >= 2).sum() / (domains >= 1).sum()
    three = (domains >= 3).sum() / (domains >= 1).sum()
    assert 0.12 <= two_plus <= 0.5, two_plus
    assert 0.02 <= three <= 0.15, three
    # Disadvantage drives needs: people with needs are more disadvantaged than those without.
    latent = pop.col("latent")
    assert latent[h].mean() > latent[~h].mean() + 0.5
    assert abs(latent.mean()) < 0.1 and 0.9 < latent.std() < 1.1


def test_needs_table_agrees_with_flags(pop):
    needs = pop.needs
    assert needs.column_names == ["person_id", "need", "from", "to"]
    assert set(needs.column("need").to_pylist()) <= set(NEEDS)
    for need in NEEDS:
        flagged = set(np.flatnonzero(pop.col(f"need_{need}")).tolist())
        rows = needs.filter(pc.equal(needs.column("need"), need))
        assert set(rows.column("person_id").to_pylist()) == flagged, need
    start, end = pop.period.start, pop.period.end
    frm = needs.column("from").to_pylist()
    to = needs.column("to").to_pylist()
    assert all(t is None or (f <= t and t >= start) for f, t in zip(frm, to, strict=True))
    assert all(f <= end for f in frm)
    # Some needs start within the period and some end within it.
    assert sum(start < f for f in frm) > 100
    assert sum(t is not None for t in to) > 100


def test_care_leavers_leave_care_at_18(pop):
    needs = pop.needs.filter(pc.equal(pop.needs.column("need"), "looked_after"))
    dob = pop.people.column("dob").take(needs.column("person_id")).to_pylist()
    for d, t in zip(dob, needs.column("to").to_pylist(), strict=True):
        if t is not None:
            assert (t - d).days < 18 * 365.25 + 1


def test_nhs_numbers_valid_distinct_and_never_issued(pop):
    nhs = pop.col("nhs_number").astype(np.int64)
    assert len(np.unique(nhs)) == N
    assert (nhs // 10**9 == 9).all()  # 9xxxxxxxxx: a range never issued to real patients
    assert (nhs_check_digit(nhs // 10) == nhs % 10).all()


def test_addresses_and_movers(pop):
    hh = pop.households
    assert len(set(hh.column("uprn").to_pylist())) == hh.num_rows
    assert (
        len(
            set(
                zip(
                    hh.column("address").to_pylist(), hh.column("postcode").to_pylist(), strict=True
                )
            )
        )
        == hh.num_rows
    )
    pcodes = pop.col("postcode")
    assert all(p[:2] == "AT" and " " in p for p in pcodes[:500])
    moved = pop.people.column("moved_on").is_valid().to_numpy(zero_copy_only=False)
    assert 0.1 < moved.mean() < 0.2
    prev = pop.col("prev_uprn")
    assert (prev[moved] != pop.col("uprn")[moved]).all()
    assert pc.all(pc.is_null(pop.people.column("prev_uprn").filter(pa.array(~moved)))).as_py()
    # People of one household share an address.
    first = pop.people.group_by("household_id").aggregate([("uprn", "count_distinct")])
    assert max(first.column("uprn_count_distinct").to_pylist()) == 1


def test_twins_and_shared_names(pop):
    t = pop.people
    twins = t.filter(t.column("twin")).to_pylist()
    assert len(twins) >= 20
    by_hh: dict[int, list[dict]] = {}
    for r in twins:
        by_hh.setdefault(r["household_id"], []).append(r)
    for pair in by_hh.values():
        assert len(pair) == 2
        a, b = pair
        assert (
            a["dob"] == b["dob"] and a["family_name"] == b["family_name"] and a["uprn"] == b["uprn"]
        )
        assert a["given_name"] != b["given_name"]
    shared = t.filter(t.column("shares_name")).to_pylist()
    assert len(shared) >= 5
    heads = {r["household_id"]: r for r in t.filter(pc.equal(t.column("role"), "head")).to_pylist()}
    for r in shared:
        father = heads[r["household_id"]]
        assert (father["given_name"], father["family_name"]) == (r["given_name"], r["family_name"])
        assert father["dob"] != r["dob"] and father["sex"] == "M"


def test_married_names(pop):
    t = pop.people
    changed = pc.not_equal(t.column("family_name"), t.column("birth_family_name"))
    roles = set(t.column("role").filter(changed).to_pylist())
    assert roles == {"partner"}
    assert 0.05 < pc.mean(changed.cast("int8")).as_py() < 0.25


def test_same_seed_same_population_different_seed_different():
    a = make_population(3_000, np.random.default_rng(5))
    b = make_population(3_000, np.random.default_rng(5))
    c = make_population(3_000, np.random.default_rng(6))
    assert (
        a.people.equals(b.people) and a.needs.equals(b.needs) and a.households.equals(b.households)
    )
    assert not a.people.equals(c.people)
