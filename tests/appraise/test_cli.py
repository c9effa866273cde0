"""`totalplace appraise PLACE` on a place with interventions and no programme (no data needed)."""

from __future__ import annotations

from click.testing import CliRunner

from tests.appraise.test_model import intervention
from totalplace.cli import main
from totalplace.place import Place


def test_appraise_command_publishes_and_writes_the_workbook(make_place, default_manifest):
    iv = intervention(take_up={"value": 0.8, "low": 0.6, "high": 1.0})
    root = make_place(default_manifest([], appraise={"draws": 200, "interventions": [iv]}))
    result = CliRunner().invoke(main, ["appraise", str(root)])
    assert result.exit_code == 0, result.output
    assert "navigators: net present social value" in result.output
    assert (root / "appraisal.xlsx").exists()
    with Place.open(root) as place:
        ap = place.store.table("appraisals").to_pylist()
        assert place.store.table("programme_effects").num_rows == 0
    npv = next(r for r in ap if r["measure"] == "npv")
    assert npv["p10"] <= npv["p50"] <= npv["p90"]


def test_bad_settings_are_one_message_not_a_traceback(make_place, default_manifest):
    iv = intervention(participants_per_year="many")
    root = make_place(default_manifest([], appraise={"interventions": [iv]}))
    result = CliRunner().invoke(main, ["appraise", str(root)])
    assert result.exit_code == 1
    assert "appraise.interventions[0].participants_per_year" in result.output
    assert "Traceback" not in result.output
