"""What licence detection adds to a scan, stage by stage (``bench/licence_map_overhead.py`` measures it
in the foundation bench's own map step, with attribute files written).

    python bench/licence_overhead.py [--quick] [--rows N] [--realistic] [--engine re2]

Generates a Parquet corpus with a fixed seed (in a temp dir): ~1.5 KB documents of random words, with
the licence signals a web/code corpus carries: site footers ("© 2021 ... All rights reserved.") in
10% of rows (``--footer-rate``), "licensed under" notices in 2%, SPDX headers in 1%, a full MIT or BSD licence text in
0.3%, and a ``meta_licence`` column (cc-by-4.0 / mit / null).

Baseline, measured in the same run: read the Parquet file with pyarrow, normalise each text (NFKC,
lower case, collapsed whitespace) and SHA-256 it with hashlib, the core of the foundation scan. Then the
same plus ``LicenceStage`` on every batch. Each variant runs ``--repeat`` times, alternating; the
report gives medians, and the median of the paired ratios (each stage run against the baseline run just
before it). The machine is shared: read the ratio, not the seconds. ``--footer-rate`` takes several
values (one corpus each); ``--profile`` prints where the stage spends its time (cProfile, top functions).

``--scan-baseline`` adds a second pair of variants closer to the real scan: the baseline is the
auditor's own ``NormaliseStage`` (NFKC, case folding, two SHA-256, the ``norm_text`` and ``n_chars``
columns), and the licence stage receives its output batch, as in ``auditor scan``.

The report names the engine of the whole-column cue pass: "hyperscan" when that package is installed
(``pip install hyperscan``), else "re2" (pyarrow's RE2 kernels only); ``--engine re2`` measures the RE2
path even when Hyperscan is installed.

``--realistic`` puts the words of ordinary prose that the licence matchers look for into the random text,
in about the share of web documents that hold them ("under" 30%, "available" 20%, "provided" 15%,
"released" 10%, "license" 3%, "copyright" 2%, "warranty" 1%, ...): the plain vocabulary has none of them,
which hides what they cost on real text.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.config import SourceSpec  # noqa: E402
from auditor.licences.batch import BatchPlan  # noqa: E402
from auditor.stages.base import StageContext  # noqa: E402
from auditor.stages.licence import LicenceStage  # noqa: E402
from auditor.stages.normalise import NormaliseStage  # noqa: E402

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


# Words of ordinary prose that are (or hold) cues of a licence matcher, with the share of documents that
# hold them in ``--realistic`` corpora (rough web-text document frequencies).
PROSE_CUES = {
    "under": 0.30,
    "available": 0.20,
    "provided": 0.15,
    "released": 0.10,
    "published": 0.10,
    "covered": 0.05,
    "license": 0.03,
    "licensed": 0.01,
    "copyright": 0.02,
    "warranty": 0.01,
    "public domain": 0.01,
    "permission": 0.02,
}


def generate(path: Path, rows: int, footer_rate: float = 0.10, realistic: bool = False) -> None:
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
        words = vocab[rng.integers(0, len(vocab), size=int(rng.integers(150, 350)))].tolist()
        if realistic:
            for word, share in PROSE_CUES.items():
                if rng.random() < share:
                    words.insert(int(rng.integers(0, len(words) + 1)), word)
        text = " ".join(words)
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


def run(
    path: Path, stage: LicenceStage | None, normalise: NormaliseStage | None = None
) -> tuple[float, float, float, float]:
    """(total seconds, seconds inside the licence stage), as wall-clock time and as CPU time of this
    process. With ``normalise``, the baseline work is the auditor's NormaliseStage and the licence stage
    receives its output batch."""
    started, started_cpu = time.perf_counter(), time.process_time()
    in_stage = in_stage_cpu = 0.0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=2048):
        if normalise is None:
            normalise_and_hash(batch)
            batch = _with_source(batch)
        else:
            batch = normalise(_with_source(batch))
        if stage is not None:
            t, t_cpu = time.perf_counter(), time.process_time()
            out = stage(batch)
            in_stage += time.perf_counter() - t
            in_stage_cpu += time.process_time() - t_cpu
            assert out.num_rows == batch.num_rows
    return time.perf_counter() - started, in_stage, time.process_time() - started_cpu, in_stage_cpu


def measure(
    path: Path, stage: LicenceStage, repeat: int, normalise: NormaliseStage | None = None
) -> dict[str, float]:
    """Medians of alternating baseline / baseline + stage runs, and the paired ratios (wall clock, and
    CPU time of this process, which other users of a shared machine disturb less)."""
    run(path, stage, normalise)  # warm caches (normalisation, notices) once
    base, full = [], []
    for _ in range(repeat):
        base.append(run(path, None, normalise))
        full.append(run(path, stage, normalise))

    def paired(f: Callable[[tuple[float, ...], tuple[float, ...]], float]) -> float:
        return statistics.median(f(b, x) for b, x in zip(base, full, strict=True))

    return {
        "base": statistics.median(b[0] for b in base),
        "full": statistics.median(x[0] for x in full),
        "only": statistics.median(x[1] for x in full),
        "added": paired(lambda b, x: (x[0] - b[0]) / b[0]),
        "share": paired(lambda b, x: x[1] / b[0]),
        "cpu_added": paired(lambda b, x: (x[2] - b[2]) / b[2]),
        "cpu_share": paired(lambda b, x: x[3] / b[2]),
    }


def profile(path: Path, stage: LicenceStage, top: int = 18) -> str:
    """cProfile of the stage alone over the whole corpus: the top functions by internal time."""
    batches = [_with_source(b) for b in pq.ParquetFile(path).iter_batches(batch_size=2048)]
    profiler = cProfile.Profile()
    profiler.enable()
    for batch in batches:
        stage(batch)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def bench_rate(
    rows: int,
    repeat: int,
    footer_rate: float,
    show_profile: bool,
    scan_baseline: bool,
    realistic: bool = False,
    engine: str = "auto",
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.parquet"
        generate(path, rows, footer_rate, realistic)
        mb = path.stat().st_size / 1e6
        stage = LicenceStage()
        spec = SourceSpec(name="corpus", paths=(Path(tmp),), declared_licence="CC-BY-SA-4.0")
        context = StageContext(sources={"corpus": spec})
        stage.setup(context)
        if engine != "auto" and stage._scanner is not None:
            stage._scanner.plan = BatchPlan(stage._scanner, use_hyperscan=engine == "hyperscan")
        engine = getattr(getattr(stage._scanner, "plan", None), "engine", "re2 (no plan)")
        m = measure(path, stage, repeat)
        sample = stage(_with_source(next(pq.ParquetFile(path).iter_batches(batch_size=2048))))
        conflicts = sum(sample.column("licence_conflict").to_pylist())
        print(
            f"corpus: {rows} rows, {mb:.1f} MB Parquet, footer rate {footer_rate:.0%}"
            f"{', realistic prose cues' if realistic else ''}; "
            f"median of {repeat} alternating runs; cue engine {engine}"
        )
        print(f"baseline read+normalise+sha256: {m['base']:.2f} s ({rows / m['base']:,.0f} rows/s)")
        print(
            f"baseline + LicenceStage:        {m['full']:.2f} s "
            f"(stage alone {m['only']:.2f} s, {rows / m['only']:,.0f} rows/s)"
        )
        print(
            f"licence detection adds {m['added']:.1%} "
            f"(stage time / baseline: {m['share']:.1%}; paired medians)"
        )
        print(
            f"in CPU time of this process: adds {m['cpu_added']:.1%} (stage / baseline: {m['cpu_share']:.1%})"
        )
        result = {k: m[k] for k in ("added", "share", "cpu_added", "cpu_share")}
        if scan_baseline:
            normalise = NormaliseStage()
            normalise.setup(context)
            s = measure(path, stage, repeat, normalise)
            print(
                f"scan baseline (read + NormaliseStage): {s['base']:.2f} s; + LicenceStage {s['full']:.2f} s; "
                f"adds {s['added']:.1%} (stage time / baseline: {s['share']:.1%})"
            )
            print(f"  in CPU time: adds {s['cpu_added']:.1%}, stage / baseline {s['cpu_share']:.1%}")
            result |= {"scan_added": s["added"], "scan_share": s["share"], "scan_cpu_share": s["cpu_share"]}
        print(f"sanity: {conflicts} conflicts in the first batch of {sample.num_rows}")
        if show_profile:
            print(profile(path, stage))
        return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5,000 rows, 3 repeats")
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--footer-rate", type=float, nargs="+", default=[0.10], help="share(s) of rows with a (c) footer"
    )
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the stage")
    parser.add_argument(
        "--scan-baseline",
        action="store_true",
        help="also measure against read + the auditor's NormaliseStage",
    )
    parser.add_argument(
        "--realistic", action="store_true", help="put the prose words licence matchers look for into the text"
    )
    parser.add_argument(
        "--engine",
        choices=("auto", "re2", "hyperscan"),
        default="auto",
        help="cue engine: hyperscan when installed (auto), or force one",
    )
    args = parser.parse_args()
    rows, repeat = (5_000, 3) if args.quick else (args.rows, args.repeat)
    results = {
        rate: bench_rate(rows, repeat, rate, args.profile, args.scan_baseline, args.realistic, args.engine)
        for rate in args.footer_rate
    }
    if len(results) > 1:
        print(
            "summary (footer rate: added / stage share / stage share in CPU time): "
            + "; ".join(
                f"{rate:.0%}: {r['added']:.1%} / {r['share']:.1%} / {r['cpu_share']:.1%}"
                for rate, r in results.items()
            )
        )
        if args.scan_baseline:
            print(
                "summary against the scan baseline: "
                + "; ".join(
                    f"{rate:.0%}: {r['scan_added']:.1%} / {r['scan_share']:.1%} / {r['scan_cpu_share']:.1%}"
                    for rate, r in results.items()
                )
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
