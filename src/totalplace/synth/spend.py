"""Agencies' spend lines: budget outturn by service, consistent with activity but not equal to it.

For each agency, financial year and service, the front-line line is the cost of the
residents' activity in that service and year (unit cost x activity) times an uplift for
work the extracts do not show (non-residents, unrecorded activity, overheads of the service),
drawn once per agency-service and varied a little by year. Support functions (finance, HR,
IT) and buildings are a share of front line. DWP also pays benefits (not activity: a cost per
claim-day from the unit-cost table), and schools are funded per pupil. All amounts are exact
integer pence until written as decimal pounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# event type -> (service line, theme, funder)
SERVICE_OF: dict[str, tuple[str, str, str]] = {
    "ae_attendance": ("Emergency department", "health", "NHS Anytown ICB"),
    "nonelective_admission": ("Non-elective inpatients", "health", "NHS Anytown ICB"),
    "elective_admission": ("Elective inpatients", "health", "NHS Anytown ICB"),
    "mh_contact": ("Community mental health", "health", "NHS Anytown ICB"),
    "mh_admission": ("Mental health inpatients", "health", "NHS Anytown ICB"),
    "asc_assessment": ("Assessment and care management", "care", "Anytown Council"),
    "home_care": ("Home care", "care", "Anytown Council"),
    "residential_care": ("Residential and nursing care", "care", "Anytown Council"),
    "csc_referral": ("Children in need and child protection", "children", "Anytown Council"),
    "lac_placement": ("Looked-after children placements", "children", "Anytown Council"),
    "police_incident": (
        "Response and neighbourhood policing",
        "crime and justice",
        "Home Office and police precept",
    ),
    "arrest": ("Custody", "crime and justice", "Home Office and police precept"),
    "housing_advice": ("Housing options and prevention", "housing", "Anytown Council"),
    "homelessness_application": ("Housing options and prevention", "housing", "Anytown Council"),
    "eviction": ("Housing options and prevention", "housing", "Anytown Council"),
    "temporary_accommodation": ("Temporary accommodation", "housing", "Anytown Council"),
    "rough_sleeping": ("Rough sleeping", "housing", "DLUHC grant"),
    "benefit_claim": ("Benefit administration", "welfare", "DWP"),
    "work_coach": ("Work coach services", "welfare", "DWP"),
    "prison_release": ("Prison places", "crime and justice", "Ministry of Justice (HMPPS)"),
    "community_order": (
        "Community supervision",
        "crime and justice",
        "Ministry of Justice (HMPPS)",
    ),
    "licence": ("Community supervision", "crime and justice", "Ministry of Justice (HMPPS)"),
    "probation_appointment": (
        "Community supervision",
        "crime and justice",
        "Ministry of Justice (HMPPS)",
    ),
    "treatment": ("Structured treatment", "public health", "Public health grant"),
    "programme_enrolment": ("High Intensity Use programme", "public health", "Public health grant"),
    "attendance": ("Core schools budget", "education", "Dedicated Schools Grant"),
    "leaver": ("Core schools budget", "education", "Dedicated Schools Grant"),
    "suspension": ("Exclusions and alternative provision", "education", "Dedicated Schools Grant"),
    "permanent_exclusion": (
        "Exclusions and alternative provision",
        "education",
        "Dedicated Schools Grant",
    ),
    "contact": ("Customer services", "customer contact", "Anytown Council"),
}
SUPPORT_LINES = (("Finance and HR", 0.45), ("IT and digital", 0.35), ("Legal and governance", 0.20))


@dataclass
class SpendLine:
    agency: str
    year: str
    funder: str
    service: str
    theme: str
    category: str
    pence: int
    activity_pence: int  # what the extracts' activity costs in this line (0 for support, buildings)


def spend_lines(
    activity: pa.Table, extra: list[SpendLine], years: tuple[str, ...], rng: np.random.Generator
) -> list[SpendLine]:
    """Budget lines from activity cost by (agency, etype, year).

    Args:
        activity: columns agency, etype, year (label), pence (int64): cost of residents'
            activity, already summed.
        extra: front-line lines that are not activity (benefit payments, per-pupil funding).
        years: financial years to cover.
        rng: random generator for the uplifts.
    """
    rows = activity.to_pylist()
    by: dict[tuple[str, str, str, str, str], int] = {}
    for r in rows:
        service, theme, funder = SERVICE_OF[r["etype"]]
        key = (r["agency"], r["year"], service, theme, funder)
        by[key] = by.get(key, 0) + int(r["pence"])
    uplift: dict[tuple[str, str], float] = {}
    lines: list[SpendLine] = []
    for (agency, year, service, theme, funder), pence in sorted(by.items()):
        if pence == 0:
            continue  # activity without a unit cost (assessments, appointments): no line
        u = uplift.setdefault((agency, service), float(rng.uniform(1.05, 1.30)))
        amount = int(round(pence * u * rng.uniform(0.97, 1.03)))
        lines.append(SpendLine(agency, year, funder, service, theme, "front line", amount, pence))
    lines.extend(extra)
    front: dict[tuple[str, str], tuple[int, str]] = {}
    for ln in lines:
        if ln.category == "front line":
            total, funder = front.get((ln.agency, ln.year), (0, ln.funder))
            front[(ln.agency, ln.year)] = (total + ln.pence, funder)
    shares: dict[str, tuple[float, float]] = {}
    for (agency, year), (total, funder) in sorted(front.items()):
        s, b = shares.setdefault(
            agency, (float(rng.uniform(0.07, 0.16)), float(rng.uniform(0.04, 0.10)))
        )
        for name, part in SUPPORT_LINES:
            lines.append(
                SpendLine(
                    agency,
                    year,
                    funder,
                    name,
                    "support functions",
                    "support",
                    int(round(total * s * part * rng.uniform(0.95, 1.05))),
                    0,
                )
            )
        lines.append(
            SpendLine(
                agency,
                year,
                funder,
                "Estates and facilities",
                "buildings",
                "buildings",
                int(round(total * b * rng.uniform(0.95, 1.05))),
                0,
            )
        )
    return lines


def pounds(pence: int) -> str:
    """Exact decimal pounds text from integer pence."""
    sign = "-" if pence < 0 else ""
    p = abs(pence)
    return f"{sign}{p // 100}.{p % 100:02d}"


# Each agency's finance system names its columns its own way.
SPEND_COLS: dict[str, tuple[str, str, str, str, str, str, str]] = {
    # year, funder, service, theme, category, amount, path
    "acute": (
        "Financial Year",
        "Commissioner",
        "Service Line",
        "Programme",
        "Cost Type",
        "Outturn (GBP)",
        "acute/finance_outturn.csv",
    ),
    "mental_health": (
        "fin_year",
        "commissioner",
        "service_line",
        "programme",
        "cost_type",
        "outturn_gbp",
        "mental_health/finance.csv",
    ),
    "adult_social_care": (
        "Year",
        "Funding",
        "Service",
        "Theme",
        "Expenditure Type",
        "Net Expenditure",
        "adult_social_care/budget.csv",
    ),
    "childrens_social_care": (
        "Year",
        "Funding",
        "Service",
        "Theme",
        "Expenditure Type",
        "Net Expenditure",
        "childrens_social_care/budget.csv",
    ),
    "police": (
        "FY",
        "Source of funding",
        "Function",
        "Theme",
        "Type",
        "Net cost",
        "police/outturn.csv",
    ),
    "housing": ("year", "funder", "service", "theme", "category", "amount", "housing/budget.csv"),
    "dwp": (
        "FINANCIAL_YEAR",
        "FUNDER",
        "BUSINESS_LINE",
        "THEME",
        "CATEGORY",
        "AMOUNT_GBP",
        "dwp/spend.csv",
    ),
    "probation": (
        "YEAR",
        "FUNDER",
        "SERVICE",
        "THEME",
        "CATEGORY",
        "AMOUNT",
        "probation/spend.csv",
    ),
    "substance": (
        "Year",
        "Funder",
        "Service",
        "Theme",
        "Category",
        "Amount",
        "substance/contract_spend.csv",
    ),
    "schools": (
        "Financial Year",
        "Funding Stream",
        "Budget Heading",
        "Theme",
        "Category",
        "Amount",
        "schools/budget.csv",
    ),
    "council_contact": (
        "Year",
        "Funding",
        "Service",
        "Theme",
        "Category",
        "Net Budget",
        "council_contact/budget.csv",
    ),
}
