"""Council payment files ('spend over £500'): totals, likely duplicates and a summary.

``check_payments(files)`` is what ``totalplace money payments`` runs for a user with only
transparency files and no place. It does not copy ingest: it works out each file's layout
(where the header is, which column is the date, the amount, the supplier...), writes that
down as an ordinary manifest entry for the ``payments`` table, and runs the ingest stage
itself on a throwaway in-memory store, so every row is loaded or rejected with a reason
exactly as in a place. The totals and duplicate checks are pure SQL functions over the
``payments`` table, shared with the money stage.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from totalplace.errors import InputFileError, TotalplaceError
from totalplace.ingest.layout import Grid, _blank, csv_grid, read_grid
from totalplace.manifest import Agency, FileSpec, Manifest, Period

# Ordered patterns per column (searched in the lower-cased header): the first that matches
# a header not yet taken wins.
ROLES: dict[str, tuple[str, ...]] = {
    "payment_date": (
        r"^payment date",
        r"^paid date",
        r"^date paid",
        r"^transaction date",
        r"^payment.*date",
        r"\bdate\b",
    ),
    "amount_gbp": (
        r"^amount paid",
        r"^net amount",
        r"^amount",
        r"\bamount\b",
        r"^value",
        r"^total",
        r"£",
    ),
    "supplier": (
        r"^supplier name",
        r"^beneficiary name",
        r"^beneficiary",
        r"^payee",
        r"^vendor",
        r"^supplier$",
        r"^name\b",
        r"^supplier\b(?!.*(id|number|code))",
    ),
    "service": (
        r"^service area",
        r"^service$",
        r"^organisational unit",
        r"^service cost centre",
        r"^service\b",
        r"^directorate",
        r"^department",
        r"^cost centre",
    ),
    "expense_type": (
        r"^expenditure category",
        r"^expense type",
        r"^expense",
        r"^account detail",
        r"^category",
        r"^account",
    ),
    "transaction_id": (r"^trans(action)? (no|number|id)", r"\bref(erence)?\b", r"^transaction"),
    "description": (r"^description", r"^purpose", r"^narrative", r"^details"),
}
DATE_FORMATS = (
    "%d/%m/%Y",
    "%Y-%m-%d",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%d/%m/%y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %b %Y",
    "%d %B %Y",
    "%Y-%m-%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
)
HEAD_ROWS = 60  # a header is looked for among the first rows with content (and the last)


class PaymentsFileError(InputFileError):
    """A payments file whose layout cannot be worked out."""


@dataclass
class Layout:
    """What was worked out about one payments file."""

    path: Path
    header_row: int | str
    columns: dict[str, str]
    date_format: str | None
    encoding: str | None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)

    def spec(self) -> FileSpec:
        return FileSpec(
            table="payments",
            path=str(self.path),
            header_row=self.header_row,  # type: ignore[arg-type]
            date_format=self.date_format,
            delimiter=self.delimiter,
            columns=dict(self.columns),
        )


def parse_map(text: str | None) -> dict[str, str]:
    """``date=Paid Date,amount=Net,supplier=Name`` -> canonical column -> source column."""
    if not text:
        return {}
    alias = {"date": "payment_date", "amount": "amount_gbp", "expense": "expense_type"}
    known = set(ROLES)
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise PaymentsFileError(
                "--map", f"expected name=column pairs such as date=Paid Date; found {part!r}"
            )
        k, v = (s.strip() for s in part.split("=", 1))
        k = alias.get(k, k)
        if k not in known:
            raise PaymentsFileError(
                "--map",
                f"unknown name {k!r}; expected one of: date, amount, supplier, service, "
                "expense_type, transaction_id, description",
            )
        out[k] = v
    return out


def _header_score(cells: list[object], given: dict[str, str] | None = None) -> int:
    texts = [str(c).strip().lower() for c in cells if not _blank(c)]
    if not texts:
        return 0
    if given:  # the columns the user named are the surest sign of the header
        named = {v.strip().lower() for v in given.values()}
        hits = sum(t in named for t in texts)
        if hits:
            return 100 * hits
    numbers = sum(bool(re.fullmatch(r"[-£(]?[0-9][0-9,.]*\)?-?", t)) for t in texts)
    roles = sum(any(any(re.search(p, t) for p in pats) for t in texts) for pats in ROLES.values())
    return roles * 2 - numbers


def find_header(grid: Grid, path: Path, given: dict[str, str] | None = None) -> int:
    """0-based index of the row that reads most like a payments header."""
    content = [i for i, r in enumerate(grid.rows) if not all(_blank(v) for v in r)]
    if not content:
        raise PaymentsFileError(str(path), "has no rows with content")
    candidates = content[:HEAD_ROWS] + content[-1:]
    best = max(candidates, key=lambda i: (_header_score(grid.rows[i], given), -i))
    if _header_score(grid.rows[best], given) < 4 and not given:
        raise PaymentsFileError(
            str(path),
            "cannot find a header row naming a date, an amount or a supplier in the first "
            f"{HEAD_ROWS} rows or the last; say which columns to read with --map "
            "date=..,amount=..,supplier=..",
        )
    return best


def match_columns(header: list[str], given: dict[str, str], path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for role, col in given.items():
        if col not in header:
            raise PaymentsFileError(
                str(path), f"--map {role}={col}: no such column; available: {', '.join(header)}"
            )
        out[role] = col
    taken = set(out.values())
    for role, pats in ROLES.items():
        if role in out:
            continue
        for p in pats:
            hit = next(
                (h for h in header if h not in taken and re.search(p, h.strip().lower())), None
            )
            if hit:
                out[role] = hit
                taken.add(hit)
                break
    if "amount_gbp" not in out:
        raise PaymentsFileError(
            str(path),
            f"cannot tell which column is the amount; columns: {', '.join(header)}; "
            "say it with --map amount=<column>",
        )
    return out


def guess_date_format(values: list[str]) -> str | None:
    """The format that reads most of ``values`` (None when none reads any: dates lost)."""
    sample = [v.strip() for v in values if v and v.strip()][:500]
    best, best_n = None, 0
    for fmt in DATE_FORMATS:
        n = 0
        for v in sample:
            try:
                dt.datetime.strptime(v, fmt)
                n += 1
            except ValueError:
                pass
        if n > best_n:
            best, best_n = fmt, n
    return best


def detect(path: Path, given: dict[str, str] | None = None) -> Layout:
    """Work out one payments file's layout (header row, columns, date format)."""
    from totalplace.ingest.layout import header_names

    path = Path(path)
    if not path.exists():
        raise PaymentsFileError(str(path), "file not found")
    probe = FileSpec(table="payments", path=str(path), columns={})
    fmt = probe.resolved_format
    if fmt not in ("csv", "xlsx", "xls"):
        raise PaymentsFileError(str(path), f"expected a CSV or Excel file, found {fmt}")
    grid = csv_grid(path) if fmt == "csv" else read_grid(path, probe)
    h = find_header(grid, path, given)
    content = [i for i, r in enumerate(grid.rows) if not all(_blank(v) for v in r)]
    last = h == content[-1] and h != content[0]
    header = header_names(grid.rows, h)
    columns = match_columns(header, given or {}, path)
    date_format = None
    notes = []
    if "payment_date" in columns:
        j = header.index(columns["payment_date"])
        rows = grid.rows[:h] if last else grid.rows[h + 1 :]
        values = [str(r[j]) for r in rows if j < len(r) and not _blank(r[j])]
        if values and all(
            isinstance(r[j], dt.date) for r in rows if j < len(r) and not _blank(r[j])
        ):
            date_format = None  # real spreadsheet dates
        else:
            date_format = guess_date_format(values)
            if date_format is None and values:
                top = Counter(values).most_common(1)[0][0]
                notes.append(
                    f"the {columns['payment_date']!r} column holds no dates (e.g. {top!r}): "
                    "dates were lost before publication; they are flagged, never invented"
                )
    return Layout(
        path=path,
        header_row="last" if last else h + 1,
        columns=columns,
        date_format=date_format,
        encoding=grid.encoding,
        notes=notes,
    )


