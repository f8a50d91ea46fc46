"""One large Arrow IPC file, 2 workers: the scan with the file split into runs of record batches
(``arrow_parts`` with ``auditor.pipeline.PART_ROWS``) against the same scan with the file as one task, in
the same run, plus the cost of planning the parts (one look at every record batch's header).

    python bench/arrow_split_bench.py [--docs 100000] [--batch-rows 1000] [--stream]

``--stream`` writes an IPC stream instead of an IPC file: the format of Hugging Face ``datasets`` folders
(``save_to_disk`` writes 1,000-row batches), whose parts start at a batch message's byte offset.

The corpus is ``scale_bench``'s (~2 KB documents, English and Chinese, duplicates, PII), written as one
IPC file of ``--batch-rows`` rows per record batch in a temp dir. Both scans must write byte-identical
records.parquet; the script checks it. The plan must call ``arrow_parts`` (``plan_tasks``); the script
says so when it does not (the split scan is then one task too).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scale_bench import generate  # noqa: E402

import auditor.pipeline as pipeline  # noqa: E402
from auditor.config import config_from_paths  # noqa: E402
from auditor.io.detect import ARROW_FILE, ARROW_STREAM, Shard  # noqa: E402
from auditor.io.parts import arrow_parts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--batch-rows", type=int, default=1_000)
    parser.add_argument("--stream", action="store_true", help="an IPC stream (as datasets folders hold)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pq").mkdir()
        generate(root / "pq", args.docs)
        table = pa.concat_tables(pq.read_table(f) for f in sorted((root / "pq").glob("*.parquet")))
        corpus = root / "arrow"
        corpus.mkdir()
        path = corpus / "all.arrow"
        with (ipc.new_stream if args.stream else ipc.new_file)(path, table.schema) as writer:
            writer.write_table(table, max_chunksize=args.batch_rows)
        del table
        kind = "stream" if args.stream else "file"
        start = time.perf_counter()
        parts = arrow_parts(Shard(path, path.name, ARROW_STREAM if args.stream else ARROW_FILE), pipeline.PART_ROWS)
        plan = time.perf_counter() - start
        print(f"{args.docs} docs, {path.stat().st_size / 1e6:.0f} MB IPC {kind} of {args.batch_rows}-row batches; "
              f"{len(parts)} parts of >= {pipeline.PART_ROWS} rows, planned in {plan * 1e3:.1f} ms")
        config = config_from_paths([corpus])
        tasks, _ = pipeline.plan_tasks(config, skip_bad_files=False)
        if len(tasks) < 2:
            print(f"plan_tasks does not split this Arrow IPC {kind} (arrow_parts not called): both scans are one task")
        walls = {}
        default = pipeline.PART_ROWS
        for label, part_rows in (("one task", 1 << 60), ("split", default)):
            pipeline.PART_ROWS = part_rows
            load = os.getloadavg()[0]
            start = time.perf_counter()
            pipeline.scan(config, pipeline.ScanOptions(out=root / label, workers=2))
            walls[label] = time.perf_counter() - start
            print(f"{label:9s} 2 workers: {walls[label]:6.1f} s, {args.docs / walls[label]:,.0f} docs/s "
                  f"(1-min load before: {load:.2f} on {os.cpu_count()} CPUs)")
        pipeline.PART_ROWS = default
        same = (root / "split" / "records.parquet").read_bytes() == (root / "one task" / "records.parquet").read_bytes()
        print(f"speed-up of the split scan: {walls['one task'] / walls['split']:.2f}x; records.parquet identical: {same}")


if __name__ == "__main__":
    main()
