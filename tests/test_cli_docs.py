"""Every command explains itself with an example and is documented in the README."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from totalplace.cli import main

COMMANDS = main.list_commands(None)


def test_top_level_help_has_an_example():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "totalplace run" in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_with_an_example(name):
    cmd = main.get_command(None, name)
    assert (cmd.help or "").strip(), f"{name} has no help text"
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"totalplace {name}" in result.output  # the example runs this very command


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_documented_in_the_readme(name, repo_root):
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    assert f"totalplace {name}" in readme, f"README.md does not mention `totalplace {name}`"
