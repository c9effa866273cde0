"""The cohort explorer: define a cohort with the people stage's cohort tools, see it whole.

Uses ``totalplace.people.cohorts`` (``CohortSpec``, ``select_cohort``, ``comparison_group``,
``balance``, ``person_period_outcomes``); computes nothing of its own beyond putting every
count, mean and share through the publishing rule. The result is a ``Section``, drawn like
any section of the report.
"""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from typing import Any

from totalplace.disclosure import Disclosure
from totalplace.section import Section, SectionTable

FIELDS = ("age_min", "age_max", "sex", "need", "agency", "min_contacts", "living_alone")
BASELINE_LABELS = {
    "age": "age",
    "is_female": "share female",
    "n_needs": "number of needs",
    "events_before": "contacts in the year before",
    "cost_before": "cost in the year before (£)",
    "agencies_before": "agencies in the year before",
}


def available() -> bool:
    """Whether this version has the people stage's cohort tools."""
    return (
        importlib.util.find_spec("totalplace.people") is not None
        and importlib.util.find_spec("totalplace.people.cohorts") is not None
    )


def choices(place) -> dict[str, list[str]]:
    """Needs and agencies a cohort can be defined by (from the published tables)."""
    eng = place.store.engine
    needs = []
    if eng.has_table("person_needs"):
        needs = [
            r["need"]
            for r in eng.query('SELECT DISTINCT need FROM "person_needs" ORDER BY need').to_pylist()
        ]
    return {"needs": needs, "agencies": [a.id for a in place.manifest.agencies]}


def spec_from_form(form: dict[str, str]):
    """A ``CohortSpec`` from the explorer's form (empty fields are no criterion)."""
    from totalplace.people.cohorts import CohortSpec

    raw: dict[str, Any] = {"name": "explored"}
    age = {k: int(form[f"age_{k}"]) for k in ("min", "max") if form.get(f"age_{k}")}
    if age:
        raw["age"] = age
    if form.get("sex"):
        raw["sex"] = [form["sex"]]
    if form.get("need"):
        raw["needs"] = [form["need"]]
    if form.get("agency"):
        raw["activity"] = [
            {"agency": form["agency"], "min_count": int(form.get("min_contacts") or 1)}
        ]
    if form.get("living_alone") in ("yes", "no"):
        raw["living_alone"] = form["living_alone"] == "yes"
    return CohortSpec.model_validate(raw)


def _mean(t, col: str) -> tuple[float | None, int]:
    vals = (
        [float(v) for v in t.column(col).to_pylist() if v is not None]
        if col in t.column_names
        else []
    )
    return (sum(vals) / len(vals) if vals else None), len(vals)


def _fmt(v: float | None, money: bool = False) -> str:
    if v is None:
        return "*"
    return f"£{v:,.0f}" if money else f"{v:,.2f}"


def explore(place, disclosure: Disclosure, form: dict[str, str]) -> Section:
    """The cohort the form defines: size, needs, costs, journeys and its comparison group."""
    from totalplace.people import cohorts as c

    d = disclosure
    spec = spec_from_form(form)
    members = c.select_cohort(place, spec)
    n = members.num_rows
    title = "Your cohort"
    if d.count(n) in (None, 0):
        return Section(
            "cohort",
            title,
            headlines=[
                f"{d.fmt_count(n)} people meet this definition: too few to say more without "
                "risking identifying them."
                if n
                else "No one meets this definition."
            ],
        )
    comp = c.comparison_group(place, spec, method="matched", members=members)
    smd = c.balance(members, comp)
    headlines = [
        f"{d.fmt_count(n)} people meet this definition; {d.fmt_count(comp.num_rows)} similar "
        "people who do not were found to compare them with (matched on age, sex, needs, "
        "contacts and cost in the year before).",
    ]
    rows = []
    for col, label in BASELINE_LABELS.items():
        m, nm = _mean(members, col)
        k, nk = _mean(comp, col)
        s = smd.get(col)
        rows.append(
            [
                label,
                _fmt(d.statistic(m, nm), money=col == "cost_before"),
                _fmt(d.statistic(k, nk), money=col == "cost_before"),
                "—" if s is None else f"{s:+.2f}",
            ]
        )
    tables = [
        SectionTable(
            "The cohort and its comparison group before the index date",
            ["Measure (mean)", "Cohort", "Comparison group", "Difference (SMD)"],
            rows,
            source="people stage: cohorts",
            note="A difference under 0.1 standard deviations is usually taken as balanced.",
        )
    ]
    if "needs" in members.column_names:
        counts: dict[str, int] = {}
        for ns in members.column("needs").to_pylist():
            for need in ns or []:
                counts[need] = counts.get(need, 0) + 1
        if counts:
            s = d.protect_series(dict(sorted(counts.items())), total=False)
            tables.append(
                SectionTable(
                    "Needs in the cohort",
                    ["Need", "People"],
                    [[k, v] for k, v in s.items()],
                    source="person_needs",
                    note="A person may have several needs.",
                )
            )
    try:
        out_m = c.person_period_outcomes(place, members, period_days=365, before=1, after=1)
        jr = []
        for period, label in ((-1, "year before"), (0, "year after")):
            sub = out_m.filter(out_m.column("period").to_numpy(zero_copy_only=False) == period)
            obs = [r for r in sub.to_pylist() if r.get("observed")]
            ev = [float(r["events"]) for r in obs if r.get("events") is not None]
            cost = [float(r["cost_gbp"]) for r in obs if r.get("cost_gbp") is not None]
            jr.append(
                [
                    label,
                    d.fmt_count(len(obs)),
                    _fmt(d.statistic(sum(ev) / len(ev) if ev else None, len(ev))),
                    _fmt(d.statistic(sum(cost) / len(cost) if cost else None, len(cost)), True),
                ]
            )
        tables.append(
            SectionTable(
                "Contacts and cost per person around the index date",
                ["Period", "People observed", "Contacts (mean)", "Cost (mean)"],
                jr,
                source="event_costs, events",
            )
        )
    except Exception as e:  # outcomes need the whole window inside the data
        headlines.append(f"Contacts and cost around the index date could not be shown ({e}).")
    return Section("cohort", title, headlines=headlines, tables=tables)


def money(v: Decimal | None) -> str:
    return "*" if v is None else f"£{v:,.0f}"
