"""Benchmark: the report for a whole place (synth -> every available stage -> report).

Measures the report stage's time, the file's size, that it asks for nothing from the
network, and how fast headless chromium opens it (load event, first chart and every chart
drawn; cold first open and a warm second open), and the same with plotly's full bundle
instead of the report's small one. Peer: what a user would otherwise do with Plotly
alone, one self-contained ``write_html`` file per chart (each embedding plotly.js).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

SUITE = "report"
DEFAULT_SIZES = [100_000]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def open_in_chromium(path: Path) -> dict:
    """Seconds to the load event (words and tables shown), the first chart and every chart,
    cold (first open in a new browser) then warm; requests that left the machine."""
    from playwright.sync_api import sync_playwright

    out: dict = {"outside_requests": 0}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = b.new_page(viewport={"width": 1280, "height": 900})
        page.on(
            "request",
            lambda r: (
                out.__setitem__("outside_requests", out["outside_requests"] + 1)
                if not r.url.startswith(("file:", "data:", "blob:", "about:"))
                else None
            ),
        )
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for run in ("cold", "warm"):
            t0 = time.perf_counter()
            page.goto(path.as_uri(), wait_until="load")
            out[f"{run}_load_s"] = round(time.perf_counter() - t0, 2)
            page.wait_for_function("window.totalplaceFirstChart !== undefined", timeout=120_000)
            out[f"{run}_first_chart_s"] = round(time.perf_counter() - t0, 2)
            page.wait_for_function("window.totalplaceReady === true", timeout=120_000)
            out[f"{run}_all_charts_s"] = round(time.perf_counter() - t0, 2)
        out["charts_drawn"] = page.locator("figure.chart .plot.js-plotly-plot").count()
        out["page_errors"] = len(errors)
        b.close()
    return out


def embedded_js(html: str) -> str:
    """The plotly.js the report embeds (kept as text, run once the page is painted)."""
    m = re.search(r'<script type="text/plain" id="plotly-js">(.*?)</script>', html, re.S)
    return m[1] if m else ""


def run(residents: int, workdir: Path) -> dict:
    """Build Anytown, run every available stage, write the report, open it in chromium."""
    from totalplace.place import Place, available_stages
    from totalplace.report.render import plotly_js
    from totalplace.synth import generate

    out = workdir / "anytown"
    generate(residents=residents, seed=1, out=out)
    stage_s = {}
    with Place.open(out) as place:
        for name in available_stages():
            if name == "report":
                continue
            t0 = time.perf_counter()
            place.stage(name).run()
            stage_s[name] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        result = place.report.run()
        report_s = time.perf_counter() - t0
        from totalplace.report import build_sections

        t0 = time.perf_counter()
        sections = build_sections(place, _rule(place))
        peer_bytes = 0
        for s in sections:
            for f in s.figures:
                from totalplace.report.charts import style

                peer = workdir / "peer.html"
                style(f.figure).write_html(peer, include_plotlyjs=True, full_html=True)
                peer_bytes += peer.stat().st_size
        peer_s = time.perf_counter() - t0
    path = Path(result.detail["path"])
    html = path.read_text(encoding="utf-8")
    js = embedded_js(html)
    ours = html.replace(js, "")
    browser = open_in_chromium(path)
    # The same report with plotly's full bundle (what it embedded before the small one).
    full = workdir / "full.html"
    full.write_text(html.replace(js, plotly_js()), encoding="utf-8")
    with_full = open_in_chromium(full)
    expected = available_stages()
    return {
        "stages_run": list(stage_s) + ["report"],
        "stages_not_run": [s for s in expected if s not in stage_s and s != "report"],
        "stage_s": stage_s,
        "report_s": round(report_s, 1),
        "report_mb": round(path.stat().st_size / 1e6, 2),
        "sections_drawn": [k for k, v in result.detail["sections"].items() if v != "not run"],
        "charts": result.detail["figures"],
        "tables": result.detail["tables"],
        "plotly_js_copies": html.count("plotly.js v"),
        "plotly_js_mb": round(len(js.encode()) / 1e6, 2),
        "plotly_js_small_bundle": js != plotly_js(),
        "network_references": len(re.findall(r"""(src|href)\s*=\s*["']?(https?:)?//""", ours)),
        **browser,
        **{f"full_bundle_{k}": v for k, v in with_full.items() if k.endswith("_s")},
        "full_bundle_mb": round(full.stat().st_size / 1e6, 2),
        "peer_one_file_per_chart_mb": round(peer_bytes / 1e6, 1),
        "peer_s": round(peer_s, 1),
    }


def _rule(place):
    from totalplace.disclosure import Disclosure

    return Disclosure.for_place(place)
