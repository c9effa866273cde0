"""Benchmark: the demand stage on a big place, beside a plain scikit-learn pipeline.

1. Anytown with ``residents`` people; only the contact centre's extract is ingested and
   each customer record stands for one person (``person_links`` by identity: the linkage
   stage is benchmarked on its own in ``bench_link``), so the time measured is demand's
   own: train on the shipped staff-labelled sample, classify every contact, link repeats,
   build chains and the weekly XmR charts, publish.
2. The peer: a plain TF-IDF + logistic regression pipeline trained on the same sample and
   predicting the same texts (no rules, no repeats), timed and scored the same way.
3. A voice unlike Anytown's: ``demand train`` / ``classify`` on the hand-written contacts
   in ``tests/demand/fixtures/contacts_other_voice.csv`` (train on one half, score the
   other), beside the plain baseline in the same run.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

SUITE = "demand"
DEFAULT_SIZES = [20_000, 1_000_000]
FIXTURE = Path(__file__).resolve().parents[1] / "tests/demand/fixtures/contacts_other_voice.csv"


def _other_voice(tmp: Path) -> dict:
    import csv

    from totalplace.demand.files import classify_file, train_file
    from totalplace.demand.model import baseline_pipeline

    rows = list(csv.DictReader(open(FIXTURE, encoding="utf-8")))
    train, test = rows[::2], rows[1::2]
    for name, part in (("train", train), ("test", test)):
        with open(tmp / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(part)
    m = train_file(tmp / "train.csv", "text", "demand_type", "category", out=tmp / "model")
    out = classify_file(tmp / "test.csv", "text", tmp / "out.csv", model_dir=tmp / "model")
    truth = [r["demand_type"] for r in test]
    acc = sum(a == b for a, b in zip(out["demand_type"].to_pylist(), truth, strict=True))
    base = baseline_pipeline().fit([r["text"] for r in train], [r["demand_type"] for r in train])
    bacc = sum(a == b for a, b in zip(base.predict([r["text"] for r in test]), truth, strict=True))
    return {
        "other_voice_n_train": len(train),
        "other_voice_n_test": len(test),
        "other_voice_accuracy": round(acc / len(test), 4),
        "other_voice_baseline_accuracy": round(bacc / len(test), 4),
        "other_voice_method": m.method,
    }


def run(residents: int, workdir: Path) -> dict:
    import pandas as pd
    from sklearn.metrics import f1_score

    from totalplace.demand.model import baseline_pipeline
    from totalplace.place import Place
    from totalplace.synth import generate

    out = workdir / "anytown"
    t0 = time.perf_counter()
    generate(residents=residents, seed=11, out=out)
    synth_s = time.perf_counter() - t0
    man = yaml.safe_load((out / "place.yaml").read_text())
    man["agencies"] = [a for a in man["agencies"] if a["id"] == "council_contact"]
    man["agencies"][0]["files"] = [f for f in man["agencies"][0]["files"] if f["table"] == "events"]
    man["demand"]["structural"] = []
    (out / "place.yaml").write_text(yaml.safe_dump(man, sort_keys=False))
    with Place.open(out) as place:
        t0 = time.perf_counter()
        place.ingest.run()
        ingest_s = time.perf_counter() - t0
        place.store.publish(
            {
                "person_links": "SELECT DISTINCT agency, CAST(source_id AS VARCHAR) AS source_id, "
                "agency || '|' || source_id AS unique_id, 'P' || source_id AS person_id, "
                "'P' || source_id AS cluster_id, 1.0 AS match_probability FROM events"
            }
        )
        t0 = time.perf_counter()
        result = place.demand.run()
        demand_s = time.perf_counter() - t0
        d = place.store.engine.query(
            "SELECT event_id, demand_type, category, follows_event_id FROM demand"
        ).to_pandas()
    truth = pd.read_parquet(out / "truth" / "contacts.parquet")
    m = d.merge(truth, on="event_id", suffixes=("", "_t"))
    rep = m[m["follows_event_id_t"].notna()]
    # The peer, on the same texts.
    sample = pd.read_csv(out / "council_contact" / "labelled_sample.csv")
    contacts = pd.read_csv(
        out / "council_contact" / "contacts.csv", usecols=["ContactID", "Reason"]
    )
    t0 = time.perf_counter()
    base = baseline_pipeline().fit(sample["Reason"], sample["demand_type"])
    pred = base.predict(contacts["Reason"].fillna(""))
    baseline_s = time.perf_counter() - t0
    bt = contacts.assign(pred=pred).merge(truth, left_on="ContactID", right_on="event_id")
    det = result.detail
    metrics = {
        "contacts": det["contacts"],
        "synth_s": round(synth_s, 1),
        "ingest_s": round(ingest_s, 1),
        "demand_s": round(demand_s, 1),
        **{f"demand_{k}_s": v for k, v in det["timings"].items()},
        "contacts_per_s": round(det["contacts"] / demand_s),
        "type_accuracy": round(float((m["demand_type"] == m["demand_type_t"]).mean()), 4),
        "type_macro_f1": round(
            float(f1_score(m["demand_type_t"], m["demand_type"], average="macro")), 4
        ),
        "category_accuracy": round(float((m["category"] == m["category_t"]).mean()), 4),
        "follows_agreement": round(
            float((rep["follows_event_id"] == rep["follows_event_id_t"]).mean()), 4
        ),
        "baseline_s": round(baseline_s, 1),
        "baseline_accuracy": round(float((bt["pred"] == bt["demand_type"]).mean()), 4),
        "method": det["method"],
        "methods": det["methods"],
    }
    metrics.update(_other_voice(workdir))
    return metrics
