"""Demand on any file: train from a labelled CSV, classify a CSV or Parquet of texts.

These are what ``totalplace demand train`` and ``totalplace demand classify`` call; the place
stage uses the same ``train_model`` / ``TextModel.classify``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from totalplace.demand.model import TextModel, load_model, train_model
from totalplace.demand.rules import Rules, load_rules
from totalplace.errors import InputFileError

OUTPUT_COLUMNS = ("demand_type", "category", "confidence", "method")


def read_table(path: str | Path) -> pa.Table:
    """A CSV (any encoding pyarrow reads as UTF-8) or Parquet file as an Arrow table."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(str(p), "file not found")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return pq.read_table(p)
        opts = pacsv.ConvertOptions(strings_can_be_null=True)
        read = pacsv.ReadOptions(block_size=1 << 24)
        # Every column as text, so ids keep their leading zeros.
        header = pacsv.read_csv(p, read_options=pacsv.ReadOptions(skip_rows_after_names=10**9))
        opts.column_types = {c: pa.string() for c in header.column_names}
        return pacsv.read_csv(p, read_options=read, convert_options=opts)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputFileError(
            str(p), f"cannot read it as {'Parquet' if p.suffix == '.parquet' else 'CSV'} ({e})"
        ) from None


def require_columns(t: pa.Table, path: str | Path, **cols: str | None) -> None:
    """Raise InputFileError naming each missing column and the columns the file has."""
    missing = [
        f"{v!r} (--{k.replace('_', '-')})" for k, v in cols.items() if v and v not in t.column_names
    ]
    if missing:
        raise InputFileError(
            str(path),
            f"no column {', '.join(missing)}; the file has: {', '.join(t.column_names)}",
        )


def write_table(t: pa.Table, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".parquet", ".pq"):
        pq.write_table(t, out)
    else:
        pacsv.write_csv(t, out)
    return out


@cache
def default_model() -> TextModel:
    """The built-in model: trained (in about a second) on the seed sample shipped inside
    the package (``seed_labels.csv``, general council contacts) with the built-in rules."""
    p = resources.files("totalplace.demand").joinpath("seed_labels.csv")
    t = pacsv.read_csv(Path(str(p)))
    return train_model(
        t["text"].to_pylist(), t["demand_type"].to_pylist(), t["category"].to_pylist(), folds=0
    )


def train_file(
    labels_csv: str | Path,
    text_col: str,
    label_col: str,
    category_col: str | None = None,
    out: str | Path | None = None,
    rules: Rules | None = None,
    folds: int = 5,
) -> TextModel:
    """Train on a labelled file; save to ``out`` if given."""
    t = read_table(labels_csv)
    require_columns(
        t, labels_csv, text_col=text_col, label_col=label_col, category_col=category_col
    )
    labels = t[label_col].to_pylist()
    keep = [i for i, v in enumerate(labels) if v not in (None, "")]
    t = t.take(keep)
    if t.num_rows < 20:
        raise InputFileError(
            str(labels_csv), f"needs at least 20 labelled rows to train on; found {t.num_rows}"
        )
    model = train_model(
        t[text_col].to_pylist(),
        t[label_col].to_pylist(),
        t[category_col].to_pylist() if category_col else None,
        rules=rules or load_rules(),
        folds=folds,
    )
    model.meta["trained_on"] = str(labels_csv)
    if out is not None:
        model.save(out)
    return model


def classify_table(
    t: pa.Table, text_col: str, model: TextModel | None = None, method: str | None = None
) -> pa.Table:
    """``t`` plus demand_type, category, confidence and method (replacing any of those)."""
    model = model or default_model()
    r = model.classify(t[text_col].to_pylist(), method)
    for name in OUTPUT_COLUMNS:
        if name in t.column_names:
            t = t.drop_columns([name])
    return (
        t.append_column("demand_type", pa.array(r["demand_type"].tolist(), pa.string()))
        .append_column("category", pa.array(r["category"].tolist(), pa.string()))
        .append_column("confidence", pa.array(r["confidence"].tolist(), pa.float64()))
        .append_column("method", pa.array(r["method"].tolist(), pa.string()))
    )


def classify_file(
    path: str | Path,
    text_col: str,
    out: str | Path,
    model_dir: str | Path | None = None,
    rules: Rules | None = None,
    method: str | None = None,
) -> pa.Table:
    t = read_table(path)
    require_columns(t, path, text_col=text_col)
    model = load_model(model_dir, rules) if model_dir else None
    if model is None and rules is not None:
        model = default_model()
        model = TextModel(model.pipeline, model.type_of, model.has_categories, rules, model.method)
    res = classify_table(t, text_col, model, method)
    write_table(res, out)
    return res
