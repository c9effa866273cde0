"""Anytown: a synthetic place with its ground truth (``totalplace synth``).

How the package is split (two halves, each owned by one module family):

* **The people** -- ``population.py`` (households, people, needs, with ``geography.py``
  for areas/postcodes/addresses and ``needs.py`` for the latent-factor needs model),
  ``agencies.py`` (every agency's id, name, sector and person-extract layout),
  ``records.py`` + ``noise.py`` (each agency's person records with realistic identifier
  noise, and the truth of which record is whom), ``manifest_writer.py`` (``place.yaml``).
* **The activity** -- ``activity.py`` (``make_activity``) and friends: ``model.py`` and
  ``events.py`` (rates, intensities, event batches), ``health.py``, ``care.py``,
  ``justice.py``, ``services.py``, ``contacts.py`` (per-sector events; contact-centre free
  text and failure demand), ``transitions.py``, ``programme.py``, ``costs.py`` and
  ``spend.py`` (unit costs, spend lines), ``layouts.py`` and ``truth.py`` (each agency's
  event-file layout, and the truth tables), all driven by the population.

``generate.py`` joins them: population -> record plan (source ids for every person at every
agency) -> activity (events refer to people through ``RecordPlan.source_ids``, which also
marks those people as known to the agency) -> person extracts with noise -> files,
``place.yaml`` and ``truth/*.parquet``. Every file written is described by an
:class:`~totalplace.synth.extract.ExtractFile`, so the manifest writer needs no special cases.

Example:
    >>> from totalplace.synth import generate                       # doctest: +SKIP
    >>> summary = generate(residents=20_000, seed=1, out=Path("anytown"))  # doctest: +SKIP
"""

from __future__ import annotations

from totalplace.synth.generate import SynthSummary, generate

__all__ = ["SynthSummary", "generate"]
