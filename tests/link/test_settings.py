"""Splink settings built from the columns a data set has."""

from __future__ import annotations

import pytest

from totalplace.link import settings as S

PLACE = {
    "nhs_number",
    "given_name",
    "family_name",
    "family_name_parts",
    "dob_str",
    "dob_year",
    "postcode",
    "postcode_sector",
    "postcode_district",
    "address",
    "sex",
    "given_name_groups",
}


def names(comps) -> list[str]:
    return [c.create_output_column_name() for c in comps]


def test_place_data_gets_every_uk_person_comparison():
    assert names(S.comparisons(PLACE)) == [
        "nhs_number",
        "given_name",
        "family_name",
        "dob",
        "address",
        "sex",
    ]


def test_levels_include_nickname_swap_surname_change_and_dob_swaps():
    labels = {
        c.create_output_column_name(): [
            lvl["label_for_charts"]
            for lvl in c.get_comparison("duckdb").as_dict()["comparison_levels"]
        ]
        for c in S.comparisons(PLACE)
    }
    assert any("Nickname" in x for x in labels["given_name"])
    assert any("names swapped" in x for x in labels["given_name"])
    # one swap is one piece of evidence: the family-name level for it weighs nothing
    fam = {c.create_output_column_name(): c for c in S.comparisons(PLACE)}["family_name"]
    swap = [
        lvl
        for lvl in fam.get_comparison("duckdb").as_dict()["comparison_levels"]
        if "swapped" in lvl["label_for_charts"]
    ]
    assert swap and swap[0]["m_probability"] == swap[0]["u_probability"] == 1.0
    assert swap[0]["sql_condition"] == S.NAMES_SWAPPED_SQL
    assert any("surname change" in x for x in labels["family_name"])
    assert any("swapped" in x for x in labels["dob"])
    assert any("One character" in x for x in labels["dob"])
    assert any("Same year" in x for x in labels["dob"])
    assert labels["address"][1:5] == [
        "Same address",
        "Same postcode",
        "Same sector",
        "Same district",
    ]


def test_surname_change_level_has_fixed_u():
    fam = next(c for c in S.comparisons(PLACE) if c.create_output_column_name() == "family_name")
    level = next(
        lvl
        for lvl in fam.get_comparison("duckdb").as_dict()["comparison_levels"]
        if "surname change" in lvl["label_for_charts"]
    )
    assert level["u_probability"] == S.SURNAME_CHANGE_U
    assert level["fix_u_probability"] is True


def test_comparisons_and_rules_follow_the_columns_present():
    few = {"given_name", "family_name", "dob_str", "dob_year", "email"}
    assert names(S.comparisons(few)) == ["given_name", "family_name", "dob", "email"]
    rules = [r.name for r in S.blocking_rules(few)]
    assert "nhs_number" not in rules and "email" in rules
    assert all(set(r.needs) <= few for r in S.blocking_rules(few))
    # without NHS numbers, EM trains on name and dob blocks
    assert [r.name for r in S.training_rules(few)] == ["given_name+family_name", "dob_str"]
    assert [r.name for r in S.training_rules(PLACE)] == ["dob_str, other postcode", "nhs_number"]


def test_too_little_data_is_a_clear_error():
    with pytest.raises(ValueError, match="at least two of"):
        S.splink_settings({"given_name"})


def test_settings_use_only_the_rules_given():
    rules = S.blocking_rules(PLACE)[:2]
    settings = S.splink_settings(PLACE, rules)
    assert len(settings.blocking_rules_to_generate_predictions) == 2
    assert settings.link_type == "dedupe_only"


def test_household_levels_only_when_their_u_is_given():
    def labels(**kw):
        return [
            lvl["label_for_charts"]
            for c in S.comparisons(PLACE, **kw)
            for lvl in c.get_comparison("duckdb").as_dict()["comparison_levels"]
        ]

    assert not set(S.HOUSEHOLD_LABELS) & set(labels())
    both = labels(household_u=0.4, household_dob_u=0.02)
    assert set(S.HOUSEHOLD_LABELS) <= set(both)
    # each sits just above its comparison's exact level
    assert both[both.index(S.HOUSEHOLD_LABEL) + 1].startswith("Exact match on family_name")
    assert both[both.index(S.HOUSEHOLD_DOB_LABEL) + 1] == "Exact match on dob"
