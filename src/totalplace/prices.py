"""One price base for all money: the GDP deflator and financial years.

Every stage that adds money from different years (people's costs, money's real-terms
change, appraisal's discounting) uprates it here, with the one deflator table in
``totalplace/data/gdp_deflator.csv`` (HM Treasury GDP deflators, rebased; each row cites its
source). Amounts are exact ``Decimal`` pounds, rounded to the penny half-up::

    >>> from decimal import Decimal
    >>> d = load_deflator()
    >>> uprate(Decimal("100.00"), "2025/26", "2025/26", d)
    Decimal('100.00')
    >>> financial_year(dt.date(2024, 3, 31)), financial_year(dt.date(2024, 4, 1))
    ('2023/24', '2024/25')
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources

from totalplace.errors import TotalplaceError

PENNY = Decimal("0.01")


def read_data_csv(name: str) -> list[dict[str, str]]:
    """Rows of a CSV shipped in ``totalplace/data`` (unit costs, deflator, ...)."""
    text = resources.files("totalplace.data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def _deflator() -> tuple[tuple[str, Decimal], ...]:
    out = []
    for i, row in enumerate(read_data_csv("gdp_deflator.csv"), start=1):
        try:
            out.append((row["financial_year"], Decimal(row["index"])))
        except Exception as e:  # noqa: BLE001 - any parse problem is a data-file bug
            raise TotalplaceError(
                f"gdp_deflator.csv row {i}: bad index {row.get('index')!r} ({e})"
            ) from e
    return tuple(out)


def load_deflator() -> dict[str, Decimal]:
    """The GDP deflator index by financial year ('2013/14' -> Decimal index)."""
    return dict(_deflator())


def uprate(
    amount: Decimal, from_year: str, to_year: str, deflator: dict[str, Decimal] | None = None
) -> Decimal:
    """Move ``amount`` from one financial year's prices to another's, rounded to pence."""
    deflator = deflator if deflator is not None else load_deflator()
    for y in (from_year, to_year):
        if y not in deflator:
            raise TotalplaceError(
                f"gdp_deflator.csv has no financial year {y!r}; "
                f"it covers {min(deflator)} to {max(deflator)}"
            )
    return (Decimal(amount) * deflator[to_year] / deflator[from_year]).quantize(
        PENNY, ROUND_HALF_UP
    )


def financial_year(day: dt.date) -> str:
    """The UK financial year (April to March) a date falls in, e.g. '2024/25'."""
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def financial_year_sql(date_expr: str) -> str:
    """SQL for the financial year of a DATE or TIMESTAMP expression (DuckDB dialect)."""
    y = f"(year({date_expr}) - CASE WHEN month({date_expr}) < 4 THEN 1 ELSE 0 END)"
    return f"(CAST({y} AS VARCHAR) || '/' || lpad(CAST(({y} + 1) % 100 AS VARCHAR), 2, '0'))"
