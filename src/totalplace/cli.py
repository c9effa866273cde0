"""The ``totalplace`` command: one thin sub-command per stage, over the Python API."""

from __future__ import annotations

import atexit
import functools
import gc
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from totalplace.errors import StageNotAvailable, TotalplaceError

console = Console(stderr=False, highlight=False)
REPO_ROOT = Path(__file__).resolve().parents[2]


# Python's cyclic garbage collector walks every live object on each full pass. Importing
# Splink, sqlglot, pyarrow and pandas makes several hundred thousand objects, so passes run
# again and again while they load, and once more when the process exits. In the
# ``totalplace`` process (``console_main``) the collector is off while a command's modules
# load, the objects they made are then frozen (never walked again), and it is off at exit,
# when the process's memory is returned whole. About 0.5 s of a short link-files run.
_CONSOLE = {"on": False}


def console_main() -> None:
    """The ``totalplace`` command (the entry point in pyproject's ``[project.scripts]``)."""
    _CONSOLE["on"] = True
    atexit.register(gc.disable)
    main()


@contextmanager
def imports_without_gc():
    """Load a command's modules with the collector off (in the ``totalplace`` process only:
    a program that imports this module keeps its own collector settings)."""
    if not (_CONSOLE["on"] and gc.isenabled()):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


DEBUG_ENV = "TOTALPLACE_DEBUG"
_debug = {"on": False}


def debugging() -> bool:
    """Whether to show tracebacks: ``totalplace --debug`` or TOTALPLACE_DEBUG=1."""
    return _debug["on"] or os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes")


def _stop(message: str, code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(code)


def friendly_errors(fn):
    """Turn the library's errors, and the machine's (a full disk, a lock held, Ctrl-C...), into
    one line saying what happened, what is intact and what to do, with a non-zero exit and no
    traceback. ``totalplace --debug`` (or TOTALPLACE_DEBUG=1) shows the traceback instead."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from totalplace.failures import explain
        from totalplace.lifecycle import Terminated

        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt as e:
            if debugging():
                raise
            how, code = (
                ("stopped (SIGTERM)", 143)
                if isinstance(e, Terminated)
                else ("interrupted (Ctrl-C)", 130)
            )
            _stop(
                f"{how}; the store keeps its last published tables (this run's partial work "
                "was discarded). Run the command again to finish",
                code,
            )
        except Exception as e:
            if debugging():
                raise
            plain = explain(e)
            if plain is not None:
                raise click.ClickException(plain.line) from None
            if isinstance(e, TotalplaceError):
                raise click.ClickException(str(e)) from None
            if isinstance(e, FileNotFoundError):
                raise click.ClickException(f"{e.filename}: file not found") from None
            raise

    return wrapper


PLACE_DIR = click.argument(
    "place_dir", type=click.Path(file_okay=True, dir_okay=True, path_type=Path)
)


def _open(place_dir: Path, stage: str | None = None, engine: str = "duckdb"):
    """Open a place; with ``stage``, first say plainly if that stage is not available yet."""
    from totalplace.place import Place, stage_class

    if stage:
        stage_class(stage)
    return Place.open(place_dir, engine=engine)


def _print_result(result) -> None:
    for line in result.summary:
        console.print(line)


# Commands that live in a stage's own package (its "any file" commands beside `run`), loaded
# only when asked for so that `totalplace --help` stays fast and imports nothing heavy.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "demand": ("totalplace.demand.cli", "demand"),
    "people": ("totalplace.people.cli", "people"),
    "journeys": ("totalplace.journeys.cli", "journeys"),
    "money": ("totalplace.money.cli", "money"),
    "serve": ("totalplace.app.cli", "serve"),
    "users": ("totalplace.app.cli", "users"),
}


def _unavailable(name: str) -> click.Command:
    """Stands in for a command whose package this version does not have yet."""

    @click.command(
        name=name,
        help=f"Not available yet in this version of totalplace.\n\n    Example:\n\n"
        f"    \b\n        totalplace {name} --help",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cmd(args):
        raise click.ClickException(str(StageNotAvailable(name)))

    return cmd


class LazyGroup(click.Group):
    """A click group whose LAZY_COMMANDS are imported on first use."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS and name not in self.commands:
            import importlib

            module, attr = LAZY_COMMANDS[name]
            try:
                mod = importlib.import_module(module)
            except ModuleNotFoundError as e:
                if e.name and module.startswith(e.name):
                    return _unavailable(name)
                raise
            return getattr(mod, attr, None) or _unavailable(name)
        return super().get_command(ctx, name)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="totalplace", prog_name="totalplace")
