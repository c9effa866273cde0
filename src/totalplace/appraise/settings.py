"""What a user writes under ``appraise:`` and ``programmes:`` in place.yaml, validated.

Every problem is reported at once, each with its key path
(``appraise.interventions[0].effects[1].change.low: ...``), as a ``ManifestError``.

``appraise:`` (or a YAML file it names with ``interventions_file:``) holds prospective
business cases::

    appraise:
      horizon_years: 10
      interventions:
        - name: hiu_service
          cohort: adults attending A&E 2+ times in six months
          participants_per_year: 200
          duration_years: 3
          ramp_up: [0.5]
          costs:
            - {item: navigators, kind: revenue, per: participant, amount_gbp: 1200,
               price_year: 2023/24, payer: public_health, confidence: 2}
          effects:
            - {outcome: A&E attendances, baseline_per_participant: 4.0,
               from_programme: {programme: hiu, outcome: ae_attendances},
               unit_cost: ae_not_admitted, agency: acute, value: fiscal, confidence: 3}
          deadweight: 0.1
          persistence_years: {value: 2, low: 1, high: 3}
          decay: 0.5

``programmes:`` lists past programmes to evaluate from the data (see ``evaluate.py``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from totalplace.errors import ManifestError


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Est(_Frozen):
    """A central value with an optional range (low, high) for the Monte Carlo."""

    value: float
    low: float | None = None
    high: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, v: Any) -> Any:
        return {"value": v} if isinstance(v, int | float) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _ordered(self) -> Est:
        lo = self.value if self.low is None else self.low
        hi = self.value if self.high is None else self.high
        if not lo <= self.value <= hi:
            raise ValueError(f"expected low <= value <= high; found {lo}, {self.value}, {hi}")
        return self

    @property
    def lo(self) -> float:
        return self.value if self.low is None else self.low

    @property
    def hi(self) -> float:
        return self.value if self.high is None else self.high


Share = Field(ge=0.0, le=1.0)


class CostItem(_Frozen):
    item: str
    kind: Literal["capital", "revenue", "in_kind"] = "revenue"
    per: Literal["participant", "year", "once"] = Field(
        "participant", description="per participant, per year the service runs, or once"
    )
    amount_gbp: Est
    price_year: str | None = Field(None, description="default: the appraisal's price year")
    payer: str = Field(description="the agency that pays")
    confidence: int = Field(3, ge=1, description="confidence grade of the cost data (1 best)")


class ProgrammeRef(_Frozen):
    programme: str
    outcome: str


class Effect(_Frozen):
    outcome: str
    baseline_per_participant: float = Field(
        ge=0, description="outcome events per participant per year without the intervention"
    )
    change: Est | None = Field(None, description="relative change, e.g. -0.3 for 30% fewer")
    from_programme: ProgrammeRef | None = Field(
        None, description="take the change and its interval from a programme evaluation"
    )
    unit_cost_gbp: float | None = Field(None, ge=0)
    unit_cost: str | None = Field(None, description="a cost_id in data/unit_costs.csv")
    price_year: str | None = None
    agency: str = Field(description="the agency that gains")
    value: Literal["fiscal", "economic", "social"] = "fiscal"
    cashable: bool = Field(
        False, description="true only where the activity is decommissioned and money released"
    )
    confidence: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _one_source_each(self) -> Effect:
        if (self.change is None) == (self.from_programme is None):
            raise ValueError("give exactly one of change or from_programme")
        if (self.unit_cost_gbp is None) == (self.unit_cost is None):
            raise ValueError("give exactly one of unit_cost_gbp or unit_cost")
        return self


class Intervention(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9_\- ]+$")
    description: str = ""
    cohort: str = Field(description="the target cohort, in words (or a cohort's name)")
    cohort_size: int | None = Field(None, ge=1, description="people eligible, if known")
    participants_per_year: float = Field(gt=0)
    take_up: Est = Est(value=1.0)
    start_year: int = Field(0, ge=0)
    duration_years: int = Field(1, ge=1)
    ramp_up: list[float] = Field(default_factory=list, description="share of full size, by year")
    costs: list[CostItem] = Field(min_length=1)
    effects: list[Effect] = Field(min_length=1)
    deadweight: Est = Est(value=0.0)
    displacement: float = Field(0.0, ge=0, le=1)
    attribution: float = Field(1.0, ge=0, le=1)
    persistence_years: Est = Est(value=1.0)
    decay: float = Field(0.0, ge=0, lt=1, description="share of the effect lost each later year")

    @model_validator(mode="after")
    def _shares(self) -> Intervention:
        for name in ("take_up", "deadweight"):
            e: Est = getattr(self, name)
            if e.lo < 0 or e.hi > 1:
                raise ValueError(f"{name} must lie in 0..1; found {e.lo}..{e.hi}")
        if any(not 0 <= r <= 1 for r in self.ramp_up):
            raise ValueError(f"ramp_up shares must lie in 0..1; found {self.ramp_up}")
        if self.persistence_years.lo < 0:
            raise ValueError("persistence_years must be >= 0")
        return self


class AppraiseSettings(_Frozen):
    price_year: str | None = Field(None, description="default: place.yaml price_year")
    horizon_years: int = Field(10, ge=1, le=400)
    discount: Literal["standard", "health"] = "standard"
    optimism_bias: str | None = Field(
        None, description="CSV of grade,uplift,source (default: data/optimism_bias.csv)"
    )
    optimism_bias_on_benefits: bool = Field(
        True, description="reduce benefits by the grade's uplift as well as raising costs"
    )
    draws: int = Field(10_000, ge=10)
    seed: int = 1
    interventions_file: str | None = None
    interventions: list[Intervention] = Field(default_factory=list)


# --- programmes ---------------------------------------------------------------------------
class EventFilter(_Frozen):
    agency: str
    activity: list[str] | str | None = None

    @property
    def activities(self) -> list[str] | None:
        return [self.activity] if isinstance(self.activity, str) else self.activity


class Outcome(EventFilter):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = ""


class Window(_Frozen):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class Eligibility(_Frozen):
    min_age: int = 18
    max_age: int | None = None
    outcome: str = Field(description="the outcome whose prior use makes people eligible")
    at_least: int = Field(1, ge=1)
    look_back: Window = Field(description="the window prior use is counted in")


class Matching(_Frozen):
    method: Literal["exact", "nearest"] = Field(
        "exact", description="exact: every non-participant in a participant's stratum"
    )
    controls_per_participant: int = Field(5, ge=1, description="for method: nearest")
    prior_cap: int = Field(10, ge=1, description="prior counts at or above this are one stratum")
    age_bands: list[int] = Field(default_factory=lambda: [18, 35, 50, 65, 80])
    known_to: list[str] = Field(
        default_factory=list,
        description="agencies whose contact in the look-back counts as a need to match on",
    )
    needs: list[str] = Field(
        default_factory=list,
        description="needs (the people stage's person_needs) known by the look-back's end",
    )
    seed: int = 1


class Programme(_Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = ""
    participants: EventFilter = Field(description="the agency and activity that record joining")
    enrolment: Window | None = Field(None, description="when joining happened")
    eligibility: Eligibility
    outcomes: list[Outcome] = Field(min_length=1)
    matching: Matching = Matching()
    method: Literal["poisson", "negbin"] = "poisson"
    confidence_level: float = Field(0.90, gt=0, lt=1)

    @model_validator(mode="after")
    def _outcome_known(self) -> Programme:
        names = [o.name for o in self.outcomes]
        if self.eligibility.outcome not in names:
            raise ValueError(
                f"eligibility.outcome must be one of the outcomes ({', '.join(names)}); "
                f"found {self.eligibility.outcome!r}"
            )
        return self


# --- loading ------------------------------------------------------------------------------
def _loc(prefix: str, loc: tuple) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _problems(e: ValidationError, prefix: str) -> list[str]:
    out = []
    for err in e.errors():
        msg = err["msg"].removeprefix("Value error, ")
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function")))
        found = err.get("input")
        tail = (
            "" if err["type"] == "value_error" or isinstance(found, dict) else f"; found {found!r}"
        )
        out.append(f"{_loc(prefix, loc)}: {msg}{tail}")
    return out


def load_settings(
    appraise: dict[str, Any], programmes: list[dict[str, Any]], root: Path, where: str
) -> tuple[AppraiseSettings, list[Programme]]:
    """Validate ``appraise:`` and ``programmes:``; raise one ManifestError listing every
    problem (with its key path), including references that point nowhere."""
    problems: list[str] = []
    raw = dict(appraise or {})
    if raw.get("interventions_file"):
        path = root / raw["interventions_file"]
        try:
            extra = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            msg = f"appraise.interventions_file: cannot read {path}: {e}"
            raise ManifestError(where, [msg]) from None
        items = extra.get("interventions", extra) if isinstance(extra, dict) else extra
        raw["interventions"] = list(raw.get("interventions") or []) + list(items or [])
    settings = progs = None
    try:
        settings = AppraiseSettings.model_validate(raw)
    except ValidationError as e:
        problems += _problems(e, "appraise")
    parsed: list[Programme] = []
    for i, p in enumerate(programmes or []):
        try:
            parsed.append(Programme.model_validate(p))
        except ValidationError as e:
            problems += _problems(e, f"programmes[{i}]")
    progs = parsed
    if settings is not None:
        problems += reference_problems(settings, progs)
    if problems:
        raise ManifestError(where, problems)
    assert settings is not None
    return settings, progs


def reference_problems(settings: AppraiseSettings, programmes: list[Programme]) -> list[str]:
    """Checks across keys: unit costs, price years, grades and programmes that exist."""
    from totalplace.appraise.model import load_optimism_bias
    from totalplace.prices import load_deflator, read_data_csv

    out: list[str] = []
    costs = {r["cost_id"] for r in read_data_csv("unit_costs.csv")}
    years = load_deflator()
    try:
        grades = load_optimism_bias(settings.optimism_bias)
    except Exception as e:  # noqa: BLE001 - reported as a problem with the setting
        return [f"appraise.optimism_bias: {e}"]
    outcomes = {(p.name, o.name) for p in programmes for o in p.outcomes}
    names: dict[str, int] = {}
    if settings.price_year and settings.price_year not in years:
        out.append(f"appraise.price_year: no GDP deflator for {settings.price_year!r}")
    for i, iv in enumerate(settings.interventions):
        at = f"appraise.interventions[{i}]"
        if iv.name in names:
            out.append(f"{at}.name: duplicate {iv.name!r} (also interventions[{names[iv.name]}])")
        names.setdefault(iv.name, i)
        for j, c in enumerate(iv.costs):
            if c.price_year and c.price_year not in years:
                out.append(f"{at}.costs[{j}].price_year: no GDP deflator for {c.price_year!r}")
            if c.confidence not in grades:
                out.append(f"{at}.costs[{j}].confidence: grade must be one of {sorted(grades)}")
        for j, e in enumerate(iv.effects):
            if e.unit_cost and e.unit_cost not in costs:
                out.append(
                    f"{at}.effects[{j}].unit_cost: no {e.unit_cost!r} in unit_costs.csv; "
                    f"expected one of: {', '.join(sorted(costs))}"
                )
            if e.price_year and e.price_year not in years:
                out.append(f"{at}.effects[{j}].price_year: no GDP deflator for {e.price_year!r}")
            if e.confidence not in grades:
                out.append(f"{at}.effects[{j}].confidence: grade must be one of {sorted(grades)}")
            ref = e.from_programme
            if ref and (ref.programme, ref.outcome) not in outcomes:
                have = ", ".join(f"{p}/{o}" for p, o in sorted(outcomes)) or "none"
                out.append(
                    f"{at}.effects[{j}].from_programme: no programme outcome "
                    f"{ref.programme}/{ref.outcome} in programmes:; found {have}"
                )
    return out
