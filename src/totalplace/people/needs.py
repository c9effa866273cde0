"""Needs per person over time, from linked events through an editable mapping.

The mapping (``people/data/needs.yaml`` by default, or ``people: {needs: path}``) names the
needs the stage knows and the events that evidence each one (see the file's header). The
result is ``person_needs``: person_id, need, from_date, to_date, n_events, agencies (one row
per spell of evidence). Needs that no rule can evidence are *named*, not guessed:
``untraced_needs(mapping)``.

Multiple disadvantage is then read off ``person_needs``: needs per person and household, a
co-occurrence matrix, combinations for an UpSet-style chart, and the Hard Edges overlap
(homelessness, substance misuse, offending; Bramley & Fitzpatrick 2015, REFERENCE.md).

>>> m = load_needs_mapping()
>>> "long_term_condition" in untraced_needs(m)
True
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from totalplace.errors import ManifestError
from totalplace.people.costs import _lit, glob_sql

MATCH = ("agency", "service", "activity", "outcome", "channel", "reason")
HARD_EDGES = ("homelessness", "substance", "offending")


class NeedRule(BaseModel):
    """One piece of evidence for a need."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    need: str
    agency: str | None = None
    service: str | None = None
    activity: str | None = None
    outcome: str | None = None
    channel: str | None = None
    reason: str | None = None
    min_age: int | None = Field(None, ge=0, le=130)
    max_age: int | None = Field(None, ge=0, le=130)
    min_events: int = Field(1, ge=1)
    exclude: bool = False


class NeedsMapping(BaseModel):
    """The whole mapping: vocabulary, rules and the gap that splits spells."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gap_days: int = Field(365, ge=1)
    needs: dict[str, str]
    rules: list[NeedRule]


def load_needs_mapping(path: str | Path | None = None) -> NeedsMapping:
    """Read and validate a needs mapping; every problem reported at once with its key path."""
    if path is None:
        text = resources.files("totalplace.people.data").joinpath("needs.yaml").read_text("utf-8")
        where = "totalplace/people/data/needs.yaml"
    else:
        p = Path(path)
        if not p.exists():
            raise ManifestError(str(p), ["needs mapping not found"])
        text, where = p.read_text(encoding="utf-8"), str(p)
    data = yaml.safe_load(text) or {}
    try:
        m = NeedsMapping.model_validate(data)
    except ValidationError as e:
        raise ManifestError(
            where, [f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()]
        ) from None
    problems = []
    for i, r in enumerate(m.rules):
        if r.need not in m.needs:
            problems.append(
                f"rules[{i}].need: unknown need {r.need!r}; needs: {', '.join(m.needs)}"
            )
        if r.min_age is not None and r.max_age is not None and r.min_age > r.max_age:
            problems.append(f"rules[{i}]: min_age {r.min_age} is above max_age {r.max_age}")
    if problems:
        raise ManifestError(where, problems)
    return m


def untraced_needs(m: NeedsMapping, traced: set[str] | None = None) -> list[str]:
    """Needs nothing can evidence: no rule for them, or (given ``traced``, the needs whose
    rules match some kind of event the place holds, see ``traced_needs_sql``) no extract of
    this place records anything their rules look for."""
    have = {r.need for r in m.rules if not r.exclude}
    if traced is not None:
        have &= traced
    return [n for n in m.needs if n not in have]


def traced_needs_sql(m: NeedsMapping, kinds: str = "_people_ev_kinds") -> str:
    """SQL: the needs with a rule whose patterns match at least one kind of event here."""
    arms = [
        f"SELECT {_lit(r.need)} AS need FROM {kinds} k WHERE {_kind_match(r)}"
        for r in m.rules
        if not r.exclude
    ]
    return "\nUNION\n".join(arms) or "SELECT CAST(NULL AS VARCHAR) AS need LIMIT 0"


DESCRIPTORS = ("agency", "service", "activity", "outcome", "channel")


def _kind_match(r: NeedRule, e: str = "k") -> str:
    """SQL over a kind's lower-cased descriptions (``<field>_l``): the rule's patterns."""
    parts = [
        glob_sql(f"{e}.{f}_l", getattr(r, f)) for f in DESCRIPTORS if getattr(r, f) is not None
    ]
    return " AND ".join(parts) or "TRUE"


def _row_match(r: NeedRule, e: str = "e") -> str:
    """SQL over one event: the rule's conditions that vary by event (reason text, age)."""
    parts = []
    if r.reason is not None:
        parts.append(glob_sql(f"lower({e}.reason_text)", r.reason))
    if r.min_age is not None:
        parts.append(f"{e}.age >= {r.min_age}")
    if r.max_age is not None:
        parts.append(f"{e}.age <= {r.max_age}")
    return " AND ".join(parts) or "TRUE"


def reason_kinds_sql(m: NeedsMapping, k: str = "k") -> str:
    """SQL over a kind's ``<field>_l``: kinds whose reason text some rule reads."""
    conds = [f"({_kind_match(r, k)})" for r in m.rules if r.reason is not None]
    return " OR ".join(conds) if conds else "FALSE"


def age_sql(dob: str, on: str) -> str:
    """SQL: whole years of age on date ``on`` for date of birth ``dob``."""
    return (
        f"date_diff('year', {dob}, {on}) - CASE WHEN month({on}) * 100 + day({on}) "
        f"< month({dob}) * 100 + day({dob}) THEN 1 ELSE 0 END"
    )