@click.option(
    "--debug",
    is_flag=True,
    envvar=DEBUG_ENV,
    help="show the full traceback when something fails (or set TOTALPLACE_DEBUG=1)",
)
def main(debug: bool):
    """totalplace: see a place whole.

    Link the records that councils, the NHS, the police, housing and others hold about
    the same residents; understand demand (and how much of it is failure demand), the
    people and families behind it, their journeys between services and all the public
    money spent on them; and build the case for prevention.

    A place is a folder with a place.yaml describing each agency's extracts. Stages run
    in order: ingest -> link -> analyse -> appraise -> report.

    Example, from nothing to a report:

    \b
        totalplace synth --residents 20000 --seed 1 --out anytown
        totalplace run anytown
    """
    _debug["on"] = debug
    if not debug:
        import warnings

        # A warning is one line too: what happened and that nothing was lost.
        warnings.formatwarning = lambda message, category, *_a, **_k: f"Warning: {message}\n"


@main.command()
@click.option(
    "--residents",
    type=click.IntRange(min=100),
    default=20_000,
    show_default=True,
    help="number of residents to create",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="random seed (same seed, same bytes)"
)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="folder to write the place into"
)
@click.option("--force", is_flag=True, help="overwrite a non-empty --out folder")
@friendly_errors
def synth(residents: int, seed: int, out: Path, force: bool):
    """Create Anytown, a synthetic place with its ground truth.

    Writes every agency's extracts, a place.yaml that maps them, and OUT/truth/ with the
    true identities, demand types, needs, transitions and programme effects.

    Example:

    \b
        totalplace synth --residents 20000 --seed 1 --out /tmp/anytown
    """
    try:
        from totalplace.synth import generate
    except ImportError:
        raise StageNotAvailable("synth") from None
    t0 = time.perf_counter()
    with console.status(f"Creating Anytown with {residents:,} residents..."):
        summary = generate(residents=residents, seed=seed, out=out, force=force)
    console.print(f"Created {out} in {time.perf_counter() - t0:.1f}s")
    for line in getattr(summary, "lines", []) or []:
        console.print(line)


@main.command()
@PLACE_DIR
@friendly_errors
def ingest(place_dir: Path):
    """Read the agencies' extracts into the place store, losing nothing.

    Every row is either loaded into source_people, events or spend, or rejected into the
    rejects table with the file, row number, the raw row and a reason. A file that cannot
    be read at all stops ingest with an error that names it, and nothing is written.

    Example:

    \b
        totalplace ingest examples/minitown
    """
    with _open(place_dir, "ingest") as place:
        with console.status("ingest: starting") as status:
            result = place.ingest.run(progress=lambda msg: status.update(f"ingest: {msg}"))
        _print_result(result)


ENGINE_OPTION = click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Splink backend: DuckDB on this machine, or Spark (local mode) for big places",
)
MEMORY_OPTION = click.option(
    "--memory",
    default=None,
    help="memory for linkage, e.g. 8GB (DuckDB limit; Spark driver memory); "
    "default: TOTALPLACE_LINK_MEMORY or 8GB",
)
MIN_PRECISION_OPTION = click.option(
    "--min-precision",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="choose the lowest threshold whose expected pairwise precision reaches this "
    "(default: linkage.min_precision if set, else the threshold with the highest expected "
    "F1 of the clustered pairs)",
)


