"""The report's linkage-quality section: how sure we are that records were joined rightly.

Reads only what the link stage publishes: ``linkage_pairs``, ``person_links``, ``persons``,
``link_flags``, the trained model (``PLACE_DIR/link/model.json``) and the link run's detail
in ``runs``. Labels are plain language ("First name: very similar spelling"), never Splink's
internal names or any record's values. Counts pass through the publishing rule.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from totalplace.disclosure import Disclosure
from totalplace.report.charts import PALETTE, bar, style
from totalplace.section import Section, SectionFigure, SectionTable

TITLE = "Linkage quality"

FIELDS = {
    "nhs_number": "NHS number",
    "given_name": "First name",
    "middle_names": "Middle names",
    "family_name": "Surname",
    "dob": "Date of birth",
    "dob_str": "Date of birth",
    "sex": "Sex",
    "postcode": "Postcode",
    "address": "Address",
    "uprn": "Property (UPRN)",
    "email": "Email",
    "phone": "Phone",
}


def field_label(name: str) -> str:
    """A comparison's name for people: ``given_name`` -> ``First name``."""
    name = re.sub(r"^tf_", "", name)
    return FIELDS.get(name, name.replace("_", " ").capitalize())


def level_label(label: str) -> str:
    """A comparison level for people: ``Jaro-Winkler distance of x >= 0.92`` -> ``very similar``.

    >>> level_label("Jaro-Winkler distance of given_name >= 0.92")
    'very similar spelling'
    >>> level_label("Exact match on dob")
    'the same'
    """
    s = label.strip()
    if re.match(r"(?i)^exact match", s):
        return "the same"
    m = re.match(r"(?i)^jaro[- ]winkler .*?>=\s*([0-9.]+)", s)
    if m:
        return "very similar spelling" if float(m.group(1)) >= 0.9 else "similar spelling"
    m = re.match(r"(?i)^(damerau-)?levenshtein .*?<=\s*([0-9]+)", s)
    if m:
        return f"up to {m.group(2)} characters differ"
    if re.match(r"(?i)^all other", s):
        return "different"
    if re.search(r"(?i)is null|unknown on one side", s):
        return "missing on one side"
    return s[0].lower() + s[1:] if s else s


def histogram_sql(width: float = 1.0) -> str:
    """Scored pairs per match-weight bin (pairs decided by a rule or a reviewer left out)."""
    return f"""
        SELECT CAST(floor(match_weight / {width!r}) * {width!r} AS DOUBLE) AS bin_start,
               count(*) AS pairs
        FROM "linkage_pairs"
        WHERE match_weight IS NOT NULL AND match_key NOT IN ('deterministic', 'review')
        GROUP BY 1 ORDER BY 1"""


def cluster_sizes_sql() -> str:
    return 'SELECT n_records, count(*) AS persons FROM "persons" GROUP BY 1 ORDER BY 1'


def flags_sql() -> str:
    return 'SELECT reason, count(DISTINCT person_id) AS n FROM "link_flags" GROUP BY 1 ORDER BY 1'


def parameter_rows(model: dict) -> list[dict[str, Any]]:
    """m, u and match weight per (comparison, level), with plain labels."""
    out = []
    for c in model.get("comparisons", []):
        for lv in c.get("comparison_levels", []):
            if lv.get("is_null_level"):
                continue
            m, u = lv.get("m_probability"), lv.get("u_probability")
            w = math.log2(m / u) if m and u else None
            out.append(
                {
                    "field": field_label(c.get("output_column_name", "")),
                    "level": level_label(lv.get("label_for_charts") or ""),
                    "m": m,
                    "u": u,
                    "weight": w,
                }
            )
    return out


