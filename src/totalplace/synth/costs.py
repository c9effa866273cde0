"""Unit costs for the synthetic place, uprated to one price year with the GDP deflator.

The values live in ``totalplace/data/unit_costs.csv`` (each with its source, price year and the
agency that bears it) and the deflator in ``totalplace/data/gdp_deflator.csv``; nothing is
hard-coded here. Money is kept as integer pence so sums are exact::

    >>> costs = load_unit_costs("2025/26")
    >>> costs.pence("ae_not_admitted") > 9500      # £95 in 2011/12, uprated
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from totalplace.errors import TotalplaceError
from totalplace.prices import load_deflator, read_data_csv, uprate

UNITS = ("event", "day", "week", "year")
# Days in each costing unit; per-day costs of weekly and yearly items are derived from these.
UNIT_DAYS = {"day": Decimal(1), "week": Decimal(7), "year": Decimal("365.25")}


@dataclass(frozen=True)
class UnitCost:
    cost_id: str
    item: str
    unit: str
    cost_gbp: Decimal  # as published, in its own price year
    price_year: str
    bears: str
    source: str
    check: bool
    uprated_gbp: Decimal  # in the target price year, rounded to pence


@dataclass(frozen=True)
class UnitCosts:
    """The unit-cost table in one price year. Look items up by ``cost_id``."""

    price_year: str
    items: dict[str, UnitCost]

    def pence(self, cost_id: str) -> int:
        """Uprated cost of one unit (event, day, week or year) in integer pence."""
        return int(self.get(cost_id).uprated_gbp * 100)

    def pence_per_day(self, cost_id: str) -> float:
        """Uprated cost per day for a day/week/year item, in (fractional) pence."""
        u = self.get(cost_id)
        if u.unit == "event":
            raise TotalplaceError(f"unit cost {cost_id!r} is per event, not per period of time")
        return float(u.uprated_gbp * 100 / UNIT_DAYS[u.unit])

    def get(self, cost_id: str) -> UnitCost:
        try:
            return self.items[cost_id]
        except KeyError:
            raise TotalplaceError(
                f"unit_costs.csv has no cost_id {cost_id!r}; "
                f"it has: {', '.join(sorted(self.items))}"
            ) from None


_read_csv = read_data_csv


def load_unit_costs(price_year: str = "2025/26") -> UnitCosts:
    """Read ``unit_costs.csv`` and uprate every value to ``price_year``.

    Args:
        price_year: financial year to express all costs in, e.g. ``"2025/26"``.

    Returns:
        A :class:`UnitCosts` whose ``pence(cost_id)`` gives the uprated cost in pence.
    """
    deflator = load_deflator()
    items: dict[str, UnitCost] = {}
    for i, row in enumerate(_read_csv("unit_costs.csv"), start=1):
        if row["unit"] not in UNITS:
            raise TotalplaceError(
                f"unit_costs.csv row {i} ({row['cost_id']}): unit must be one of {UNITS}, "
                f"found {row['unit']!r}"
            )
        cost = Decimal(row["cost_gbp"])
        if cost <= 0:
            raise TotalplaceError(
                f"unit_costs.csv row {i} ({row['cost_id']}): cost must be > 0, found {cost}"
            )
        items[row["cost_id"]] = UnitCost(
            cost_id=row["cost_id"],
            item=row["item"],
            unit=row["unit"],
            cost_gbp=cost,
            price_year=row["price_year"],
            bears=row["bears"],
            source=row["source"],
            check=row["check"].strip().lower() == "true",
            uprated_gbp=uprate(cost, row["price_year"], price_year, deflator),
        )
    return UnitCosts(price_year=price_year, items=items)
