"""Rights and opt-out stages: throughput against a baseline scan, measured in the same run.

    python bench/rights_bench.py            # 1,000 works of ~50 KB, 50,000 records of ~2 KB
    python bench/rights_bench.py --quick    # 100 works, 5,000 records

Everything is generated with a fixed seed into a temporary folder: a registry (works as text files,
20 holders over 40 of the 500 sites, 20 opt-out URL prefixes, robots.txt snapshots for a tenth of
the sites) and a Parquet corpus in which 2% of the records quote a registered work (100-400 words)
and 0.2% are near-copies of one.

Baseline: read the Parquet corpus in batches of 2,048 + normalise (the normalise stage's own
function) + SHA-256 of raw and normal text. Then, on the same batches, the time each stage adds,
each stage right after the baseline work of its batch (as in a scan). ``--repeat`` passes (default
5): printed are medians, ratios taken per pass against that pass's baseline. Ratios are what to
read: the machine is shared, absolute times are noisy; the same ratios in CPU time of this process
(``time.process_time``) are printed too, as they move less with the load of other processes. Also
printed: how many planted records got a work match (of any kind: the match of a public-domain work
has kind ``public-domain``) and how many unplanted records were flagged.

Second baseline (skip with ``--no-scan-baseline``): the scan's whole map step, i.e. the same passes
with the other default stages (language, MinHash, licence, PII) run between normalise and rights and
counted in the baseline: what the rights stage adds to the time of a default scan.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.registry import build_fingerprints, load_registries  # noqa: E402
from auditor.stages.base import StageContext  # noqa: E402
from auditor.stages.normalise import NormaliseStage  # noqa: E402
from auditor.stages.optout import OptOutStage  # noqa: E402
from auditor.stages.rights import RightsStage  # noqa: E402

SEED = 20261124
AS_OF = dt.date(2026, 11, 24)
BATCH = 2048


def vocabulary(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    syll = [
        "ka",
        "lo",
        "mi",
        "ne",
        "ru",
        "sa",
        "ti",
        "vo",
        "xe",
        "an",
        "el",
        "or",
        "um",
        "ba",
        "de",
        "fi",
        "go",
        "ha",
        "ju",
        "qu",
        "st",
        "th",
        "re",
        "in",
        "ou",
        "ea",
        "wy",
        "pl",
        "cr",
        "sh",
    ]
    common = [
        "the",
        "of",
        "and",
        "to",
        "a",
        "in",
        "is",
        "was",
        "that",
        "it",
        "for",
        "on",
        "with",
        "as",
        "his",
        "her",
        "at",
        "by",
        "from",
        "this",
        "had",
        "not",
        "but",
        "be",
        "or",
        "which",
    ]
    words = list(common)
    seen = set(words)
    while len(words) < size:
        w = "".join(rng.choice(syll, rng.integers(1, 5)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    weights = 1.0 / np.arange(1, size + 1) ** 1.05
    return np.array(words), weights / weights.sum()


def prose(rng: np.random.Generator, vocab: np.ndarray, p: np.ndarray, n_words: int) -> str:
    words = vocab[rng.choice(len(vocab), n_words, p=p)].tolist()
    for i in range(11, len(words), 13):
        words[i] += "."
    return " ".join(words)


def make_data(root: Path, n_works: int, n_docs: int) -> tuple[Path, Path, set[int]]:
    rng = np.random.default_rng(SEED)
    vocab, p = vocabulary(rng, 20_000)
    reg = root / "registry"
    (reg / "works").mkdir(parents=True)
    works = [prose(rng, vocab, p, 8_000) for _ in range(n_works)]  # ~50 KB each
    rows = ["id,title,rights_holder,authors,author_death_year,publication_year,jurisdiction,status,file"]
    for i, text in enumerate(works):
        (reg / "works" / f"W{i:05d}.txt").write_text(text, encoding="utf-8")
        rows.append(
            f"W{i:05d},Work {i},Holder {i % 50},Author {i},{1900 + i % 120},{1950 + i % 70},EU,"
            f"in-copyright,works/W{i:05d}.txt"
        )
    (reg / "works.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    hosts = [f"{('www', 'news', 'blog')[i % 3]}.site{i}.example" for i in range(500)]
    (reg / "holders.csv").write_text(
        "holder,domains,terms,since\n"
        + "".join(
            f"Holder {i},site{i * 25}.example;site{i * 25 + 1}.example/h3/,all rights reserved,2024-01-01\n"
            for i in range(20)
        ),
        encoding="utf-8",
    )
    (reg / "optout.csv").write_text(
        "kind,value,effective_date,holder\n"
        + "".join(f"url_prefix,https://{hosts[i]}/opt/,2025-06-01,\n" for i in range(0, 500, 25)),
        encoding="utf-8",
    )
    for i in range(0, 500, 10):
        path = reg / "robots" / hosts[i] / "2025-01-01.txt"
        path.parent.mkdir(parents=True)
        path.write_text(
            "User-agent: GPTBot\nDisallow: /a/\n\nUser-agent: *\nDisallow: /private/\n", encoding="utf-8"
        )
    texts: list[str] = []
    planted: set[int] = set()
    for d in range(n_docs):
        text = prose(rng, vocab, p, 330)  # ~2 KB
        roll = rng.random()
        if roll < 0.02:
            words = works[rng.integers(n_works)].split()
            k = int(rng.integers(100, 400))
            at = int(rng.integers(0, len(words) - k))
            cut = len(text) // 2
            text = text[:cut] + " " + " ".join(words[at : at + k]) + " " + text[cut:]
            planted.add(d)
        elif roll < 0.022:
            words = works[rng.integers(n_works)].split()[:330]
            for j in range(0, len(words), 25):
                words[j] = "edited"
            text = " ".join(words)
            planted.add(d)
        texts.append(text)
    urls = [
        f"https://{hosts[int(rng.integers(500))]}/{rng.choice(['a', 'b', 'opt', 'private', 'h3'])}/{d}"
        for d in range(n_docs)
    ]
    dates = [AS_OF - dt.timedelta(days=int(x)) for x in rng.integers(0, 900, n_docs)]
    corpus = root / "corpus.parquet"
    pq.write_table(
        pa.table(
            {
                "url": urls,
                "text": pa.array(texts, pa.large_string()),
                "crawl_date": pa.array(dates, pa.date32()),
            }
        ),
        corpus,
        row_group_size=BATCH,
    )
    return reg, corpus, planted


def run(reg_dir: Path, corpus: Path, planted: set[int], repeat: int, scan_baseline: bool = True) -> None:
    t0 = time.perf_counter()
    registries = load_registries([reg_dir], as_of=AS_OF)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_fingerprints(reg_dir / "works.csv")
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    registries = load_registries([reg_dir], as_of=AS_OF)
    t_load_fp = time.perf_counter() - t0
    rights, optout = RightsStage(registries), OptOutStage(registries)
    t0 = time.perf_counter()
    rights.setup(StageContext(as_of=AS_OF))
    optout.setup(StageContext(as_of=AS_OF))
    t_setup = time.perf_counter() - t0
    print(
        f"registry: {len(registries.works)} works; load from texts {t_load:.2f} s, build fingerprints "
        f"{t_build:.2f} s, load from fingerprints {t_load_fp:.2f} s, stage setup (index) {t_setup:.2f} s"
    )

    index = rights.index
    index_mb = sum(a.nbytes for a in (index.keys, index.owner_ptr, index.owners, index.bits, index._dir)) / 1e6
    print(f"index: {len(index.keys):,} windows, {index_mb:.0f} MB (works' own windows: "
          f"{sum(w.nbytes for w in index.work_windows) / 1e6:.0f} MB); {index.parameters()}")

    passes = [measure(corpus, rights, optout, planted) for _ in range(repeat)]
    others = other_stages() if scan_baseline else None
    scan_passes = [measure(corpus, rights, optout, planted, others) for _ in range(max(1, repeat // 2))] \
        if others else []
    last = passes[-1]
    rows = last["rows"]

    def median(key: str) -> float:
        return statistics.median(p[key] for p in passes)

    def ratio(key: str) -> float:  # per pass against that pass's baseline, then the median
        return statistics.median(p[key] / (p["t_read"] + p["t_base"]) for p in passes)

    baseline = median("t_read") + median("t_base")
    print(f"records: {rows:,}; medians of {repeat} passes: baseline read {median('t_read'):.2f} s + "
          f"normalise/hash {median('t_base'):.2f} s = {baseline:.2f} s ({rows / baseline:,.0f} records/s)")
    spread = sorted(p["t_rights"] / (p["t_read"] + p["t_base"]) for p in passes)
    print(f"rights stage : {median('t_rights'):.2f} s = {ratio('t_rights'):.1%} of the baseline "
          f"(passes {spread[0]:.1%} to {spread[-1]:.1%}; {rows / median('t_rights'):,.0f} records/s)")
    print(f"  the vectorised prefilter alone (the cost when nothing matches): {ratio('t_prefilter'):.1%} of "
          f"the baseline")
    print(f"optout stage : {ratio('t_opt'):.1%} of the baseline")

    def cpu_ratio(key: str) -> float:
        return statistics.median(p[key] / (p["c_read"] + p["c_base"]) for p in passes)

    print(f"CPU time of this process, same passes: rights {cpu_ratio('c_rights'):.1%}, optout "
          f"{cpu_ratio('c_opt'):.1%}, prefilter alone {cpu_ratio('c_prefilter'):.1%} of the baseline's")
    print(f"both         : {statistics.median((p['t_rights'] + p['t_opt']) / (p['t_read'] + p['t_base']) for p in passes):.1%} of the baseline")
    if scan_passes:
        def scan_ratio(key: str, t: str = "t") -> float:
            return statistics.median(
                p[f"{t}_{key}"] / (p[f"{t}_read"] + p[f"{t}_base"] + p[f"{t}_other"]) for p in scan_passes)

        scan_time = statistics.median(p["t_read"] + p["t_base"] + p["t_other"] for p in scan_passes)
        print(f"against the scan's whole map step (read, normalise, language, MinHash, licence, PII: "
              f"{scan_time:.2f} s, {len(scan_passes)} passes): rights adds {scan_ratio('rights'):.1%} "
              f"(CPU {scan_ratio('rights', 'c'):.1%}), optout {scan_ratio('opt'):.1%} "
              f"(CPU {scan_ratio('opt', 'c'):.1%})")
    print(f"planted work matches found: {len(last['found'] & planted)}/{len(planted)}; "
          f"unplanted records flagged: {len(last['found'] - planted)}; "
          f"records with opt-out signals: {last['flagged']:,}")


NORMALISE = NormaliseStage()


def other_stages() -> list[Any]:
    """The default scan's other map stages (language, MinHash, licence, PII), set up as a scan does."""
    from auditor.config import SourceSpec
    from auditor.stages.language import LanguageStage
    from auditor.stages.licence import LicenceStage
    from auditor.stages.minhash import MinHashStage
    from auditor.stages.pii import PiiStage

    context = StageContext(sources={"bench": SourceSpec(name="bench", paths=())},
                           params={"lang_backend": "profiles"}, as_of=AS_OF)
    stages = [LanguageStage(), MinHashStage(), LicenceStage(), PiiStage()]
    for stage in stages:
        stage.setup(context)
    return stages


