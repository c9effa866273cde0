"""Chart style for people, not code: one palette, readable labels, greyscale-safe marks.

Every figure in the report and the app goes through ``style``: the Okabe-Ito palette (safe
for the common colour-blindnesses) ordered so neighbouring series differ in lightness too,
bar patterns and line dashes so series stay apart when printed in grey, margins that grow
to fit long labels (nothing cut off at a 1280-pixel window), plain fonts.

>>> fig = style({"data": [{"type": "bar", "x": ["a"], "y": [10]}], "layout": {}})
>>> fig.layout.yaxis.automargin
True
"""

from __future__ import annotations

from functools import cache
from typing import Any

import plotly.graph_objects as go

# Okabe & Ito (2008), "Color Universal Design"; dark and light alternate for greyscale.
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
PATTERNS = ("", "/", ".", "x", "-", "|", "+", "\\")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "solid", "dash")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def figure(fig: Any) -> go.Figure:
    """A plotly Figure from a Figure or its dict / JSON form."""
    if isinstance(fig, go.Figure):
        return fig
    if isinstance(fig, str):
        import plotly.io as pio

        return pio.from_json(fig)
    return go.Figure(fig)


@cache
def _template(types: frozenset[str]) -> dict[str, Any]:
    """Plotly's "simple_white" template with the defaults of these trace types only: the
    others are dead weight in every chart's JSON (about 5 kB each)."""
    import plotly.io as pio

    tpl = pio.templates["simple_white"].to_plotly_json()
    tpl["data"] = {k: v for k, v in (tpl.get("data") or {}).items() if k in types}
    return tpl


def style(fig: Any, height: int | None = None) -> go.Figure:
    """The report's look for any figure (returns a new styled Figure)."""
    fig = go.Figure(figure(fig))
    bars = [t for t in fig.data if t.type in ("bar", "histogram")]
    lines = [t for t in fig.data if t.type == "scatter" and "lines" in (t.mode or "lines")]
    for i, t in enumerate(bars):
        if len(bars) > 1:
            t.marker.pattern.shape = PATTERNS[i % len(PATTERNS)]
            t.marker.pattern.fillmode = "overlay"
            t.marker.pattern.fgcolor = "#ffffff" if i % 2 == 0 else "#333333"
        if t.marker.color is None:
            t.marker.color = PALETTE[i % len(PALETTE)]
        t.marker.line.color = "#333333"
        t.marker.line.width = 0.5
    for i, t in enumerate(lines):
        if t.line.dash is None:
            t.line.dash = DASHES[i % len(DASHES)]
        if t.line.width is None:
            t.line.width = 2.5
    # Replaced, not merged (update_layout would merge it into plotly's default template).
    fig.layout.template = _template(frozenset(t.type for t in fig.data))
    fig.update_layout(
        colorway=list(PALETTE),
        font={"family": FONT, "size": 14, "color": "#1a1a1a"},
        title={"x": 0, "xanchor": "left", "font": {"size": 17}, "automargin": True},
        margin={"t": 70, "r": 30, "b": 50, "l": 60},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
        hoverlabel={"font": {"family": FONT}},
        separators=".,",
    )
    if height or not fig.layout.height:
        fig.update_layout(height=height or 420)
    fig.update_xaxes(automargin=True, title_standoff=10, showgrid=False)
    fig.update_yaxes(automargin=True, title_standoff=10, showgrid=True, gridcolor="#e5e5e5")
    return fig


def bar(
    labels: list[Any],
    values: list[int | float | None],
    title: str,
    x_title: str,
    y_title: str,
    horizontal: bool = False,
    measure: str = "count",
) -> go.Figure:
    """One series of bars; a suppressed value (None) is drawn as no bar and said in the hover."""
    text = ["*" if v is None else "" for v in values]
    kw: dict[str, Any] = {
        "text": text,
        "textposition": "outside",
        "cliponaxis": False,
        "meta": {"measure": measure},
    }
    if horizontal:
        t = go.Bar(y=[str(x) for x in labels], x=values, orientation="h", **kw)
    else:
        t = go.Bar(x=[str(x) for x in labels], y=values, **kw)
    fig = go.Figure(t)
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, showlegend=False)
    if horizontal:
        fig.update_yaxes(autorange="reversed")
        fig.update_layout(height=max(320, 28 * len(labels) + 140))
    return style(fig)
