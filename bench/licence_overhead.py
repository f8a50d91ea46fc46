"""What licence detection adds to a scan.

    python bench/licence_overhead.py [--quick] [--rows N]

Generates a Parquet corpus with a fixed seed (in a temp dir): ~1.5 KB documents of random words, with
the licence signals a web/code corpus carries: site footers ("© 2021 ... All rights reserved.") in
10% of rows (``--footer-rate``), "licensed under" notices in 2%, SPDX headers in 1%, a full MIT or BSD licence text in
0.3%, and a ``meta_licence`` column (cc-by-4.0 / mit / null).

Baseline, measured in the same run: read the Parquet file with pyarrow, normalise each text (NFKC,
lower case, collapsed whitespace) and SHA-256 it with hashlib, the core of the foundation scan. Then the
same plus ``LicenceStage`` on every batch. Each variant runs ``--repeat`` times, alternating; the best
time of each is compared. The machine is shared: read the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.config import SourceSpec  # noqa: E402
from auditor.stages.base import StageContext  # noqa: E402
from auditor.stages.licence import LicenceStage  # noqa: E402

SEED = 7
MIT_TEXT = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
    'associated documentation files (the "Software"), to deal in the Software without restriction, '
    "including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, "
    "and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, "
    "subject to the following conditions:\n\nThe above copyright notice and this permission notice shall "
    'be included in all copies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED "AS '
    'IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF '
    "MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS "
    "OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF "
    "CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR "
    "OTHER DEALINGS IN THE SOFTWARE."
)
NOTICES = (
    "This article is licensed under a Creative Commons Attribution-ShareAlike 4.0 International License.",
    "Released under the MIT License.",
    'Licensed under the Apache License, Version 2.0 (the "License");',
    "本作品采用知识共享署名 4.0 国际许可协议进行许可。",
)


def generate(path: Path, rows: int, footer_rate: float = 0.10) -> None:
    rng = np.random.default_rng(SEED)
    vocab = np.array(
        [
            "the",
            "of",
            "and",
            "to",
            "in",
            "a",
            "is",
            "that",
            "for",
            "it",
            "as",
            "was",
            "with",
            "be",
            "by",
            "on",
            "not",
            "he",
            "this",
            "are",
            "or",
            "his",
            "from",
            "at",
            "which",
            "but",
            "have",
            "an",
            "they",
            "you",
            "were",
            "her",
            "she",
            "there",
            "been",
            "one",
            "all",
            "we",
            "their",
            "has",
            "would",
            "when",
            "if",
            "so",
            "no",
            "out",
            "up",
            "into",
            "data",
            "model",
            "city",
            "river",
            "market",
            "music",
            "history",
            "school",
            "energy",
            "water",
            "science",
            "people",
            "during",
            "between",
        ]
    )
    texts: list[str] = []
    for i in range(rows):
        words = vocab[rng.integers(0, len(vocab), size=int(rng.integers(150, 350)))]
        text = " ".join(words.tolist())
        roll = rng.random()
        if roll < 0.02:
            text = NOTICES[i % len(NOTICES)] + "\n" + text
        elif roll < 0.03:
            text = "// SPDX-License-Identifier: Apache-2.0\n" + text
        elif roll < 0.033:
            text = f"Copyright (c) 2020 Holder {i}\n\n{MIT_TEXT}\n\n{text}"
        elif roll < 0.033 + footer_rate:
            text += f"\n\n© 20{i % 24:02d} Example Site {i % 97}. All rights reserved."
        texts.append(text)
    meta = rng.choice(np.array(["cc-by-4.0", "mit", None], dtype=object), size=rows, p=[0.3, 0.2, 0.5])
    table = pa.table(
        {
            "text": pa.array(texts, pa.large_string()),
            "meta_licence": pa.array(meta.tolist(), pa.string()),
        }
    )
    pq.write_table(table, path, row_group_size=2048)


def normalise_and_hash(batch: pa.RecordBatch) -> list[str]:
    digests = []
    for text in batch.column("text").to_pylist():
        norm = " ".join(unicodedata.normalize("NFKC", text or "").lower().split())
        digests.append(hashlib.sha256(norm.encode("utf-8")).hexdigest())
    return digests


def _with_source(batch: pa.RecordBatch) -> pa.RecordBatch:
    source = pa.array(["corpus"] * batch.num_rows, pa.string())
    return pa.RecordBatch.from_arrays([source, *batch.columns], names=["source", *batch.schema.names])


def run(path: Path, stage: LicenceStage | None) -> tuple[float, float]:
    """(total seconds, seconds inside the stage)."""
    started = time.perf_counter()
    in_stage = 0.0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=2048):
        normalise_and_hash(batch)
        if stage is not None:
            t = time.perf_counter()
            out = stage(_with_source(batch))
            in_stage += time.perf_counter() - t
            assert out.num_rows == batch.num_rows
    return time.perf_counter() - started, in_stage


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5,000 rows, 2 repeats")
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--footer-rate", type=float, default=0.10, help="share of rows with a (c) footer")
    args = parser.parse_args()
    rows, repeat = (5_000, 2) if args.quick else (args.rows, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.parquet"
        generate(path, rows, args.footer_rate)
        mb = path.stat().st_size / 1e6
        stage = LicenceStage()
        spec = SourceSpec(name="corpus", paths=(Path(tmp),), declared_licence="CC-BY-SA-4.0")
        stage.setup(StageContext(sources={"corpus": spec}))
        run(path, stage)  # warm caches (normalisation, notices) once
        base_times, full_times, stage_times = [], [], []
        for _ in range(repeat):
            base_times.append(run(path, None)[0])
            total, in_stage = run(path, stage)
            full_times.append(total)
            stage_times.append(in_stage)
        base, full, only = min(base_times), min(full_times), min(stage_times)
        sample = stage(_with_source(next(pq.ParquetFile(path).iter_batches(batch_size=2048))))
        conflicts = sum(sample.column("licence_conflict").to_pylist())
        print(
            f"corpus: {rows} rows, {mb:.1f} MB Parquet, footer rate {args.footer_rate:.0%}; best of {repeat}"
        )
        print(f"baseline read+normalise+sha256: {base:.2f} s ({rows / base:,.0f} rows/s)")
        print(
            f"baseline + LicenceStage:        {full:.2f} s (stage alone {only:.2f} s, {rows / only:,.0f} rows/s)"
        )
        print(
            f"licence detection adds {100 * (full - base) / base:.1f}% (stage time / baseline: {only / base:.1%})"
        )
        print(f"sanity: {conflicts} conflicts in the first batch of {sample.num_rows}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
