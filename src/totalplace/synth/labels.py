"""What a real place would have beside its contact records: a sample labelled by staff.

Demand analysts ask staff to label a few hundred contacts by hand (value or failure, and a
category). Staff disagree and slip, so about 5% of the labels are wrong. The sample is
stratified by service and channel, as ``totalplace demand sample`` draws one, and written to
``council_contact/labelled_sample.csv``; ``place.yaml`` points ``demand.labels`` at it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from totalplace.synth.extract import ExtractFile

CONTACTS_PATH = "council_contact/contacts.csv"
SAMPLE_PATH = "council_contact/labelled_sample.csv"
SAMPLE_SIZE = 400
MISLABEL_RATE = 0.05


def demand_settings() -> dict:
    """The ``demand:`` block Anytown's place.yaml carries."""
    return {
        "labels": {
            "path": SAMPLE_PATH,
            "text_col": "Reason",
            "label_col": "demand_type",
            "category_col": "category",
            "id_col": "ContactID",
            "agency": "council_contact",
        },
        "contacts": {"agencies": ["council_contact"]},
    }


def staff_sample(
    files: list[ExtractFile],
    truth: pa.Table,
    rng: np.random.Generator,
    n: int = SAMPLE_SIZE,
    mislabel: float = MISLABEL_RATE,
) -> pa.Table | None:
    """A stratified sample of contacts with staff labels (``mislabel`` of them wrong)."""
    f = next((f for f in files if f.path == CONTACTS_PATH), None)
    if f is None or truth is None or truth.num_rows == 0:
        return None
    data = f.data.select(["ContactID", "Service", "Channel", "Reason"])
    t = truth.select(["event_id", "demand_type", "category"])
    joined = data.join(t, "ContactID", "event_id", join_type="inner")
    m = joined.num_rows
    n = min(n, m)
    # Proportional allocation over (service, channel) strata, at least one from each.
    key = pc.binary_join_element_wise(
        pc.cast(joined["Service"], pa.string()), pc.cast(joined["Channel"], pa.string()), "|"
    ).to_numpy(zero_copy_only=False)
    strata, inv = np.unique(key, return_inverse=True)
    take: list[int] = []
    for s in range(len(strata)):
        rows = np.flatnonzero(inv == s)
        k = max(1, int(round(n * len(rows) / m)))
        take.extend(rng.choice(rows, size=min(k, len(rows)), replace=False).tolist())
    take = sorted(take)
    sample = joined.take(pa.array(take, pa.int64()))
    dtype = np.array(sample["demand_type"].to_pylist(), dtype=object)
    cat = np.array(sample["category"].to_pylist(), dtype=object)
    flip = rng.random(len(take)) < mislabel
    value_cats = sorted(set(cat[dtype == "value"]))
    failure_cats = sorted(set(cat[dtype == "failure"]))
    for i in np.flatnonzero(flip):
        if dtype[i] == "value" and failure_cats:
            dtype[i], cat[i] = "failure", failure_cats[int(rng.integers(len(failure_cats)))]
        elif value_cats:
            dtype[i], cat[i] = "value", value_cats[int(rng.integers(len(value_cats)))]
    return pa.table(
        {
            "ContactID": sample["ContactID"],
            "Service": sample["Service"],
            "Channel": sample["Channel"],
            "Reason": sample["Reason"],
            "demand_type": pa.array(dtype.tolist(), pa.string()),
            "category": pa.array(cat.tolist(), pa.string()),
        }
    )
