"""generate(): determinism, the output folder rules, the CLI, and what a place contains."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.conftest import ANYTOWN_RESIDENTS, ANYTOWN_SEED
from totalplace.cli import main
from totalplace.errors import TotalplaceError
from totalplace.manifest import load_manifest
from totalplace.synth import generate


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(anytown_20k, tmp_path):
    again = tmp_path / "again"
    generate(residents=ANYTOWN_RESIDENTS, seed=ANYTOWN_SEED, out=again)
    first, second = digests(anytown_20k), digests(again)
    assert first.keys() == second.keys()
    differ = [k for k in first if first[k] != second[k]]
    assert not differ, f"files differ between two runs with the same seed: {differ}"


def test_different_seed_different_place(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generate(residents=2_000, seed=1, out=a)
    generate(residents=2_000, seed=2, out=b)
    da, db = digests(a), digests(b)
    # place.yaml and the unit-cost table the place ships (costs/) are the same for any seed.
    data_files = [k for k in da if k != "place.yaml" and not k.startswith("costs/")]
    assert all(da[k] != db.get(k) for k in data_files if k.endswith((".csv", ".parquet", ".xlsx")))


def test_place_contents(anytown_20k):
    m = load_manifest(anytown_20k)
    for _, f in m.files():
        assert m.path_of(f).exists()
    truth = {p.stem for p in (anytown_20k / "truth").glob("*.parquet")}
    assert {"source_records", "needs", "people", "households"} <= truth
    needs = pq.read_table(anytown_20k / "truth" / "needs.parquet")
    assert needs.column_names == ["person_id", "need", "from", "to"]
    people = pq.read_table(anytown_20k / "truth" / "people.parquet")
    assert people.num_rows == ANYTOWN_RESIDENTS


def test_events_refer_to_person_records(anytown_20k):
    """Every event's source id has a person record in the same agency's extract."""
    from tests.synth.test_records import read_extract

    src = pq.read_table(anytown_20k / "truth" / "source_records.parquet").to_pylist()
    known = {(r["agency"], r["source_id"]) for r in src}
    m = load_manifest(anytown_20k)
    checked = 0
    for a, f in m.files():
        if f.table != "events" or "source_id" not in f.columns:
            continue
        t = read_extract(anytown_20k, f)
        ids = set(t.column(f.column_specs()["source_id"].column).cast("string").to_pylist()) - {
            None,
            "",
        }
        missing = [i for i in ids if (a.id, i) not in known]
        assert not missing, (
            f"{f.path}: {len(missing)} events refer to no person record, e.g. {missing[:3]}"
        )
        checked += 1
    assert checked >= 10


def test_refuses_non_empty_folder_without_force(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(TotalplaceError, match="not empty"):
        generate(residents=500, seed=1, out=out)
    # --force only ever deletes a folder that holds a synthetic place.
    with pytest.raises(TotalplaceError, match="not a synthetic place"):
        generate(residents=500, seed=1, out=out, force=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_force_overwrites_a_place(tmp_path):
    out = tmp_path / "p"
    generate(residents=500, seed=1, out=out)
    generate(residents=600, seed=2, out=out, force=True)
    assert pq.read_table(out / "truth" / "people.parquet").num_rows == 600


def test_cli_synth(tmp_path):
    out = tmp_path / "cli"
    r = CliRunner().invoke(main, ["synth", "--residents", "800", "--seed", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "800 residents" in r.output
    assert (out / "place.yaml").exists()
    r = CliRunner().invoke(main, ["synth", "--residents", "800", "--seed", "3", "--out", str(out)])
    assert r.exit_code != 0 and "not empty" in r.output


def test_same_bytes_across_processes(tmp_path):
    """No dependence on Python's per-process hash seed (set iteration order and the like)."""
    import os
    import subprocess
    import sys

    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"p{hash_seed}"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "totalplace.cli",
                "synth",
                "--residents",
                "1500",
                "--seed",
                "9",
                "--out",
                str(out),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        outs.append(digests(out))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("residents", [100, 250])
def test_tiny_places_work(tmp_path, residents):
    """The CLI accepts --residents down to 100; such a place must still be complete."""
    s = generate(residents=residents, seed=1, out=tmp_path / "tiny")
    assert s.residents == residents
    load_manifest(tmp_path / "tiny")


def test_ingest_loads_every_row_of_anytown(anytown_20k, tmp_path):
    """The generated place.yaml and extracts ingest with no rejected rows, and the person
    records that carry no noise come through with the true date of birth."""
    import duckdb

    from totalplace.place import Place

    store = tmp_path / "anytown.duckdb"
    with Place.open(anytown_20k, store_path=store) as place:
        result = place.ingest.run()
    assert result.tables.get("rejects", 0) == 0, result.summary
    truth = anytown_20k / "truth"
    con = duckdb.connect(str(store), read_only=True)
    n_sp = con.execute("SELECT count(*) FROM source_people").fetchone()[0]
    assert n_sp == pq.read_metadata(truth / "source_records.parquet").num_rows
    bad = con.execute(
        f"""
        SELECT count(*) FROM source_people s
        JOIN '{truth / "source_records.parquet"}' r USING (agency, source_id)
        JOIN '{truth / "people.parquet"}' p ON p.person_id = r.person_id
        WHERE len(r.noise) = 0 AND s.dob IS DISTINCT FROM p.dob
        """
    ).fetchone()[0]
    assert bad == 0
