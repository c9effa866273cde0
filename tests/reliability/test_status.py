"""Fresh or stale from lineage and input hashes; `totalplace run` skips what is up to date."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import totalplace.place
from totalplace.cli import main
from totalplace.place import Place
from totalplace.status import is_fresh, stage_status


def _fake_link(place: Place) -> None:
    """A stand-in for the link stage (minitown does not link yet): reads source_people."""
    store = place.store
    with store.stage_run("link"):
        n = store.engine.scalar('SELECT count(*) FROM "source_people"')
        store.publish({"persons": f"SELECT range AS person FROM range({n})"})


def _states(place: Place) -> dict[str, tuple[str, list[str]]]:
    return {s.stage: (s.state, s.reasons) for s in stage_status(place, ["ingest", "link"])}


def test_a_changed_extract_makes_ingest_and_everything_after_it_stale(minitown):
    with Place.open(minitown) as place:
        assert _states(place)["ingest"] == ("not run", [])
        place.ingest.run()
        _fake_link(place)
        assert _states(place) == {"ingest": ("fresh", []), "link": ("fresh", [])}
        st = is_fresh(place, "link")
        assert st.tables == {"persons": 62}
        assert st.current_run["reads"] == {
            "source_people": place.store.published()["source_people"]["run_id"]
        }

    extract = minitown / "acute" / "patients.csv"
    extract.write_bytes(extract.read_bytes() + b"\n")
    with Place.open(minitown) as place:
        assert _states(place) == {
            "ingest": ("stale", ["acute/patients.csv changed since it ran"]),
            "link": ("stale", ["ingest is stale"]),
        }
        place.ingest.run()
        assert _states(place) == {
            "ingest": ("fresh", []),
            "link": ("stale", ["source_people was republished by ingest since it ran"]),
        }
        _fake_link(place)
        assert _states(place) == {"ingest": ("fresh", []), "link": ("fresh", [])}


def test_a_changed_setting_makes_only_its_stage_stale(minitown):
    with Place.open(minitown) as place:
        place.ingest.run()
        _fake_link(place)
    manifest = minitown / "place.yaml"
    manifest.write_text(manifest.read_text() + "\nlinkage: {threshold: 0.95}\n")
    with Place.open(minitown) as place:
        assert _states(place) == {
            "ingest": ("fresh", []),
            "link": ("stale", ["place.yaml (linkage) changed since it ran"]),
        }


def test_an_archived_extract_is_noted_not_stale(minitown):
    with Place.open(minitown) as place:
        place.ingest.run()
    (minitown / "council" / "spend.csv").unlink()
    with Place.open(minitown, read_only=True) as place:
        (st,) = stage_status(place, ["ingest"])
        assert st.state == "fresh"
        assert st.notes == ["council/spend.csv is no longer there (not checked)"]


@pytest.fixture
def only_ingest(monkeypatch):
    monkeypatch.setattr(totalplace.place, "available_stages", lambda: ["ingest"])


def test_run_skips_an_up_to_date_stage_and_force_redoes_it(minitown, only_ingest):
    runner = CliRunner()
    first = runner.invoke(main, ["run", str(minitown)])
    assert first.exit_code == 0, first.output
    assert "1 stages run, 0 skipped" in first.output
    again = runner.invoke(main, ["run", str(minitown)])
    assert again.exit_code == 0, again.output
    assert "0 stages run, 1 skipped" in again.output
    assert "Skipped (up to date): ingest. Use --force to run them again." in again.output
    forced = runner.invoke(main, ["run", str(minitown), "--force"])
    assert forced.exit_code == 0 and "1 stages run, 0 skipped" in forced.output
    with Place.open(minitown, read_only=True) as place:
        assert [r["outcome"] for r in place.store.runs("ingest")] == ["ok", "ok"]


def test_status_command_shows_stages_outcomes_freshness_and_rows(minitown):
    runner = CliRunner()
    with Place.open(minitown) as place:
        place.ingest.run()
    out = runner.invoke(main, ["status", str(minitown)], terminal_width=200)
    assert out.exit_code == 0, out.output
    ingest_line = next(ln for ln in out.output.splitlines() if "│ ingest" in ln)
    assert "│ ok " in ingest_line and "fresh" in ingest_line and "source_people 62" in ingest_line
    assert "not run" in next(ln for ln in out.output.splitlines() if "│ link" in ln)


def test_status_of_a_place_never_run_says_so(minitown):
    out = CliRunner().invoke(main, ["status", str(minitown)])
    assert out.exit_code == 1
    assert "no place store here yet" in out.output
