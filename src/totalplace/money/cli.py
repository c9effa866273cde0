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


@money.command(name="payments")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "mapping",
    default=None,
    help="which columns to read, e.g. 'date=Paid Date,amount=Net,supplier=Name,service=Unit' "
    "(default: worked out from the header)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="folder for totals.csv, duplicates.csv and summary.json",
)
@click.option(
    "--days",
    default=3,
    show_default=True,
    type=click.IntRange(0, 366),
    help="payments this many days apart or fewer can be duplicates",
)
@click.option("--top", default=20, show_default=True, type=click.IntRange(1), help="top suppliers")
@friendly_errors
def payments_cmd(files: tuple[Path, ...], mapping: str | None, out: Path, days: int, top: int):
    """Total a council's payment files as published, and find likely duplicate payments.

    Reads CSV or Excel 'spend over £500' files as councils publish them: the encoding and
    delimiter are detected, title lines above the header and a header on the last line are
    found, blank padding columns and rows are skipped, a totals row at the foot is set aside
    (not counted twice), credits written '906.36-' or '(906.36)' are negative, and dates
    lost before publication are flagged, never invented. Every row is loaded or rejected
    with a reason (OUT/rejects.csv).

    Writes OUT/totals.csv (by month, by service, top suppliers), OUT/duplicates.csv (same
    supplier and amount within --days days, with the rule) and OUT/summary.json (rows_read,
    loaded, rejected, total_gbp as an exact string, first and last date).

    Example:

    \b
        totalplace money payments hyndburn_March-25-CSV.csv --out checked/
        totalplace money payments jan.csv feb.csv --map date=Paid,amount=Net --out checked/
    """
    from totalplace.money.payments import check_payments, parse_map

    s = check_payments(list(files), out, parse_map(mapping), days=days, top=top)
    click.echo(
        f"{len(files)} file(s): read {s['rows_read']:,} = loaded {s['loaded']:,} + rejected "
        f"{s['rejected']:,}; total £{s['total_gbp']}; "
        f"{s['first_date'] or 'no dates'} to {s['last_date'] or 'no dates'}"
    )
    if s["dates_lost"]:
        click.echo(f"{s['dates_lost']:,} payments have no date (lost before publication; flagged)")
    click.echo(f"{s['likely_duplicates']:,} likely duplicate pairs ({s['duplicate_rule']})")
    click.echo(f"wrote {out / 'totals.csv'}, {out / 'duplicates.csv'}, {out / 'summary.json'}")
