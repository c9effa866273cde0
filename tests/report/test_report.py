"""The report: one self-contained file, sections in order, nothing small or recoverable."""

from __future__ import annotations

import re
import sys
import types

import pytest

from totalplace.disclosure import Disclosure
from totalplace.place import Place
from totalplace.report import PARTS, write_report
from totalplace.report.check import check_html, check_rows
from totalplace.report.render import report_bundle
from totalplace.section import Section, SectionTable

ORDER = [
    "The place at a glance",
    "Demand",
    "People",
    "Journeys",
    "Money",
    "Prevention and appraisal",
    "Linkage quality",
    "Methods and data sources",
]


def embedded_js(html: str) -> str:
    """The plotly.js the report embeds."""
    return re.search(r'<script type="text/plain" id="plotly-js">(.*?)</script>', html, re.S)[1]


def test_the_small_plotly_bundle_is_embedded_only_when_it_has_every_trace_type():
    import plotly.graph_objects as go

    from totalplace.report.render import plotly_js, render
    from totalplace.section import SectionFigure

    def report(*traces) -> str:
        figs = [SectionFigure("A chart", go.Figure(t), "test", "a caption") for t in traces]
        return render([Section("glance", "Glance", figures=figs)], "Testtown", "2024", "rule")

    small = report_bundle()
    assert small is not None and len(small) < len(plotly_js()) / 2
    assert embedded_js(report(go.Bar(x=[1], y=[10]), go.Sankey())) == small
    assert embedded_js(report(go.Bar(x=[1], y=[10]), go.Pie(values=[1]))) == plotly_js()
    # The template's defaults for traces a chart does not draw are left out of its data.
    html = report(go.Bar(x=[1], y=[10]))
    assert '"scatter3d"' not in html and '"bar":[' in html


