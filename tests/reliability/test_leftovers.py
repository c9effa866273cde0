"""Nothing sensitive left behind: temporary files stay in the place, owner-only, and go.

Ingest and link are killed mid-way (SIGKILL, no chance to clean up) with the child's
temporary folder and working directory pointed at empty private folders: nothing may appear
there, and what the run left in ``PLACE/.totalplace/tmp`` is removed on the next open.
"""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from totalplace.ingest.stage import PAUSE_ENV
from totalplace.place import Place

from .conftest import copy_place
from .helpers import child_env


def _start(place: Path, command: str, tmp_path: Path, **env: str) -> subprocess.Popen:
    systmp, cwd = tmp_path / "systmp", tmp_path / "cwd"
    systmp.mkdir()
    cwd.mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "totalplace.cli", command, str(place)],
        env=child_env(TMPDIR=str(systmp), **env),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for(cond, proc: subprocess.Popen, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, f"never got to: {what}"
        time.sleep(0.05)


def _left_in_place(place: Path) -> list[Path]:
    return list((place / ".totalplace" / "tmp").iterdir())


def _assert_private_and_cleaned(place: Path, tmp_path: Path, stage: str) -> None:
    left = _left_in_place(place)
    assert left, "the killed run's temporary folder should still be there before the next open"
    for p in [place / ".totalplace", place / ".totalplace" / "tmp", *left]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p
    for d in ("systmp", "cwd"):
        assert list((tmp_path / d).rglob("*")) == [], f"{d} holds files of the killed run"
    with Place.open(place) as p:
        (run,) = p.store.runs(stage)
        assert run["outcome"] == "killed"
    assert _left_in_place(place) == []


def test_a_killed_ingest_leaves_nothing_outside_the_place(minitown, tmp_path):
    # Minitown has cp1252 and latin-1 extracts, which ingest transcodes into temporary copies.
    marker = tmp_path / "staged"
    proc = _start(minitown, "ingest", tmp_path, **{PAUSE_ENV: str(marker)})
    try:
        _wait_for(marker.exists, proc, "ingest's publish step")
        copies = [f for d in _left_in_place(minitown) for f in d.iterdir()]
        assert copies, "expected transcoded copies of the extracts in the run's folder"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    _assert_private_and_cleaned(minitown, tmp_path, "ingest")


@pytest.mark.slow
def test_a_link_killed_mid_way_leaves_nothing_outside_the_place(tiny_stages, tmp_path):
    if "link" not in tiny_stages["before"]:
        pytest.skip("link is not available")
    place = copy_place(tiny_stages["before"]["link"], tmp_path / "place")
    proc = _start(place, "link", tmp_path)
    try:
        tmp = place / ".totalplace" / "tmp"
        _wait_for(lambda: tmp.is_dir() and any(tmp.iterdir()), proc, "link's run folder")
        time.sleep(3)  # part-way through training
        assert proc.poll() is None, "link finished before it could be killed mid-way"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    _assert_private_and_cleaned(place, tmp_path, "link")