def person_needs_sql(
    m: NeedsMapping,
    period_end: dt.date,
    event_costs: str = "event_costs",
    kinds: str = "_people_ev_kinds",
    persons: str = "persons",
) -> str:
    """SQL for ``person_needs``: spells of evidence that meet each rule's threshold.

    Reads the stage's working ``event_costs`` (with ``kind_id`` and ``reason_text``) and the
    kinds of event (``costs.kinds_sql``): each rule's patterns on agency, service, activity,
    outcome and channel are matched once per kind; only the events of matching kinds are
    then checked for reason text and age, and excluded by the need's exclusion rules.
    """
    rules = [(i, r) for i, r in enumerate(m.rules) if not r.exclude]
    if not rules:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS person_id, CAST(NULL AS VARCHAR) AS need, "
            "CAST(NULL AS DATE) AS from_date, CAST(NULL AS DATE) AS to_date, 0 AS n_events, "
            "CAST(NULL AS VARCHAR) AS agencies LIMIT 0"
        )
    excl = [(j, x) for j, x in enumerate(m.rules) if x.exclude]
    ex_cols = "".join(f", ({_kind_match(x)}) AS ex_{j}" for j, x in excl)
    kr = "\n  UNION ALL\n  ".join(
        f"SELECT k.kind_id, {i} AS rule_no{ex_cols} FROM {kinds} k WHERE {_kind_match(r)}"
        for i, r in rules
    )

    def row_cond(i: int, r: NeedRule) -> str:
        cond = _row_match(r)
        for j, x in excl:
            if x.need == r.need:
                cond += f" AND NOT coalesce(e.ex_{j} AND {_row_match(x)}, FALSE)"
        return cond

    need_of = " ".join(f"WHEN {i} THEN {_lit(r.need)}" for i, r in rules)
    k_of = " ".join(f"WHEN {i} THEN {r.min_events}" for i, r in rules)
    keep = " ".join(f"WHEN {i} THEN {row_cond(i, r)}" for i, r in rules)
    pe = f"DATE '{period_end.isoformat()}'"
    return f"""
WITH kr AS (
  {kr}
), ev AS (
  SELECT c.person_id, c.agency, c.start_date, c.reason_text, kr.*,
    CASE WHEN c.end_date IS NULL AND c.basis = 'day' THEN {pe}
         ELSE least(greatest(coalesce(c.end_date, c.start_date), c.start_date), {pe}) END
      AS ev_end,
    {age_sql("p.dob", "c.start_date")} AS age
  FROM {event_costs} c
  JOIN kr ON kr.kind_id = c.kind_id
  LEFT JOIN {persons} p ON p.person_id = c.person_id
  WHERE c.person_id IS NOT NULL
), evidence AS (
  SELECT person_id, CASE rule_no {need_of} END AS need, rule_no, CASE rule_no {k_of} END AS k,
    agency, start_date, ev_end
  FROM ev e WHERE CASE rule_no {keep} END
), ordered AS (
  SELECT *, max(ev_end) OVER (PARTITION BY person_id, need, rule_no ORDER BY start_date, ev_end
      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
  FROM evidence
), rule_spells AS (
  SELECT *, sum(CASE WHEN prev_end IS NULL OR date_diff('day', prev_end, start_date) > {m.gap_days}
      THEN 1 ELSE 0 END) OVER (PARTITION BY person_id, need, rule_no ORDER BY start_date, ev_end
      ROWS UNBOUNDED PRECEDING) AS spell
  FROM ordered
), qualified AS (
  SELECT * FROM (
    SELECT *, count(*) OVER (PARTITION BY person_id, need, rule_no, spell) AS n_in_spell
    FROM rule_spells
  ) WHERE n_in_spell >= k
), merged AS (
  SELECT *, max(ev_end) OVER (PARTITION BY person_id, need ORDER BY start_date, ev_end
      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev2
  FROM qualified
), islands AS (
  SELECT *, sum(CASE WHEN prev2 IS NULL OR date_diff('day', prev2, start_date) > {m.gap_days}
      THEN 1 ELSE 0 END) OVER (PARTITION BY person_id, need ORDER BY start_date, ev_end
      ROWS UNBOUNDED PRECEDING) AS island
  FROM merged
)
SELECT person_id, need, min(start_date) AS from_date, max(ev_end) AS to_date,
  count(*) AS n_events, string_agg(DISTINCT agency, ',' ORDER BY agency) AS agencies
FROM islands GROUP BY person_id, need, island
"""


def needs_summary_sql(person_needs: str = "person_needs") -> str:
    """People per need and the number of needs per person (from ``person_needs``)."""
    return f"SELECT need, count(DISTINCT person_id) AS people FROM {person_needs} GROUP BY need"


def person_need_sets_sql(person_needs: str = "person_needs") -> str:
    """One row per person with any need: the sorted list of their needs and how many."""
    return f"""
SELECT person_id, list_sort(list(DISTINCT need)) AS needs, count(DISTINCT need) AS n_needs
FROM {person_needs} GROUP BY person_id
"""


def hard_edges_group(need: str) -> str | None:
    """Hard Edges domains: homelessness, substance misuse (drugs or alcohol), offending."""
    if need in ("drugs", "alcohol"):
        return "substance"
    if need in ("homelessness", "offending"):
        return need
    return None
