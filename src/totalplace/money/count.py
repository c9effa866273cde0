"""The count: every spend line in one price year, summed by funder, agency, theme and service.

Money stays exact throughout: spend lines are DECIMAL(18,2) pounds, each line is uprated
to the price year with the GDP deflator as a ``Decimal`` (``totalplace.prices.uprate``,
rounded to the penny half-up), and sums are DECIMAL sums in SQL. Per-head figures and
changes are computed from those exact sums with ``Decimal`` arithmetic.

The SQL is built by the pure functions here and run through the store's engine.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pyarrow as pa

from totalplace.errors import TotalplaceError
from totalplace.prices import PENNY, load_deflator, uprate

NOT_GIVEN = "(not given)"
MONEY = pa.decimal128(18, 2)


class DeflatorError(ValueError, TotalplaceError):
    """Spend has a year the GDP deflator does not cover."""


# level -> the keys it is summed by (besides year). ``service`` is the finest level.
LEVELS: dict[str, tuple[str, ...]] = {
    "place": (),
    "funder": ("funder",),
    "agency": ("agency",),
    "theme": ("theme",),
    "category": ("category",),
    "funder_agency": ("funder", "agency"),
    "agency_theme": ("agency", "theme"),
    "agency_category": ("agency", "category"),
    "agency_service": ("agency", "category", "service"),
    "theme_prevention": ("theme", "prevention"),
    "service": ("funder", "agency", "theme", "service", "category", "prevention"),
}
KEYS = ("funder", "agency", "theme", "service", "category", "prevention")

MONEY_COUNT = pa.schema(
    [
        ("level", pa.string()),
        ("year", pa.string()),
        ("funder", pa.string()),
        ("agency", pa.string()),
        ("theme", pa.string()),
        ("service", pa.string()),
        ("category", pa.string()),
        ("prevention", pa.bool_()),
        ("lines", pa.int64()),
        ("amount_gbp", MONEY),
        ("amount_real_gbp", MONEY),
        ("price_year", pa.string()),
        ("population", pa.int64()),
        ("per_head_real_gbp", MONEY),
        ("change_real_gbp", MONEY),
        ("change_real_pct", pa.float64()),
    ]
)


def spend_lines_sql(spend: str = "spend") -> str:
    """Every spend line with its keys filled (a missing funder or theme is said, not hidden)."""
    nn = lambda c: f"coalesce(NULLIF(trim({c}), ''), '{NOT_GIVEN}') AS {c}"  # noqa: E731
    cols = ", ".join(nn(c) for c in ("funder", "agency", "theme", "service", "category"))
    return f'SELECT year, {cols}, amount_gbp FROM "{spend}" WHERE amount_gbp IS NOT NULL'


def real_terms(
    lines: pa.Table,
    price_year: str,
    prevention: set[str] | frozenset[str] = frozenset(),
    deflator: dict[str, Decimal] | None = None,
) -> pa.Table:
    """Spend lines plus ``amount_real_gbp`` (each line uprated on its own) and ``prevention``."""
    deflator = deflator if deflator is not None else load_deflator()
    missing = sorted({y for y in lines.column("year").to_pylist() if y not in deflator})
    if missing:
        raise DeflatorError(
            f"spend has financial year(s) {', '.join(missing)} that the GDP deflator "
            f"(totalplace/data/gdp_deflator.csv) does not cover; it covers {min(deflator)} "
            f"to {max(deflator)}"
        )
    real = [
        uprate(a, y, price_year, deflator)
        for a, y in zip(
            lines.column("amount_gbp").to_pylist(), lines.column("year").to_pylist(), strict=True
        )
    ]
    prev = [s in prevention for s in lines.column("service").to_pylist()]
    return lines.append_column("amount_real_gbp", pa.array(real, MONEY)).append_column(
        "prevention", pa.array(prev, pa.bool_())
    )


def count_sql(detail: str) -> str:
    """Sums of cash and real amounts by year at every level of ``LEVELS``, with the change in
    real terms from the previous year for the same level and keys."""
    parts = []
    for level, keys in LEVELS.items():
        sel = ", ".join(
            (
                k
                if k in keys
                else f"CAST(NULL AS {'BOOLEAN' if k == 'prevention' else 'VARCHAR'}) AS {k}"
            )
            for k in KEYS
        )
        group = ", ".join(("year",) + keys)
        parts.append(
            f"SELECT '{level}' AS level, year, {sel}, count(*) AS lines, "
            f"CAST(sum(amount_gbp) AS DECIMAL(18,2)) AS amount_gbp, "
            f"CAST(sum(amount_real_gbp) AS DECIMAL(18,2)) AS amount_real_gbp "
            f'FROM "{detail}" GROUP BY {group}'
        )
    part = ", ".join(("level",) + tuple(f"coalesce(CAST({k} AS VARCHAR), '')" for k in KEYS))
    return (
        f"WITH c AS ({' UNION ALL '.join(parts)}) "
        f"SELECT *, amount_real_gbp - lag(amount_real_gbp) OVER (PARTITION BY {part} ORDER BY year) "
        f"AS change_real_gbp, lag(amount_real_gbp) OVER (PARTITION BY {part} ORDER BY year) AS prev_real "
        f"FROM c ORDER BY level, year, {', '.join(KEYS)}"
    )


def per_head(amount: Decimal | None, population: int | None) -> Decimal | None:
    """Exact pounds per head, rounded to the penny half-up."""
    if amount is None or not population:
        return None
    return (Decimal(amount) / Decimal(population)).quantize(PENNY, ROUND_HALF_UP)


def finish(rows: pa.Table, price_year: str, population: int | None) -> pa.Table:
    """Add price year, population, per head and percentage change to the summed rows."""
    out = []
    for r in rows.to_pylist():
        prev = r.pop("prev_real")
        r["price_year"] = price_year
        r["population"] = population
        r["per_head_real_gbp"] = per_head(r["amount_real_gbp"], population)
        r["change_real_pct"] = (
            float(r["change_real_gbp"] / prev * 100) if prev not in (None, 0) else None
        )
        out.append(r)
    return pa.Table.from_pylist(out, schema=MONEY_COUNT)
