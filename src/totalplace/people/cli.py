"""``totalplace people``: run the people stage, and select a cohort from a definition file."""

from __future__ import annotations

from pathlib import Path

import click

from totalplace.cli import PLACE_DIR, _open, _print_result, friendly_errors


@click.group(name="people")
def people():
    """Costs, needs, concentration, cohorts and regression to the mean.

    Example:

    \b
        totalplace people run anytown
    """


@people.command(name="run")
@PLACE_DIR
@friendly_errors
def run(place_dir: Path):
    """Cost every event, find needs, measure concentration and persistence, select cohorts.

    Example:

    \b
        totalplace people run anytown
    """
    with _open(place_dir, "people") as place:
        _print_result(place.people.run())


@people.command(name="cohort")
@PLACE_DIR
@click.argument("definitions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", "name", help="the cohort to select (default: the first in the file)")
@click.option("--index-date", help="YYYY-MM-DD (default: the definition's, else one lookback in)")
@click.option(
    "--compare",
    type=click.Choice(["none", "other_index_date", "matched", "coarsened"]),
    default="none",
    show_default=True,
    help="also build a comparison group",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write members to CSV")
@friendly_errors
def cohort(place_dir: Path, definitions: Path, name, index_date, compare, out):
    """Validate cohort definitions (YAML) against a place and select one cohort's members.

    Every problem in the definitions is reported at once, with its key path. The place's
    people stage must have run.

    Example:

    \b
        totalplace people cohort anytown cohorts.yaml --name frequent_ae --compare matched
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from totalplace.people.cohorts import comparison_group, load_cohorts, select_cohort

    with _open(place_dir, "people") as place:
        place.store.require("event_costs", "person_needs")
        specs = load_cohorts(definitions, place=place)
        spec = specs[0] if name is None else next((s for s in specs if s.name == name), None)
        if spec is None:
            raise click.UsageError(
                f"no cohort named {name!r}; the file has: {', '.join(s.name for s in specs)}"
            )
        members = select_cohort(place, spec, index_date)
        members = members.append_column("grp", pa.array(["cohort"] * members.num_rows))
        click.echo(f"{spec.name}: {members.num_rows:,} people")
        table = members.select(
            ["person_id", "index_date", "grp", "age", "n_needs", "events_before", "cost_before"]
        )
        if compare != "none":
            comp = comparison_group(place, spec, index_date, method=compare, members=members)
            click.echo(f"comparison ({compare}): {comp.num_rows:,} people")
            comp = comp.append_column("grp", pa.array(["comparison"] * comp.num_rows))
            table = pa.concat_tables([table, comp.select(table.column_names)])
        if out:
            pacsv.write_csv(table, out)
            click.echo(f"written to {out}")
