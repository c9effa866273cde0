"""Done-when: Anytown at 100,000 residents (seed 11). The past programme's effect on A&E
attendances, estimated from the extracts alone, is within 15% (relative) of the true effect
with the truth inside the 90% interval, and the naive before/after change overstates it.

The place is built once for this module (synth, ingest, link: about 2-4 minutes).
"""

from __future__ import annotations

import duckdb
import pytest

from totalplace.place import Place

pytestmark = pytest.mark.slow

RESIDENTS, SEED = 100_000, 11


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    from totalplace.synth import generate

    root = tmp_path_factory.mktemp("anytown100k") / "anytown"
    generate(residents=RESIDENTS, seed=SEED, out=root)
    with Place.open(root) as place:
        place.ingest.run()
        place.link.run()
        settings, programmes = place.appraise.settings()
        ev = place.appraise.evaluate(programmes[0])
    truth = (
        duckdb.connect()
        .execute(
            f"SELECT count(*) FILTER (WHERE joined), any_value(effect_rate_ratio) FILTER "
            f"(WHERE joined) FROM '{root / 'truth' / 'programme.parquet'}'"
        )
        .fetchone()
    )
    return ev, {"joined": truth[0], "effect": truth[1] - 1.0}


def test_programme_is_large_enough(evaluation):
    ev, truth = evaluation
    assert truth["joined"] >= 1_000
    assert ev.participants_matched >= 0.9 * truth["joined"]


def test_effect_on_ae_within_15_percent_of_truth(evaluation):
    ev, truth = evaluation
    ae = next(e for e in ev.effects if e.outcome == "ae_attendances")
    assert abs(ae.effect - truth["effect"]) <= 0.15 * abs(truth["effect"]), (ae, truth)
    assert ae.ci_low <= truth["effect"] <= ae.ci_high
    assert ev.programme.confidence_level == 0.90


def test_naive_before_after_overstates_it(evaluation):
    ev, truth = evaluation
    ae = next(e for e in ev.effects if e.outcome == "ae_attendances")
    assert ae.naive_change < ae.ci_low  # outside the interval, not just noise
    assert ae.naive_change < 1.5 * truth["effect"]  # claims at least half as much again
