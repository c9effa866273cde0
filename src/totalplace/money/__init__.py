"""Money: the count of all public money in the place, tied back to demand and people."""

from totalplace.money.section import section
from totalplace.money.stage import Money

__all__ = ["Money", "section"]
