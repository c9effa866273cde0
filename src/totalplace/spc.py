"""Measures, not targets: XmR process behaviour charts with the NHS 'Making Data Count' rules.

An XmR chart shows a measure over time against its own natural variation, so a change is
called a change only when the data say so (Deming, Wheeler; NHS England's *Making Data
Count*, REFERENCE.md):

- centre line: the mean; moving range mR = |x(i) - x(i-1)|;
- process limits: mean ± 2.66 × mean mR (2.66 = 3 / d2, d2 = 1.128 for ranges of two);
- special-cause signals: a point outside the limits (``outside_limits``); 7 or more points
  in a row on one side of the mean (``run_of_7``; a point on the mean breaks the run);
  7 or more points in a row each higher, or each lower, than the one before
  (``trend_of_7``; an equal value breaks it); 2 of 3 points in a row beyond two-thirds of the
  way from the mean to a limit, on the same side (``two_of_three``);
- fewer than 12 points: the limits are *trial* limits (``trial=True``);
- limits recalculated from a stated change point: each segment gets its own mean and limits.

Like the NHS Excel tool (and unlike NHSRplotthedots' default), moving ranges are not
screened for outliers unless asked (``screen_outliers=True`` drops mR above 3.267 × mean mR
and recomputes the mean mR, as NHSRplotthedots does).

>>> r = xmr([5, 7, 6, 8, 6, 7, 5, 6, 7, 8, 6, 7])
>>> round(r.mean[0], 4), round(r.mean_mr[0], 4), round(r.ucl[0], 4), round(r.lcl[0], 4)
(6.5, 1.4545, 10.3691, 2.6309)
>>> r.trial, any(r.signals)
(False, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

LIMIT_FACTOR = 2.66  # 3 / d2 with d2 = 1.128 (subgroups of two)
MR_OUTLIER_FACTOR = 3.267  # D4 for subgroups of two: the upper limit of the moving range
MIN_POINTS = 12  # fewer than this: trial limits (Making Data Count)
RUN = 7
RULES = ("outside_limits", "run_of_7", "trend_of_7", "two_of_three")


@dataclass(frozen=True)
class XmR:
    """One XmR chart: per point, its value, centre, limits, moving range and signals."""

    values: list[float]
    mean: list[float]
    ucl: list[float]
    lcl: list[float]
    mr: list[float | None]  # None for the first point of each segment
    mean_mr: list[float]
    signals: list[list[str]]  # rule names that flag this point (empty: common cause)
    segment: list[int]  # 0, 1, ... : limits recalculated at each change point
    trial: bool

    @property
    def special_cause(self) -> list[bool]:
        return [bool(s) for s in self.signals]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per point (for tables and exports)."""
        return [
            {
                "value": v,
                "mean": m,
                "ucl": u,
                "lcl": lo,
                "moving_range": r,
                "segment": s,
                "special_cause": bool(sig),
                "signals": ",".join(sig),
                "trial_limits": self.trial,
            }
            for v, m, u, lo, r, s, sig in zip(
                self.values,
                self.mean,
                self.ucl,
                self.lcl,
                self.mr,
                self.segment,
                self.signals,
                strict=True,
            )
        ]


def _segment_bounds(n: int, change_points: Sequence[int]) -> list[tuple[int, int]]:
    cps = sorted({int(c) for c in change_points})
    for c in cps:
        if not 0 < c < n:
            raise ValueError(
                f"change point {c} is outside the series: expected an index from 1 to {n - 1}"
            )
    edges = [0, *cps, n]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _mean_mr(mrs: list[float], screen: bool) -> float:
    if not mrs:
        return 0.0
    m = sum(mrs) / len(mrs)
    if screen:
        kept = [x for x in mrs if x <= MR_OUTLIER_FACTOR * m]
        m = sum(kept) / len(kept) if kept else m
    return m


