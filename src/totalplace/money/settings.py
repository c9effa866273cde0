"""The ``money:`` mapping of place.yaml, validated here (the stage owns it).

::

    money:
      population: 312000          # default: persons in the place (the link stage's table)
      price_year: "2025/26"       # default: the manifest's price_year, else the latest year
      services:                   # tags per service line (as spend.service writes it)
        Structured treatment: {prevention: true}
        High Intensity Use programme: {prevention: true}
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from totalplace.errors import ManifestError

YEAR_RE = re.compile(r"^[0-9]{4}/[0-9]{2}$")


class ServiceTags(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prevention: bool = Field(False, description="spend that keeps people well (not reactive)")


class MoneySettings(BaseModel):
    """What the money stage reads from ``money:`` in place.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    population: int | None = Field(None, gt=0, description="residents; default persons linked")
    price_year: str | None = Field(None, description="financial year money is shown in")
    services: dict[str, ServiceTags] = Field(default_factory=dict)
    top_suppliers: int = Field(20, gt=0, description="suppliers listed in payment totals")
    duplicate_days: int = Field(
        3, ge=0, description="payments this many days apart or fewer can be duplicates"
    )

    @field_validator("price_year")
    @classmethod
    def _year(cls, v: str | None) -> str | None:
        if v is not None and not YEAR_RE.match(v):
            raise ValueError(f"expected a financial year such as '2025/26', found {v!r}")
        return v

    @property
    def prevention_services(self) -> list[str]:
        return sorted(s for s, t in self.services.items() if t.prevention)


def money_settings(raw: dict[str, Any], where: str = "place.yaml") -> MoneySettings:
    """Validate the ``money:`` mapping, reporting every problem at once with its key path."""
    try:
        return MoneySettings.model_validate(raw or {})
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = "money." + ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check its spelling and indentation)"
            problems.append(f"{loc}: {msg}")
        raise ManifestError(where, problems) from None