@main.command()
@PLACE_DIR
@click.option(
    "--reviews",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of clerically reviewed pairs (as in link/review_pairs.csv, with a decision "
    "column); decisions override the model",
)
@ENGINE_OPTION
@MEMORY_OPTION
@MIN_PRECISION_OPTION
@friendly_errors
def link(
    place_dir: Path,
    reviews: Path | None,
    engine: str,
    memory: str | None,
    min_precision: float | None,
):
    """Link every agency's person records into people and households (Splink).

    Reads source_people; publishes linkage_pairs, person_links, persons, link_flags,
    households and household_members; writes PLACE/link/model.json (the trained model) and
    PLACE/link/review_pairs.csv (uncertain pairs for clerical review). Settings:
    the linkage: section of place.yaml (see docs/link.md).

    Example:

    \b
        totalplace link /tmp/anytown --reviews reviewed_pairs.csv
    """
    with _open(place_dir, "link") as place:
        with console.status("link: starting") as status:
            result = place.link.run(
                reviews=reviews,
                engine=engine,
                memory=memory,
                min_precision=min_precision,
                progress=lambda step: status.update(f"link: {step}"),
            )
        _print_result(result)


@main.command(name="link-files", context_settings={"ignore_unknown_options": False})
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--id-col",
    "id_cols",
    multiple=True,
    required=True,
    help="(required) the column identifying each row; once for all files or once per file",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    required=True,
    help="(required) name=COLUMN pairs, comma separated, once for all files or once per "
    "file. Names: given_name, middle_names, family_name, dob, postcode, address, "
    "nhs_number, sex, email, phone, uprn; any other lower-case name (e.g. "
    "birth_place=POB) is compared as free text. Map at least one of dob, postcode, "
    "address, nhs_number, email, phone, uprn besides names",
)
@click.option(
    "--dob-format",
    "dob_formats",
    multiple=True,
    help="strptime format of dob, e.g. %d/%m/%Y (default: detected per file)",
)
@ENGINE_OPTION
@MEMORY_OPTION
@MIN_PRECISION_OPTION
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="folder for clusters.csv, summary.json, model.json and rejects.csv",
)
@friendly_errors
def link_files(files, id_cols, maps, dob_formats, engine, memory, min_precision, out):
    """Link lists of people without a place: one or more CSV/Parquet files.

    Duplicates within one file are found too. Writes, only when the run succeeds:
    OUT/clusters.csv (file, id, person_id, match_probability: one row per kept row),
    OUT/summary.json (counts, the threshold and how it was chosen, expected precision,
    recall, false and missed links, the curve, estimated blocking recall, timings),
    OUT/model.json (the trained Splink model) and OUT/rejects.csv (rows without a usable
    id, only when there are any).

    Example:

    \b
        totalplace link-files fsm.csv benefits.csv --id-col ID \\
          --map given_name=FORENAME,family_name=SURNAME,dob=DOB,postcode=POSTCODE --out matched
    """
    try:
        with imports_without_gc():
            from totalplace.link.files import link_files as run_link_files
            from totalplace.link.model import LinkageOptions
    except ImportError:
        raise StageNotAvailable("link-files") from None
    with console.status("link-files: reading") as status:
        summary = run_link_files(
            list(files),
            id_cols=list(id_cols),
            maps=list(maps),
            dob_formats=list(dob_formats),
            engine=engine,
            out=out,
            options=LinkageOptions(min_precision=min_precision),  # None: max expected F1
            memory=memory,
            progress=lambda step: status.update(f"link-files: {step}"),
        )
    for line in summary_lines(summary, out):
        console.print(line)


def summary_lines(s: dict, out: Path) -> list[str]:
    """A few lines a person can read from link-files' summary.json."""
    lines = [
        f"Read {s['rows_read']:,} rows from {len(s['files'])} file(s): {s['records']:,} linked"
        + (f", {s['rejected']:,} rejected (see {out / 'rejects.csv'})" if s["rejected"] else "")
        + ".",
        f"{s['clusters']:,} people; {s['clusters_with_several_records']:,} of them have "
        f"more than one record.",
        f"Threshold p >= {s['threshold']:.4g} ({s['threshold_method']}): expected precision "
        f"{s['estimated_precision']:.3f}, recall {s['estimated_recall']:.3f} (about "
        f"{s['expected_false_links']:,.0f} false and {s['expected_missed_links']:,.0f} missed "
        "links among the pairs compared).",
    ]
    if s.get("estimated_blocking_recall") is not None:
        lines.append(
            f"{s['pairs_compared']:,} pairs compared; blocking is estimated to reach at most "
            f"{s['estimated_blocking_recall']:.1%} of true pairs."
        )
    if s.get("m_source") and s["m_source"] != "EM":
        lines.append(f"Note: {s['m_source']}.")
    lines.append(f"Written to {out}: clusters.csv, summary.json, model.json ({s['seconds']} s).")
    return lines


