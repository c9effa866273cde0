"""Clerical review: pairs the model is unsure about go to a person; their decisions come back.

After each link run the stage writes ``PLACE_DIR/link/review_pairs.csv``: every scored pair
whose match probability is in the uncertain band (default 0.3 <= p < 0.9, set with
``linkage.review_band`` in place.yaml), both records side by side (``given_name_l`` next to
``given_name_r`` and so on), and a blank ``decision`` column. A reviewer fills in ``match``
or ``non-match`` (blank = not reviewed yet) and the next run takes the file back::

    totalplace link anytown --reviews anytown/link/review_pairs.csv

Reviewed pairs then override the model before clustering: ``match`` forces probability 1.0
(adding the pair if blocking never compared it), ``non-match`` forces 0.0. The model's own
``match_weight`` is left as it was, so the evidence charts still show what the model thought.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv

from totalplace.errors import InputFileError

if TYPE_CHECKING:
    from totalplace.engine import Engine

DEFAULT_BAND = (0.3, 0.9)
DECISIONS = ("match", "non-match")
REQUIRED_COLUMNS = ("unique_id_l", "unique_id_r", "decision")
# Record fields shown side by side, in this order, when the records are given.
FIELDS = (
    "agency",
    "source_id",
    "given_name",
    "middle_names",
    "family_name",
    "dob",
    "sex",
    "postcode",
    "address",
    "uprn",
    "nhs_number",
    "email",
    "phone",
)

PAIRS = "_tp_rev_pairs"
RECORDS = "_tp_rev_records"
EDGES = "_tp_rev_edges"
DECIDED = "_tp_rev_decided"


# --- SQL (pure functions) -----------------------------------------------------------------
def review_pairs_sql(
    pairs: str, records: str | None, fields: Iterable[str], band: tuple[float, float]
) -> str:
    """Pairs in ``band`` (lo <= p < hi), with both records' fields side by side."""
    lo, hi = _check_band(band)
    cols = ["p.unique_id_l", "p.unique_id_r", "p.match_probability", "p.match_weight"]
    joins = ""
    if records is not None:
        for f in fields:
            cols += [f'CAST(l."{f}" AS VARCHAR) AS "{f}_l"', f'CAST(r."{f}" AS VARCHAR) AS "{f}_r"']
        joins = (
            f'LEFT JOIN "{records}" l ON l.unique_id = p.unique_id_l '
            f'LEFT JOIN "{records}" r ON r.unique_id = p.unique_id_r'
        )
    cols.append("CAST(NULL AS VARCHAR) AS decision")
    return f"""
        SELECT {", ".join(cols)}
        FROM "{pairs}" p {joins}
        WHERE p.match_probability >= {lo!r} AND p.match_probability < {hi!r}
        ORDER BY p.match_probability DESC, p.unique_id_l, p.unique_id_r
    """


def records_sql(source: str) -> str:
    """``source_people``-shaped rows with their ``unique_id`` (agency || '|' || source_id)."""
    return f"SELECT agency || '|' || source_id AS unique_id, * FROM \"{source}\""


def apply_decisions_sql(edges: str, decided: str, edge_columns: list[str]) -> str:
    """Edges with reviewed decisions applied, plus 'match' pairs blocking never compared."""
    keep = [c for c in edge_columns if c not in ("match_probability", "match_key")]
    sel = ", ".join(f'e."{c}"' for c in keep)
    added = ", ".join(
        f'd."{c}"' if c in ("unique_id_l", "unique_id_r") else f'NULL AS "{c}"' for c in keep
    )
    return f"""
        SELECT {sel},
               CASE d.decision WHEN 'match' THEN 1.0 WHEN 'non-match' THEN 0.0
                    ELSE e.match_probability END AS match_probability,
               CASE WHEN d.decision IS NULL THEN e.match_key ELSE 'review' END AS match_key
        FROM "{edges}" e
        LEFT JOIN "{decided}" d
          ON d.unique_id_l = e.unique_id_l AND d.unique_id_r = e.unique_id_r
        UNION ALL
        SELECT {added}, 1.0 AS match_probability, 'review' AS match_key
        FROM "{decided}" d
        WHERE d.decision = 'match' AND NOT EXISTS (
            SELECT 1 FROM "{edges}" e
            WHERE e.unique_id_l = d.unique_id_l AND e.unique_id_r = d.unique_id_r)
    """


