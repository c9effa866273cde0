"""No traceback for what a person or the machine causes: one line, a non-zero exit.

Each test reproduces the failure for real where the machine allows it: a second process
holding the store, Ctrl-C and SIGTERM, a read-only folder and a full disk (a bind mount and
a small tmpfs in a private mount namespace, skipped where ``unshare -m`` is not allowed), an
immutable file (``chattr +i``), a damaged store file, DuckDB running out of memory, and
Spark without a Java runtime.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import duckdb
import pytest

from totalplace.cli import friendly_errors
from totalplace.engine.duckdb import DuckDBEngine
from totalplace.errors import StoreError
from totalplace.failures import explain
from totalplace.ingest.stage import PAUSE_ENV
from totalplace.place import Place

from .helpers import child_env, run_cli


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The command failed with exactly one line on stderr and no traceback."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


@pytest.fixture
def ingested(minitown) -> Path:
    with Place.open(minitown) as place:
        place.ingest.run()
    return minitown


def _counts(root: Path) -> dict[str, int]:
    with Place.open(root, read_only=True) as place:
        return {t: place.store.engine.count(t) for t in ("source_people", "events", "rejects")}


def _holder(path: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the store open (a notebook, a second writer)."""
    code = (
        f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ready', flush=True); "
        f"time.sleep({seconds})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_second_writer_stops_with_one_line_naming_the_other_process(ingested):
    before = _counts(ingested)
    holder = _holder(ingested / "place.duckdb", 60)
    try:
        proc = run_cli("ingest", str(ingested), TOTALPLACE_LOCK_WAIT="0.5")
        line = one_line_error(proc)
        assert f"in use by another process (PID {holder.pid}: " in line
        assert "nothing was changed" in line
        # a reader is told the same, plainly
        line = one_line_error(run_cli("status", str(ingested), TOTALPLACE_LOCK_WAIT="0.2"))
        assert f"PID {holder.pid}" in line
    finally:
        holder.kill()
        holder.wait()
    assert _counts(ingested) == before


def test_a_second_writer_waits_briefly_for_the_first(ingested):
    holder = _holder(ingested / "place.duckdb", 1.5)
    try:
        proc = run_cli("ingest", str(ingested), TOTALPLACE_LOCK_WAIT="30")
        assert proc.returncode == 0, proc.stderr
    finally:
        holder.wait()
    with Place.open(ingested, read_only=True) as place:
        assert [r["outcome"] for r in place.store.runs("ingest")] == ["ok", "ok"]


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [
        (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
        (signal.SIGTERM, 143, "stopped (SIGTERM)"),
    ],
)
def test_ctrl_c_and_sigterm_end_in_one_line_and_interrupted(ingested, tmp_path, sig, code, said):
    before = _counts(ingested)
    marker = tmp_path / "staged"
    proc = subprocess.Popen(
        [sys.executable, "-m", "totalplace.cli", "ingest", str(ingested)],
        env=child_env(**{PAUSE_ENV: str(marker)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    line = one_line_error(done)
    assert proc.returncode == code
    assert said in line and "keeps its last published tables" in line
    assert _counts(ingested) == before
    with Place.open(ingested) as place:
        assert [r["outcome"] for r in place.store.runs("ingest")] == ["ok", "interrupted"]
        assert not list((ingested / ".totalplace" / "tmp").iterdir())


def test_a_damaged_store_is_named_and_left_alone(minitown):
    store = minitown / "place.duckdb"
    store.write_bytes(b"not a database" * 100)
    line = one_line_error(run_cli("ingest", str(minitown)))
    assert "the place store is damaged" in line and "did not change it" in line
    assert store.read_bytes() == b"not a database" * 100
    debug = run_cli("--debug", "ingest", str(minitown))
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    debug = run_cli("ingest", str(minitown), TOTALPLACE_DEBUG="1")
    assert "Traceback" in debug.stderr


def test_an_immutable_store_file_is_explained(ingested):
    store = ingested / "place.duckdb"
    if subprocess.run(["chattr", "+i", str(store)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not allowed here")
    try:
        line = one_line_error(run_cli("ingest", str(ingested)))
        assert "permission denied" in line and "immutable" in line
    finally:
        subprocess.run(["chattr", "-i", str(store)], check=True)


def _unshare_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


needs_mount = pytest.mark.skipif(
    not _unshare_available(), reason="needs `unshare -m` (a private mount namespace) to mount"
)

CHECK = """
import json, sys
from totalplace.place import Place
root = sys.argv[1]
with Place.open(root) as place:
    eng = place.store.engine
    out = {t: eng.count(t) for t in ("source_people", "events", "rejects") if eng.has_table(t)}
    out["outcomes"] = [r["outcome"] for r in place.store.runs("ingest")]
    out["staging"] = [t for t in eng.tables() if t.startswith("_tp_new_")]
import os
out["tmp"] = os.listdir(root + "/.totalplace/tmp")
print(json.dumps(out))
"""


def _in_namespace(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "check.py").write_text(CHECK)
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        env=child_env(PY=sys.executable, CHECK=str(tmp_path / "check.py")),
        capture_output=True,
        text=True,
        timeout=300,
    )


@needs_mount
def test_a_read_only_place_is_explained_and_status_still_works(ingested, tmp_path):
    d = str(ingested)
    script = (
        f"mount --bind {d} {d} && mount -o remount,bind,ro {d} && "
        f'"$PY" -m totalplace.cli ingest {d}; echo "rc=$?" >&2; '
        f'"$PY" -m totalplace.cli status {d}'
    )
    proc = _in_namespace(script, tmp_path)
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert err[-1] == "rc=1", proc.stderr
    assert len(err) == 2 and "the place's folder is read-only" in err[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0 and "fresh" in proc.stdout  # status reads it read-only


@needs_mount
def test_a_full_disk_while_staging_fails_in_one_line_and_keeps_the_old_tables(minitown, tmp_path):
    # A 3 MB tmpfs: the first ingest fits; then the disk is filled to 16 kB free.
    disk = tmp_path / "disk"
    disk.mkdir()
    d = disk / "minitown"
    script = (
        f"mount -t tmpfs -o size=3m tmpfs {disk} && cp -r {minitown} {d} && "
        f'"$PY" -m totalplace.cli ingest {d} >/dev/null && '
        f"(dd if=/dev/zero of={disk}/pad bs=4k 2>/dev/null; truncate -s -16k {disk}/pad) && "
        f'"$PY" -m totalplace.cli ingest {d}; echo "rc=$?" >&2; '
        f'"$PY" "$CHECK" {d}'
    )
    proc = _in_namespace(script, tmp_path)
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert err[-1] == "rc=1", proc.stderr
    assert len(err) == 2 and "the disk is full" in err[0], proc.stderr
    assert "keeps its last published tables" in err[0]
    state = json.loads(proc.stdout.strip().splitlines()[-1])
    assert state["outcomes"][0] == "ok"
    assert state["outcomes"][1].startswith("failed: the disk is full")
    assert (state["source_people"], state["events"], state["rejects"]) == (62, 96, 13)
    assert state["staging"] == [] and state["tmp"] == []


@needs_mount
def test_a_full_disk_at_the_checkpoint_publishes_and_warns(minitown, tmp_path):
    # A 1 MB tmpfs: the swap commits to the write-ahead log, the checkpoint cannot be written.
    disk = tmp_path / "disk"
    disk.mkdir()
    d = disk / "minitown"
    script = (
        f"mount -t tmpfs -o size=1m tmpfs {disk} && cp -r {minitown} {d} && "
        f'"$PY" -m totalplace.cli ingest {d} >/dev/null; echo "rc=$?" >&2; '
        f'"$PY" "$CHECK" {d}'
    )
    proc = _in_namespace(script, tmp_path)
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert err[-1] == "rc=0", proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(err) == 2 and err[0].startswith("Warning: published, but the store file could not")
    state = json.loads(proc.stdout.strip().splitlines()[-1])
    assert state["outcomes"] == ["ok"]  # the run did publish: it is not reported as failed
    assert (state["source_people"], state["events"], state["rejects"]) == (62, 96, 13)
    assert state["staging"] == [] and state["tmp"] == []


def test_running_out_of_memory_is_explained():
    eng = DuckDBEngine(":memory:", memory_limit="20MB", threads=1)
    eng.run("SET max_temp_directory_size = '0KB'")
    with pytest.raises(StoreError) as info:
        eng.query("SELECT range % 1000003 AS k, list(range) AS l FROM range(5000000) GROUP BY k")
    plain = explain(info.value)
    assert plain is not None and plain.what in (
        "the computer ran out of memory",
        "the disk is full",
    )
    assert explain(MemoryError()).what == "the computer ran out of memory"


def test_friendly_errors_turns_machine_errors_into_one_click_exception():
    @friendly_errors
    def full():
        try:
            raise duckdb.IOException(
                'Could not write file "/x/place.duckdb": No space left on device'
            )
        except duckdb.IOException as e:
            raise StoreError(f"IOException: {e}\nwhile running:\nCREATE TABLE ...") from e

    with pytest.raises(click.ClickException) as info:
        full()
    assert info.value.message.startswith("the disk is full (/x/place.duckdb); the store keeps")
    assert "\n" not in info.value.message


@pytest.mark.slow
def test_spark_without_java_is_explained(ingested):
    # JAVA_HOME pointing nowhere: Spark's launcher finds no java, as on a machine without one.
    env = child_env(JAVA_HOME=str(ingested / "no-java-here"))
    proc = subprocess.run(
        [sys.executable, "-m", "totalplace.cli", "link", str(ingested), "--engine", "spark"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error: ")]
    assert proc.returncode == 1 and len(line) == 1, proc.stderr
    assert "Spark could not start: no Java runtime was found" in line[0]