# --- the checks (pure SQL over the payments table) -----------------------------------------
def supplier_key_sql(col: str = "supplier") -> str:
    """Supplier names compared without case, padding or doubled spaces."""
    return f"upper(regexp_replace(trim({col}), '\\s+', ' ', 'g'))"


def totals_sql(table: str = "payments", top: int = 20) -> str:
    """One table of totals: by month, by service and the top suppliers."""
    month = "coalesce(strftime(payment_date, '%Y-%m'), '(date lost)')"
    return f"""
        SELECT 'month' AS breakdown, {month} AS key, count(*) AS payments,
               CAST(sum(amount_gbp) AS DECIMAL(18,2)) AS total_gbp, 0 AS rank
        FROM "{table}" GROUP BY 2
        UNION ALL
        SELECT 'service', coalesce(service, '(not given)'), count(*),
               CAST(sum(amount_gbp) AS DECIMAL(18,2)), 0
        FROM "{table}" GROUP BY 2
        UNION ALL
        SELECT * FROM (
            SELECT 'supplier' AS breakdown, min(supplier) AS key, count(*) AS payments,
                   CAST(sum(amount_gbp) AS DECIMAL(18,2)) AS total_gbp,
                   row_number() OVER (ORDER BY sum(amount_gbp) DESC, min(supplier)) AS rank
            FROM "{table}" WHERE supplier IS NOT NULL GROUP BY {supplier_key_sql()}
        ) WHERE rank <= {int(top)}
        ORDER BY breakdown, rank, key"""


