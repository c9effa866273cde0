"""The ``demand`` stage: value and failure demand, repeat demand, end-to-end time.

>>> from totalplace import Place
>>> with Place.open("anytown") as place:                      # doctest: +SKIP
...     result = place.demand.run()

See ``docs/demand.md``. The classifier (``rules``, ``model``) also works on any file
(``totalplace demand train`` / ``classify``).
"""

from __future__ import annotations

from totalplace.demand.rules import load_rules

__all__ = ["load_rules"]
