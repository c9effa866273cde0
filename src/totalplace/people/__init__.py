"""The ``people`` stage: whole people and families, costs, needs, the high-cost few and
regression to the mean.

>>> from totalplace import Place
>>> with Place.open("anytown") as place:                 # doctest: +SKIP
...     result = place.people.run()
"""

from __future__ import annotations

from totalplace.people.stage import People

__all__ = ["People"]
