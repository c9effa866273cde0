"""The crash harness: every registered, available stage, killed at each point of its run.

For each stage in ``available_stages()`` (a new stage joins by being registered in
``STAGES``), on a tiny synthetic place where the stages before it have run:

- SIGKILL the stage at ``started``, ``in_swap`` (inside the swap transaction, before
  COMMIT) and ``after_swap`` (committed, checkpoint not yet run), using the test hook
  ``TOTALPLACE_TEST_KILL_AT`` (``totalplace.hooks``);
- fill the disk: the place on a tmpfs with a few kB free (needs ``unshare -m``);

then assert that the store opens, the stage's tables are all old or all new (and new ones
equal an uninterrupted run's), ``runs`` tells the truth (``killed`` or ``ok``, and every
live table names the run that made it), no staging tables or temporary files remain after
the next open, nothing was written to the machine's temporary folder, and a re-run gives
the same tables as an uninterrupted run.
"""

from __future__ import annotations

import inspect
import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from totalplace.place import Place, available_stages

from .conftest import copy_place, table_digest
from .helpers import child_env

pytestmark = pytest.mark.slow

RUNNER = """
import sys, click
from totalplace.cli import friendly_errors
from totalplace.place import Place

@friendly_errors
def go():
    with Place.open(sys.argv[1]) as place:
        place.stage(sys.argv[2]).run()

try:
    go()
except click.ClickException as e:
    e.show()
    sys.exit(1)
"""


def _prepared(tiny_stages: dict, stage: str, tmp_path: Path) -> tuple[Path, dict]:
    if stage in tiny_stages["cannot"]:
        pytest.skip(f"{stage} cannot run on the tiny place: {tiny_stages['cannot'][stage]}")
    if stage in tiny_stages["failed"]:
        pytest.fail(f"{stage}'s uninterrupted run failed: {tiny_stages['failed'][stage]}")
    if stage not in tiny_stages["stages"]:
        pytest.skip(f"{stage} was not reached: an earlier stage failed {tiny_stages['failed']}")
    place = copy_place(tiny_stages["before"][stage], tmp_path / "place")
    return place, tiny_stages["tables"][stage]