# --- writing the review file ----------------------------------------------------------------
def write_review_file(
    pairs: pa.Table,
    out: Path,
    band: tuple[float, float] = DEFAULT_BAND,
    records: pa.Table | None = None,
    engine: Engine | None = None,
) -> int:
    """Write the clerical review CSV of pairs in the uncertain band; returns rows written.

    Args:
        pairs: ``linkage_pairs``-shaped: unique_id_l, unique_id_r, match_probability,
            match_weight (other columns are ignored).
        out: the CSV to write (its folder is created), e.g. ``PLACE_DIR/link/review_pairs.csv``.
        band: ``(lo, hi)``; pairs with ``lo <= match_probability < hi`` are written.
        records: optional ``source_people`` rows (agency, source_id, names, dob, ...) so each
            pair shows both records side by side; without them only the ids are written.
        engine: where to run the SQL; defaults to an in-memory DuckDB.

    Example:
        >>> import tempfile
        >>> pairs = pa.table({"unique_id_l": ["a|1", "a|1"], "unique_id_r": ["b|7", "b|8"],
        ...                   "match_probability": [0.5, 0.99], "match_weight": [0.0, 6.6]})
        >>> write_review_file(pairs, Path(tempfile.mkdtemp()) / "review_pairs.csv")
        1
    """
    with _engine(engine) as eng:
        eng.register(PAIRS, pairs)
        rec_view = None
        fields: list[str] = []
        if records is not None:
            if "unique_id" in records.column_names:
                eng.register(RECORDS, records)
            else:
                eng.register("_tp_rev_source", records)
                eng.register(RECORDS, eng.query(records_sql("_tp_rev_source")))
            rec_view = RECORDS
            fields = [f for f in FIELDS if f in records.column_names]
        table = eng.query(review_pairs_sql(PAIRS, rec_view, fields, band))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, out)
    return table.num_rows


# --- reading it back ------------------------------------------------------------------------
def read_reviews(path: Path) -> tuple[pa.Table, dict]:
    """Read and validate a reviewed CSV; returns (decided pairs, counts).

    The decided pairs have unique_id_l < unique_id_r and decision in ``DECISIONS``; blank
    decisions are skipped (counted as ``undecided``). Every problem is collected and raised
    together, each naming its line in the file.
    """
    path = Path(path)
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in REQUIRED_COLUMNS}, strings_can_be_null=False
            ),
        )
    except FileNotFoundError:
        raise InputFileError(str(path), "the reviews file does not exist") from None
    except pa.ArrowInvalid as e:
        raise InputFileError(str(path), f"cannot be read as CSV: {e}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise InputFileError(
            str(path),
            f"missing column(s) {missing}; expected "
            f"{list(REQUIRED_COLUMNS)}; found {table.column_names}",
        )
    problems: list[str] = []
    decided: dict[tuple[str, str], tuple[str, int]] = {}
    undecided = 0
    rows = zip(*(table.column(c).to_pylist() for c in REQUIRED_COLUMNS), strict=True)
    for i, (left, right, decision) in enumerate(rows):
        line = i + 2  # the header is line 1
        decision = (decision or "").strip().lower()
        left, right = (left or "").strip(), (right or "").strip()
        if not decision:
            undecided += 1
            continue
        if decision not in DECISIONS:
            problems.append(
                f"line {line} ({left} / {right}): decision must be one of "
                f"'match', 'non-match' or blank; found {decision!r}"
            )
            continue
        if not left or not right or left == right:
            problems.append(
                f"line {line}: unique_id_l and unique_id_r must be two different "
                f"record ids; found {left!r} and {right!r}"
            )
            continue
        key = (min(left, right), max(left, right))
        if key in decided and decided[key][0] != decision:
            problems.append(
                f"line {line} ({key[0]} / {key[1]}): decision {decision!r} "
                f"contradicts {decided[key][0]!r} on line {decided[key][1]}"
            )
            continue
        decided[key] = (decision, line)
    if problems:
        head = f"{len(problems)} problem(s) in the reviewed pairs:\n" + "\n".join(
            f"  - {p}" for p in problems[:50]
        )
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise InputFileError(str(path), head + more)
    out = pa.table(
        {
            "unique_id_l": pa.array([k[0] for k in decided], pa.string()),
            "unique_id_r": pa.array([k[1] for k in decided], pa.string()),
            "decision": pa.array([v[0] for v in decided.values()], pa.string()),
        }
    )
    counts = {
        "rows": table.num_rows,
        "undecided": undecided,
        "match": sum(v[0] == "match" for v in decided.values()),
        "non_match": sum(v[0] == "non-match" for v in decided.values()),
    }
    return out, counts