def h2s(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>.*", "", h) for h in re.findall(r"<h2[^>]*>(.*?)</h2>", html)]


@pytest.fixture
def ingested(minitown):
    with Place.open(minitown) as place:
        place.ingest.run()
    return minitown


def test_minitown_report_is_one_offline_file_with_every_section_in_order(ingested):
    with Place.open(ingested) as place:
        result = place.report.run()
        runs = place.store.runs("report")
    path = ingested / "report" / "index.html"
    html = path.read_text(encoding="utf-8")
    assert result.detail["path"] == str(path) and runs[-1]["outcome"] == "ok"
    assert [p.title for p in PARTS] == ORDER and h2s(html) == ORDER
    # Plotly's JavaScript once (the small bundle: these charts need no other trace type);
    # nothing fetched from anywhere.
    js = embedded_js(html)
    assert js == report_bundle() and html.count(js) == 1 and html.count("plotly.js v") == 1
    ours = html.replace(js, "")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", ours)
    assert "default-src 'none'" in html and "@media print" in html
    # Stages that did not run are said to be not run, never drawn.
    assert html.count('<span class="badge">not run</span>') == 6  # 5 analysis stages + link
    assert "Contacts each month, by agency" in html
    assert check_html(html) == []


def test_a_stage_that_lands_later_needs_no_change(ingested, monkeypatch):
    mod = types.ModuleType("totalplace.demand")

    def section(place, disclosure):
        t = disclosure.protect_series({"value": 40, "failure": 3, "unknown": 22})
        return Section(
            "demand",
            "Demand by type",
            headlines=["Failure demand is counted."],
            tables=[
                SectionTable(
                    "Contacts by type",
                    ["Type", "Contacts"],
                    [*map(list, t.items()), ["All contacts", t.total]],
                    "demand",
                )
            ],
        )

    mod.section = section
    monkeypatch.setitem(sys.modules, "totalplace.demand", mod)
    with Place.open(ingested) as place:
        with place.store.stage_run("demand"):
            pass
        out = ingested / "r.html"
        detail = write_report(place, Disclosure(), out)
    html = out.read_text()
    assert detail["sections"]["demand"] == "ok" and "Failure demand is counted." in html
    assert h2s(html)[1] == "Demand"  # the report's own title and place
    assert check_html(html) == []


def test_check_finds_small_counts_and_lone_hidden_cells():
    rows = [["a", "*", 40], ["b", 20, 31], ["All", 25, 70]]
    assert check_rows(["Agency", "People", "Contacts"], rows) == [
        "table: People: one hidden count beside its total"
    ]
    assert check_rows(["Agency", "People"], [["a", "3"]]) == ["table: People: a count of 3 (row 1)"]
    assert check_rows(["Agency", "Spend £"], [["a", "3"]]) == []


def test_check_finds_a_hidden_count_recoverable_from_a_total_in_a_sentence():
    table = (
        "<table><thead><tr><th>Agency</th><th>People</th></tr></thead><tbody>"
        "<tr><th>Council</th><td>1,200</td></tr><tr><th>Police</th><td>*</td></tr>"
        "<tr><th>Health</th><td>640</td></tr></tbody></table>"
    )
    said = "<ul><li>The agencies hold records of {} people.</li></ul>"
    # 1,845 - (1,200 + 640) = 5: the hidden count is back.
    problems = check_html(table + said.format("1,845"))
    assert problems == [
        "table 1: People: its one hidden count can be worked out from the total 1,845 "
        "written in the text"
    ]
    # A total far from the sum, money, or a share is no such total; nor is a stated total
    # when the table hides two counts.
    assert check_html(table + said.format("9,000")) == []
    assert check_html(table + said.format("9,001")) == [
        "text: a count of 9,001 not rounded to 5 ('9,001 people')"
    ]
    assert check_html(table + "<p>£1,845 was spent on 1,845% more people.</p>") == []
    two = table.replace("<td>640</td>", "<td>*</td>")
    assert check_html(two + said.format("1,845")) == []
    # The same in a chart's data.
    chart = (
        '<script type="application/json" id="fig1-data">'
        '{"data": [{"type": "bar", "x": ["a", "b", "c"], "y": [1200, null, 640]}]}</script>'
    )
    assert len(check_html(chart + said.format("1,845"))) == 1


@pytest.mark.slow
def test_anytown_report_passes_the_disclosure_check_and_fails_with_it_off(linked_place):
    with Place.open(linked_place) as place:
        place.report.run()
        off = write_report(place, Disclosure.off(), linked_place / "off.html")
    html = (linked_place / "report" / "index.html").read_text(encoding="utf-8")
    assert check_html(html) == []
    problems = check_html((linked_place / "off.html").read_text(encoding="utf-8"))
    assert any("a count of" in p for p in problems), off
    # Linkage section: drawn, plain labels, no Splink internals, no record values.
    assert "Linkage quality" in h2s(html)
    assert "Example 1: how a pair scored" in html
    ours = html.replace(embedded_js(html), "")
    for internal in ("tf_given_name", "Jaro-Winkler", "['", "unique_id", "dob_str"):
        assert internal not in ours
    # Methods: every run is listed.
    with Place.open(linked_place) as place:
        n_runs = len(place.store.runs())
    # The report's own run is recorded after it is written; ingest and link also have one row
    # each in the "Is each stage up to date?" table.
    assert (
        html.count('<th scope="row">ingest</th>') + html.count('<th scope="row">link</th>')
        == n_runs - 1 + 2
    )


@pytest.mark.slow
def test_a_stage_whose_inputs_changed_is_shown_out_of_date(ingested):
    from totalplace.report.methods import section as methods_section
    from totalplace.report.sections import build_sections

    with Place.open(ingested) as place:
        place.link.run()
        d = Disclosure()
        fresh = {s.stage: s for s in build_sections(place, d)}
        assert fresh["link"].status == "ok"
    # An agency sends a corrected extract: ingest, and link downstream of it, are now stale.
    extract = ingested / "acute" / "patients.csv"
    extract.write_bytes(extract.read_bytes() + b"\n")
    with Place.open(ingested) as place:
        sections = {s.stage: s for s in build_sections(place, Disclosure())}
        link = sections["link"]
        assert link.status == "stale" and link.notes[0].startswith("Out of date:")
        table = next(
            t for t in methods_section(place, Disclosure()).tables if "up to date" in t.title
        )
    states = {row[0]: row[1] for row in table.rows}
    assert states["ingest"] == "stale" and states["link"] == "stale"
    assert "patients.csv" in next(row[2] for row in table.rows if row[0] == "ingest")


def test_durations_are_not_counts_but_counts_beside_them_are():
    # A follow-up window of 7 days is a setting, not seven people.
    assert check_rows(["Transition", "Within days", "People"], [["a", 7, 40]]) == []
    assert check_rows(["Transition", "Within days", "People"], [["a", 7, 4]]) == [
        "table: People: a count of 4 (row 1)"
    ]