def _stage_command(stage: str, doc: str) -> click.Command:
    """A command that runs one stage of a place (``totalplace appraise PLACE``)."""

    def cmd(place_dir: Path):
        with _open(place_dir, stage) as place:
            _print_result(place.stage(stage).run())

    return main.command(name=stage, help=doc)(PLACE_DIR(friendly_errors(cmd)))


_stage_command(
    "appraise",
    "Prevention business cases with benefits split by agency.\n\n    Example:\n\n"
    "    \b\n        totalplace appraise /tmp/anytown",
)
_stage_command(
    "report",
    "Write the HTML report (disclosure-controlled).\n\n    Example:\n\n"
    "    \b\n        totalplace report /tmp/anytown",
)


@main.command()
@PLACE_DIR
@friendly_errors
def analyse(place_dir: Path):
    """Run the analysis stages in order: demand, people, journeys and money.

    Each reads the linked tables and publishes its own; a stage this version does not
    provide yet is named and skipped.

    Example:

    \b
        totalplace analyse /tmp/anytown
    """
    from totalplace.place import ANALYSIS_STAGES, available_stages

    have = [s for s in ANALYSIS_STAGES if s in available_stages()]
    if not have:
        raise StageNotAvailable("analyse")
    with _open(place_dir) as place:
        for name in have:
            console.print(f"[bold]{name}[/bold]")
            _print_result(place.stage(name).run())
    missing = [s for s in ANALYSIS_STAGES if s not in have]
    if missing:
        console.print(f"Not available yet in this version: {', '.join(missing)}")


@main.command()
@PLACE_DIR
@click.option("--force", is_flag=True, help="run every stage, even those that are up to date")
@friendly_errors
def run(place_dir: Path, force: bool = False):
    """Run every available stage in order, then print a one-screen summary.

    A stage whose inputs and the tables it reads have not changed since its last run is
    up to date and skipped (see `totalplace status`); --force runs it again.

    Example:

    \b
        totalplace run examples/minitown
    """
    from totalplace.place import STAGES, StageResult, available_stages
    from totalplace.status import is_fresh

    stages = available_stages()
    results = []
    skipped = []
    with _open(place_dir) as place:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} stages"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("running", total=len(stages))
            for name in stages:
                t0 = time.perf_counter()
                st = None if force else is_fresh(place, name)
                if st is not None and st.state == "fresh":
                    when = _when(st.current_run)
                    result = StageResult(
                        stage=name,
                        tables=st.tables,
                        summary=[f"up to date (last run {when}); skipped"],
                        headline=f"skipped: up to date (last run {when})",
                        skipped=True,
                    )
                    skipped.append(name)
                else:
                    progress.update(
                        task,
                        description=f"{name}: {next(s.help for s in STAGES if s.name == name)}",
                    )
                    result = place.stage(name).run()
                results.append((name, result, time.perf_counter() - t0))
                progress.advance(task)
        ran = len(results) - len(skipped)
        table = Table(title=f"{place.manifest.name}: {ran} stages run, {len(skipped)} skipped")
        table.add_column("stage")
        table.add_column("seconds", justify="right")
        table.add_column("tables published (rows)")
        table.add_column("summary")
        for name, result, secs in results:
            tables = "\n".join(f"{t} {n:,}" for t, n in result.tables.items())
            shown = "-" if result.skipped else f"{secs:.1f}"
            table.add_row(name, shown, tables, result.one_line)
        console.print(table)
        if skipped:
            console.print(
                f"Skipped (up to date): {', '.join(skipped)}. Use --force to run them again."
            )
        missing = [s.name for s in STAGES if s.name not in stages]
        if missing:
            console.print(f"Not available yet in this version: {', '.join(missing)}")
        console.print(f"Store: {place.manifest.store_path}")


