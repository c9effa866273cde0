"""Sections -> one self-contained HTML file (Plotly's JavaScript embedded once, no network).

Templates are loaded with ``importlib.resources``; templates never touch the database.
"""

from __future__ import annotations

import datetime as dt
import json
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
    views = []
    for s in sections:
        figs = []
        for f in s.figures:
            fid = f"fig{len(figures) + 1}"
            figures.append((fid, figure_json(f.figure)))
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
            plotly_js=plotly_js() if embed_js else "",
            embed_js=embed_js,
            base_href=base_href,
            suppressed=SUPPRESSED,
            figures_json=json.dumps([fid for fid, _ in figures]),
        )
    )
