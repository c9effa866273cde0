"""The transition library: what a transition is, what should follow it, what to watch for.

A library is YAML that analysts edit. The default one ships with totalplace
(``totalplace/journeys/transitions.yaml``); a place adds or overrides kinds with its own
file, named in ``place.yaml``::

    journeys:
      transitions: journeys/transitions.yaml   # relative to the place folder
      handoff_window_days: 28

Each kind has a trigger (an event matched by agency, service, activity and outcome
patterns, optionally only for some ages or a cohort), the follow-up expected (contacts
with agencies or services within N days; ``require: any`` or ``all`` of them) and the
adverse outcomes to watch (events within N days). Patterns are case-insensitive; ``*``
matches any text. A place's kind with the same name as a default one replaces it.

>>> lib = load_library()
>>> sorted(lib)[:3]
['ae_substance', 'care_leaver', 'hospital_discharge']
>>> lib["hospital_discharge"].trigger.age.min
65
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from totalplace.errors import ManifestError

DEFAULT_LIBRARY = "transitions.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_list(v):
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)


class Match(_Frozen):
    """Which events: every given field must match one of its patterns (``*`` = any text)."""

    agency: list[str] = Field(default_factory=list, description="agency ids")
    service: list[str] = Field(default_factory=list)
    activity: list[str] = Field(default_factory=list)
    outcome: list[str] = Field(default_factory=list)

    _lists = field_validator("agency", "service", "activity", "outcome", mode="before")(_as_list)


class Age(_Frozen):
    min: int | None = None
    max: int | None = None
    when: Literal["at", "period_start"] = Field(
        "at", description="age on the day of the transition, or on the first day of the period"
    )


class Trigger(Match):
    at: Literal["start", "end"] = Field(
        "start", description="the transition happens at the event's start or its end"
    )
    age: Age | None = None
    known_to: Match | None = Field(
        None, description="only people with at least one such event (at any time)"
    )
    cohort: str | None = Field(
        None, description="a published table with a person_id column: only these people"
    )
    once_per_person: bool = Field(False, description="only each person's first such event")


class Within(Match):
    name: str = ""
    within_days: int = Field(ge=0)
    from_day: int = Field(0, ge=0, description="0: the same day counts; 1: from the next day")


class FollowUp(_Frozen):
    require: Literal["any", "all"] = "any"
    contacts: list[Within]


class Transition(_Frozen):
    kind: str
    title: str
    description: str = ""
    trigger: Trigger
    follow_up: FollowUp
    adverse: list[Within] = Field(default_factory=list)
    attribution: Literal["any", "latest"] = Field(
        "any",
        description="'latest': a follow-up or outcome event counts only for the person's "
        "most recent transition of this kind before it (as NHS readmission measures do)",
    )

    @property
    def follow_up_days(self) -> int:
        return max(c.within_days for c in self.follow_up.contacts)


def _parse(data: object, source: str) -> dict[str, Transition]:
    if not isinstance(data, dict) or not isinstance(data.get("transitions"), dict):
        raise ManifestError(source, ["expected a mapping with 'transitions:' (kind: definition)"])
    out: dict[str, Transition] = {}
    problems: list[str] = []
    for kind, spec in data["transitions"].items():
        try:
            out[kind] = Transition.model_validate({"kind": kind, **(spec or {})})
        except ValidationError as e:
            for err in e.errors():
                loc = ".".join(str(p) for p in err["loc"])
                problems.append(f"transitions.{kind}.{loc}: {err['msg']}")
    if problems:
        raise ManifestError(source, problems)
    return out


def load_library(*extra: str | Path, defaults: bool = True) -> dict[str, Transition]:
    """The default library, then each file in ``extra`` (later kinds replace earlier ones)."""
    lib: dict[str, Transition] = {}
    if defaults:
        text = resources.files("totalplace.journeys").joinpath(DEFAULT_LIBRARY).read_text("utf-8")
        lib.update(_parse(yaml.safe_load(text), DEFAULT_LIBRARY))
    for path in extra:
        p = Path(path)
        if not p.exists():
            raise ManifestError(str(p), ["transition library file not found"])
        lib.update(_parse(yaml.safe_load(p.read_text("utf-8")), str(p)))
    return lib


class JourneysSettings(_Frozen):
    """``journeys:`` in place.yaml."""

    transitions: list[str] = Field(
        default_factory=list, description="the place's own transition library files"
    )
    default_library: bool = Field(True, description="also use the library shipped with totalplace")
    handoff_window_days: int = Field(28, ge=1, description="a handoff is a next event within this")

    _lists = field_validator("transitions", mode="before")(_as_list)


def load_settings(data: dict, source: str = "place.yaml") -> JourneysSettings:
    try:
        return JourneysSettings.model_validate(data or {})
    except ValidationError as e:
        raise ManifestError(
            source,
            [
                f"journeys.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in e.errors()
            ],
        ) from None
