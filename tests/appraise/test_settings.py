"""appraise: and programmes: in place.yaml: every problem at once, each with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.appraise.test_model import intervention
from totalplace.appraise.settings import load_settings
from totalplace.errors import ManifestError

PROGRAMME = {
    "name": "hiu",
    "participants": {"agency": "substance", "activity": "Enrolled: High Intensity Use programme"},
    "eligibility": {
        "outcome": "ae_attendances",
        "at_least": 2,
        "look_back": {"start": "2023-04-01", "end": "2023-09-30"},
    },
    "outcomes": [{"name": "ae_attendances", "agency": "acute", "activity": "A&E attendance"}],
}


def problems(appraise, programmes=(), root=Path(".")):
    with pytest.raises(ManifestError) as e:
        load_settings(appraise, list(programmes), root, "place.yaml")
    return e.value.problems


def test_valid_settings_load():
    s, progs = load_settings(
        {"interventions": [intervention()]}, [PROGRAMME], Path("."), "place.yaml"
    )
    assert s.interventions[0].name == "navigators"
    assert progs[0].outcomes[0].activities == ["A&E attendance"]


def test_every_problem_at_once_with_its_key_path():
    bad = intervention(participants_per_year=-1, take_up={"value": 0.5, "low": 0.7})
    bad["effects"][0]["change"] = None
    bad["costs"][0]["kind"] = "capex"
    bad2 = intervention()
    bad2["effects"][0]["unit_cost_gbp"] = None
    bad2["effects"][0]["unit_cost"] = "no_such_cost"
    bad2["costs"][0]["price_year"] = "1066/67"
    prog = dict(PROGRAMME, eligibility=dict(PROGRAMME["eligibility"], outcome="arrests"))
    got = problems({"interventions": [bad, bad2], "horizon_years": 0}, [prog])
    text = "\n".join(got)
    assert "appraise.horizon_years: Input should be greater than or equal to 1" in text
    assert "appraise.interventions[0].participants_per_year" in text
    assert "appraise.interventions[0].costs[0].kind" in text and "'capex'" in text
    assert "appraise.interventions[0].take_up: expected low <= value <= high" in text
    assert "appraise.interventions[0].effects[0]: give exactly one of change" in text
    assert "programmes[0]: eligibility.outcome must be one of the outcomes" in text


def test_references_are_checked_with_what_was_expected():
    bad = intervention()
    bad["effects"][0].pop("unit_cost_gbp")
    bad["effects"][0]["unit_cost"] = "no_such_cost"
    bad["costs"][0]["price_year"] = "1066/67"
    bad["costs"][0]["confidence"] = 9
    bad["effects"][0].pop("change")
    bad["effects"][0]["from_programme"] = {"programme": "hiu", "outcome": "arrests"}
    got = "\n".join(problems({"interventions": [bad, intervention()]}, [PROGRAMME]))
    assert "interventions[0].effects[0].unit_cost: no 'no_such_cost' in unit_costs.csv" in got
    assert "ae_not_admitted" in got  # says what it expected
    assert "interventions[0].costs[0].price_year: no GDP deflator for '1066/67'" in got
    assert "interventions[0].costs[0].confidence: grade must be one of [1, 2, 3, 4, 5, 6]" in got
    assert "from_programme: no programme outcome hiu/arrests" in got
    assert "found hiu/ae_attendances" in got
    assert "interventions[1].name: duplicate 'navigators'" in got


def test_interventions_can_live_in_their_own_file(tmp_path):
    import yaml

    (tmp_path / "cases.yaml").write_text(
        yaml.safe_dump({"interventions": [intervention()]}), encoding="utf-8"
    )
    s, _ = load_settings({"interventions_file": "cases.yaml"}, [], tmp_path, "place.yaml")
    assert [i.name for i in s.interventions] == ["navigators"]
