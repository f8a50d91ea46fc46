"""Read + normalise + hash throughput and peak memory of the scan's map step.

Generates a Parquet corpus of ~2 KB English-like documents (fixed seed) and measures, each in its own
process so that peak RSS is that process's alone:
  baseline  pyarrow reads the text column batch by batch and SHA-256s every text (the least any
            auditor must do);
  auditor   the real map step: content sniffing, reader, work batches, NormaliseStage (NFKC, casefold,
            whitespace, two SHA-256), attribute files written per shard;
  auditor-2 the same with 2 worker processes.
Prints MB/s, MB/s per core, peak RSS and the ratio auditor/baseline.

    python bench/read_bench.py              # 500 MB corpus
    python bench/read_bench.py --size-mb 50 # quicker
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

WORDS = ("data model train corpus licence source audit record the of and to in a is that for on with as "
         "by this from be or are was an it at which have not has their been more can its also were "
         "government research university public information system development national report language "
         "copyright rights holder crawl dataset opt-out policy review include exclude evidence").split()


def generate(folder: Path, size_mb: int, shards: int, seed: int = 7) -> int:
    rng = np.random.default_rng(seed)
    vocab = np.array(WORDS + [f"w{i}" for i in range(5000)])
    docs_per_shard = size_mb * 1_000_000 // 2_000 // shards
    total = 0
    for s in range(shards):
        texts = []
        for _ in range(docs_per_shard):
            words = vocab[rng.integers(0, len(vocab), 330)]
            texts.append(" ".join(words.tolist()).capitalize() + ".")
        table = pa.table({"id": pa.array([f"{s}-{i}" for i in range(len(texts))]), "text": texts})
        pq.write_table(table, folder / f"part-{s:05d}.parquet", row_group_size=8192)
        total += sum(len(t) for t in texts)
    return total


def baseline(folder: Path, batch_size: int) -> None:
    n = 0
    for f in sorted(folder.glob("*.parquet")):
        for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=["text"]):
            for text in batch.column(0).to_pylist():
                hashlib.sha256(text.encode()).hexdigest()
                n += 1
    print(json.dumps({"records": n}))


class ReadStages:
    """The foundation's map step only: reading, work batches and the normalise stage (picklable)."""

    def __call__(self) -> list:
        from auditor.stages.normalise import NormaliseStage

        return [NormaliseStage()]


def auditor_run(folder: Path, out: Path, workers: int, batch_size: int) -> None:
    from auditor.config import config_from_paths
    from auditor.engines.local import run_map
    from auditor.pipeline import plan_tasks

    config = config_from_paths([folder])
    tasks, _ = plan_tasks(config, skip_bad_files=False)
    n = sum(r.n_records for r in run_map(tasks, ReadStages(), run_dir=out, fingerprint="bench",
                                         batch_size=batch_size, workers=workers, skip_bad_files=False))
    print(json.dumps({"records": n}))


def measure(args: list[str]) -> tuple[float, float, int]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    records = json.loads(proc.stdout.strip().splitlines()[-1])["records"]
    return wall, usage.ru_maxrss / 1024, records  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--role", choices=["baseline", "auditor"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "baseline":
        return baseline(args.folder, args.batch_size)
    if args.role == "auditor":
        return auditor_run(args.folder, args.out, args.workers, args.batch_size)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        chars = generate(folder, args.size_mb, args.shards)
        mb = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 1e6
        text_mb = chars / 1e6
        print(f"corpus: {text_mb:,.0f} MB of text ({mb:,.0f} MB Parquet) in {args.shards} shards")
        rows = []
        # Peak RSS of RUSAGE_CHILDREN is the max over all children so far: run the lightest first.
        for name, extra in (("baseline", ["--role", "baseline"]),
                            ("auditor", ["--role", "auditor", "--workers", "1"]),
                            ("auditor-2", ["--role", "auditor", "--workers", "2"])):
            out = Path(tmp) / f"run-{name}"
            wall, rss, records = measure([*extra, "--folder", str(folder), "--out", str(out),
                                          "--batch-size", str(args.batch_size)])
            cores = 2 if name == "auditor-2" else 1
            rows.append((name, wall, text_mb / wall, text_mb / wall / cores, rss, records))
        print(f"{'run':<10} {'wall s':>8} {'MB/s':>8} {'MB/s/core':>10} {'peak RSS MB':>12} {'records':>9}")
        for name, wall, mbs, per_core, rss, records in rows:
            print(f"{name:<10} {wall:8.1f} {mbs:8.1f} {per_core:10.1f} {rss:12.0f} {records:9,}")
        print(f"ratio auditor/baseline throughput (1 worker): {rows[1][2] / rows[0][2]:.2f}")
        print(f"speed-up 2 workers vs 1: {rows[2][2] / rows[1][2]:.2f}")
        print("note: peak RSS is cumulative over the runs above it (max so far), so read it top-down")


if __name__ == "__main__":
    main()
