"""``totalplace money``: run the money stage on a place, or total a council's payment files."""

from __future__ import annotations

from pathlib import Path

import click

from totalplace.cli import PLACE_DIR, _open, _print_result, friendly_errors


@click.group(name="money")
def money():
    """Count all public money in a place, or check a council's payment files.

    Example:

    \b
        totalplace money run anytown
        totalplace money payments spend-over-500.csv --out checked/
    """


@money.command(name="run")
@PLACE_DIR
@friendly_errors
def run_cmd(place_dir: Path):
    """Count the place's public money (spend) by funder, agency, theme and service.

    Publishes money_count: cash and real terms (one price year, GDP deflator), per head,
    year-on-year change, front line vs support functions vs buildings.

    Example:

    \b
        totalplace money run anytown
    """
    with _open(place_dir, "money") as place:
        _print_result(place.money.run())
