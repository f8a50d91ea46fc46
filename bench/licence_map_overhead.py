"""What licence detection adds to the foundation bench's scan: its map step, with and without the licence stage.

    python bench/licence_map_overhead.py [--size-mb 100] [--footer-rate 0.1 0.3] [--realistic] [--repeat 5]

The foundation bench (``bench/read_bench.py``) times the scan's map step: content sniffing, the reader,
work batches, ``NormaliseStage`` and the attribute file written per shard (``engines.local.run_map``, one
worker). This script times that same map step with ``[NormaliseStage]`` (the baseline) and with
``[NormaliseStage, LicenceStage]``, which also writes the licence columns to the attribute files, on:

- the foundation bench's own corpus (``read_bench.generate``: ~2 KB documents of random words, some of
  which are cues of the licence matchers: "copyright", "licence", "rights");
- corpora with the licence signals of web and code text (``licence_overhead.generate``: site footers
  "© 2021 ... All rights reserved." in ``--footer-rate`` of rows, notices, SPDX headers, full licence
  texts; ``--realistic`` adds the prose words the matchers look for).

The stages are built and set up once, outside the timing, as a scan builds them once per worker process;
the one-off setup (rule tables, Hyperscan databases, full-text index) is timed and printed on its own.
Each variant runs ``--repeat`` times, alternating; the report gives medians and the median of the paired
ratios (each licence run against the baseline run just before it), in wall-clock and CPU time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import licence_overhead  # noqa: E402
import read_bench  # noqa: E402

from auditor.config import config_from_paths  # noqa: E402
from auditor.engines.local import run_map  # noqa: E402
from auditor.io.readers import read_shard  # noqa: E402
from auditor.pipeline import plan_tasks  # noqa: E402
from auditor.stages.base import Stage, StageContext  # noqa: E402
from auditor.stages.licence import LicenceStage  # noqa: E402
from auditor.stages.normalise import NormaliseStage  # noqa: E402


class BuiltStages:
    """A stage factory that hands out stages built once (the map step calls it once per process)."""

    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages

    def __call__(self) -> list[Stage]:
        return self.stages


def measure(corpus: Path, work: Path, repeat: int, args_batch: int = 2048) -> dict[str, float]:
    config = config_from_paths([corpus])
    context = StageContext(sources={s.name: s for s in config.sources})
    tasks, _ = plan_tasks(config, skip_bad_files=False)
    normalise = NormaliseStage()
    normalise.setup(context)
    started = time.perf_counter()
    licence = LicenceStage()
    licence.setup(context)
    # The Hyperscan databases are compiled at the first batch: count that as setup too.
    first = tasks[0]
    licence(normalise(next(iter(read_shard(first.shard, first.source, args_batch, part=first.part)))))
    setup = time.perf_counter() - started
    factories = {False: BuiltStages([normalise]), True: BuiltStages([normalise, licence])}
    runs = 0

    def run(with_licence: bool) -> tuple[float, float, int]:
        nonlocal runs
        runs += 1
        out = work / f"run-{runs}"
        t, t_cpu = time.perf_counter(), time.process_time()
        records = sum(
            r.n_records
            for r in run_map(tasks, factories[with_licence], run_dir=out, fingerprint="bench",
                             batch_size=args_batch, workers=1, skip_bad_files=False)
        )
        elapsed = time.perf_counter() - t, time.process_time() - t_cpu
        shutil.rmtree(out)
        return *elapsed, records

    run(False)
    run(True)  # warm caches once
    base, full = [], []
    for _ in range(repeat):
        base.append(run(False))
        full.append(run(True))
    if {b[2] for b in base} != {f[2] for f in full}:
        raise RuntimeError("the two variants mapped different record counts")
    return {
        "records": base[0][2],
        "base": statistics.median(b[0] for b in base),
        "full": statistics.median(f[0] for f in full),
        "added": statistics.median((f[0] - b[0]) / b[0] for b, f in zip(base, full, strict=True)),
        "cpu_added": statistics.median((f[1] - b[1]) / b[1] for b, f in zip(base, full, strict=True)),
        "setup": setup,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100, help="foundation corpus size (MB of text)")
    parser.add_argument("--rows", type=int, default=40_000, help="rows of each footer-rate corpus")
    parser.add_argument("--footer-rate", type=float, nargs="*", default=[0.0, 0.1, 0.3])
    parser.add_argument("--realistic", action="store_true", help="prose cue words in the footer-rate corpora")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=2048)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        corpora: list[tuple[str, Path]] = []
        foundation = Path(tmp) / "foundation"
        foundation.mkdir()
        read_bench.generate(foundation, args.size_mb, 4)
        corpora.append((f"foundation bench corpus ({args.size_mb} MB of text)", foundation))
        for rate in args.footer_rate:
            folder = Path(tmp) / f"footers-{rate}"
            folder.mkdir()
            licence_overhead.generate(folder / "corpus.parquet", args.rows, rate, args.realistic)
            label = f"footer rate {rate:.0%}{', realistic' if args.realistic else ''} ({args.rows:,} rows)"
            corpora.append((label, folder))
        for label, folder in corpora:
            work = Path(tmp) / "runs"
            work.mkdir(exist_ok=True)
            m = measure(folder, work, args.repeat, args.batch_size)
            rows.append((label, m))
            print(
                f"{label}: {m['records']:,} records; map step {m['base']:.2f} s, with the licence stage "
                f"{m['full']:.2f} s: adds {m['added']:.1%} (CPU time {m['cpu_added']:.1%}); "
                f"one-off setup {m['setup']:.2f} s",
                flush=True,
            )
    print(f"median of {args.repeat} alternating runs each; paired ratios")
    print("summary: " + "; ".join(f"{label.split(' (')[0]}: {m['added']:.1%}" for label, m in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
