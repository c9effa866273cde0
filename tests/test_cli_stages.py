"""Stages that are not built yet say so plainly and exit non-zero; nothing fake is printed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from click.testing import CliRunner

from totalplace.cli import LAZY_COMMANDS, main
from totalplace.place import STAGES, available_stages


@pytest.mark.parametrize("stage", [s.name for s in STAGES if s.name not in available_stages()])
def test_unavailable_stage_says_so_and_fails(stage, tmp_path):
    result = CliRunner().invoke(main, [stage, str(tmp_path)])
    assert result.exit_code != 0
    assert f"the '{stage}' stage is not available yet" in result.output


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        return True


@pytest.mark.parametrize("name", [n for n, (m, _) in LAZY_COMMANDS.items() if _missing(m)])
def test_command_of_a_missing_package_says_so(name, tmp_path):
    result = CliRunner().invoke(main, [name, str(tmp_path)])
    assert result.exit_code != 0
    assert "not available yet" in result.output


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