def _runs(flags: list[int], length: int) -> set[int]:
    """Indices in runs of at least ``length`` equal non-zero values of ``flags``."""
    out: set[int] = set()
    start = 0
    for i in range(1, len(flags) + 1):
        if i == len(flags) or flags[i] != flags[start]:
            if flags[start] != 0 and i - start >= length:
                out.update(range(start, i))
            start = i
    return out


def xmr(
    values: Sequence[float | int],
    change_points: Sequence[int] = (),
    *,
    screen_outliers: bool = False,
    floor: float | None = None,
) -> XmR:
    """Compute an XmR chart and its special-cause signals.

    Args:
        values: the measure, one value per period, in time order (no missing values:
            drop or fill them before, and say so).
        change_points: indices where the process is known to have changed; limits are
            recalculated from each (e.g. ``[26]`` for a redesign in week 27).
        screen_outliers: drop moving ranges above 3.267 × mean mR before computing limits.
        floor: lowest possible value (e.g. ``0`` for counts and shares): lower limits are
            not drawn below it.

    Returns:
        An :class:`XmR` with per-point centre, limits, moving ranges and signals.

    >>> r = xmr([10, 11, 9, 10, 30, 10, 9, 11, 10, 10, 11, 9])
    >>> r.signals[4]
    ['outside_limits']
    """
    x = [float(v) for v in values]
    n = len(x)
    if n < 2:
        raise ValueError(f"an XmR chart needs at least 2 values; found {n}")
    mean = [0.0] * n
    ucl = [0.0] * n
    lcl = [0.0] * n
    mr: list[float | None] = [None] * n
    mmr = [0.0] * n
    seg = [0] * n
    trial = False
    for k, (a, b) in enumerate(_segment_bounds(n, change_points)):
        part = x[a:b]
        if len(part) < MIN_POINTS:
            trial = True
        m = sum(part) / len(part)
        ranges = [abs(part[i] - part[i - 1]) for i in range(1, len(part))]
        r = _mean_mr(ranges, screen_outliers)
        hi, lo = m + LIMIT_FACTOR * r, m - LIMIT_FACTOR * r
        if floor is not None:
            lo = max(lo, floor)
        for i in range(a, b):
            mean[i], ucl[i], lcl[i], mmr[i], seg[i] = m, hi, lo, r, k
            mr[i] = None if i == a else abs(x[i] - x[i - 1])

    signals: list[list[str]] = [[] for _ in range(n)]
    # Rules apply within a segment: a run or trend does not continue across a change point.
    for a, b in _segment_bounds(n, change_points):
        idx = range(a, b)
        for i in idx:
            if x[i] > ucl[i] or x[i] < lcl[i]:
                signals[i].append("outside_limits")
        side = [(x[i] > mean[i]) - (x[i] < mean[i]) for i in idx]
        for j in sorted(_runs(side, RUN)):
            signals[a + j].append("run_of_7")
        # A trend of 7 points is 6 successive steps in the same direction.
        steps = [(x[i] > x[i - 1]) - (x[i] < x[i - 1]) for i in range(a + 1, b)]
        trend: set[int] = set()
        for j in _runs(steps, RUN - 1):
            trend.update({a + j, a + j + 1})
        for i in sorted(trend):
            signals[i].append("trend_of_7")
        # Two of three beyond 2/3 of the way to a limit, on the same side.
        near = [
            1
            if x[i] > mean[i] + (ucl[i] - mean[i]) * 2 / 3
            else (-1 if x[i] < mean[i] - (mean[i] - lcl[i]) * 2 / 3 else 0)
            for i in idx
        ]
        flagged: set[int] = set()
        for j in range(len(near) - 2):
            window = near[j : j + 3]
            for s in (1, -1):
                if sum(1 for w in window if w == s) >= 2:
                    flagged.update(a + j + t for t in range(3) if window[t] == s)
        for i in sorted(flagged):
            signals[i].append("two_of_three")
    return XmR(x, mean, ucl, lcl, mr, mmr, signals, seg, trial)


