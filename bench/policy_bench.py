"""Benchmark: decide() (vectorised) vs a per-row Python interpreter of the same policy.

python bench_policy.py [--quick]   (fixed seed; prints records/s and the ratio)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # run from bench/
from test_policy_evaluate import _ref  # per-row oracle  # noqa: E402

from auditor.config import SourceSpec  # noqa: E402
from auditor.policy import attribute_schema, decide, load_policy, sources_table  # noqa: E402


def make(n: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    sig = ["robots", "tdmrep", "ai.txt", "holder-terms"]
    rows = []
    for i in range(n):
        r = {"record_id": f"s{i % 8}/f#{i}", "source": f"s{i % 8}", "n_chars": int(rng.integers(0, 5000)),
             "lang": ["en", "zh", None][i % 3], "pii_count": int(rng.integers(0, 3))}
        if rng.random() < 0.1:
            r["opt_out"] = [{"signal": sig[int(rng.integers(0, 4))], "detail": "x", "effective": bool(rng.random() < 0.7)}]
        if rng.random() < 0.05:
            r["rights"] = [{"registry": "w", "entry": "e", "kind": "work-excerpt", "score": float(rng.random())}]
        if rng.random() < 0.2:
            r["licence_traits"] = ["attribution", "non-commercial"] if rng.random() < 0.3 else ["attribution"]
        if rng.random() < 0.1:
            r["dup_of"] = "s0/f#0"
        if rng.random() < 0.02:
            r["pii_sensitive"] = True
        rows.append(r)
    return pa.Table.from_pylist(rows, schema=attribute_schema())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 20_000 if args.quick else 200_000
    table = make(n)
    sources = sources_table([SourceSpec(f"s{i}", (), "web-crawl") for i in range(8)])
    for name in ("commercial-pretraining", "cn-genai"):
        policy = load_policy(name)
        t0 = time.perf_counter()
        result = decide(table, policy, sources)
        t_vec = time.perf_counter() - t0
        # Baseline: per-row Python over to_pylist() (record rules only, no source rules).
        t0 = time.perf_counter()
        rows = table.to_pylist()
        ref = []
        for row in rows:
            row["source.acquisition"] = "web-crawl"
            ref.append(next((r.id for r in policy.rules if not r.is_flag and _ref(r.when, row)), "default"))
        t_row = time.perf_counter() - t0
        assert ref == result.record_rule.to_pylist()
        print(f"{name}: n={n} decide {n / t_vec:,.0f} rec/s; per-row python {n / t_row:,.0f} rec/s; "
              f"ratio {t_row / t_vec:.1f}x")


if __name__ == "__main__":
    main()