def waterfall_steps(steps: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Splink's waterfall steps as (plain label, weight); term-frequency steps folded in."""
    out: list[tuple[str, float]] = []
    for s in steps:
        name, w = str(s.get("step", "")), float(s.get("match_weight") or 0.0)
        if name == "Prior":
            out.append(("Starting point: two records picked at random", w))
        elif name == "Final score":
            out.append(("Final score", w))
        elif name.startswith("tf_"):
            label = f"{field_label(name)}: how common the value is"
            if w:
                out.append((label, w))
        else:
            out.append((f"{field_label(name)}: {level_label(str(s.get('label', '')))}", w))
    return out


def waterfall_figure(steps: list[tuple[str, float]], title: str) -> go.Figure:
    """How one pair's score adds up, as horizontal steps with readable labels."""
    body = [(label, w) for label, w in steps if label != "Final score"]
    final = sum(w for _, w in body)
    labels = [label for label, _ in body] + ["Final score"]
    measure = ["absolute"] + ["relative"] * (len(body) - 1) + ["total"]
    x = [w for _, w in body] + [None]
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=measure,
            y=labels,
            x=x,
            text=[f"{v:+.1f}" if v is not None else f"{final:.1f}" for v in x],
            textposition="outside",
            cliponaxis=False,
            increasing={"marker": {"color": PALETTE[0]}},
            decreasing={"marker": {"color": PALETTE[5]}},
            totals={"marker": {"color": "#444444"}},
            connector={"line": {"color": "#999999"}},
            hovertemplate="%{y}<br>adds %{x:.2f}<extra></extra>",
            meta={"measure": "weight"},
        )
    )
    running, ends = 0.0, [0.0]
    for w in x[:-1]:
        running += w or 0.0
        ends.append(running)
    lo, hi = min(ends), max(ends)
    pad = 0.18 * (hi - lo or 1.0)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(range=[lo - pad, hi + pad], zeroline=True)
    fig.update_layout(
        title=title,
        xaxis_title="match weight (above 0: more likely the same person)",
        showlegend=False,
        height=max(320, 34 * len(labels) + 130),
    )
    return style(fig)


def _waterfalls(place, model_path: Path, n: int) -> tuple[list[SectionFigure], str]:
    if n <= 0:
        return [], ""
    try:
        from totalplace.link import evidence

        source = place.store.table("source_people")
        targets = (0.99, 0.9, 0.5, 0.2, 0.05)[:n]
        samples = evidence.sample_waterfalls(
            place.store.engine, model_path, source, targets=targets
        )
    except Exception as e:  # the evidence helper is optional; say why there are none
        return [], f"Example score breakdowns could not be drawn ({type(e).__name__})."
    figs = []
    for i, s in enumerate(samples, 1):
        p = float(s["pair"]["match_probability"])
        title = f"Example {i}: how a pair scored (probability {p:.2f} of the same person)"
        figs.append(
            SectionFigure(
                title,
                waterfall_figure(waterfall_steps(s["steps"]), title),
                source="linkage_pairs, link/model.json",
                caption="Each bar is the evidence one field adds or takes away; the record "
                "values themselves are not shown.",
            )
        )
    return figs, ""


