"""``report:`` in place.yaml: the publishing rule and where the report goes.

>>> ReportSettings().disclosure
'nhs'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from totalplace.errors import ManifestError


class ReportSettings(BaseModel):
    """What a place may set under ``report:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    disclosure: Literal["nhs", "under5", "under10"] = Field(
        "nhs",
        description="publishing rule: 'nhs' (hide 1-7, round to 5), 'under5' (hide 1-4) or "
        "'under10' (hide 1-9); the last two also round to 5",
    )
    waterfalls: int = Field(
        3, ge=0, le=10, description="example record pairs whose match score is explained"
    )


def parse_report_settings(raw: dict[str, Any] | None, path: str = "place.yaml") -> ReportSettings:
    """Validate the ``report:`` mapping, naming every problem with its key path."""
    try:
        return ReportSettings.model_validate(raw or {})
    except ValidationError as e:
        problems = [
            f"report.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            + (f" (found {err['input']!r})" if err["type"] != "missing" else "")
            for err in e.errors()
        ]
        raise ManifestError(path, problems) from None


def report_settings(place: Any) -> ReportSettings:
    """The validated ``report:`` settings of an open place."""
    return parse_report_settings(
        getattr(place.manifest, "report", None) or {}, str(place.root / "place.yaml")
    )