def _when(run: dict | None) -> str:
    at = (run or {}).get("finished_at") or (run or {}).get("started_at")
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "never"


@main.command()
@PLACE_DIR
@friendly_errors
def status(place_dir: Path):
    """Show each stage: when it last ran, how that ended, fresh or stale, its tables' rows.

    Opens the store read-only, so it can run beside other readers. A stage is stale when
    an input file or its place.yaml settings changed since it ran, or a table it read was
    published again since (with the reasons).

    Example:

    \b
        totalplace status examples/minitown
    """
    from totalplace.place import Place
    from totalplace.status import stage_status

    with Place.open(place_dir, read_only=True) as place:
        statuses = stage_status(place)
        table = Table(title=f"{place.manifest.name}: {place.manifest.store_path}")
        table.add_column("stage")
        table.add_column("last run (UTC)")
        table.add_column("outcome")
        table.add_column("state")
        table.add_column("tables (rows)")
        for st in statuses:
            last = st.last_run
            outcome = "-" if last is None else last["outcome"]
            if st.running:
                outcome = f"running now (PID {last['pid']})"
            state = st.state
            if st.reasons:
                state += ": " + "; ".join(st.reasons)
            if st.notes:
                state += " (" + "; ".join(st.notes) + ")"
            tables = "\n".join(f"{t} {n:,}" for t, n in st.tables.items())
            table.add_row(
                st.stage, _when(last)[:-4] if last else "never", outcome[:80], state, tables
            )
        console.print(table)


@main.command()
@click.option("--residents", type=click.IntRange(min=100), default=100_000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("demo/anytown"), show_default=True
)
@click.pass_context
@friendly_errors
def demo(ctx, residents: int, seed: int, out: Path):
    """Build the demo place and run the whole pipeline on it (what `make demo` does).

    Uses the synthetic place generator when it is available, otherwise the small
    hand-made example place in examples/minitown.

    Example:

    \b
        totalplace demo --residents 20000 --out demo/anytown
    """
    try:
        import totalplace.synth  # noqa: F401

        has_synth = hasattr(totalplace.synth, "generate")
    except ImportError:
        has_synth = False
    if has_synth:
        ctx.invoke(synth, residents=residents, seed=seed, out=out, force=True)
    else:
        example = REPO_ROOT / "examples" / "minitown"
        console.print(
            f"The synthetic generator is not available yet; using the example place {example}"
        )
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(example, out)
    ctx.invoke(run, place_dir=out)
    console.print(f"\nOutputs are in {out.resolve()} (store: {out.resolve() / 'place.duckdb'})")
    report = out.resolve() / "report" / "index.html"
    if report.exists():
        console.print(f"The report: {report} (open it in any browser; it needs no network)")
    console.print(
        "Start the web app: add yourself as a user, then serve the place on 127.0.0.1:\n"
        f"  totalplace users add {out} --username admin --role admin\n"
        f"  totalplace serve {out}"
    )


@main.command()
@click.option("--only", multiple=True, help="run only these suites (e.g. synth, link)")
@click.option(
    "--residents", type=int, multiple=True, help="sizes to run (default: each suite's own)"
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("benchmarks/results"), show_default=True
)
@friendly_errors
def bench(only, residents, out):
    """Run the benchmarks; results go to OUT as JSON and a markdown table.

    Example:

    \b
        totalplace bench --only synth --residents 100000
    """
    bench_dir = REPO_ROOT / "benchmarks"
    if not (bench_dir / "__main__.py").exists():
        raise click.ClickException(
            f"no benchmarks found at {bench_dir} (they live in the source tree)"
        )
    args = [sys.executable, "-m", "benchmarks", "--out", str(out)]
    for o in only:
        args += ["--only", o]
    for r in residents:
        args += ["--residents", str(r)]
    raise SystemExit(subprocess.call(args, cwd=REPO_ROOT))


if __name__ == "__main__":  # pragma: no cover
    console_main()