def duplicates_rule(days: int) -> str:
    return (
        f"same supplier (ignoring case and spacing) and the same amount, paid no more than "
        f"{days} day{'s' if days != 1 else ''} apart"
    )


def duplicates_sql(table: str = "payments", days: int = 3) -> str:
    """Pairs of payments that look like the same payment made twice (the audit check)."""
    key = supplier_key_sql()
    return f"""
        WITH p AS (
            SELECT row_number() OVER (ORDER BY source_file, source_row) AS k, {key} AS skey, *
            FROM "{table}" WHERE supplier IS NOT NULL AND payment_date IS NOT NULL
                AND amount_gbp <> 0
        )
        SELECT a.supplier, a.amount_gbp,
               a.payment_date AS first_date, a.source_file AS first_file,
               a.source_row AS first_row, a.transaction_id AS first_transaction,
               b.payment_date AS second_date, b.source_file AS second_file,
               b.source_row AS second_row, b.transaction_id AS second_transaction,
               abs(date_diff('day', a.payment_date, b.payment_date)) AS days_apart,
               {_lit(duplicates_rule(days))} AS rule
        FROM p a JOIN p b ON a.skey = b.skey AND a.amount_gbp = b.amount_gbp AND a.k < b.k
        WHERE abs(date_diff('day', a.payment_date, b.payment_date)) <= {int(days)}
        ORDER BY a.source_file, a.source_row, b.source_file, b.source_row"""


def summary_sql(table: str = "payments") -> str:
    return f"""SELECT count(*) AS loaded, CAST(coalesce(sum(amount_gbp), 0) AS DECIMAL(18,2)) AS total,
        min(payment_date) AS first_date, max(payment_date) AS last_date,
        count(*) FILTER (WHERE payment_date IS NULL) AS dates_lost,
        count(*) FILTER (WHERE amount_gbp < 0) AS credits FROM "{table}" """


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# --- the command --------------------------------------------------------------------------
def check_payments(
    files: list[Path],
    out: Path,
    given: dict[str, str] | None = None,
    days: int = 3,
    top: int = 20,
) -> dict[str, Any]:
    """Read payment files as published, write totals.csv, duplicates.csv and summary.json."""
    from totalplace.place import Place
    from totalplace.store import Store

    if not files:
        raise TotalplaceError("give at least one payments file")
    layouts = [detect(Path(f), given) for f in files]
    today = dt.date.today()
    manifest = Manifest(
        name="payments",
        period=Period(start=dt.date(1990, 1, 1), end=today),
        agencies=[
            Agency(
                id="payments",
                name="payments files",
                sector="council",
                files=[lay.spec() for lay in layouts],
            )
        ],
        root=Path.cwd(),
    )
    with Place(manifest, Store.open(":memory:")) as place:
        result = place.ingest.run()
        engine = place.store.engine
        s = engine.query(summary_sql()).to_pylist()[0]
        totals = engine.query(totals_sql(top=top)).to_pylist()
        dups = engine.query(duplicates_sql(days=days)).to_pylist()
        rejects = engine.query(
            "SELECT source_file, source_row, reason FROM rejects ORDER BY source_file, source_row"
        ).to_pylist()
    per_file = result.detail["files"]
    read = sum(i["read"] for i in per_file)
    rejected = sum(i["rejected"] for i in per_file)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "totals.csv", ["breakdown", "key", "payments", "total_gbp", "rank"], totals)
    dup_cols = [
        "supplier",
        "amount_gbp",
        "first_date",
        "first_file",
        "first_row",
        "first_transaction",
        "second_date",
        "second_file",
        "second_row",
        "second_transaction",
        "days_apart",
        "rule",
    ]
    _write_csv(out / "duplicates.csv", dup_cols, dups)
    if rejects:
        _write_csv(out / "rejects.csv", ["source_file", "source_row", "reason"], rejects)
    summary = {
        "rows_read": read,
        "loaded": s["loaded"],
        "rejected": rejected,
        "total_gbp": f"{s['total']:.2f}",
        "first_date": s["first_date"].isoformat() if s["first_date"] else None,
        "last_date": s["last_date"].isoformat() if s["last_date"] else None,
        "dates_lost": s["dates_lost"],
        "credits": s["credits"],
        "likely_duplicates": len(dups),
        "duplicate_rule": duplicates_rule(days),
        "files": [
            {
                "file": str(lay.path),
                "encoding": lay.encoding,
                "header_row": lay.header_row,
                "columns": lay.columns,
                "date_format": lay.date_format,
                "read": info["read"],
                "loaded": info["loaded"],
                "rejected": info["rejected"],
                "blank_rows": info["blank_rows"],
                "warnings": info["warnings"],
                "notes": lay.notes,
            }
            for lay, info in zip(layouts, per_file, strict=True)
        ],
    }
    if read != s["loaded"] + rejected:
        raise TotalplaceError(f"internal error: read {read} != loaded + rejected")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r[c] for c in columns])
