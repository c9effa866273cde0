"""Green Book discounting and the CBA measures, against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from totalplace.appraise.discount import (
    discount_factors,
    load_schedule,
    measures,
    payback_years,
    yearly_rates,
)
from totalplace.errors import TotalplaceError

# Factors by hand, segment by segment (3.5% to year 30, 3.0% to 75, 2.5% to 125, 2.0% to 200,
# 1.5% to 300, 1.0% beyond), rounded to 4 dp as the Green Book's table prints them.
GREEN_BOOK = {
    10: 0.7089,
    30: 0.3563,
    31: 0.3459,
    50: 0.1973,
    75: 0.0942,
    76: 0.0919,
    100: 0.0508,
    126: 0.0269,
    201: 0.0061,
    301: 0.0014,
}


def by_hand(t: int) -> float:
    a = 1.035 ** -min(t, 30)
    b = 1.03 ** -max(0, min(t, 75) - 30)
    c = 1.025 ** -max(0, min(t, 125) - 75)
    d = 1.02 ** -max(0, min(t, 200) - 125)
    e = 1.015 ** -max(0, min(t, 300) - 200)
    f = 1.01 ** -max(0, t - 300)
    return a * b * c * d * e * f


@pytest.mark.parametrize("year", sorted(GREEN_BOOK))
def test_discount_factor_matches_the_green_book_to_4dp(year):
    df = discount_factors(year + 1)
    assert round(float(df[year]), 4) == GREEN_BOOK[year]
    assert df[year] == pytest.approx(by_hand(year), rel=1e-12)


def test_segments_apply_cumulatively_not_retroactively():
    df = discount_factors(32)
    assert df[0] == 1.0
    assert df[31] == pytest.approx(df[30] / 1.03)
    assert df[31] != pytest.approx(1.03**-31)  # the retroactive mistake


def test_health_schedule_starts_at_1_5_percent():
    df = discount_factors(11, "health")
    assert df[10] == pytest.approx(1.015**-10)
    assert yearly_rates(40, "health")[35] < 0.015


def test_schedule_is_data_with_a_source():
    segs = load_schedule("standard")
    assert [s.rate for s in segs] == [0.035, 0.03, 0.025, 0.02, 0.015, 0.01]
    assert all("Green Book" in s.source for s in segs)
    with pytest.raises(TotalplaceError, match="one of: standard, health"):
        load_schedule("social")


def test_worked_example_undiscounted():
    # Costs of 100 now; benefits 60 a year for two years, 40 of each fiscal; 3 outcomes.
    r = measures([0, 60, 60], [100, 0, 0], fiscal=[0, 40, 40], outcomes=[0, 1, 2], rate=0.0)
    assert r["npv"] == 20.0
    assert r["bcr"] == 1.2
    assert r["fiscal_roi"] == 0.8
    assert r["payback_years"] == math.inf  # fiscal benefits of 80 never repay 100
    assert r["cost_per_outcome"] == pytest.approx(100 / 3)


def test_worked_example_discounted_at_the_green_book_rate():
    # Costs 1,000 in year 0 and 200 in year 1; benefits 500 in years 1-3, all fiscal.
    b, c = [0, 500, 500, 500], [1000, 200, 0, 0]
    r = measures(b, c)
    pvb = 500 / 1.035 + 500 / 1.035**2 + 500 / 1.035**3  # 1400.82
    pvc = 1000 + 200 / 1.035  # 1193.24
    assert r["pv_benefits"] == pytest.approx(pvb)
    assert r["npv"] == pytest.approx(pvb - pvc)
    assert r["npv"] == pytest.approx(207.58, abs=0.01)
    assert r["bcr"] == pytest.approx(1.1740, abs=1e-4)
    assert r["fiscal_roi"] == pytest.approx(r["bcr"])
    # Running balance: -1000, -710.14 (after year 1), -243.38 (after year 2), then +450.97 in
    # year 3: pays back 2 + 243.38 / 450.97 years in.
    bal2 = -1000 + (500 - 200) / 1.035 + 500 / 1.035**2
    assert r["payback_years"] == pytest.approx(2 + -bal2 / (500 / 1.035**3))
    assert r["payback_years"] == pytest.approx(2.540, abs=1e-3)


def test_payback_is_vectorised_and_zero_when_repaid_at_once():
    b = np.array([[0, 60, 60], [100, 0, 0], [0, 0, 0]], float)
    c = np.array([[100, 0, 0], [50, 0, 0], [10, 0, 0]], float)
    p = payback_years(b, c, np.ones(3))
    assert p[0] == pytest.approx(1 + 40 / 60)
    assert p[1] == 0.0
    assert p[2] == math.inf


def test_measures_over_draws_match_one_at_a_time():
    rng = np.random.default_rng(3)
    b, c = rng.uniform(0, 100, (5, 6)), rng.uniform(0, 100, (5, 6))
    many = measures(b, c)
    for i in range(5):
        one = measures(b[i], c[i])
        assert many["npv"][i] == pytest.approx(one["npv"])
        assert many["payback_years"][i] == pytest.approx(one["payback_years"])
