"""``appraisal.xlsx``: the appraisal in the layout analysts know from the spreadsheet model.

Sheets: Inputs (every intervention's inputs, the discount schedule and the optimism-bias
table with their sources), Yearly flows (the central estimate, year by year), Results
(central, P10, P50, P90 of every measure), By agency (who pays, who gains, what is
cashable) and Programme effects (the evaluation beside the naive before/after change).
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from totalplace.appraise.discount import load_schedule
from totalplace.appraise.settings import AppraiseSettings
from totalplace.prices import read_data_csv

BOLD = Font(bold=True)


def _sheet(wb: Workbook, title: str, header: list[str], rows: list[list]) -> None:
    ws = wb.create_sheet(title)
    ws.append(header)
    for c in ws[1]:
        c.font = BOLD
    for r in rows:
        ws.append([float(v) if hasattr(v, "as_tuple") else v for v in r])
    for i, h in enumerate(header, start=1):
        width = max([len(str(h))] + [len(str(r[i - 1])) for r in rows[:200]]) + 2
        ws.column_dimensions[get_column_letter(i)].width = min(60, width)
    ws.freeze_panes = "A2"


def _inputs(settings: AppraiseSettings, price_year: str) -> list[list]:
    rows: list[list] = [
        ["appraisal", "", "price year", price_year, ""],
        ["appraisal", "", "horizon (years)", settings.horizon_years, ""],
        ["appraisal", "", "discount schedule", settings.discount, "HM Treasury Green Book"],
        ["appraisal", "", "Monte Carlo draws", settings.draws, f"seed {settings.seed}"],
    ]
    for iv in settings.interventions:
        n = iv.name
        rows += [
            [n, "", "cohort", iv.cohort, ""],
            [n, "", "participants per year", iv.participants_per_year, ""],
            [n, "", "take-up", iv.take_up.value, f"range {iv.take_up.lo} to {iv.take_up.hi}"],
            [n, "", "start year / duration", f"{iv.start_year} / {iv.duration_years}", ""],
            [n, "", "ramp-up", ", ".join(map(str, iv.ramp_up)) or "none", ""],
            [n, "", "deadweight", iv.deadweight.value, f"{iv.deadweight.lo}-{iv.deadweight.hi}"],
            [n, "", "displacement / attribution", f"{iv.displacement} / {iv.attribution}", ""],
            [n, "", "persistence (years) / decay", f"{iv.persistence_years.value} / {iv.decay}",
             f"{iv.persistence_years.lo}-{iv.persistence_years.hi}"],
        ]  # fmt: skip
        for c in iv.costs:
            rows.append(
                [n, "cost", f"{c.item} ({c.kind}, per {c.per}, paid by {c.payer})",
                 c.amount_gbp.value,
                 f"£{c.amount_gbp.lo}-£{c.amount_gbp.hi}, {c.price_year or price_year} "
                 f"prices, grade {c.confidence}"]
            )  # fmt: skip
        for e in iv.effects:
            src = (
                f"programme {e.from_programme.programme}/{e.from_programme.outcome}"
                if e.from_programme
                else f"{e.change.lo}..{e.change.hi}"  # type: ignore[union-attr]
            )
            rows.append(
                [n, "effect", f"{e.outcome} ({e.value}, gains: {e.agency}, "
                 f"{'cashable' if e.cashable else 'not cashable'})",
                 e.change.value if e.change else "from evaluation",
                 f"baseline {e.baseline_per_participant}/participant-year; {src}; "
                 f"unit cost {e.unit_cost or e.unit_cost_gbp}; grade {e.confidence}"]
            )  # fmt: skip
    for s in load_schedule(settings.discount):
        to = s.to_year if s.to_year is not None else "on"
        rows.append(["discount", "", f"years {s.from_year}-{to}", s.rate, s.source])
    for r in read_data_csv("optimism_bias.csv") if settings.optimism_bias is None else []:
        rows.append(["optimism bias", "", f"grade {r['grade']}: {r['description']}",
                     float(r["uplift"]), r["source"]])  # fmt: skip
    return rows


def write_workbook(path: Path, settings: AppraiseSettings, rows: dict) -> Path:
    """Write the workbook from the stage's tables; returns its path."""
    t = {k: v.to_pylist() for k, v in rows["tables"].items()}
    wb = Workbook()
    wb.remove(wb.active)
    _sheet(wb, "Inputs", ["intervention", "part", "input", "value", "note / source"],
           _inputs(settings, rows["price_year"]))  # fmt: skip
    flows = t["appraisal_flows"]
    fcols = list(flows[0]) if flows else ["intervention"]
    _sheet(wb, "Yearly flows", fcols, [list(r.values()) for r in flows])
    _sheet(wb, "Results", ["intervention", "measure", "central", "P10", "P50", "P90", "unit"],
           [[r["intervention"], r["measure"], r["central"], r["p10"], r["p50"], r["p90"],
             r["unit"]] for r in t["appraisals"]])  # fmt: skip
    _sheet(wb, "By agency", ["intervention", "agency", "pays (PV £)", "gains (PV £)",
                             "cashable (PV £)", "net (PV £)"],
           [list(r.values()) for r in t["appraisal_by_agency"]])  # fmt: skip
    pe = t["programme_effects"]
    _sheet(wb, "Programme effects", list(pe[0]) if pe else ["programme"],
           [list(r.values()) for r in pe])  # fmt: skip
    _sheet(wb, "Tornado", ["intervention", "input", "NPV at low", "NPV at high"],
           [list(r.values()) for r in t["appraisal_tornado"]])  # fmt: skip
    path = Path(path)
    wb.save(path)
    return path
