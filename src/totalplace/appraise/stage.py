"""The ``Appraise`` stage: evaluate past programmes, then appraise the interventions.

Publishes ``programme_effects``, ``appraisals`` (P10/P50/P90 and the central estimate of
every measure), ``appraisal_by_agency`` (who pays, who gains, what is cashable),
``appraisal_flows`` (the central estimate year by year) and ``appraisal_tornado``; writes
``PLACE/appraisal.xlsx`` in the spreadsheet model's layout.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from totalplace.appraise.evaluate import Evaluation, evaluate, programme_data
from totalplace.appraise.model import (
    MEASURES,
    UNITS,
    central,
    horizon_factors,
    monte_carlo,
    percentiles,
    resolve,
    tornado,
)
from totalplace.appraise.section import _gbp
from totalplace.appraise.settings import AppraiseSettings, Programme, load_settings
from totalplace.place import StageResult

MONEY = pa.decimal128(18, 2)
SCHEMAS: dict[str, pa.Schema] = {
    "programme_effects": pa.schema(
        [
            ("programme", pa.string()),
            ("outcome", pa.string()),
            ("participants", pa.int64()),
            ("comparison_size", pa.int64()),
            ("naive_change", pa.float64()),
            ("effect", pa.float64()),
            ("ci_low", pa.float64()),
            ("ci_high", pa.float64()),
            ("method", pa.string()),
            ("confidence_level", pa.float64()),
            ("p_value", pa.float64()),
            ("rate_before", pa.float64()),
            ("rate_after", pa.float64()),
            ("comparison_rate_before", pa.float64()),
            ("comparison_rate_after", pa.float64()),
        ]
    ),
    "appraisals": pa.schema(
        [
            ("intervention", pa.string()),
            ("measure", pa.string()),
            ("p10", pa.float64()),
            ("p50", pa.float64()),
            ("p90", pa.float64()),
            ("central", pa.float64()),
            ("unit", pa.string()),
        ]
    ),
    "appraisal_by_agency": pa.schema(
        [
            ("intervention", pa.string()),
            ("agency", pa.string()),
            ("pays_gbp", MONEY),
            ("gains_gbp", MONEY),
            ("cashable_gbp", MONEY),
            ("net_gbp", MONEY),
        ]
    ),
    "appraisal_flows": pa.schema(
        [
            ("intervention", pa.string()),
            ("year", pa.int32()),
            ("financial_year", pa.string()),
            ("participants", pa.float64()),
            ("capital_gbp", MONEY),
            ("revenue_gbp", MONEY),
            ("in_kind_gbp", MONEY),
            ("costs_gbp", MONEY),
            ("fiscal_gbp", MONEY),
            ("economic_gbp", MONEY),
            ("social_gbp", MONEY),
            ("cashable_gbp", MONEY),
            ("outcomes_avoided", pa.float64()),
            ("discount_factor", pa.float64()),
            ("pv_net_gbp", MONEY),
        ]
    ),
    "appraisal_tornado": pa.schema(
        [
            ("intervention", pa.string()),
            ("input", pa.string()),
            ("npv_at_low", pa.float64()),
            ("npv_at_high", pa.float64()),
        ]
    ),
}


def pounds(x: float) -> Decimal:
    """A float estimate as exact pounds and pence (half up)."""
    return Decimal(repr(float(x))).quantize(Decimal("0.01"), ROUND_HALF_UP)


def fy_label(base: str, offset: int) -> str:
    start = int(base[:4]) + offset
    return f"{start}/{(start + 1) % 100:02d}"


class Appraise:
    """``place.appraise.run()``: see the module docstring."""

    def __init__(self, place: Any):
        self.place = place

    def settings(self) -> tuple[AppraiseSettings, list[Programme]]:
        m = self.place.manifest
        return load_settings(m.appraise, m.programmes, m.root, str(m.root / "place.yaml"))

    @property
    def price_year(self) -> str:
        s, _ = self.settings()
        return s.price_year or self.place.manifest.price_year or "2025/26"

    def evaluate(self, programme: Programme) -> Evaluation:
        """One past programme's effects (the people stage's cohort tools can replace
        ``programme_data`` without touching the estimator)."""
        store = self.place.store
        store.require("events", "person_links", "source_people")
        if programme.matching.needs:
            store.require("person_needs")
        data = programme_data(store.engine, programme, self.place.manifest.period.end)
        return evaluate(programme, data)

    def run(self, **options: Any) -> StageResult:
        settings, programmes = self.settings()
        draws = int(options.get("draws", settings.draws))
        store = self.place.store
        with store.stage_run("appraise", inputs=[]) as run:
            evaluations = [self.evaluate(p) for p in programmes]
            rows = _tables(self, settings, evaluations, draws)
            counts = store.publish(rows["tables"])
            for name, n in counts.items():
                run.rows[name] = {"out": n}
            run.detail = rows["detail"]
        xlsx = None
        if options.get("workbook", True):
            from totalplace.appraise.workbook import write_workbook

            xlsx = write_workbook(self.place.root / "appraisal.xlsx", settings, rows)
        return _result(counts, rows, xlsx)


def _tables(stage: Appraise, s: AppraiseSettings, evs: list[Evaluation], draws: int) -> dict:
    price_year = s.price_year or stage.place.manifest.price_year or "2025/26"
    effects = [e for ev in evs for e in ev.effects]
    est = {(e.programme, e.outcome): (e.effect, e.ci_low, e.ci_high) for e in effects}
    df = horizon_factors(s)
    resolved = [resolve(iv, s, price_year, est) for iv in s.interventions]
    mc = monte_carlo(resolved, df, draws, s.seed) if resolved else {}
    appraisals, by_agency, flows_rows, torn_rows, centrals = [], [], [], [], {}
    for r in resolved:
        f, m = central(r, df)
        centrals[r.name] = m
        q = percentiles(mc[r.name])
        for k in (*MEASURES, "prob_npv_positive"):
            c = m.get(k, q[k][1])
            appraisals.append((r.name, k, *q[k], c, UNITS.get(k, "gbp")))
        agencies = sorted(set(f.costs_by_payer) | set(f.benefits_by_agency))
        none = np.zeros((1, len(df)))
        for a in agencies:
            pays = float(f.costs_by_payer.get(a, none)[0] @ df)
            gains = float(f.benefits_by_agency.get(a, none)[0] @ df)
            cash = float(f.cashable_by_agency.get(a, none)[0] @ df)
            by_agency.append(
                (r.name, a, pounds(pays), pounds(gains), pounds(cash), pounds(gains - pays))
            )
        benefits = f.total_benefits[0]
        for t in range(len(df)):
            kind = {k: float(f.costs_by_kind.get(k, np.zeros((1, len(df))))[0, t]) for k in
                    ("capital", "revenue", "in_kind")}  # fmt: skip
            flows_rows.append(
                (
                    r.name,
                    t,
                    fy_label(price_year, t),
                    float(f.participants[0, t]),
                    *(pounds(v) for v in kind.values()),
                    pounds(f.costs[0, t]),
                    *(pounds(f.benefits[v][0, t]) for v in ("fiscal", "economic", "social")),
                    pounds(f.cashable[0, t]),
                    float(f.outcomes[0, t]),
                    float(df[t]),
                    pounds((benefits[t] - f.costs[0, t]) * df[t]),
                )
            )
        torn_rows += [(r.name, k, lo, hi) for k, lo, hi in tornado(r, df)]
    pe_rows = [
        (
            e.programme,
            e.outcome,
            e.participants,
            e.comparison_size,
            e.naive_change,
            e.effect,
            e.ci_low,
            e.ci_high,
            e.method,
            ev.programme.confidence_level,
            e.p_value,
            e.rate_before,
            e.rate_after,
            e.comparison_rate_before,
            e.comparison_rate_after,
        )
        for ev in evs
        for e in ev.effects
    ]
    data = {
        "programme_effects": pe_rows,
        "appraisals": appraisals,
        "appraisal_by_agency": by_agency,
        "appraisal_flows": flows_rows,
        "appraisal_tornado": torn_rows,
    }
    tables = {name: _arrow(name, rows) for name, rows in data.items()}
    detail = {
        "price_year": price_year,
        "discount": s.discount,
        "horizon_years": s.horizon_years,
        "draws": draws,
        "seed": s.seed,
        "programmes": {
            ev.programme.name: {
                "participants_recorded": ev.participants_total,
                "participants_eligible": ev.participants_eligible,
                "participants_matched": ev.participants_matched,
                "eligible_non_participants": ev.eligible_non_participants,
            }
            for ev in evs
        },
    }
    return {
        "tables": tables,
        "detail": detail,
        "centrals": centrals,
        "resolved": resolved,
        "price_year": price_year,
    }


def _arrow(name: str, rows: list[tuple]) -> pa.Table:
    schema = SCHEMAS[name]
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    return pa.table(
        [pa.array(list(c), type=f.type) for c, f in zip(cols, schema, strict=True)],
        schema=schema,
    )


def _result(counts: dict[str, int], rows: dict, xlsx) -> StageResult:
    summary = []
    pe = rows["tables"]["programme_effects"].to_pylist()
    for e in pe:
        summary.append(
            f"{e['programme']}: {e['outcome']} {e['effect']:+.0%} "
            f"({e['confidence_level']:.0%} CI {e['ci_low']:+.0%} to {e['ci_high']:+.0%}) against "
            f"a comparison group; naive before/after {e['naive_change']:+.0%}"
        )
    ap = [r for r in rows["tables"]["appraisals"].to_pylist() if r["measure"] == "npv"]
    ap.sort(key=lambda r: -r["p50"])
    for r in ap:
        summary.append(
            f"{r['intervention']}: net present social value {_gbp(r['p50'])} "
            f"(P10 {_gbp(r['p10'])} to P90 {_gbp(r['p90'])})"
        )
    if xlsx:
        summary.append(f"wrote {xlsx}")
    headline = f"{len(pe)} programme outcome(s) evaluated; {len(ap)} intervention(s) appraised" + (
        f", best {ap[0]['intervention']}" if ap else ""
    )
    return StageResult(
        "appraise", dict(counts), summary, {"price_year": rows["price_year"]}, headline
    )
