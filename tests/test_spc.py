"""XmR charts: limits and signals against hand-computed worked examples."""

from __future__ import annotations

import pyarrow as pa
import pytest

from totalplace.spc import xmr, xmr_figure, xmr_table


def test_stable_process_worked_example():
    # 12 points summing to 78: mean 6.5. Moving ranges 2,1,2,2,1,2,1,1,1,2,1 sum to 16 over
    # 11 ranges: mean mR 1.454545. Limits 6.5 ± 2.66 × 1.454545 = 6.5 ± 3.869091.
    r = xmr([5, 7, 6, 8, 6, 7, 5, 6, 7, 8, 6, 7])
    assert r.mean[0] == pytest.approx(6.5)
    assert r.mean_mr[0] == pytest.approx(16 / 11)
    assert r.ucl[0] == pytest.approx(10.369091, abs=1e-6)
    assert r.lcl[0] == pytest.approx(2.630909, abs=1e-6)
    assert r.mr[0] is None and r.mr[1] == 2
    assert not r.trial
    assert r.signals == [[] for _ in range(12)]


def test_shift_trend_and_two_of_three_worked_example():
    x = [3, 5, 4, 6, 5, 4, 5, 6, 7, 8, 9, 10, 11, 5, 4]
    # Sum 92 over 15 points: mean 6.1333. Moving ranges sum to 21 over 14: mean mR 1.5.
    # Limits 6.1333 ± 3.99: UCL 10.1233, LCL 2.1433. Two-thirds line above: 8.7933.
    r = xmr(x)
    assert r.mean[0] == pytest.approx(92 / 15)
    assert r.mean_mr[0] == pytest.approx(1.5)
    assert r.ucl[0] == pytest.approx(92 / 15 + 3.99)
    assert r.lcl[0] == pytest.approx(92 / 15 - 3.99)
    # 11 (index 12) is beyond the upper limit.
    assert [i for i, s in enumerate(r.signals) if "outside_limits" in s] == [12]
    # 4, 5, 6, 7, 8, 9, 10, 11 (indices 5-12) rise at every step: a trend of 8 points.
    assert [i for i, s in enumerate(r.signals) if "trend_of_7" in s] == list(range(5, 13))
    # 9, 10, 11 (indices 10-12) are beyond the two-thirds line.
    assert [i for i, s in enumerate(r.signals) if "two_of_three" in s] == [10, 11, 12]
    # The first 8 points (3 to 6) all lie below the mean: a shift. Above it, only 5 in a row
    # (7 to 11), which is not one.
    assert [i for i, s in enumerate(r.signals) if "run_of_7" in s] == list(range(8))


def test_shift_and_recalculation_at_a_change_point():
    x = [10, 11] * 6 + [13, 14] * 4
    # One set of limits: mean (126 + 108) / 20 = 11.7; the first 12 points all lie below it
    # and the last 8 above: two shifts.
    r = xmr(x)
    assert r.mean[0] == pytest.approx(11.7)
    assert [i for i, s in enumerate(r.signals) if "run_of_7" in s] == list(range(20))
    # Recalculated from index 12: two processes, each stable; the second has trial limits.
    r2 = xmr(x, change_points=[12])
    assert (r2.mean[0], r2.mean[19]) == (pytest.approx(10.5), pytest.approx(13.5))
    assert r2.ucl[0] == pytest.approx(10.5 + 2.66) and r2.ucl[19] == pytest.approx(13.5 + 2.66)
    assert r2.segment[11] == 0 and r2.segment[12] == 1
    assert r2.mr[12] is None  # no moving range across the change point
    assert r2.trial
    assert not any(r2.signals)


def test_equal_values_break_a_trend_and_points_on_the_mean_break_a_run():
    assert not any("trend_of_7" in s for s in xmr([1, 2, 3, 4, 4, 5, 6, 7, 8, 1]).signals)
    # Points alternate around a mean of 0 with zeros on it: never 7 on one side.
    x = [1, 1, 1, 0, 1, 1, 1, -1, -1, -1, 0, -1, -1, -1]
    assert not any("run_of_7" in s for s in xmr(x).signals)


def test_screening_moving_range_outliers_narrows_the_limits():
    x = [10, 11, 10, 11, 10, 40, 10, 11, 10, 11, 10, 11, 10]
    assert xmr(x, screen_outliers=True).ucl[0] < xmr(x).ucl[0]


def test_floor_and_bad_input():
    assert xmr([0, 1, 0, 2, 0, 1], floor=0).lcl[0] == 0
    with pytest.raises(ValueError, match="at least 2 values"):
        xmr([1])
    with pytest.raises(ValueError, match="change point 9 is outside"):
        xmr([1, 2, 3], change_points=[9])


def test_xmr_table_by_group_and_figure():
    t = pa.table(
        {
            "service": ["b"] * 12 + ["a"] * 12,
            "week": list(range(12, 0, -1)) * 2,
            "n": [5, 7, 6, 8, 6, 7, 5, 6, 7, 8, 6, 7][::-1] + [1] * 11 + [9],
        }
    )
    out = xmr_table(t, ["service"], "week", "n")
    assert out.num_rows == 24
    rows = [r for r in out.to_pylist() if r["service"] == "b"]
    assert [r["week"] for r in rows] == list(range(1, 13))  # sorted by period
    assert rows[0]["mean"] == pytest.approx(6.5) and not rows[0]["trial_limits"]
    a = [r for r in out.to_pylist() if r["service"] == "a"]
    assert a[0]["week"] == 1 and "outside_limits" in a[0]["signals"]
    with pytest.raises(KeyError, match="no column nope"):
        xmr_table(t, ["nope"], "week", "n")
    fig = xmr_figure(xmr([5, 7, 6, 8, 6]), [1, 2, 3, 4, 5], title="Contacts", y_label="n")
    assert "trial limits" in fig.layout.title.text
    assert len(fig.data) == 4
