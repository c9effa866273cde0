"""The ``link`` stage: turn ``source_people`` into people (and households) with Splink.

>>> from totalplace import Place
>>> with Place.open("anytown") as place:                      # doctest: +SKIP
...     result = place.link.run()
>>> result.tables["person_links"]                              # doctest: +SKIP
61234

What ``Link(place).run(reviews=None, engine="duckdb")`` does, in order:

1. ``prepare``: ``source_people`` -> the Splink input frame (one row per record,
   ``unique_id = agency || '|' || source_id``; cleaned names, nickname groups, dob parts,
   postcode sector/district; only NHS numbers that pass the modulus-11 check).
2. ``model.train``: u by random sampling, m by EM over several blocking rules
   (``settings.training_rules``); the trained model is saved to ``PLACE_DIR/link/model.json``.
3. ``model.predict``: blocking (``settings.blocking_rules``) and scoring; pairs with
   ``match_probability >= linkage.pair_floor`` (default 0.01) are kept. Deterministic
   pre-links (same valid NHS number and same dob) get probability 1.0.
4. ``review.apply_reviews`` (if the module exists), then Splink's connected-components
   clustering at the threshold chosen from the model's estimated precision/recall
   (or the one fixed in ``place.yaml``), then the over-link guard.
5. ``stable_ids.assign`` (if present) maps Splink's raw cluster ids to person ids that stay
   the same between runs; otherwise an interim deterministic numbering is used.
6. ``households.build`` (if present); everything is published in one atomic swap.

Tables published (inside ``place.store.stage_run("link")``):

- ``linkage_pairs``: unique_id_l, unique_id_r, agency_l, source_id_l, agency_r,
  source_id_r, match_weight, match_probability, match_key (blocking rule number as text,
  or 'deterministic' / 'review'), above the floor.
- ``person_links``: agency, source_id, unique_id, person_id (VARCHAR, e.g. 'P0000001'),
  cluster_id (Splink's raw cluster id for this run), match_probability: the highest
  probability of any edge (at or above the threshold) joining this record to its cluster;
  1.0 for a record that is alone in its cluster (nothing to be uncertain about).
- ``persons``: person_id, n_records, n_agencies, agencies (VARCHAR[] sorted), dob, sex,
  given_name, family_name, postcode (the most common non-null value among its records),
  min_match_probability, flagged (over-link guard), flag_reason.
- ``link_flags``: person_id, n_records, reason ('size' or 'bridge'), detail.
- plus whatever ``stable_ids`` (``person_id_history``) and ``households`` return.

Contract with the extras modules (each optional: the stage checks for the module and
function and skips that step if missing). Hooks receive Arrow tables or table names, never
Splink internals:

- ``totalplace.link.review.apply_reviews(edges: pa.Table, reviews: Path)
  -> tuple[pa.Table, dict]``: ``edges`` has at least unique_id_l, unique_id_r, match_weight,
  match_probability, match_key (unique_id_l < unique_id_r always). Return the edges with
  reviewed decisions applied ('match' -> probability 1.0, adding the pair if absent, with
  match_key 'review'; 'non-match' -> probability 0.0) and a JSON-able summary dict.
- ``totalplace.link.review.write_review_file(pairs: pa.Table, out: Path,
  band: tuple[float, float]) -> int``: called after clustering with ``linkage_pairs``-shaped
  pairs; writes the clerical review CSV of pairs whose probability is in ``band``
  (default from ``linkage.review_band``) to ``out`` (``PLACE_DIR/link/review_pairs.csv``);
  returns rows written.
- ``totalplace.link.stable_ids.assign(clusters: pa.Table, store: Store, run_id: str)
  -> tuple[pa.Table, pa.Table | None]``: ``clusters`` has agency, source_id, unique_id,
  cluster_id (VARCHAR, arbitrary per run). Read the previous ``person_links`` /
  ``person_id_history`` from ``store`` if they exist. Return (a table unique_id -> person_id
  for every row of ``clusters``, the full ``person_id_history`` table to publish or None).
- ``totalplace.link.households.build(engine: Engine, person_links: str,
  source_people: str = "source_people") -> dict[str, str | pa.Table | list[SqlStep]]``:
  ``person_links`` names a view of the new (not yet published) person_links; return the
  tables to publish (e.g. ``{"households": sql, "household_members": sql}``) in the same
  atomic publish.
- ``engine="spark"``: ``totalplace.engine.spark.splink_db_api() -> splink.SparkAPI`` (a
  SparkAPI on a local session sized for the machine). Everything else is unchanged:
  the same settings, training and clustering run through that API.
"""

from __future__ import annotations

__all__ = ["Link"]


def __getattr__(name: str):
    # Imported when first asked for: `totalplace link-files` uses the model and pipeline
    # modules only, and the place stage pulls in the store, manifest and place code.
    if name == "Link":
        from totalplace.link.stage import Link

        return Link
    raise AttributeError(f"module 'totalplace.link' has no attribute {name!r}")