def apply_reviews(
    edges: pa.Table,
    reviews: Path,
    engine: Engine | None = None,
    known_ids: pa.Array | list[str] | None = None,
) -> tuple[pa.Table, dict]:
    """Override the model with reviewed decisions, before clustering.

    Args:
        edges: scored pairs with at least unique_id_l, unique_id_r, match_weight,
            match_probability, match_key (unique_id_l < unique_id_r).
        reviews: a reviewed CSV (the review file with ``decision`` filled in; any CSV with
            columns unique_id_l, unique_id_r, decision will do).
        engine: where to run the SQL; defaults to an in-memory DuckDB.
        known_ids: this run's record ids (unique_id). When given, decisions about a record
            that is no longer in the data are skipped (counted as ``unknown_records``) so a
            forced match cannot add an edge to a record clustering has never seen.

    Returns:
        ``(edges, summary)``: the edges with ``match`` pairs at probability 1.0 (added with
        null weight if absent) and ``non-match`` pairs at 0.0, both with match_key 'review';
        summary counts rows read, decisions, pairs changed and pairs added.

    Raises:
        InputFileError: the file is missing, lacks a required column, or has rows with an
            unknown decision, a missing id or contradicting decisions (each line named).
    """
    needed = {"unique_id_l", "unique_id_r", "match_weight", "match_probability", "match_key"}
    if needed - set(edges.column_names):
        raise ValueError(
            f"apply_reviews: edges needs columns {sorted(needed)}; found {edges.column_names}"
        )
    decided, counts = read_reviews(reviews)
    if known_ids is not None:
        import pyarrow.compute as pc

        known = pa.array(known_ids, pa.string())
        ok = pc.and_(
            pc.is_in(decided.column("unique_id_l"), value_set=known),
            pc.is_in(decided.column("unique_id_r"), value_set=known),
        )
        counts["unknown_records"] = decided.num_rows - pc.sum(ok.cast(pa.int64())).as_py()
        decided = decided.filter(ok)
    with _engine(engine) as eng:
        eng.register(EDGES, edges)
        eng.register(DECIDED, decided)
        out = eng.query(apply_decisions_sql(EDGES, DECIDED, edges.column_names))
        found = int(
            eng.scalar(
                f'SELECT count(*) FROM "{EDGES}" e JOIN "{DECIDED}" d '
                "ON d.unique_id_l = e.unique_id_l AND d.unique_id_r = e.unique_id_r"
            )
        )
    counts.update(pairs_overridden=found, pairs_added=out.num_rows - edges.num_rows)
    return out.select(edges.column_names).cast(edges.schema), counts


class _engine:
    """Use the given engine, or a private in-memory DuckDB closed afterwards."""

    def __init__(self, engine: Engine | None):
        self.given = engine
        self.own: Engine | None = None

    def __enter__(self) -> Engine:
        if self.given is not None:
            return self.given
        from totalplace.engine import open_engine

        self.own = open_engine("duckdb", ":memory:")
        return self.own

    def __exit__(self, *exc) -> None:
        if self.own is not None:
            self.own.close()


def _check_band(band: tuple[float, float]) -> tuple[float, float]:
    lo, hi = float(band[0]), float(band[1])
    if not (0.0 <= lo < hi <= 1.0):
        raise ValueError(f"review band must be (lo, hi) with 0 <= lo < hi <= 1; found {band!r}")
    return lo, hi