def _parameters_figure(rows: list[dict[str, Any]]) -> go.Figure:
    labels = [f"{r['field']}: {r['level']}" for r in rows]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            y=labels,
            x=[100 * (r["m"] or 0) for r in rows],
            orientation="h",
            name="pairs that are the same person",
            meta={"measure": "percent"},
        )
    )
    fig.add_trace(
        go.Bar(
            y=labels,
            x=[100 * (r["u"] or 0) for r in rows],
            orientation="h",
            name="pairs of different people",
            meta={"measure": "percent"},
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title="How often each field agrees, for the same person and for different people",
        xaxis_title="% of pairs at this level",
        barmode="group",
        height=max(400, 30 * len(labels) + 160),
    )
    return style(fig)


def section(place, disclosure: Disclosure) -> Section:
    """The linkage-quality section (see the module docstring)."""
    engine = place.store.engine
    have = set(engine.tables())
    if not {"person_links", "persons"} <= have:
        return Section.not_run("link", TITLE)
    d = disclosure
    run = place.store.last_run("link")
    detail = (run or {}).get("detail") or {}
    model_path = Path(detail.get("model_path") or place.root / "link" / "model.json")
    n_records = int(engine.count("person_links"))
    sizes = {
        int(r["n_records"]): int(r["persons"])
        for r in engine.query(cluster_sizes_sql()).to_pylist()
    }
    n_people = sum(sizes.values())
    headlines = [
        f"{d.fmt_count(n_records)} person records were linked into {d.fmt_count(n_people)} people.",
    ]
    thr = detail.get("threshold") or {}
    if thr.get("estimated_precision") is not None:
        headlines.append(
            f"Two records are joined when the model gives at least {thr['value']:.3g} probability "
            f"that they are the same person; the model estimates that "
            f"{100 * thr['estimated_precision']:.1f}% of the joins it makes are right and that "
            f"it finds {100 * thr['estimated_recall']:.1f}% of the true joins."
        )
    figures: list[SectionFigure] = []
    tables: list[SectionTable] = []
    notes: list[str] = []

    if "linkage_pairs" in have:
        hist = {
            float(r["bin_start"]): int(r["pairs"])
            for r in engine.query(histogram_sql()).to_pylist()
        }
        h = d.protect_series(hist)
        headlines.append(f"{h.fmt(h.total)} pairs of records were scored.")
        fig = go.Figure(
            go.Bar(
                x=[b + 0.5 for b in h.labels],
                y=h.values,
                width=0.95,
                meta={"measure": "count"},
                hovertemplate="weight %{x}<br>%{y:,} pairs<extra></extra>",
            )
        )
        fig.update_layout(
            title="How strongly the pairs compared look like the same person",
            xaxis_title="match weight (above 0: more likely the same person than not)",
            yaxis_title="pairs of records (log scale)",
            showlegend=False,
        )
        fig = style(fig)
        fig.update_yaxes(type="log", dtick=1, tickformat=",")
        figures.append(
            SectionFigure(
                "How strongly the pairs compared look like the same person",
                fig,
                source="linkage_pairs",
                caption="Two humps with a valley between them mean the model tells matches "
                "from non-matches clearly.",
            )
        )

    s = d.protect_series(sizes)
    figures.append(
        SectionFigure(
            "How many records each person has",
            bar(
                [str(k) for k in s.labels],
                s.values,
                "How many records each person has",
                "records joined into one person",
                "people",
            ),
            source="persons",
            caption="A few very large groups would suggest records joined wrongly.",
        )
    )
    if model_path.exists():
        model = json.loads(model_path.read_text())
        rows = parameter_rows(model)
        figures.append(
            SectionFigure(
                "How often each field agrees",
                _parameters_figure(rows),
                source="link/model.json",
                caption="Where the two bars differ most, the field tells people apart best.",
            )
        )
        tables.append(
            SectionTable(
                "What the model learned about each field",
                [
                    "Field",
                    "Comparison",
                    "% of same-person pairs",
                    "% of different-people pairs",
                    "Weight of evidence",
                ],
                [
                    [
                        r["field"],
                        r["level"],
                        round(100 * r["m"], 2) if r["m"] is not None else "—",
                        round(100 * r["u"], 4) if r["u"] is not None else "—",
                        round(r["weight"], 2) if r["weight"] is not None else "—",
                    ]
                    for r in rows
                ],
                source="link/model.json",
                note="Weight of evidence is log2 of the ratio of the two percentages.",
            )
        )
        n = 3
        try:
            from totalplace.report.settings import report_settings

            n = report_settings(place).waterfalls
        except Exception:
            pass
        wf, why = _waterfalls(place, model_path, n)
        figures.extend(wf)
        if why:
            notes.append(why)
    else:
        notes.append(
            f"The trained model ({model_path}) is not there, so its parameters are not shown."
        )
    if "link_flags" in have:
        flags = {r["reason"]: int(r["n"]) for r in engine.query(flags_sql()).to_pylist()}
        plain = {"size": "unusually many records", "bridge": "held together by a weak link"}
        f = d.protect_series(flags, total=False)
        tables.append(
            SectionTable(
                "People flagged for a person to check",
                ["Why flagged", "People"],
                [[plain.get(k, k), v] for k, v in f.items()],
                source="link_flags",
            )
        )
    return Section(
        stage="link",
        title=TITLE,
        headlines=headlines,
        figures=figures,
        tables=tables,
        notes=notes,
        run_id=(run or {}).get("run_id"),
        run_at=str((run or {}).get("finished_at") or ""),
    )
