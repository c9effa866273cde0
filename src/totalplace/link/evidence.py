"""Evidence a person can check: records and Plotly chart specs for the report's linkage section.

Splink draws its charts with Altair; the report uses Plotly, so this module rebuilds them from
plain records: the trained model's parameters (``PLACE_DIR/link/model.json``), the tables the
link stage published (``linkage_pairs``, ``person_links``, ``persons``, ``link_flags``), and, for
waterfalls, Splink's own scoring of sample pairs. Every function returns plain records (lists
of dicts) and/or a Plotly figure as a JSON-able dict; templates never touch the database::

    from totalplace.link import evidence
    section = evidence.linkage_section(place.store.engine, place.root / "link" / "model.json",
                                       source=place.store.table("source_people"))
    section["match_weights"]["figure"]     # a dict for plotly.js / plotly.io.from_json

Sections: ``histogram`` (match weights of scored pairs), ``parameters`` (m and u per comparison
level), ``match_weights`` (the weight each level adds), ``waterfalls`` (how sample pairs' scores
add up), ``cluster_sizes`` (records per person), ``suspicious`` (clusters flagged as too big or
held together by weak bridges).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

if TYPE_CHECKING:
    import pyarrow as pa

    from totalplace.engine import Engine

Figure = dict[str, Any]
Records = list[dict[str, Any]]


def _fig(fig: go.Figure) -> Figure:
    # Through JSON so the dict holds only plain types (no numpy arrays), ready for templates.
    return json.loads(fig.to_json())


def load_model(model: dict | str | Path) -> dict:
    """A saved Splink model (``linker.misc.save_model_to_json``) as a dict."""
    if isinstance(model, dict):
        return model
    return json.loads(Path(model).read_text())


# --- model parameters ---------------------------------------------------------------------
def parameter_records(model: dict | str | Path) -> Records:
    """One record per (comparison, non-null level): m, u, Bayes factor and match weight.

    Example:
        >>> model = {"probability_two_random_records_match": 0.001, "comparisons": [
        ...     {"output_column_name": "dob", "comparison_levels": [
        ...         {"label_for_charts": "dob is NULL", "is_null_level": True},
        ...         {"label_for_charts": "Exact", "m_probability": 0.9, "u_probability": 0.01},
        ...         {"label_for_charts": "All other", "m_probability": 0.1,
        ...          "u_probability": 0.99}]}]}
        >>> [(r["level"], round(r["match_weight"], 2)) for r in parameter_records(model)]
        [('Exact', 6.49), ('All other', -3.31)]
    """
    out: Records = []
    for c in load_model(model)["comparisons"]:
        levels = [lv for lv in c["comparison_levels"] if not lv.get("is_null_level")]
        for i, lv in enumerate(levels):
            m, u = lv.get("m_probability"), lv.get("u_probability")
            bf = (m / u) if (m is not None and u) else None
            out.append(
                {
                    "comparison": c["output_column_name"],
                    "level": lv.get("label_for_charts") or lv.get("sql_condition", ""),
                    "level_index": len(levels) - 1 - i,  # Splink's comparison vector value
                    "m_probability": m,
                    "u_probability": u,
                    "bayes_factor": bf,
                    "match_weight": math.log2(bf) if bf and bf > 0 else None,
                    "tf_adjusted": bool(lv.get("tf_adjustment_column")),
                }
            )
    return out


def prior_match_weight(model: dict | str | Path) -> float:
    """The starting weight: log2 of the prior odds that two random records match."""
    p = load_model(model)["probability_two_random_records_match"]
    return math.log2(p / (1 - p))


def parameters_figure(records: Records) -> Figure:
    """m and u of every level, side by side (Splink's ``m_u_parameters_chart`` in Plotly)."""
    labels = [f"{r['comparison']}: {r['level']}" for r in records]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.02,
        subplot_titles=("m: P(level | same person)", "u: P(level | different people)"),
    )
    fig.add_trace(
        go.Bar(
            x=[r["m_probability"] for r in records],
            y=labels,
            orientation="h",
            name="m",
            marker_color="#2a9d8f",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=[r["u_probability"] for r in records],
            y=labels,
            orientation="h",
            name="u",
            marker_color="#e76f51",
        ),
        row=1,
        col=2,
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(range=[0, 1])
    fig.update_layout(
        title="Model parameters by comparison level",
        showlegend=False,
        height=max(300, 22 * len(records) + 120),
        margin={"l": 320},
    )
    return _fig(fig)


def match_weights_figure(records: Records, prior: float | None = None) -> Figure:
    """The weight each comparison level adds (Splink's ``match_weights_chart`` in Plotly)."""
    rows = [r for r in records if r["match_weight"] is not None]
    labels = [f"{r['comparison']}: {r['level']}" for r in rows]
    weights = [r["match_weight"] for r in rows]
    if prior is not None:
        labels.insert(0, "prior (two random records)")
        weights.insert(0, prior)
    fig = go.Figure(
        go.Bar(
            x=weights,
            y=labels,
            orientation="h",
            marker_color=["#2a9d8f" if w >= 0 else "#e76f51" for w in weights],
            hovertemplate="%{y}<br>match weight %{x:.2f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title="Match weight of each comparison level (log2 of m/u)",
        xaxis_title="match weight",
        height=max(300, 22 * len(labels) + 120),
        margin={"l": 320},
    )
    return _fig(fig)


# --- scored pairs ---------------------------------------------------------------------------
def histogram_sql(pairs: str, width: float) -> str:
    """Scored pairs counted in match-weight bins ``width`` wide (not deterministic/reviewed)."""
    w = float(width)
    if w <= 0:
        raise ValueError(f"bin width must be positive; found {width!r}")
    return f"""
        SELECT floor(match_weight / {w!r}) * {w!r} AS bin_start, count(*) AS pairs
        FROM "{pairs}"
        WHERE match_weight IS NOT NULL AND match_key NOT IN ('deterministic', 'review')
        GROUP BY 1 ORDER BY 1
    """


def histogram(engine: Engine, pairs: str = "linkage_pairs", width: float = 1.0) -> dict:
    """Match-weight histogram of the scored pairs: ``{"records": [...], "figure": {...}}``."""
    recs = engine.query(histogram_sql(pairs, width)).to_pylist()
    for r in recs:
        r["bin_start"] = float(r["bin_start"])
        r["bin_end"] = r["bin_start"] + width
    fig = go.Figure(
        go.Bar(
            x=[r["bin_start"] + width / 2 for r in recs],
            y=[r["pairs"] for r in recs],
            width=width,
            marker_color="#264653",
            hovertemplate="weight %{x}<br>%{y} pairs<extra></extra>",
        )
    )
    fig.update_layout(
        title="Match weights of the pairs compared",
        xaxis_title="match weight",
        yaxis_title="pairs",
        yaxis_type="log",
        bargap=0.05,
    )
    return {"records": recs, "figure": _fig(fig)}


# --- clusters -------------------------------------------------------------------------------
def cluster_sizes_sql(person_links: str) -> str:
    """How many persons have 1, 2, 3, ... records."""
    return f"""
        SELECT n_records, count(*) AS persons FROM (
            SELECT person_id, count(*) AS n_records FROM "{person_links}" GROUP BY person_id
        ) s GROUP BY n_records ORDER BY n_records
    """


def cluster_sizes(engine: Engine, person_links: str = "person_links") -> dict:
    """Cluster size distribution: ``{"records": [...], "figure": {...}}``."""
    recs = engine.query(cluster_sizes_sql(person_links)).to_pylist()
    fig = go.Figure(
        go.Bar(
            x=[r["n_records"] for r in recs], y=[r["persons"] for r in recs], marker_color="#264653"
        )
    )
    fig.update_layout(
        title="Records per person",
        xaxis_title="records in the person's cluster",
        yaxis_title="persons",
        yaxis_type="log",
    )
    return {"records": recs, "figure": _fig(fig)}


def suspicious_sql(flags: str, persons: str, limit: int) -> str:
    """Flagged clusters, biggest first, with who they appear to be."""
    return f"""
        SELECT f.person_id, f.n_records, f.reason, f.detail, p.n_agencies,
               p.min_match_probability
        FROM "{flags}" f LEFT JOIN "{persons}" p ON p.person_id = f.person_id
        ORDER BY f.n_records DESC, f.person_id, f.reason
        LIMIT {int(limit)}
    """


def suspicious_clusters(
    engine: Engine, flags: str = "link_flags", persons: str = "persons", limit: int = 50
) -> dict:
    """Clusters the over-link guard flagged (too big, or held by weak bridge edges).

    Returns ``{"records": [...], "counts": {reason: n}, "figure": {...}}``; the figure plots
    each flagged cluster's size against its weakest link.
    """
    recs = engine.query(suspicious_sql(flags, persons, limit)).to_pylist()
    counts = {
        r["reason"]: int(r["n"])
        for r in engine.query(
            f'SELECT reason, count(*) AS n FROM "{flags}" GROUP BY reason ORDER BY reason'
        ).to_pylist()
    }
    fig = go.Figure()
    for reason in sorted({r["reason"] for r in recs}):
        rows = [r for r in recs if r["reason"] == reason]
        fig.add_trace(
            go.Scatter(
                x=[r["n_records"] for r in rows],
                y=[r["min_match_probability"] for r in rows],
                mode="markers",
                name=reason,
                text=[f"{r['person_id']}: {r['detail']}" for r in rows],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    fig.update_layout(
        title="Clusters flagged for review",
        xaxis_title="records in cluster",
        yaxis_title="weakest match probability in cluster",
    )
    return {"records": recs, "counts": counts, "figure": _fig(fig)}


# --- waterfalls -----------------------------------------------------------------------------
def sample_pairs_sql(pairs: str, targets: tuple[float, ...]) -> str:
    """One scored pair nearest each target probability (deterministic choice)."""
    parts = [
        f"""
        SELECT * FROM (
            SELECT unique_id_l, unique_id_r, match_probability, {i} AS sample
            FROM "{pairs}"
            WHERE match_key NOT IN ('deterministic', 'review')
            ORDER BY abs(match_probability - {float(t)!r}), unique_id_l, unique_id_r
            LIMIT 1
        ) s{i}"""
        for i, t in enumerate(targets)
    ]
    return " UNION ALL ".join(parts) + " ORDER BY sample"


def waterfall_records(linker, pairs: list[tuple[dict, dict]]) -> list[Records]:
    """Splink's waterfall data (one list of steps per pair) for prepared record pairs.

    ``linker`` is a Splink Linker holding the trained model; each pair is two records with
    the model's input columns (as the link stage prepares them).
    """
    from splink.internals.waterfall_chart import records_to_waterfall_data

    scored = []
    for left, right in pairs:
        df = linker.inference.score_pair(left, right)
        scored.extend(df.as_record_list())
        df.drop_table_from_database_and_remove_from_cache()
    steps = records_to_waterfall_data(scored, linker._settings_obj, hide_details=False)
    out: list[Records] = [[] for _ in scored]
    for s in steps:
        out[s["record_number"]].append(
            {
                "step": s["column_name"],
                "label": s["label_for_charts"],
                "match_weight": s["log2_bayes_factor"],
                "value_l": s["value_l"],
                "value_r": s["value_r"],
                "m_probability": s["m_probability"],
                "u_probability": s["u_probability"],
                "term_frequency": s["term_frequency_adjustment"],
            }
        )
    return out


def waterfall_figure(steps: Records, title: str = "How this pair's score adds up") -> Figure:
    """A Plotly waterfall: the prior, each comparison's weight, and the final score."""
    shown = [s for s in steps if s["step"] in ("Prior", "Final score") or s["match_weight"]]
    measure = [
        "absolute"
        if s["step"] == "Prior"
        else "total"
        if s["step"] == "Final score"
        else "relative"
        for s in shown
    ]
    text = [
        s["label"]
        if s["step"] in ("Prior", "Final score")
        else f"{s['label']} ({s['value_l']} vs {s['value_r']})"
        for s in shown
    ]
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=measure,
            y=[s["step"] for s in shown],
            x=[s["match_weight"] if s["step"] != "Final score" else None for s in shown],
            text=text,
            hovertemplate="%{text}<br>weight %{x:.2f}<extra></extra>",
        )
    )
    final = next((s["match_weight"] for s in steps if s["step"] == "Final score"), None)
    if final is not None:
        p = 1 / (1 + 2 ** (-final))
        title = f"{title}: match weight {final:.2f}, probability {p:.4f}"
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, xaxis_title="match weight", showlegend=False)
    return _fig(fig)


def sample_waterfalls(
    engine: Engine,
    model_path: str | Path,
    source: pa.Table,
    pairs: str = "linkage_pairs",
    targets: tuple[float, ...] = (0.99, 0.9, 0.5),
) -> list[dict]:
    """Waterfalls for one scored pair near each target probability.

    Re-scores the pairs with Splink from the saved model (term frequencies computed over all
    of ``source``, as in the run), so the steps are Splink's own arithmetic.
    Returns ``[{"pair": {...}, "steps": [...], "figure": {...}}, ...]``.
    """
    import duckdb
    from splink import DuckDBAPI, Linker

    from totalplace.link.prepare import prepare_sql, register_nicknames

    chosen = engine.query(sample_pairs_sql(pairs, targets)).to_pylist()
    if not chosen:
        return []
    model = load_model(model_path)
    con = duckdb.connect()
    try:
        con.register("_tp_source", source)
        register_nicknames(con)
        frame = con.sql(prepare_sql("_tp_source", source.column_names)).to_arrow_table()
        db_api = DuckDBAPI(connection=con)
        linker = Linker(
            db_api.register(frame, table_name="tp_evidence_frame"), model, log_level=None
        )
        for c in model["comparisons"]:
            for lv in c["comparison_levels"]:
                col = lv.get("tf_adjustment_column")
                if col:
                    linker.table_management.compute_tf_table(col)
        by_id = {r["unique_id"]: r for r in frame.filter(_isin(frame, chosen)).to_pylist()}
        record_pairs = [(by_id[c["unique_id_l"]], by_id[c["unique_id_r"]]) for c in chosen]
        steps = waterfall_records(linker, record_pairs)
    finally:
        con.close()
    return [
        {
            "pair": c,
            "steps": s,
            "figure": waterfall_figure(s, f"{c['unique_id_l']} vs {c['unique_id_r']}"),
        }
        for c, s in zip(chosen, steps, strict=True)
    ]


def _isin(frame: pa.Table, chosen: Records):
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = {c["unique_id_l"] for c in chosen} | {c["unique_id_r"] for c in chosen}
    return pc.is_in(frame.column("unique_id"), value_set=pa.array(sorted(ids)))


# --- the whole section ------------------------------------------------------------------------
def linkage_section(
    engine: Engine, model_path: str | Path, source: pa.Table | None = None, n_suspicious: int = 50
) -> dict[str, Any]:
    """Everything the report's linkage section shows, as records and figures.

    ``source`` (the ``source_people`` rows) is needed only for the waterfalls; without it
    that part is an empty list.
    """
    params = parameter_records(model_path)
    prior = prior_match_weight(model_path)
    return {
        "histogram": histogram(engine),
        "parameters": {"records": params, "figure": parameters_figure(params)},
        "match_weights": {
            "records": params,
            "prior": prior,
            "figure": match_weights_figure(params, prior),
        },
        "waterfalls": sample_waterfalls(engine, model_path, source) if source is not None else [],
        "cluster_sizes": cluster_sizes(engine),
        "suspicious": suspicious_clusters(engine, limit=n_suspicious),
    }