def xmr_table(
    table: pa.Table,
    group_cols: Sequence[str],
    period_col: str,
    value_col: str,
    *,
    floor: float | None = None,
    min_points: int = 2,
) -> pa.Table:
    """Add XmR columns to a long table of series (one row per group and period).

    Each group's rows are sorted by ``period_col``; groups with fewer than ``min_points``
    periods get null limits. Added columns: ``mean``, ``ucl``, ``lcl``, ``moving_range``,
    ``special_cause``, ``signals`` (comma-separated rule names), ``trial_limits``.

    >>> t = pa.table({"service": ["a"] * 3, "week": [1, 2, 3], "share": [0.5, 0.6, 0.55]})
    >>> xmr_table(t, ["service"], "week", "share").column("trial_limits").to_pylist()
    [True, True, True]
    """
    missing = [c for c in (*group_cols, period_col, value_col) if c not in table.column_names]
    if missing:
        raise KeyError(
            f"xmr_table: no column {', '.join(missing)}; the table has {table.column_names}"
        )
    rows = table.to_pylist()
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(tuple(r[c] for c in group_cols), []).append(i)
    extra: dict[str, list[Any]] = {
        k: [None] * len(rows)
        for k in ("mean", "ucl", "lcl", "moving_range", "special_cause", "signals", "trial_limits")
    }
    order: list[int] = []
    for key in sorted(groups, key=lambda k: tuple((v is None, str(v)) for v in k)):
        idx = sorted(groups[key], key=lambda i: rows[i][period_col])
        order.extend(idx)
        vals = [rows[i][value_col] for i in idx]
        if len(idx) < min_points or any(v is None for v in vals):
            continue
        for i, p in zip(idx, xmr(vals, floor=floor).rows(), strict=True):
            for k in extra:
                extra[k][i] = p[k]
    out = table
    types = {"special_cause": pa.bool_(), "signals": pa.string(), "trial_limits": pa.bool_()}
    for k, v in extra.items():
        out = out.append_column(k, pa.array(v, types.get(k, pa.float64())))
    return out.take(pa.array(order, pa.int64()))


# Colour-blind-safe (Okabe-Ito) and distinguishable in greyscale by marker shape too.
COMMON_COLOUR = "#7f7f7f"
SPECIAL_COLOUR = "#E69F00"
LIMIT_COLOUR = "#0072B2"


def xmr_figure(
    chart: XmR,
    periods: Sequence[Any],
    *,
    title: str,
    y_label: str,
    x_label: str = "Week",
):
    """A Plotly figure of an XmR chart: points, mean, limits, special causes marked.

    Special-cause points are orange diamonds (common cause: grey circles), so the chart
    reads in greyscale and for colour-blind readers.
    """
    import plotly.graph_objects as go

    periods = list(periods)
    special = chart.special_cause
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=periods,
            y=chart.values,
            mode="lines+markers",
            name=y_label,
            line={"color": COMMON_COLOUR, "width": 1.5},
            marker={
                "color": [SPECIAL_COLOUR if s else COMMON_COLOUR for s in special],
                "symbol": ["diamond" if s else "circle" for s in special],
                "size": [10 if s else 6 for s in special],
            },
            customdata=[", ".join(s) or "common cause" for s in chart.signals],
            hovertemplate="%{x}: %{y}<br>%{customdata}<extra></extra>",
        )
    )
    for name, ys, dash in (
        ("Mean", chart.mean, "solid"),
        ("Upper process limit", chart.ucl, "dash"),
        ("Lower process limit", chart.lcl, "dash"),
    ):
        fig.add_trace(
            go.Scatter(
                x=periods,
                y=ys,
                mode="lines",
                name=name,
                line={"color": LIMIT_COLOUR, "dash": dash, "width": 1},
                hoverinfo="skip",
            )
        )
    label = " (trial limits: fewer than 12 points)" if chart.trial else ""
    fig.update_layout(
        title={"text": title + label},
        xaxis_title=x_label,
        yaxis_title=y_label,
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 70, "r": 20, "t": 60, "b": 90},
        template="plotly_white",
    )
    return fig