def measure(corpus: Path, rights: RightsStage, optout: OptOutStage, planted: set[int],
            others: list[Any] | None = None) -> dict[str, Any]:
    """One pass over the corpus: per-batch times of the baseline and of each stage, interleaved;
    wall-clock (``t_*``) and CPU time of this process (``c_*``: less sensitive to other processes
    on a shared machine)."""
    out: dict[str, Any] = {f"{k}_{s}": 0.0 for k in "tc" for s in ("base", "rights", "opt", "prefilter", "other")}
    row = flagged = 0
    found: set[int] = set()
    t_start, c_start = time.perf_counter(), time.process_time()
    for batch in pq.ParquetFile(corpus).iter_batches(batch_size=BATCH):
        t0, c0 = time.perf_counter(), time.process_time()
        batch = NORMALISE(batch)  # the scan's own normalise stage: normal form and both hashes
        t1, c1 = time.perf_counter(), time.process_time()
        if others:  # the rest of a default scan's map step, timed on its own
            n = batch.num_rows
            batch = batch.append_column("source", pa.array(["bench"] * n)).append_column(
                "shard", pa.array(["corpus.parquet"] * n))
            for stage in others:
                batch = stage(batch)
            t_o, c_o = time.perf_counter(), time.process_time()
            out["t_other"] += t_o - t1
            out["c_other"] += c_o - c1
            t1, c1 = t_o, c_o
        batch = rights(batch)
        t2, c2 = time.perf_counter(), time.process_time()
        batch = optout(batch)
        t3, c3 = time.perf_counter(), time.process_time()
        rights.index.candidates(batch.column("norm_text"))  # the prefilter alone (default plan), for the split
        t4, c4 = time.perf_counter(), time.process_time()
        for k, (a, b, c, d, e) in (("t", (t0, t1, t2, t3, t4)), ("c", (c0, c1, c2, c3, c4))):
            out[f"{k}_base"] += b - a
            out[f"{k}_rights"] += c - b
            out[f"{k}_opt"] += d - c
            out[f"{k}_prefilter"] += e - d
        for i, entries in enumerate(batch.column("rights").to_pylist()):
            # a match of a public-domain or licensed work carries that status as its kind
            if any(e["registry"].endswith("/works") for e in entries):
                found.add(row + i)
        flagged += int((pc.list_value_length(batch.column("opt_out")).to_numpy() > 0).sum())
        row += batch.num_rows
    for k, start, now in (("t", t_start, time.perf_counter()), ("c", c_start, time.process_time())):
        spent = sum(out[f"{k}_{s}"] for s in ("base", "rights", "opt", "prefilter", "other"))
        out[f"{k}_read"] = now - start - spent
    out.update(rows=row, found=found, flagged=flagged)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100 works, 5,000 records")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the corpus; medians are reported")
    parser.add_argument("--no-scan-baseline", action="store_true",
                        help="skip the passes that also run the scan's other map stages")
    args = parser.parse_args()
    n_works, n_docs = (100, 5_000) if args.quick else (1_000, 50_000)
    with tempfile.TemporaryDirectory(prefix="rights-bench-") as tmp:
        t0 = time.perf_counter()
        reg, corpus, planted = make_data(Path(tmp), n_works, n_docs)
        print(
            f"generated {n_works} works and {n_docs:,} records in {time.perf_counter() - t0:.1f} s "
            f"(corpus {corpus.stat().st_size / 1e6:.0f} MB Parquet)"
        )
        run(reg, corpus, planted, args.repeat, scan_baseline=not args.no_scan_baseline)


if __name__ == "__main__":
    main()
