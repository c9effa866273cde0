"""The ``journeys`` stage: follow people across agencies through time; find dropped balls.

>>> from totalplace import Place
>>> with Place.open("anytown") as place:                      # doctest: +SKIP
...     result = place.journeys.run()
>>> result.tables["transitions"]                               # doctest: +SKIP
4427

Tables published (all in one atomic swap):

- ``journey_steps``: person_id, agency, event_id, service, activity, outcome, start_at,
  end_at, start_day, end_day (dates in the place's zone), seq (1, 2, ... per person in time
  order), prev_agency, next_agency, gap_prev_s, gap_next_s, crosses_agency.
- ``transitions``: person_id, kind, at, agency, event_id (the trigger event), followed_up,
  days_to_follow_up, adverse_outcome, observed_days (days from ``at`` to the period end).
- ``transition_summary``: per kind, volume, follow-up rate and adverse-outcome rates with
  and without follow-up, with Wilson 95% intervals and the association warning.
- ``transition_gaps``: per kind and expected contact, met / late / never, by trigger agency.
- ``transition_trend``: per kind and month, volume, follow-up and adverse rates.
- ``handoffs``: from_agency, to_agency, handoffs, people, median/p90/mean wait (days) for a
  person's next event at another agency within ``journeys.handoff_window_days``.
- ``rework``: the same agency and activity straight after itself, per agency and activity.

``journeys log`` (``totalplace.journeys.logfile``) runs the same flow SQL on any event log.
"""

from __future__ import annotations

from totalplace.journeys.section import section
from totalplace.journeys.stage import Journeys

__all__ = ["Journeys", "section"]
