"""The past programme's size and eligibility are parameters (data/activity_model.yaml)."""

from __future__ import annotations

import numpy as np
import pytest

from totalplace.synth.model import model_params
from totalplace.synth.programme import join_scale, settings


def test_scale_gives_the_expected_number_of_joiners():
    prior = np.array([2] * 500 + [3] * 200 + [8] * 50)
    for target in (50, 200, 400):
        s = join_scale(prior, target, power=1.0, cap=0.8)
        assert np.minimum(0.8, s * prior).sum() == pytest.approx(target, rel=1e-6)
    # Out of reach: everyone who may join does, at the cap.
    s = join_scale(prior, 10_000, power=1.0, cap=0.8)
    assert np.all(np.minimum(0.8, s * prior) == 0.8)


def test_defaults_make_a_programme_big_enough_to_evaluate():
    cfg = settings(model_params())
    assert cfg["participants_per_100k"] >= 1_000
    assert cfg["rate_ratio"] == 0.70
    assert settings({"programme": {"min_prior": 3}})["min_prior"] == 3


def test_size_parameter_changes_the_number_who_join(tmp_path):
    import duckdb

    from totalplace.synth import generate

    counts = []
    for size in (400, 1600):
        out = tmp_path / f"p{size}"
        generate(residents=5_000, seed=3, out=out,
                 activity_config={"programme": {"participants_per_100k": size}})  # fmt: skip
        counts.append(duckdb.connect().execute(
            f"SELECT count(*) FROM '{out / 'truth' / 'programme.parquet'}' WHERE joined"
        ).fetchone()[0])  # fmt: skip
    assert 5 <= counts[0] <= 40  # about 20 expected
    assert 2.5 * counts[0] <= counts[1] <= 120  # about 80 expected
