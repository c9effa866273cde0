"""The ``demand`` stage: value and failure demand, repeat demand, end-to-end time.

>>> from totalplace import Place
>>> with Place.open("anytown") as place:                      # doctest: +SKIP
...     result = place.demand.run()

See ``docs/demand.md``. The classifier (``rules``, ``model``) also works on any file
(``totalplace demand train`` / ``classify``).
"""

from __future__ import annotations

from totalplace.demand.rules import load_rules
from totalplace.demand.section import section
from totalplace.demand.stage import Demand

__all__ = ["Demand", "load_rules", "section"]
