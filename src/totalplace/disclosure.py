"""Publishing rules: every number that leaves the store for a report, page or export.

The default follows the NHS rule for sub-national statistics (HES/ECDS since 2018,
``../shared/REFERENCE.md``): counts from 1 to 7 are suppressed and every other count is
rounded to the nearest 5; a rate, mean or median built on a suppressed count is suppressed
too. Presets ``"under5"`` and ``"under10"`` suppress counts below 5 or 10 (and round to 5).

>>> d = Disclosure()
>>> d.count(3) is None, d.count(0), d.count(12), d.count(13)
(True, 0, 10, 15)
>>> d.fmt_count(3), d.fmt_count(1234)
('*', '1,235')
>>> d.rate(4, 200) is None, round(d.rate(40, 200), 3)
(True, 0.2)
>>> Disclosure.off().count(3)
3
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPRESSED = "*"


@dataclass(frozen=True)
class Disclosure:
    """A publishing rule: suppress counts in ``[1, threshold]``, round the rest to ``base``."""

    threshold: int = 7
    base: int = 5
    enabled: bool = True
    name: str = "nhs"

    @classmethod
    def preset(cls, name: str) -> Disclosure:
        presets = {
            "nhs": cls(7, 5, True, "nhs"),
            "under5": cls(4, 5, True, "under5"),
            "under10": cls(9, 5, True, "under10"),
            "off": cls(0, 1, False, "off"),
        }
        if name not in presets:
            raise ValueError(
                f"disclosure rule must be one of: {', '.join(repr(k) for k in presets)}; "
                f"found {name!r}"
            )
        return presets[name]

    @classmethod
    def off(cls) -> Disclosure:
        """No control at all: for tests and for analysts inside the secure store only."""
        return cls.preset("off")

    def suppressed(self, n: int | None) -> bool:
        return self.enabled and n is not None and 1 <= n <= self.threshold

    def count(self, n: int | None) -> int | None:
        """A publishable count: None when suppressed, else rounded to the nearest ``base``."""
        if n is None:
            return None
        n = int(n)
        if not self.enabled:
            return n
        if self.suppressed(n):
            return None
        # Round half up (12.5 -> 15), never Python's banker's rounding.
        return int((n + self.base // 2) // self.base * self.base) if self.base > 1 else n

    def fmt_count(self, n: int | None) -> str:
        c = self.count(n)
        return SUPPRESSED if c is None else f"{c:,}"

    def rate(self, numerator: int | None, denominator: int | None) -> float | None:
        """numerator / denominator, or None when either count is suppressed (or zero base)."""
        if numerator is None or denominator is None or denominator == 0:
            return None
        if self.suppressed(numerator) or self.suppressed(denominator):
            return None
        return numerator / denominator

    def statistic(self, value: float | None, n: int | None) -> float | None:
        """A mean or median built on ``n`` values: None when ``n`` is suppressed."""
        if value is None or n is None or self.suppressed(n) or n == 0:
            return None
        return value
