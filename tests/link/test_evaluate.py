"""Pairwise and B-cubed metrics on hand-made clusterings with known answers."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from totalplace.link.evaluate import metrics_sql, pairwise_metrics


def table(mapping: dict[str, str], col: str) -> pa.Table:
    return pa.table({"unique_id": list(mapping), col: list(mapping.values())})


TRUTH = table({"a": "1", "b": "1", "c": "1", "d": "2", "e": "2", "f": "3"}, "truth_id")


def test_perfect_clustering():
    m = pairwise_metrics(
        duckdb.connect(),
        table({"a": "x", "b": "x", "c": "x", "d": "y", "e": "y", "f": "z"}, "cluster_id"),
        TRUTH,
    )
    assert (m["precision"], m["recall"], m["bcubed_f1"]) == (1.0, 1.0, 1.0)
    assert (m["true_pairs"], m["predicted_pairs"], m["true_people"], m["clusters"]) == (4, 4, 3, 3)


def test_one_missed_record_and_one_false_merge():
    # c is split off (loses 2 true pairs); f is merged into d/e (adds 2 false pairs)
    pred = table({"a": "x", "b": "x", "c": "w", "d": "y", "e": "y", "f": "y"}, "cluster_id")
    m = pairwise_metrics(duckdb.connect(), pred, TRUTH)
    assert m["correct_pairs"] == 2
    assert m["precision"] == pytest.approx(2 / 4)  # ab, de right; df, ef wrong
    assert m["recall"] == pytest.approx(2 / 4)  # ab, de of ab, ac, bc, de
    # B-cubed precision per record: a,b 1; c 1; d,e,f 2/3, 2/3, 1/3 -> mean (3 + 5/3) / 6
    assert m["bcubed_precision"] == pytest.approx((3 + 5 / 3) / 6)
    # recall: a,b 2/3; c 1/3; d,e 1; f 1 -> (4/3 + 1/3 + 3) / 6
    assert m["bcubed_recall"] == pytest.approx((5 / 3 + 3) / 6)


def test_everything_in_one_cluster_has_full_recall_low_precision():
    pred = table(dict.fromkeys("abcdef", "x"), "cluster_id")
    m = pairwise_metrics(duckdb.connect(), pred, TRUTH)
    assert m["recall"] == 1.0
    assert m["precision"] == pytest.approx(4 / 15)


def test_sql_is_pure_text():
    sql = metrics_sql("c", "t")
    assert "FROM c" in sql and "FROM t" in sql or "JOIN t" in sql
