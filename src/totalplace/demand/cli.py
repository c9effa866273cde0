"""``totalplace demand ...``: the demand analyst's workflow as commands."""

from __future__ import annotations

from pathlib import Path

import click

from totalplace.cli import PLACE_DIR, _open, _print_result, console, friendly_errors


@click.group(name="demand")
def demand() -> None:
    """Value and failure demand: classify contacts, repeat demand, end-to-end time.

    Example:

    \b
        totalplace demand run /tmp/anytown
    """


@demand.command(name="run")
@PLACE_DIR
@friendly_errors
def run_cmd(place_dir: Path) -> None:
    """Run the demand stage of a place (classify contacts, chains, weekly charts).

    Example:

    \b
        totalplace demand run /tmp/anytown
    """
    with _open(place_dir, "demand") as place:
        _print_result(place.demand.run())


@demand.command()
@PLACE_DIR
@click.option("--n", "n", type=int, default=300, show_default=True, help="contacts to sample")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="CSV to write")
@friendly_errors
def sample(place_dir: Path, n: int, seed: int, out: Path) -> None:
    """Write a stratified sample of a place's contacts (by service and channel) for staff
    to label by hand: fill in demand_type (value or failure) and category.

    Example:

    \b
        totalplace demand sample /tmp/anytown --n 300 --out sample.csv
    """
    from totalplace.demand.stage import write_sample

    with _open(place_dir, "demand") as place:
        rows = write_sample(place, n, out, seed=seed)
    console.print(f"Wrote {rows:,} contacts to {out}")


@demand.command()
@click.argument("labels", type=click.Path(path_type=Path))
@click.option("--text-col", required=True, help="column with the contact's text")
@click.option("--label-col", required=True, help="column with 'value' or 'failure'")
@click.option("--category-col", default=None, help="column with the category (optional)")
@click.option("--rules", type=click.Path(path_type=Path), default=None, help="rules YAML")
@click.option("--folds", type=int, default=5, show_default=True, help="cross-validation folds")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="model folder")
@friendly_errors
def train(labels, text_col, label_col, category_col, rules, folds, out) -> None:
    """Train a demand classifier on any labelled CSV and save it to a folder.

    Reports cross-validated accuracy and macro-F1 of the model, the rules and the two
    combined (and of a plain TF-IDF + logistic regression baseline); the best of model and
    combined becomes the model's default method.

    Example:

    \b
        totalplace demand train labelled.csv --text-col Reason --label-col demand_type \\
          --category-col category --out model/
    """
    from totalplace.demand.files import train_file
    from totalplace.demand.rules import load_rules

    m = train_file(labels, text_col, label_col, category_col, out, load_rules(rules), folds)
    mt = m.metrics
    console.print(f"Trained on {mt['n']:,} labelled contacts ({mt['folds']}-fold cross-validation)")
    for name in ("combined", "model", "rules", "baseline"):
        s = mt[name]
        extra = (
            f", category accuracy {s['category_accuracy']:.3f}" if "category_accuracy" in s else ""
        )
        console.print(
            f"  {name:9s} accuracy {s['accuracy']:.3f}, macro-F1 {s['macro_f1']:.3f}{extra}"
        )
    console.print(f"Default method: {m.method}; saved to {out}")


@demand.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--text-col", required=True, help="column with the contact's text")
@click.option("--model", "model_dir", type=click.Path(path_type=Path), default=None)
@click.option("--rules", type=click.Path(path_type=Path), default=None, help="rules YAML")
@click.option(
    "--method",
    type=click.Choice(["combined", "model", "rules"]),
    default=None,
    help="default: the method the model measured best with",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="CSV or Parquet")
@friendly_errors
def classify(file, text_col, model_dir, rules, method, out) -> None:
    """Classify a CSV or Parquet file of texts as value or failure demand.

    OUT has the input's columns plus demand_type, category, confidence and method. Without
    --model the built-in rules and default model are used.

    Example:

    \b
        totalplace demand classify contacts.csv --text-col Reason --model model/ --out out.csv
    """
    from totalplace.demand.files import classify_file
    from totalplace.demand.rules import load_rules

    t = classify_file(file, text_col, out, model_dir, load_rules(rules) if rules else None, method)
    fail = sum(1 for x in t["demand_type"].to_pylist() if x == "failure")
    console.print(
        f"Classified {t.num_rows:,} texts: {fail:,} failure demand "
        f"({fail / max(t.num_rows, 1):.0%}); wrote {out}"
    )
