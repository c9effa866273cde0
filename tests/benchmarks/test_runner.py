"""The benchmark runner: one fresh subprocess per (suite, size), JSON and a markdown table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_runner_measures_and_writes_results(tmp_path):
    out = tmp_path / "results"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--only",
            "synth",
            "--residents",
            "600",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    rows = json.loads((out / "synth.json").read_text())
    assert [row["residents"] for row in rows] == [600]
    row = rows[0]
    assert row["wall_s"] > 0 and row["peak_rss_mb"] > 50
    assert row["households"] > 0 and row["person_records"] >= 600
    table = (out / "README.md").read_text()
    assert "## synth" in table and "| 600 |" in table


def test_runner_rejects_unknown_suite(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nope", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "unknown suite" in r.stderr
