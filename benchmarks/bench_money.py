"""Benchmark: ``money payments`` on a year of a council's payments, against pandas.

The size is the number of payment rows: Manchester's twelve monthly files (2019-20, ~39,000
rows; ``../shared/data/spending``) repeated to reach it. The peer is what a user would
otherwise write: pandas ``read_csv`` and a ``groupby`` (floats, no rejects, no layout
detection, no duplicate check); the totals are compared.
"""

from __future__ import annotations

import csv
import time
from decimal import Decimal
from pathlib import Path

SUITE = "money"
DEFAULT_SIZES = [40_000, 400_000]
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "spending"


def _write(rows_wanted: int, workdir: Path) -> tuple[Path, int]:
    files = sorted((DATA / "manchester_spend_over_500").glob("*.csv"))
    out = workdir / "payments.csv"
    n = 0
    with open(out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        header = None
        while n < rows_wanted:
            for p in files:
                with open(p, encoding="utf-8-sig", newline="") as src:
                    r = csv.reader(src)
                    h = next(r)
                    if header is None:
                        header = h
                        w.writerow(h)
                    for row in r:
                        w.writerow(row)
                        n += 1
                        if n >= rows_wanted:
                            return out, n
    return out, n


def run(residents: int, workdir: Path) -> dict:
    """``residents`` is the number of payment rows here."""
    import pandas as pd

    from totalplace.money.payments import check_payments

    path, n = _write(residents, workdir)
    t0 = time.perf_counter()
    s = check_payments([path], workdir / "out")
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    total = df["Amount"].sum()
    df.groupby(df["Payment Date"].str[:7])["Amount"].sum()
    df.groupby("Organisational Unit")["Amount"].sum()
    peer = time.perf_counter() - t0
    return {
        "rows": n,
        "money_payments_s": round(ours, 2),
        "pandas_s": round(peer, 2),
        "total_gbp": s["total_gbp"],
        "pandas_float_total": repr(float(total)),
        "float_error_gbp": str(Decimal(repr(float(total))) - Decimal(s["total_gbp"])),
        "likely_duplicates": s["likely_duplicates"],
    }
