"""``demand:`` in place.yaml, validated (every problem reported at once, with its key path).

.. code-block:: yaml

    demand:
      labels:                      # a staff-labelled sample to train on (or `model:`)
        path: council_contact/labelled_sample.csv
        text_col: Reason
        label_col: demand_type
        category_col: category
        id_col: ContactID          # ties the sample to the contacts (for the repeat signal)
        agency: council_contact
      model: null                  # a folder written by `totalplace demand train`
      rules: null                  # a rules YAML (default: the built-in one)
      method: null                 # combined | model | rules (default: measured best)
      contacts: {agencies: [council_contact]}   # default: every event with reason text
      repeat_window_days: 28
      follow_window_days: 90
      structural: [...]            # linked repeats (defaults: STRUCTURAL below)
      front_door: {resolved: 'Resolved%', handoff: 'Passed to back office%'}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from totalplace.errors import ManifestError


class LabelsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    text_col: str = "text"
    label_col: str = "demand_type"
    category_col: str | None = None
    id_col: str | None = Field(None, description="event id column, to join the sample's rows")
    agency: str | None = None


class ContactsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agencies: list[str] | None = Field(None, description="default: every agency")
    require_text: bool = Field(True, description="only events with reason text are contacts")


class StructuralRepeat(BaseModel):
    """A kind of event whose repeat within a window is failure demand, whatever any text says."""

    model_config = ConfigDict(extra="forbid")

    name: str
    agency: str
    activity: str = Field(description="SQL LIKE pattern (case-insensitive) for the repeat")
    previous: list[str] | None = Field(None, description="LIKE patterns for what it follows")
    service: str | None = Field(None, description="LIKE pattern for the service, if any")
    window_days: int = Field(ge=1)
    measure_from: Literal["start", "end"] = "start"


STRUCTURAL: tuple[StructuralRepeat, ...] = (
    StructuralRepeat(
        name="A&E re-attendance within 7 days",
        agency="acute",
        activity="A&E attendance%",
        window_days=7,
    ),
    StructuralRepeat(
        name="emergency readmission within 30 days",
        agency="acute",
        activity="Emergency%",
        previous=["Emergency%", "Elective%"],
        window_days=30,
        measure_from="end",
    ),
    StructuralRepeat(
        name="repeat police incident within 28 days",
        agency="police",
        activity="%",
        service="Response",
        window_days=28,
    ),
    StructuralRepeat(
        name="repeat homelessness application",
        agency="housing",
        activity="Homelessness application%",
        window_days=365,
    ),
)


class FrontDoor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolved: str = "Resolved%"
    handoff: str = "Passed to back office%"


class DemandSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: LabelsSettings | None = None
    model: str | None = None
    rules: str | None = None
    method: Literal["combined", "model", "rules"] | None = None
    contacts: ContactsSettings = ContactsSettings()
    repeat_window_days: int = Field(28, ge=1, le=366)
    # A contact already known to be failure demand (by its text or as a repeat) is tied to
    # the latest earlier value contact of the same person and service within this window.
    follow_window_days: int = Field(90, ge=1, le=3660)
    structural: list[StructuralRepeat] = Field(default_factory=lambda: list(STRUCTURAL))
    front_door: FrontDoor = FrontDoor()


def demand_settings(raw: dict | None, source: str = "place.yaml") -> DemandSettings:
    """Validate ``demand:``; raise ManifestError listing every problem with its key path."""
    try:
        return DemandSettings.model_validate(raw or {})
    except ValidationError as e:
        problems = [
            f"demand.{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()
        ]
        raise ManifestError(source, problems) from None
