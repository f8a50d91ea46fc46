"""Full default scan at scale: docs/s, MB/s and peak RSS by corpus size, 1 vs 2 workers, and a naive
pipeline of the same libraries on the same corpus, measured in the same run.

Corpus: ~2 KB documents, English and Chinese mixed (3:1), ~5% exact and ~5% near duplicates, PII in
~5% of documents (e-mail addresses, phone numbers, Chinese resident ids with valid check digits),
fixed seed, written as Parquet shards of 10k documents.

The naive pipeline does what a script would: per record, datasketch ``MinHash`` with its default
(SHA-1) hashing over word 5-gram shingles, ``MinHashLSH`` insert and query, langdetect on the full
text, and a plain regex PII pass. It writes nothing. It runs on a sample (``--naive-docs``) and its
docs/s is compared with the full scan's.

    python bench/scale_bench.py --sizes 100000          # ~10 minutes here
    python bench/scale_bench.py --sizes 100000 1000000  # the full measurement
    python bench/scale_bench.py --quick                 # 10k documents, a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EN_WORDS = ("the of and to in a is that for on with as by this from be or are was an it at which have not "
            "has their been more can its also were government research university public information "
            "system development national report language model data training corpus river city market "
            "school water history music science energy health policy network village festival").split()
ZH_CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研"


def _zh_doc(rng: np.random.Generator, n_chars: int) -> str:
    chars = np.array(list(ZH_CHARS))
    body = "".join(chars[rng.integers(0, len(chars), n_chars)].tolist())
    return "。".join(body[i:i + 40] for i in range(0, len(body), 40)) + "。"


def _en_doc(rng: np.random.Generator, vocab: np.ndarray, n_words: int) -> str:
    words = vocab[rng.integers(0, len(vocab), n_words)].tolist()
    return "\n".join(" ".join(words[i:i + 60]).capitalize() + "." for i in range(0, len(words), 60))


def _id_number(rng: np.random.Generator) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    body = f"110105{1950 + int(rng.integers(0, 50))}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}" \
           f"{int(rng.integers(0, 1000)):03d}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def generate(folder: Path, n_docs: int, seed: int = 11, shard_docs: int = 10_000) -> int:
    rng = np.random.default_rng(seed)
    vocab = np.array(EN_WORDS + [f"w{i}" for i in range(20_000)])
    total_bytes = 0
    docs: list[str] = []
    pool: list[str] = []  # recent documents, duplicated within and across shards
    for i in range(n_docs):
        r = rng.random()
        if pool and r < 0.05:
            text = pool[int(rng.integers(0, len(pool)))]  # exact duplicate
        elif pool and r < 0.10:
            base = pool[int(rng.integers(0, len(pool)))].split(" ")
            for j in rng.integers(0, len(base), max(1, len(base) // 50)):
                base[j] = f"edit{int(rng.integers(0, 10**6))}"  # ~2% of words edited
            text = " ".join(base)
        elif i % 4 == 3:
            text = _zh_doc(rng, 700)
        else:
            text = _en_doc(rng, vocab, 330)
        if rng.random() < 0.05:
            text += f"\nContact: user{i}@example.com, +1 202-555-01{int(rng.integers(10, 99))}, ID {_id_number(rng)}"
        docs.append(text)
        pool.append(text)
        if len(pool) > 2000:
            pool = pool[-1000:]
        if len(docs) == shard_docs or i == n_docs - 1:
            shard = len(list(folder.glob("*.parquet")))
            table = pa.table({"id": [f"{shard}-{k}" for k in range(len(docs))], "text": docs,
                              "url": [f"https://site{k % 97}.example.com/p/{shard}/{k}" for k in range(len(docs))]})
            pq.write_table(table, folder / f"part-{shard:05d}.parquet")
            total_bytes += sum(len(d.encode()) for d in docs)
            docs = []
    return total_bytes


def naive(folder: Path, limit: int) -> None:
    import re

    from datasketch import MinHash, MinHashLSH
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0
    pii = [re.compile(p) for p in (r"[\w.+-]+@[\w-]+\.[\w.]+", r"\+?\d[\d -]{8,}\d", r"\b\d{17}[\dX]\b")]
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    n = 0
    for f in sorted(folder.glob("*.parquet")):
        for text in pq.read_table(f, columns=["text"]).column(0).to_pylist():
            if n >= limit:
                break
            words = text.lower().split()
            shingles = {" ".join(words[i:i + 5]).encode() for i in range(max(1, len(words) - 4))}
            m = MinHash(num_perm=128)
            m.update_batch(list(shingles))
            lsh.query(m)
            lsh.insert(str(n), m)
            with contextlib.suppress(LangDetectException):
                detect(text)
            for p in pii:
                p.findall(text)
            n += 1
    print(json.dumps({"records": n}))


def full_scan(folder: Path, out: Path, workers: int) -> None:
    from auditor.config import config_from_paths
    from auditor.pipeline import ScanOptions, scan

    result = scan(config_from_paths([folder]), ScanOptions(out=out, workers=workers))
    print(json.dumps({"records": result.manifest.summary["totals"]["records"]}))


def _child(args: list[str]) -> tuple[float, float, float, int]:
    """Run this script in a child; wall seconds, the child's own peak RSS and the largest peak RSS of
    its worker processes (MB; 0 without workers), records."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c",
                           "import resource, runpy, sys; sys.argv = sys.argv[1:]; "
                           "runpy.run_path(sys.argv[0], run_name='__main__'); "
                           "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
                           "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
                           __file__, *args], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = proc.stdout.strip().splitlines()
    records = json.loads(lines[-2])["records"]
    _, own, children = lines[-1].split()
    return wall, int(own) / 1024, int(children) / 1024, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--naive-docs", type=int, default=5_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--role", choices=["naive", "scan"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "naive":
        return naive(args.folder, args.limit)
    if args.role == "scan":
        return full_scan(args.folder, args.out, args.workers)
    sizes = [10_000] if args.quick else args.sizes
    naive_docs = 1_000 if args.quick else args.naive_docs
    print("peak RSS: 'main' is the scan process (reading, then the reduce step over every record); "
          "'worker' the largest map worker process (none with 1 worker: the map runs in the main process)")
    print(f"{'docs':>9} {'workers':>7} {'wall s':>8} {'docs/s':>8} {'MB/s':>7} {'main MB':>8} {'worker MB':>10}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            folder = Path(tmp) / f"corpus-{size}"
            folder.mkdir()
            n_bytes = generate(folder, size)
            for workers in (1, 2):
                wall, rss, worker_rss, records = _child(["--role", "scan", "--folder", str(folder),
                                                         "--out", str(Path(tmp) / f"out-{size}-{workers}"),
                                                         "--workers", str(workers)])
                results.append((size, workers, wall))
                print(f"{records:9,} {workers:7} {wall:8.1f} {records / wall:8.0f} {n_bytes / 1e6 / wall:7.1f} "
                      f"{rss:8.0f} {worker_rss:10.0f}", flush=True)
            if size == sizes[0]:
                wall, rss, _, records = _child(["--role", "naive", "--folder", str(folder), "--limit", str(naive_docs)])
                naive_rate = records / wall
                print(f"naive pipeline on {records:,} docs: {naive_rate:,.0f} docs/s, peak RSS {rss:,.0f} MB")
    by = {(s, w): t for s, w, t in results}
    for size in sizes:
        print(f"{size:,} docs: speed-up 2 workers vs 1 = {by[(size, 1)] / by[(size, 2)]:.2f}; "
              f"full scan (2 workers) vs naive = {size / by[(size, 2)] / naive_rate:.2f}x")
    if len(sizes) > 1:
        a, b = sizes[0], sizes[-1]
        print(f"time growth {a:,} -> {b:,} docs (2 workers): {by[(b, 2)] / by[(a, 2)]:.2f}x for {b / a:.0f}x the docs")


if __name__ == "__main__":
    main()
