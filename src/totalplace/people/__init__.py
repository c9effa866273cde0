"""The ``people`` stage: whole people and families, costs, needs, the high-cost few and
regression to the mean.

>>> from totalplace import Place
>>> with Place.open("anytown") as place:                 # doctest: +SKIP
...     result = place.people.run()

Tables (inside ``place.store.stage_run("people")``, published at once):

- ``event_costs``: every event with its cost (DECIMAL(18,2), the place's price year) or the
  reason it has none; ``cost_source``, ``cost_id``, ``basis``, ``bears``, ``value_type``.
- ``person_costs`` (person_id, year, agency, cost_gbp) and ``household_costs``: costs split
  over financial years by days.
- ``person_needs`` (person_id, need, from_date, to_date, n_events, agencies).
- ``concentration``, ``lorenz``, ``decile_transitions``, ``persistence``.
- ``cohorts``, ``cohort_members``; ``segments``.

Cohort tools for other stages: ``totalplace.people.cohorts``.
"""

from __future__ import annotations

from totalplace.people.section import section
from totalplace.people.stage import People

__all__ = ["People", "section"]
