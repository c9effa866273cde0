"""Publishing rules: primary and secondary suppression, rates, presets from place.yaml."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from totalplace.disclosure import Disclosure, Grid, audit_interval, single_suppressed_lines
from totalplace.errors import ManifestError
from totalplace.report.settings import parse_report_settings


def lines_with_one_hidden(t) -> list[list[int]]:
    hidden = set(t.hidden)
    return [ln for ln in t.grid.lines if sum(c in hidden for c in ln) == 1]


def test_primary_suppression_and_rounding():
    d = Disclosure()
    assert [d.count(n) for n in (0, 1, 7, 8, 12, 13, 1234)] == [0, None, None, 10, 10, 15, 1235]
    assert Disclosure.preset("under5").count(5) == 5
    assert Disclosure.preset("under10").count(9) is None


def test_a_single_small_cell_gets_a_partner_in_its_row_and_column():
    t = Disclosure().protect([[3, 40, 52], [20, 31, 60]])
    assert t.suppressed == [[True, True, False], [True, True, False]]
    assert t.row_totals == [95, 110] and t.col_totals == [25, 70, 110] and t.total == 205
    assert lines_with_one_hidden(t) == [] and t.recoverable() == []


def test_without_secondary_suppression_the_cell_is_recoverable():
    g = Grid.of([[3, 40, 52], [20, 31, 60]])
    lo, width = audit_interval(g, {0}, 0)
    assert width == pytest.approx(0) and lo == pytest.approx(3)


def test_series_with_total():
    s = Disclosure().protect_series({"a": 2, "b": 100, "c": 50})
    assert s.values == [None, 100, None] and s.total == 150
    s = Disclosure().protect_series({"a": 2, "b": 100, "c": 50}, total=False)
    assert s.values == [None, 100, 50] and s.total is None


def test_zeros_are_the_last_choice_of_partner():
    s = Disclosure().protect_series({"a": 0, "b": 5, "c": 40, "d": 30})
    assert s.values == [0, None, 40, None]


def test_a_bridge_between_two_cycles_is_broken():
    # Two 2x2 blocks of small counts joined through one row: the audit must find no cell
    # whose value the totals pin down.
    cells = [[2, 3, 50, 60], [4, 2, 70, 80], [90, 5, 2, 3], [100, 110, 4, 6]]
    t = Disclosure().protect(cells)
    assert lines_with_one_hidden(t) == [] and t.recoverable() == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 30), min_size=2, max_size=5), min_size=1, max_size=5).filter(
        lambda rows: len({len(r) for r in rows}) == 1
    )
)
def test_no_table_leaves_a_small_count_or_a_recoverable_cell(rows):
    d = Disclosure()
    t = d.protect(rows)
    published = [v for r in t.cells for v in r] + t.row_totals + t.col_totals + [t.total]
    assert not any(v is not None and 1 <= v <= 7 for v in published)
    assert lines_with_one_hidden(t) == []
    assert t.recoverable() == []


def test_switched_off_publishes_everything():
    t = Disclosure.off().protect([[3, 40], [20, 31]])
    assert t.cells == [[3, 40], [20, 31]] and t.total == 94


def test_rates_and_statistics_on_suppressed_counts_are_suppressed():
    d = Disclosure()
    assert d.fmt_rate(3, 100) == "*" and d.fmt_rate(30, 120) == "25.0%"
    assert d.statistic(12.5, 4) is None and d.statistic(12.5, 40) == 12.5


def test_published_table_check_finds_a_lonely_star():
    rows = [["a", "*", 40, 45], ["b", 20, 31, 50], ["Total", 25, 70, 95]]
    assert single_suppressed_lines(rows, total_row=2, total_col=3) == ["row 1", "column 2"]


def test_place_yaml_chooses_the_rule():
    assert parse_report_settings({"disclosure": "under10"}).disclosure == "under10"
    with pytest.raises(ManifestError) as e:
        parse_report_settings({"disclosure": "none", "colour": 1})
    msg = str(e.value)
    assert "report.disclosure" in msg and "report.colour" in msg
