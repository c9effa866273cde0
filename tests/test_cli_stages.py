"""Stages and commands that are not built yet say so plainly and exit non-zero; nothing fake is printed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from totalplace.cli import LAZY_COMMANDS, main
from totalplace.errors import StageNotAvailable
from totalplace.place import STAGES, available_stages


def test_every_registered_stage_is_available():
    assert available_stages() == [s.name for s in STAGES]


def test_a_stage_whose_package_is_missing_says_so_and_fails(monkeypatch, tmp_path):
    import totalplace.place as place_mod

    fake = place_mod.StageInfo("estate", "totalplace.estate_not_built", "Estate", "shared estate")
    monkeypatch.setattr(place_mod, "STAGES", (*place_mod.STAGES, fake))
    with pytest.raises(StageNotAvailable, match="the 'estate' stage is not available yet"):
        place_mod.stage_class("estate")
    assert "estate" not in place_mod.available_stages()


def test_a_command_whose_package_is_missing_says_so(monkeypatch, tmp_path):
    monkeypatch.setitem(LAZY_COMMANDS, "estate", ("totalplace.estate_not_built.cli", "estate"))
    result = CliRunner().invoke(main, ["estate", str(tmp_path)])
    assert result.exit_code != 0
    assert "the 'estate' stage is not available yet" in result.output
    assert "Traceback" not in result.output


def test_missing_place_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["run", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "file not found (expected a place.yaml here)" in result.output
    assert "Traceback" not in result.output


def test_importing_the_package_pulls_in_no_heavy_dependency():
    code = (
        "import sys, totalplace, totalplace.cli; "
        "heavy = [m for m in ('pyspark', 'splink', 'plotly', 'pandas') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