def _run_child(place: Path, stage: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    # The child's temporary folder and working directory are private and must stay empty:
    # nothing of the extracts may be written outside the place.
    systmp, cwd = tmp_path / "systmp", tmp_path / "cwd"
    systmp.mkdir(exist_ok=True)
    cwd.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", RUNNER, str(place), stage],
        env=child_env(TMPDIR=str(systmp), **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _nothing_outside(tmp_path: Path) -> None:
    for d in ("systmp", "cwd"):
        left = list((tmp_path / d).rglob("*"))
        assert left == [], f"files written outside the place: {left}"


def _check_store(place: Path, stage: str, reference: dict) -> bool:
    """The next open: consistent, truthful, clean. Returns True if the tables are new."""
    with Place.open(place) as p:
        store = p.store
        (run,) = store.runs(stage)
        present = {t for t in reference if store.engine.has_table(t)}
        assert present in (set(), set(reference)), f"half-published: {sorted(present)}"
        new = bool(present)
        if new:
            assert {t: table_digest(store, t) for t in reference} == reference
            assert run["outcome"] == "ok"
            live = store.published()
            assert {live[t]["run_id"] for t in reference} == {run["run_id"]}
        else:
            assert run["outcome"] in ("killed",) or run["outcome"].startswith("failed: ")
        assert not [t for t in store.engine.tables() if t.startswith("_tp_new_")]
        assert [r["outcome"] for r in store.runs() if r["outcome"] == "running"] == []
    tmp = place / ".totalplace" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []
    assert not list(place.glob("place.duckdb.new-*"))
    return new


STAGES = available_stages()
POINTS = [("started", False), ("in_swap", False), ("after_swap", True)]


@pytest.mark.parametrize(("point", "new"), POINTS, ids=[p for p, _ in POINTS])
@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_killed_at_each_point_leaves_a_truthful_whole_store(
    tiny_stages, tmp_path, stage, point, new
):
    place, reference = _prepared(tiny_stages, stage, tmp_path)
    if not reference and point != "started":
        pytest.skip(f"{stage} publishes no tables: there is no swap to be killed around")
    proc = _run_child(place, stage, tmp_path, TOTALPLACE_TEST_KILL_AT=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    # The killed run's temporary folder is still there until the next open...
    assert list((place / ".totalplace" / "tmp").iterdir())
    assert _check_store(place, stage, reference) is new  # ...which removes it
    _nothing_outside(tmp_path)
    if point == "in_swap":  # a re-run gives the same tables as an uninterrupted run
        with Place.open(place) as p:
            result = p.stage(stage).run()
            assert {t: table_digest(p.store, t) for t in result.tables} == reference
            assert [r["outcome"] for r in p.store.runs(stage)] == ["killed", "ok"]


def _unshare_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


CHECK = """
import json, sys
from totalplace.place import Place
{digest}
root, stage = sys.argv[1], sys.argv[2]
import os
if not os.path.exists(os.path.join(root, "place.duckdb")):  # the disk filled before it existed
    print(json.dumps({{"outcomes": [], "tables": {{}}, "staging": [], "tmp": [], "no_store": 1}}))
    sys.exit(0)
with Place.open(root) as place:
    store = place.store
    out = {{
        "outcomes": [r["outcome"] for r in store.runs(stage)],
        "tables": {{t: table_digest(store, t) for t in json.loads(sys.argv[3])
                   if store.engine.has_table(t)}},
        "staging": [t for t in store.engine.tables() if t.startswith("_tp_new_")],
        "live_runs": sorted({{i["run_id"] for t, i in store.published().items()
                             if t in json.loads(sys.argv[3])}}),
        "run_ids": [r["run_id"] for r in store.runs(stage)],
    }}
import os
tmp = os.path.join(root, ".totalplace", "tmp")
out["tmp"] = os.listdir(tmp) if os.path.isdir(tmp) else []
print(json.dumps(out))
"""


@pytest.mark.skipif(not _unshare_available(), reason="needs `unshare -m` to mount a small tmpfs")
@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_on_a_full_disk_fails_in_one_line_and_leaves_a_whole_store(
    tiny_stages, tmp_path, stage
):
    place, reference = _prepared(tiny_stages, stage, tmp_path)
    used_kb = int(
        subprocess.run(["du", "-sk", str(place)], capture_output=True, text=True).stdout.split()[0]
    )
    disk = tmp_path / "disk"
    disk.mkdir()
    d = disk / "place"
    (tmp_path / "runner.py").write_text(RUNNER)
    digest = textwrap.dedent(inspect.getsource(table_digest))
    (tmp_path / "check.py").write_text("import hashlib\n" + CHECK.format(digest=digest))
    names = json.dumps(sorted(reference))
    script = (
        f"mount -t tmpfs -o size={used_kb + 96}k tmpfs {disk} && cp -r {place} {d} && "
        f'"$PY" {tmp_path / "runner.py"} {d} {stage}; echo "rc=$?" >&2; '
        # then space is freed (as a person would) and the place is opened again
        f"mount -o remount,size={used_kb + 4096}k {disk}; "
        f"\"$PY\" {tmp_path / 'check.py'} {d} {stage} '{names}'"
    )
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        env=child_env(PY=sys.executable, PYTHONDONTWRITEBYTECODE="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    rc = err[-1]
    assert rc in ("rc=0", "rc=1"), proc.stderr[-3000:]
    state = json.loads(proc.stdout.strip().splitlines()[-1])
    assert state["staging"] == [] and state["tmp"] == []
    if rc == "rc=1":  # the disk filled before the swap committed: all old, said in one line
        said = [ln for ln in err if ln.startswith("Error: ")]
        assert len(said) == 1 and "the disk is full" in said[0], proc.stderr[-3000:]
        assert state["tables"] == {}
        if not state.get("no_store"):  # (a disk too full to create the store: no run began)
            (outcome,) = state["outcomes"]
            assert outcome.startswith("failed: the disk is full")
    else:  # it committed; only compaction was deferred: all new, and recorded as ok
        (outcome,) = state["outcomes"]
        assert state["tables"] == {t: list(v) for t, v in reference.items()}
        assert outcome == "ok"
        if reference:
            assert state["live_runs"] == state["run_ids"]
