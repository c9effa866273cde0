"""The benchmark runner: ``python -m benchmarks [--only SUITE] [--residents N ...]``."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def suites() -> dict[str, str]:
    """Suite name -> module name, for every benchmarks/bench_*.py."""
    out = {}
    for p in sorted(HERE.glob("bench_*.py")):
        out[p.stem.removeprefix("bench_")] = f"benchmarks.{p.stem}"
    return out


def _child(module: str, residents: int, workdir: str, result_file: str) -> None:
    """Run one benchmark in this (fresh) process and write its metrics as JSON."""
    mod = importlib.import_module(module)
    metrics = mod.run(residents, Path(workdir))
    Path(result_file).write_text(json.dumps(metrics, default=str), encoding="utf-8")


def run_one(suite: str, module: str, residents: int, keep: bool = False) -> dict:
    """Run a (suite, size) in a subprocess; return its metrics plus wall time and peak RSS."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{suite}-") as tmp:
        result_file = Path(tmp) / "result.json"
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks",
                "--child",
                module,
                str(residents),
                str(workdir),
                str(result_file),
            ],
            cwd=HERE.parent,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        wall = time.perf_counter() - t0
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        row: dict = {
            "suite": suite,
            "residents": residents,
            "wall_s": round(wall, 2),
            "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        # ru_maxrss of children is the max over all children so far: exact only when this
        # child is the largest yet, which the runner guarantees by running sizes in ascending order.
        row["peak_rss_mb"] = round(max(peak_kb, before) / 1024, 1)
        if proc.returncode != 0:
            row["error"] = f"exit status {proc.returncode}"
            return row
        row.update(json.loads(result_file.read_text(encoding="utf-8")))
        return row


def write_results(suite: str, rows: list[dict], results: Path = RESULTS) -> None:
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{suite}.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    keep = [r for r in old if r.get("residents") not in {x["residents"] for x in rows}]
    merged = sorted(keep + rows, key=lambda r: r["residents"])
    path.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    write_readme(results)


def write_readme(results: Path = RESULTS) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}. "
        "Written by `python -m benchmarks`; wall time and peak memory (RSS) are measured by the "
        "runner for the subprocess that ran the benchmark.",
        "",
    ]
    for p in sorted(results.glob("*.json")):
        rows = json.loads(p.read_text(encoding="utf-8"))
        if not rows:
            continue
        keys = ["residents", "wall_s", "peak_rss_mb"]
        extra = [k for r in rows for k in r if k not in keys + ["suite", "when"]]
        extra = list(dict.fromkeys(extra))
        cols = keys + extra + ["when"]
        lines += [f"## {p.stem}", "", "| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        for r in rows:
            lines.append(
                "| "
                + " | ".join(
                    f"{r[c]:,}" if isinstance(r.get(c), int) else str(r.get(c, "")) for c in cols
                )
                + " |"
            )
        lines.append("")
    (results / "README.md").write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        _child(argv[1], int(argv[2]), argv[3], argv[4])
        return 0
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--only", action="append", help="suite to run (repeatable); default all")
    ap.add_argument("--residents", type=int, action="append", help="size(s); default the suite's")
    ap.add_argument(
        "--out", type=Path, default=RESULTS, help="results folder (default benchmarks/results)"
    )
    args = ap.parse_args(argv)
    available = suites()
    chosen = args.only or list(available)
    unknown = [s for s in chosen if s not in available]
    if unknown:
        ap.error(f"unknown suite(s) {unknown}; available: {', '.join(available)}")
    status = 0
    for suite in chosen:
        module = available[suite]
        sizes = sorted(args.residents or importlib.import_module(module).DEFAULT_SIZES)
        rows = []
        for n in sizes:
            print(f"[{suite}] {n:,} residents ...", flush=True)
            row = run_one(suite, module, n)
            print(f"[{suite}] {n:,}: {json.dumps(row)}", flush=True)
            rows.append(row)
            status |= "error" in row
        write_results(suite, rows, args.out)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
