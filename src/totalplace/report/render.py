"""Sections -> one self-contained HTML file (Plotly's JavaScript embedded once, no network).

Templates are loaded with ``importlib.resources``; templates never touch the database.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from totalplace.disclosure import SUPPRESSED
from totalplace.report.charts import style
from totalplace.section import Section


@cache
def _env() -> jinja2.Environment:
    return template_env(_template_source)


def template_env(load) -> jinja2.Environment:
    """The Jinja environment of the report and the app: autoescaped, with the cell filters."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = cell
    env.filters["is_num"] = is_num
    return env


def _template_source(name: str) -> str:
    return resources.files("totalplace.report").joinpath("templates", name).read_text("utf-8")


@cache
def plotly_js() -> str:
    """The plotly.js bundle that ships inside the installed plotly package."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


# The trace types in ``assets/plotly-report.min.js``: plotly.js built with only what the
# report draws (``assets/build-plotly-bundle.sh``). A browser runs it about five times faster
# than the full bundle, which is most of the wait before the first chart.
REPORT_TRACES = frozenset({"scatter", "bar", "heatmap", "waterfall", "sankey"})
_VERSION = re.compile(r"plotly\.js v(\d+\.\d+\.\d+)")


@cache
def report_bundle() -> str | None:
    """The report's smaller plotly.js, or None when it is missing or is not the same version
    as the installed package's (then the full bundle is used)."""
    try:
        js = resources.files("totalplace.report").joinpath("assets", "plotly-report.min.js")
        js = js.read_text("utf-8")
    except (FileNotFoundError, OSError):
        return None
    ours, full = _VERSION.search(js[:400]), _VERSION.search(plotly_js()[:400])
    if not ours or not full or ours.group(1) != full.group(1):
        return None
    return js


def report_js(trace_types: set[str] | frozenset[str]) -> str:
    """The plotly.js to embed for charts of these trace types: the small bundle when it has
    them all, else the full one."""
    small = report_bundle()
    if small is not None and set(trace_types) <= REPORT_TRACES:
        return small
    return plotly_js()


def is_num(v: Any) -> bool:
    return v is None or isinstance(v, int | float | Decimal) and not isinstance(v, bool)


def cell(v: Any) -> str:
    """A table value as people read it: 1,235 · 12.5 · * for a hidden count."""
    if v is None:
        return SUPPRESSED
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float | Decimal):
        return f"{v:,.2f}".rstrip("0").rstrip(".") if v != int(v) else f"{int(v):,}"
    return str(v)


def figure_json(fig: Any) -> str:
    """A styled figure as JSON, safe inside a <script> element."""
    f = style(fig)
    return f.to_json().replace("</", "<\\/")


def render(
    sections: list[Section],
    place_name: str,
    period: str,
    rule: str,
    generated_at: dt.datetime | None = None,
    embed_js: bool = True,
    base_href: str = "",
) -> str:
    """The whole report as one HTML string."""
    figures: list[tuple[str, str]] = []
    traces: set[str] = set()
    views = []
    for s in sections:
        figs = []
        for f in s.figures:
            fid = f"fig{len(figures) + 1}"
            styled = style(f.figure)
            traces |= {t.type for t in styled.data}
            figures.append((fid, styled.to_json().replace("</", "<\\/")))
            figs.append({"id": fid, "f": f})
        views.append({"s": s, "figs": figs})
    return (
        _env()
        .get_template("report.html")
        .render(
            place_name=place_name,
            period=period,
            rule=rule,
            generated=(generated_at or dt.datetime.now(dt.UTC)).strftime("%d %B %Y %H:%M UTC"),
            views=views,
            figures=figures,
            plotly_js=report_js(traces) if embed_js else "",
            embed_js=embed_js,
            base_href=base_href,
            suppressed=SUPPRESSED,
            figures_json=json.dumps([fid for fid, _ in figures]),
        )
    )
