"""The appraise stage on linked Anytown (20,000 residents, seed 11): tables, workbook, section."""

from __future__ import annotations

import pytest

from totalplace.disclosure import Disclosure
from totalplace.place import Place

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def appraised(anytown_linked, tmp_path_factory):
    import shutil

    dst = tmp_path_factory.mktemp("appraised") / "anytown"
    shutil.copytree(anytown_linked, dst)
    with Place.open(dst) as place:
        result = place.appraise.run(draws=2_000)
    return dst, result


def test_publishes_every_table(appraised):
    root, result = appraised
    assert set(result.tables) == {
        "programme_effects",
        "appraisals",
        "appraisal_by_agency",
        "appraisal_flows",
        "appraisal_tornado",
    }
    with Place.open(root) as place:
        pe = place.store.table("programme_effects").to_pylist()
        ap = place.store.table("appraisals").to_pylist()
        last = place.store.last_run("appraise")
    assert {r["outcome"] for r in pe} == {
        "ae_attendances",
        "emergency_admissions",
        "police_incidents",
    }
    ae = next(r for r in pe if r["outcome"] == "ae_attendances")
    truth = root / "truth" / "programme.parquet"
    import duckdb

    joined = duckdb.connect().execute(f"SELECT count(*) FROM '{truth}' WHERE joined").fetchone()[0]
    assert 0.8 * joined <= ae["participants"] <= joined
    assert ae["ci_low"] < ae["effect"] < ae["ci_high"]
    assert ae["naive_change"] < ae["effect"]  # regression to the mean, visible
    interventions = {r["intervention"] for r in ap}
    assert interventions == {"hiu_service", "tenancy_sustainment"}
    for r in ap:
        if r["measure"] not in ("payback_years", "prob_npv_positive") and r["p10"] == r["p10"]:
            assert r["p10"] <= r["p50"] <= r["p90"], r
    assert last["rows"]["appraisals"]["out"] == len(ap)
    assert last["detail"]["programmes"]["hiu"]["participants_matched"] == ae["participants"]


def test_the_business_case_uses_the_programme_estimate(appraised):
    root, _ = appraised
    with Place.open(root) as place:
        flows = place.store.table("appraisal_flows").to_pylist()
        pe = {r["outcome"]: r for r in place.store.table("programme_effects").to_pylist()}
        by = place.store.table("appraisal_by_agency").to_pylist()
    hiu0 = next(r for r in flows if r["intervention"] == "hiu_service" and r["year"] == 0)
    # Year 0: 300 x 0.6 ramp x 0.8 take-up = 144 participants, 1.5-year persistence -> one
    # participant-year each; A&E: 4 x -effect x (1 - grade-2 uplift 5%).
    assert hiu0["participants"] == pytest.approx(144)
    ae = 144 * 4 * -pe["ae_attendances"]["effect"] * 0.95
    adm = 144 * 1.5 * -pe["emergency_admissions"]["effect"] * 0.95
    assert hiu0["outcomes_avoided"] == pytest.approx(ae + adm)
    agencies = {(r["intervention"], r["agency"]) for r in by}
    assert ("hiu_service", "public_health") in agencies  # pays, gains nothing: wrong pocket
    ph = next(r for r in by if r["agency"] == "public_health")
    assert ph["gains_gbp"] == 0 and ph["pays_gbp"] > 0


def test_workbook_has_the_spreadsheet_layout(appraised):
    from openpyxl import load_workbook

    root, _ = appraised
    wb = load_workbook(root / "appraisal.xlsx", read_only=True)
    assert wb.sheetnames == [
        "Inputs",
        "Yearly flows",
        "Results",
        "By agency",
        "Programme effects",
        "Tornado",
    ]
    results = list(wb["Results"].values)
    assert results[0][:3] == ("intervention", "measure", "central")
    assert len(results) == 1 + 2 * 13
    inputs = [r[4] for r in wb["Inputs"].values if r[0] == "discount"]
    assert all("Green Book" in s for s in inputs)


def test_section_shows_effect_naive_ranking_and_matrix(appraised):
    from totalplace.appraise import section

    root, _ = appraised
    with Place.open(root) as place:
        s = section(place, Disclosure())
    assert s.has_run and s.run_id
    text = " ".join(s.headlines)
    assert "against a matched comparison group" in text and "before/after" in text
    assert "highest net present social value" in text
    assert "cashable" in text and "percentage points more" in text
    titles = [t.title for t in s.tables]
    assert "Who pays and who gains (present values, central estimate)" in titles
    assert len(s.figures) >= 3
    counts = s.tables[0].rows[0][2]
    assert counts == "*" or int(counts.replace(",", "")) % 5 == 0  # disclosure-rounded


def test_section_not_run(linked_place):
    from totalplace.appraise import section

    with Place.open(linked_place) as place:
        assert section(place, Disclosure()).status == "not run"


def test_bad_settings_name_every_problem(linked_place):
    import yaml

    from totalplace.errors import ManifestError

    p = linked_place / "place.yaml"
    m = yaml.safe_load(p.read_text())
    m["appraise"]["interventions"][0]["participants_per_year"] = 0
    m["programmes"][0]["outcomes"][0]["agency"] = None
    p.write_text(yaml.safe_dump(m, sort_keys=False))
    with Place.open(linked_place) as place, pytest.raises(ManifestError) as e:
        place.appraise.run()
    text = str(e.value)
    assert "appraise.interventions[0].participants_per_year" in text
    assert "programmes[0].outcomes[0].agency" in text


def test_section_passes_the_report_disclosure_check(appraised):
    from totalplace.appraise import section
    from totalplace.report.check import check_figure, check_rows

    root, _ = appraised
    with Place.open(root) as place:
        s = section(place, Disclosure())
    problems = [p for t in s.tables for p in check_rows(t.columns, t.rows, t.title)]
    problems += [p for f in s.figures for p in check_figure(f.figure.to_plotly_json(), f.title)]
    assert problems == []
