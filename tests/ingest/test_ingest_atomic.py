"""Ingest is all or nothing: killed part-way, the store keeps the previous good tables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import duckdb

from totalplace.ingest.stage import PAUSE_ENV
from totalplace.place import Place

COUNTED = ("source_people", "events", "spend", "rejects")


def _write_place(root, n_events: int) -> None:
    people = ["ID,First,Last,DOB"] + [f"P{i},Ann{i},Lee,01/02/{1940 + i % 60}" for i in range(2000)]
    events = ["EventID,PersonID,Type,Start,Cost"] + [
        f"E{i},P{i % 2000},visit,{1 + i % 28:02d}/0{1 + i % 9}/2024 1{i % 10}:00,{i % 50}.25"
        for i in range(n_events)
    ]
    events.append("E-bad,P1,visit,not a date,1.00")
    (root / "people.csv").write_text("\n".join(people) + "\n")
    (root / "events.csv").write_text("\n".join(events) + "\n")


def _counts(root) -> dict[str, int]:
    with Place.open(root) as place:
        return {t: place.store.engine.count(t) for t in COUNTED}


def test_killed_ingest_leaves_previous_tables_and_rerun_succeeds(
    make_place, default_manifest, tmp_path
):
    files = [
        {
            "table": "source_people",
            "path": "people.csv",
            "date_format": "%d/%m/%Y",
            "columns": {
                "source_id": "ID",
                "given_name": "First",
                "family_name": "Last",
                "dob": "DOB",
            },
        },
        {
            "table": "events",
            "path": "events.csv",
            "date_format": "%d/%m/%Y",
            "columns": {
                "event_id": "EventID",
                "source_id": "PersonID",
                "activity": "Type",
                "start_at": "Start",
                "cost_gbp": "Cost",
            },
        },
    ]
    root = make_place(default_manifest(files))
    _write_place(root, 50_000)
    with Place.open(root) as place:
        place.ingest.run()
    good = _counts(root)
    assert good == {"source_people": 2000, "events": 50_000, "spend": 0, "rejects": 1}

    _write_place(root, 200_000)  # the extracts change; the next run is killed part-way
    marker = tmp_path / "staged"
    env = {**os.environ, PAUSE_ENV: str(marker)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "totalplace.cli", "ingest", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "ingest never reached its publish step"
            time.sleep(0.05)
        # Its new tables are staged in its scratch database, not in the store: a reader can
        # open the store while it works, and sees the last published tables.
        con = duckdb.connect(str(root / "place.duckdb"), read_only=True)
        staged = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_tp_new_%'"
        ).fetchall()
        during = con.execute("SELECT count(*) FROM events").fetchone()[0]
        con.close()
        assert staged == [] and during == good["events"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    assert _counts(root) == good  # the previous good tables, untouched
    with Place.open(root) as place:
        assert not [t for t in place.store.engine.tables() if t.startswith("_tp_new_")]
        result = place.ingest.run()
    assert result.tables == {"source_people": 2000, "events": 200_000, "spend": 0, "rejects": 1}
    assert _counts(root) == result.tables
