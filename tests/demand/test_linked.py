"""Repeats, follows, chains and structural repeats on small hand-made data (known answers)."""

from __future__ import annotations

import pandas as pd
import pytest

from totalplace.demand.linked import (
    Stacker,
    chains,
    decide,
    follows,
    prior_contacts,
    structural_repeats,
)
from totalplace.demand.settings import StructuralRepeat, demand_settings
from totalplace.errors import ManifestError


def _contacts(rows):
    df = pd.DataFrame(rows, columns=["event_id", "person_id", "service", "day", "text_type"])
    df["agency"] = "cc"
    df["start_at"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(df["day"], unit="D")
    df["end_at"] = pd.NaT
    df["channel"] = "Telephone"
    df["outcome"] = None
    df["p_failure_text"] = (df["text_type"] == "failure").map({True: 0.9, False: 0.1})
    df["text_category"] = df["text_type"].map({"failure": "progress chasing", "value": "payment"})
    df["text_method"] = "model"
    df["category_if_failure"] = "progress chasing"
    df["category_if_value"] = "payment"
    return df


def test_repeat_follows_and_chains():
    c = _contacts(
        [
            ("a1", "p1", "tax", 0, "value"),
            ("a2", "p1", "tax", 5, "failure"),  # follows a1
            ("a3", "p1", "tax", 10, "failure"),  # follows a1 (the value contact), not a2
            ("a4", "p1", "bins", 11, "value"),  # another service: a chain of its own
            ("a5", "p1", "tax", 200, "value"),  # beyond the window: new chain
            ("b1", "p2", "tax", 1, "value"),
            ("b2", "p2", "tax", 20, "value"),  # text says value; repeats b1 within 28 days
            ("x1", None, "tax", 3, "failure"),  # not linked: follows nothing
        ]
    )
    c = prior_contacts(c, 28)
    assert dict(zip(c["event_id"], c["repeat"], strict=True)) == {
        "a1": False,
        "a2": True,
        "a3": True,
        "a4": False,
        "a5": False,
        "b1": False,
        "b2": True,
        "x1": False,
    }
    c = decide(c, Stacker())  # fallback: a repeat overrides text below 0.8 confidence
    assert c.set_index("event_id").loc["b2", "demand_type"] == "value"  # text 0.9 sure
    c = follows(c, 90)
    f = dict(zip(c["event_id"], c["follows_event_id"], strict=True))
    assert f == {
        "a1": None,
        "a2": "a1",
        "a3": "a1",
        "a4": None,
        "a5": None,
        "b1": None,
        "b2": None,
        "x1": None,
    }
    ch = chains(c).set_index("chain_id")
    assert ch.loc["a1", "contacts"] == 3
    assert ch.loc["a1", "end_to_end_days"] == 10
    assert ch["contacts"].sum() == len(c)


def test_stacker_learns_that_repeats_are_failure():
    import numpy as np

    rng = np.random.default_rng(0)
    rep = rng.random(400) < 0.5
    y = np.where(rep, "failure", "value")
    p_text = np.full(400, 0.5)  # texts that say nothing
    st = Stacker.fit(p_text, rep, y)
    assert (st.p_failure(p_text, rep) >= 0.5).tolist() == rep.tolist()


def test_structural_repeats_known_answer():
    ev = pd.DataFrame(
        {
            "agency": ["acute"] * 5,
            "event_id": ["e1", "e2", "e3", "e4", "e5"],
            "person_id": ["p1", "p1", "p1", "p2", "p2"],
            "service": ["ED"] * 5,
            "activity": ["A&E attendance"] * 5,
            "start_at": pd.to_datetime(
                [
                    "2024-01-01 00:00:00",
                    "2024-01-05 00:00:00",
                    "2024-01-20 00:00:00",
                    "2024-01-01 00:00:00",
                    "2024-01-08 00:00:01",
                ]
            ),
            "end_at": pd.NaT,
        }
    )
    kind = StructuralRepeat(
        name="A&E re-attendance within 7 days", agency="acute", activity="A&E%", window_days=7
    )
    out = structural_repeats(ev, [kind]).set_index("event_id")
    assert out["demand_type"].to_dict() == {
        "e1": "value",
        "e2": "failure",
        "e3": "value",
        "e4": "value",
        "e5": "value",
    }
    assert out.loc["e2", "follows_event_id"] == "e1"


def test_settings_report_every_problem_with_its_key_path():
    with pytest.raises(ManifestError) as e:
        demand_settings({"repeat_window_days": 0, "method": "magic", "labels": {"text_col": "x"}})
    msg = str(e.value)
    assert "demand.repeat_window_days" in msg and "demand.method" in msg
    assert "demand.labels.path" in msg
