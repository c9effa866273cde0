"""``people:`` in ``place.yaml``: the people stage's settings, validated all at once.

people:
  unit_costs: costs/unit_costs.csv   # the place's own unit-cost table (default: shipped)
  cost_rules: costs/cost_rules.yaml  # which events a unit cost applies to
  needs: needs.yaml                  # agency/service/activity patterns -> needs
  population: 20000                  # residents (people with no cost count too)
  cohorts: cohorts.yaml              # cohort definitions (or a list written inline)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from totalplace.errors import ManifestError


class PeopleSettings(BaseModel):
    """The validated ``people:`` mapping of ``place.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_costs: str | None = Field(None, description="unit-cost CSV, relative to the place")
    cost_rules: str | None = Field(None, description="cost rules YAML, relative to the place")
    needs: str | None = Field(None, description="needs mapping YAML, relative to the place")
    population: int | None = Field(
        None, gt=0, description="residents of the place; default: the linked persons"
    )
    cohorts: str | list[dict[str, Any]] | None = Field(
        None, description="cohort definitions: a YAML file, or a list written inline"
    )
    high_use_share: float = Field(
        0.05, gt=0, lt=1, description="share of people called 'high cost' for persistence"
    )

    def path(self, root: Path, name: str) -> Path | None:
        v = getattr(self, name)
        return None if v is None else (root / v).resolve()


def load_settings(manifest) -> PeopleSettings:
    """``manifest.people`` validated; every problem reported at once with its key path."""
    try:
        return PeopleSettings.model_validate(manifest.people or {})
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = "people." + ".".join(str(x) for x in err["loc"])
            msg = (
                "unknown key (check its spelling)"
                if err["type"] == "extra_forbidden"
                else err["msg"]
            )
            problems.append(f"{loc}: {msg}")
        raise ManifestError(str(manifest.root / "place.yaml"), problems) from None
