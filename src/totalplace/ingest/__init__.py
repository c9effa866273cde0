"""Ingest: read the agencies' extracts (CSV, Parquet, XLSX) into the canonical tables.

Every row of every file is either loaded into ``source_people``, ``events`` or ``spend``, or
written to ``rejects`` with its file, row number, raw values and a reason a person can act
on; for each file, rows read = rows loaded + rows rejected. A file that cannot be read at
all stops ingest with an error naming it, and nothing is written.

>>> from totalplace import Place
>>> with Place.open("examples/minitown") as place:            # doctest: +SKIP
...     result = place.ingest.run()
>>> result.tables["rejects"]                                  # doctest: +SKIP
7

See docs/manifest.md for the place.yaml reference and every validation rule.
"""

from __future__ import annotations

from totalplace.ingest.readers import read_header
from totalplace.ingest.stage import Ingest

__all__ = ["Ingest", "read_header"]
