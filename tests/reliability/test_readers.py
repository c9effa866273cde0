"""Readers are not blocked by a writer; a second writer waits briefly, then names the first.

The writer works in a scratch database with the store attached read-only, and holds the
store read-write only for the swap; one writer per place is enforced by a lock file holding
its PID (``.totalplace/writer.lock``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from totalplace.ingest.stage import PAUSE_ENV
from totalplace.place import Place
from totalplace.status import stage_status

from .helpers import child_env, run_cli
from .test_errors import one_line_error


@pytest.fixture
def paused_ingest(minitown, tmp_path):
    """A second ingest of minitown, paused part-way through publishing."""
    with Place.open(minitown) as place:
        place.ingest.run()
    marker = tmp_path / "staged"
    proc = subprocess.Popen(
        [sys.executable, "-m", "totalplace.cli", "ingest", str(minitown)],
        env=child_env(**{PAUSE_ENV: str(marker)}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    yield minitown, proc
    proc.send_signal(signal.SIGINT)
    proc.wait(30)


def test_a_reader_sees_the_last_published_state_while_a_stage_runs(paused_ingest):
    place_dir, writer = paused_ingest
    with Place.open(place_dir, read_only=True) as place:
        assert place.store.engine.count("events") == 96
        runs = place.store.runs("ingest")
        assert [r["outcome"] for r in runs] == ["ok", "running"]
        assert runs[-1]["pid"] == writer.pid
        (st,) = stage_status(place, ["ingest"])
        assert st.state == "fresh" and st.running
    out = run_cli("status", str(place_dir), COLUMNS="200")
    assert out.returncode == 0, out.stderr
    assert f"running now (PID {writer.pid})" in out.stdout


def test_a_second_writer_waits_then_names_the_first(paused_ingest):
    place_dir, writer = paused_ingest
    t0 = time.monotonic()
    line = one_line_error(run_cli("ingest", str(place_dir), TOTALPLACE_LOCK_WAIT="1"))
    assert time.monotonic() - t0 >= 1
    assert f"in use by another process (PID {writer.pid}: totalplace ingest " in line
    with Place.open(place_dir, read_only=True) as place:  # the second writer changed nothing
        assert [r["outcome"] for r in place.store.runs("ingest")] == ["ok", "running"]
