"""Needs: asserted needs are nearly always true; recall per need is reported; needs that
leave no trace are named."""

from __future__ import annotations

import pytest

from totalplace.errors import ManifestError
from totalplace.people import needs
from totalplace.people.evaluate import needs_quality


def test_default_mapping_names_needs_without_trace():
    m = needs.load_needs_mapping()
    assert needs.untraced_needs(m) == ["long_term_condition"]
    assert len(m.needs) == 12


def test_mapping_errors_are_reported_together(tmp_path):
    p = tmp_path / "needs.yaml"
    p.write_text(
        "needs: {alcohol: drinking}\n"
        "rules:\n"
        "  - {need: gambling, agency: x}\n"
        "  - {need: alcohol, min_age: 70, max_age: 60}\n"
    )
    with pytest.raises(ManifestError) as e:
        needs.load_needs_mapping(p)
    assert len(e.value.problems) == 2
    assert "rules[0].need: unknown need 'gambling'" in e.value.problems[0]


def test_hard_edges_domains():
    assert [needs.hard_edges_group(n) for n in ("drugs", "alcohol", "offending", "frailty")] == [
        "substance",
        "substance",
        "offending",
        None,
    ]


@pytest.mark.slow
def test_asserted_needs_are_true_for_95_percent_of_pairs(people_open, people_place):
    q = needs_quality(people_open, people_place / "truth")
    assert q["precision"] >= 0.95, q
    per = q["per_need"]
    # Recall is reported per need; the untraced need is never asserted.
    assert per["long_term_condition"]["asserted"] == 0
    assert per["looked_after"]["recall"] > 0.9
    assert all(v["recall"] is not None for v in per.values())


@pytest.mark.slow
def test_need_spells_have_ordered_dates(people_open):
    bad = people_open.store.engine.scalar(
        "SELECT count(*) FROM person_needs WHERE to_date < from_date OR from_date IS NULL"
    )
    assert bad == 0
