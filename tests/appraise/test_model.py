"""The cost-benefit model of an intervention, against flows worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from totalplace.appraise.discount import discount_factors
from totalplace.appraise.model import (
    central,
    load_optimism_bias,
    monte_carlo,
    percentiles,
    resolve,
    tornado,
)
from totalplace.appraise.settings import AppraiseSettings
from totalplace.errors import TotalplaceError


def intervention(**over):
    iv = {
        "name": "navigators",
        "cohort": "frequent A&E attenders",
        "participants_per_year": 100,
        "duration_years": 2,
        "costs": [
            {
                "item": "navigator",
                "kind": "revenue",
                "per": "participant",
                "amount_gbp": 1000,
                "payer": "council",
                "confidence": 1,
            }
        ],
        "effects": [
            {
                "outcome": "A&E attendances",
                "baseline_per_participant": 2.0,
                "change": -0.5,
                "unit_cost_gbp": 100,
                "agency": "acute",
                "value": "fiscal",
                "confidence": 1,
            }
        ],
        "deadweight": 0.2,
    }
    iv.update(over)
    return iv


def settings(*ivs, **over):
    return AppraiseSettings.model_validate(
        {"horizon_years": 3, "price_year": "2025/26", "interventions": list(ivs), **over}
    )


def run(iv, **over):
    s = settings(iv, **over)
    r = resolve(s.interventions[0], s, "2025/26")
    df = discount_factors(3)
    return central(r, df)


def test_one_year_effect_by_hand():
    f, m = run(intervention())
    # 100 a year for two years; 100 x 2 x 0.5 x (1 - 0.2) = 80 attendances avoided a year.
    assert f.participants[0].tolist() == [100, 100, 0]
    assert f.outcomes[0].tolist() == pytest.approx([80, 80, 0])
    assert f.benefits["fiscal"][0].tolist() == pytest.approx([8000, 8000, 0])
    pvc = 100_000 + 100_000 / 1.035
    pvb = 8000 + 8000 / 1.035
    assert m["pv_costs"] == pytest.approx(pvc)
    assert m["npv"] == pytest.approx(pvb - pvc)
    assert m["bcr"] == pytest.approx(0.08)
    assert m["fiscal_roi"] == pytest.approx(0.08)
    assert m["payback_years"] == float("inf")
    assert m["cost_per_outcome"] == pytest.approx(pvc / 160)
    assert m["pv_cashable"] == 0.0  # not cashable unless the activity is decommissioned


def test_persistence_and_decay_by_hand():
    f, _ = run(intervention(persistence_years=2, decay=0.5))
    # Year 0: 100 new; year 1: 100 new + 100 x 0.5; year 2: 100 x 0.5 left.
    assert f.outcomes[0].tolist() == pytest.approx([80, 120, 40])


def test_fractional_persistence_counts_in_part():
    f, _ = run(intervention(persistence_years=1.5))
    assert f.outcomes[0].tolist() == pytest.approx([80, 120, 40])


def test_ramp_up_take_up_and_once_costs():
    iv = intervention(
        ramp_up=[0.5],
        take_up=0.8,
        start_year=1,
        costs=[
            {
                "item": "setup",
                "kind": "capital",
                "per": "once",
                "amount_gbp": 5000,
                "payer": "council",
                "confidence": 1,
            },
            {
                "item": "manager",
                "per": "year",
                "amount_gbp": 40000,
                "payer": "nhs",
                "confidence": 1,
                "kind": "revenue",
            },
        ],
    )
    f, _ = run(iv)
    assert f.participants[0].tolist() == pytest.approx([0, 40, 80])
    assert f.costs_by_kind["capital"][0].tolist() == [0, 5000, 0]
    assert f.costs_by_payer["nhs"][0].tolist() == [0, 40000, 40000]


def test_optimism_bias_raises_costs_and_lowers_benefits_by_grade():
    ob = load_optimism_bias()
    iv = intervention()
    iv["costs"][0]["confidence"] = 3
    iv["effects"][0]["confidence"] = 5
    f, _ = run(iv)
    assert f.costs[0, 0] == pytest.approx(100_000 * (1 + ob[3]))
    assert f.outcomes[0, 0] == pytest.approx(80 * (1 - ob[5]))
    assert ob[1] < ob[3] < ob[5]


def test_optimism_bias_table_is_configurable_and_must_cite_a_source(tmp_path):
    p = tmp_path / "ob.csv"
    p.write_text("grade,uplift,source\n1,0.5,our audit\n", encoding="utf-8")
    assert load_optimism_bias(p) == {1: 0.5}
    p.write_text("grade,uplift,source\n1,0.5,\n", encoding="utf-8")
    with pytest.raises(TotalplaceError, match="cite a source"):
        load_optimism_bias(p)


def test_cashable_benefits_and_who_gains():
    iv = intervention()
    iv["effects"].append(
        {
            "outcome": "arrests",
            "baseline_per_participant": 0.1,
            "change": -1.0,
            "unit_cost_gbp": 600,
            "agency": "police",
            "value": "fiscal",
            "cashable": True,
            "confidence": 1,
        }
    )
    f, m = run(iv)
    assert f.benefits_by_agency["police"][0].tolist() == pytest.approx([4800, 4800, 0])
    assert f.cashable_by_agency.keys() == {"police"}
    assert np.array_equal(f.cashable_by_agency["police"], f.benefits_by_agency["police"])
    assert m["pv_cashable"] == pytest.approx(4800 + 4800 / 1.035)
    assert f.costs_by_payer.keys() == {"council"}


def test_value_types_are_kept_apart():
    iv = intervention()
    iv["effects"].append(dict(iv["effects"][0], value="social", agency="residents"))
    _, m = run(iv)
    assert m["pv_social"] == pytest.approx(m["pv_fiscal"])
    assert m["pv_benefits"] == pytest.approx(m["pv_fiscal"] + m["pv_social"])
    assert m["fiscal_roi"] == pytest.approx(m["bcr"] / 2)


def test_unit_costs_are_uprated_to_the_price_year():
    iv = intervention()
    iv["effects"][0] = dict(iv["effects"][0], unit_cost_gbp=None, unit_cost="ae_not_admitted")
    iv["effects"][0].pop("unit_cost_gbp")
    s = settings(iv)
    r = resolve(s.interventions[0], s, "2025/26")
    assert r.effects[0].unit_cost > 95  # £95 in 2011/12 prices, uprated


def test_monte_carlo_is_seeded_and_brackets_the_central_estimate():
    iv = intervention(take_up={"value": 0.8, "low": 0.5, "high": 1.0})
    iv["effects"][0]["change"] = {"value": -0.5, "low": -0.8, "high": -0.1}
    s = settings(iv)
    r = resolve(s.interventions[0], s, "2025/26")
    df = discount_factors(3)
    a = monte_carlo([r], df, 2000, seed=5)["navigators"]
    b = monte_carlo([r], df, 2000, seed=5)["navigators"]
    assert np.array_equal(a["npv"], b["npv"])
    q = percentiles(a)
    assert q["npv"][0] < central(r, df)[1]["npv"] < q["npv"][2]
    assert 0.0 <= q["prob_npv_positive"][0] <= 1.0


def test_tornado_ranks_the_widest_swing_first():
    iv = intervention(take_up={"value": 0.8, "low": 0.79, "high": 0.81})
    iv["effects"][0]["change"] = {"value": -0.5, "low": -0.9, "high": -0.1}
    s = settings(iv)
    rows = tornado(resolve(s.interventions[0], s, "2025/26"), discount_factors(3))
    assert [r[0] for r in rows] == ["effect:A&E attendances", "take_up"]
    assert rows[0][1] > rows[0][2]  # a bigger fall (low) is worth more


def test_triangular_draws_have_the_right_mean_and_median():
    from totalplace.appraise.model import triangular

    u = np.random.default_rng(1).random((1, 200_000))
    x = triangular(np.array([[1.0, 2.0, 6.0]]), u)[0]
    assert x.mean() == pytest.approx(3.0, abs=0.02)
    assert np.median(x) == pytest.approx(6 - (5 * 4 / 2) ** 0.5, abs=0.02)
    assert 1.0 <= x.min() and x.max() <= 6.0
