"""Publishing rules: every number that leaves the store for a report, page or export.

The default follows the NHS rule for sub-national statistics (HES/ECDS since 2018,
``../shared/REFERENCE.md``): counts from 1 to 7 are suppressed and every other count is
rounded to the nearest 5; a rate, mean or median built on a suppressed count is suppressed
too. Presets ``"under5"`` and ``"under10"`` suppress counts below 5 or 10 (and round to 5).
A place chooses its rule in ``place.yaml``: ``report: {disclosure: nhs | under5 | under10}``.

>>> d = Disclosure()
>>> d.count(3) is None, d.count(0), d.count(12), d.count(13)
(True, 0, 10, 15)
>>> d.fmt_count(3), d.fmt_count(1234)
('*', '1,235')
>>> d.rate(4, 200) is None, round(d.rate(40, 200), 3)
(True, 0.2)
>>> Disclosure.off().count(3)
3

Tables with totals also get **secondary suppression**, so that a suppressed cell cannot be
worked out by subtracting the published cells from a published total (see ``protect``)::

    >>> t = Disclosure().protect([[3, 40, 52], [20, 31, 60]])
    >>> t.cells
    [[None, None, 50], [None, None, 60]]
    >>> t.row_totals, t.col_totals, t.total
    ([95, 110], [25, 70, 110], 205)

The rule (documented, like Tau-Argus's "hypercube" family of heuristics, rather than an
optimal solver): after primary suppression (counts ``1..threshold``, totals included),
every *line* — a row with its total, a column with its total — that holds exactly one
suppressed value gets one more: the smallest non-zero cell of that line (a total only when
no cell is left); repeat until no line has exactly one. Then an exact audit (HiGHS linear
programmes: the smallest and largest value each suppressed cell can take given every
published value *unrounded*) finds any cell still pinned to one value, suppresses the
smallest non-zero cell beside it, and repeats. ``audit`` is the same check, for tests.
ACRO, the output checker UK trusted research environments use, instead recomputes totals
from the unsuppressed cells only; we keep true totals (people read them) and suppress more.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

SUPPRESSED = "*"
RULES = ("nhs", "under5", "under10")


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

    @classmethod
    def for_place(cls, place: Any) -> Disclosure:
        """The rule a place chose in ``place.yaml`` (``report: {disclosure: ...}``)."""
        from totalplace.report.settings import report_settings

        return cls.preset(report_settings(place).disclosure)

    @property
    def description(self) -> str:
        """The rule in one plain sentence, for the report's notes."""
        if not self.enabled:
            return "Disclosure control is switched off: small numbers are shown as they are."
        return (
            f"Counts from 1 to {self.threshold} are shown as {SUPPRESSED}, other counts are "
            f"rounded to the nearest {self.base}, and where a hidden count could be worked out "
            f"from a total, the next smallest count in that row or column is hidden too."
        )

    # --- single numbers ------------------------------------------------------------------
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
        return self.round(n)

    def round(self, n: int) -> int:
        # Round half up (12.5 -> 15), never Python's banker's rounding.
        if not self.enabled or self.base <= 1:
            return int(n)
        return int((int(n) + self.base // 2) // self.base * self.base)

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

    def fmt_rate(self, numerator: int | None, denominator: int | None, digits: int = 1) -> str:
        """A percentage for people to read, or ``*`` when it rests on a suppressed count."""
        r = self.rate(numerator, denominator)
        return SUPPRESSED if r is None else f"{100 * r:.{digits}f}%"

    # --- tables --------------------------------------------------------------------------
    def protect(
        self,
        cells: Sequence[Sequence[int | None]],
        totals: Literal["both", "rows", "columns", "none"] = "both",
    ) -> ProtectedTable:
        """Primary and secondary suppression of a table of counts, then rounding.

        ``cells`` is a list of rows of true counts (None for "not applicable": no row or
        column relation uses it). ``totals`` says which margins will be published: row totals,
        column totals, both (with the grand total) or none. Returns published values.
        """
        grid = Grid.of(cells, totals)
        return self._publish(grid, self._suppress(grid))

    def protect_series(self, counts: Mapping[Any, int], total: bool = True) -> ProtectedSeries:
        """A one-dimensional breakdown (a bar chart, a table column) and its total."""
        labels = list(counts)
        t = self.protect([[int(counts[k]) for k in labels]], totals="rows" if total else "none")
        return ProtectedSeries(
            labels=labels,
            values=t.cells[0],
            total=t.row_totals[0] if total else None,
            suppressed=t.suppressed[0],
        )

    def _suppress(self, grid: Grid) -> set[int]:
        if not self.enabled:
            return set()
        hidden = {i for i, v in enumerate(grid.values) if self.suppressed(v)}
        while True:
            hidden = self._single_line_rule(grid, hidden)
            pinned = [c for c in hidden if audit_interval(grid, hidden, c)[1] < 1]
            if not pinned:
                return hidden
            before = len(hidden)
            for c in pinned:
                extra = _complement(grid, hidden, [ln for ln in grid.lines if c in ln])
                if extra is not None:
                    hidden.add(extra)
            if len(hidden) == before:  # nothing left to hide beside it: hide the whole table
                return set(range(len(grid.values)))

    def _single_line_rule(self, grid: Grid, hidden: set[int]) -> set[int]:
        hidden = set(hidden)
        changed = True
        while changed:
            changed = False
            for line in grid.lines:
                if sum(1 for c in line if c in hidden) == 1:
                    extra = _complement(grid, hidden, [line])
                    if extra is not None:
                        hidden.add(extra)
                        changed = True
        return hidden

    def _publish(self, grid: Grid, hidden: set[int]) -> ProtectedTable:
        def pub(i: int) -> int | None:
            v = grid.values[i]
            if v is None or i in hidden:
                return None
            return self.round(v)

        m, n = grid.shape
        cells = [[pub(grid.cell(r, c)) for c in range(n)] for r in range(m)]
        mask = [[grid.cell(r, c) in hidden for c in range(n)] for r in range(m)]
        rt = [pub(grid.row_total(r)) for r in range(m)] if grid.has_row_totals else []
        ct = [pub(grid.col_total(c)) for c in range(n)] if grid.has_col_totals else []
        total = pub(grid.grand_total()) if grid.grand_total() is not None else None
        return ProtectedTable(cells, rt, ct, total, mask, sorted(hidden), grid, self)


# --- the table model ---------------------------------------------------------------------
@dataclass
class Grid:
    """A table of counts as flat values plus the linear relations (lines) people can add up.

    Values are the interior cells row by row, then row totals, then column totals, then
    the grand total (those that are published). Each line is ``[members..., total]``.
    """

    shape: tuple[int, int]
    values: list[int | None]
    lines: list[list[int]]
    has_row_totals: bool
    has_col_totals: bool

    @classmethod
    def of(cls, cells: Sequence[Sequence[int | None]], totals: str = "both") -> Grid:
        if totals not in ("both", "rows", "columns", "none"):
            raise ValueError(
                f"totals must be one of 'both', 'rows', 'columns', 'none'; found {totals!r}"
            )
        rows = [[None if v is None else int(v) for v in r] for r in cells]
        m = len(rows)
        n = max((len(r) for r in rows), default=0)
        if any(len(r) != n for r in rows):
            raise ValueError("every row of a table must have the same number of cells")
        if any(v is not None and v < 0 for r in rows for v in r):
            raise ValueError("counts cannot be negative")
        values: list[int | None] = [v for r in rows for v in r]
        has_rt = totals in ("both", "rows")
        has_ct = totals in ("both", "columns")
        lines: list[list[int]] = []
        if has_rt:
            for r in range(m):
                values.append(sum(v or 0 for v in rows[r]))
        if has_ct:
            for c in range(n):
                values.append(sum(rows[r][c] or 0 for r in range(m)))
        if has_rt and has_ct:
            values.append(sum(v or 0 for r in rows for v in r))
        g = cls((m, n), values, lines, has_rt, has_ct)
        for r in range(m):
            if has_rt:
                members = [g.cell(r, c) for c in range(n) if rows[r][c] is not None]
                lines.append(members + [g.row_total(r)])
        for c in range(n):
            if has_ct:
                members = [g.cell(r, c) for r in range(m) if rows[r][c] is not None]
                lines.append(members + [g.col_total(c)])
        if has_rt and has_ct:
            lines.append([g.row_total(r) for r in range(m)] + [g.grand_total()])
            lines.append([g.col_total(c) for c in range(n)] + [g.grand_total()])
        return g

    def cell(self, r: int, c: int) -> int:
        return r * self.shape[1] + c

    def row_total(self, r: int) -> int:
        return self.shape[0] * self.shape[1] + r

    def col_total(self, c: int) -> int:
        m, n = self.shape
        return m * n + (m if self.has_row_totals else 0) + c

    def grand_total(self) -> int | None:
        if not (self.has_row_totals and self.has_col_totals):
            return None
        m, n = self.shape
        return m * n + m + n

    def is_total(self, i: int) -> bool:
        return i >= self.shape[0] * self.shape[1]


def _complement(grid: Grid, hidden: set[int], lines: list[list[int]]) -> int | None:
    """The value to hide next: the smallest non-zero interior cell on these lines.

    Zeros are a last resort (a published zero is often known to be zero anyway), and a
    total only when no cell is left.
    """
    candidates = {c for ln in lines for c in ln if c not in hidden and grid.values[c] is not None}
    if not candidates:
        return None

    def key(i: int) -> tuple:
        v = grid.values[i] or 0
        return (grid.is_total(i), v == 0, v, i)

    return min(candidates, key=key)


def audit_interval(grid: Grid, hidden: set[int], cell: int) -> tuple[float, float]:
    """``(lowest, width)``: the range an attacker can work out for a hidden ``cell``.

    Solves two linear programmes with HiGHS: minimise and maximise the cell subject to every
    line adding up, every published value fixed at its *true* (unrounded) value, and every
    hidden value non-negative. Width 0 means the cell is recoverable exactly.
    """
    import highspy
    import numpy as np

    var = sorted(hidden)
    idx = {c: k for k, c in enumerate(var)}
    rows = []
    for line in grid.lines:
        if not any(c in hidden for c in line):
            continue
        coef = np.zeros(len(var))
        rhs = 0.0
        for pos, c in enumerate(line):
            sign = -1.0 if pos == len(line) - 1 else 1.0  # members - total = 0
            if c in hidden:
                coef[idx[c]] += sign
            else:
                rhs -= sign * (grid.values[c] or 0)
        rows.append((coef, rhs))
    big = float(sum(v or 0 for v in grid.values)) + 1.0
    out = []
    inf = highspy.kHighsInf
    for sense in (1.0, -1.0):
        h = _solver()
        h.clearModel()
        for _ in var:
            h.addVar(0.0, big)
        for k in range(len(var)):
            h.changeColCost(k, sense if k == idx[cell] else 0.0)
        for coef, rhs in rows:
            nz = np.nonzero(coef)[0]
            h.addRow(rhs, rhs, len(nz), nz.astype(np.int32), coef[nz])
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return (0.0, inf)
        out.append(h.getSolution().col_value[idx[cell]])
    lo, hi = out[0], out[1]
    return (lo, max(0.0, hi - lo))


@cache
def _solver():
    """One quiet HiGHS instance per process (its constructor prints a banner to fd 1)."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


@dataclass
class ProtectedTable:
    """A table after disclosure control: published values (None where suppressed)."""

    cells: list[list[int | None]]
    row_totals: list[int | None]
    col_totals: list[int | None]
    total: int | None
    suppressed: list[list[bool]]
    hidden: list[int] = field(repr=False)
    grid: Grid = field(repr=False)
    rule: Disclosure = field(repr=False)

    def fmt(self, v: int | None) -> str:
        return SUPPRESSED if v is None else f"{v:,}"

    def recoverable(self) -> list[tuple[int, int]]:
        """Suppressed interior cells whose value the published totals pin down exactly."""
        hidden = set(self.hidden)
        n = self.grid.shape[1]
        return [
            divmod(c, n)
            for c in self.hidden
            if not self.grid.is_total(c) and audit_interval(self.grid, hidden, c)[1] < 1
        ]


@dataclass
class ProtectedSeries:
    """A one-dimensional breakdown after disclosure control."""

    labels: list[Any]
    values: list[int | None]
    total: int | None
    suppressed: list[bool]

    def items(self) -> list[tuple[Any, int | None]]:
        return list(zip(self.labels, self.values, strict=True))

    def fmt(self, v: int | None) -> str:
        return SUPPRESSED if v is None else f"{v:,}"


def single_suppressed_lines(
    rows: list[list[Any]], total_row: int | None, total_col: int | None
) -> list[str]:
    """Lines of a *published* table holding exactly one suppressed value (``None``/``*``).

    For checking any table as people see it: ``total_row``/``total_col`` are the indexes of
    its total row and column (None if it has none). Returns a description of each bad line.
    """

    def hidden(v: Any) -> bool:
        return v is None or v == SUPPRESSED

    bad = []
    if total_col is not None:
        for i, r in enumerate(rows):
            vals = [v for j, v in enumerate(r) if j >= 1]
            if sum(hidden(v) for v in vals) == 1:
                bad.append(f"row {i + 1}")
    if total_row is not None and rows:
        for j in range(1, len(rows[0])):
            col = [r[j] for r in rows]
            if sum(hidden(v) for v in col) == 1:
                bad.append(f"column {j + 1}")
    return bad
