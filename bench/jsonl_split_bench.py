"""One large JSON Lines file, 2 workers: the scan with the file split into runs of lines (the default,
``auditor.pipeline.PART_BYTES``) against the same scan with the file as one task, in the same run,
plus the cost of planning the parts (one pass over the file's lines).

    python bench/jsonl_split_bench.py [--docs 80000] [--compress gzip|zstd]

The corpus is ``scale_bench``'s (~2 KB documents, English and Chinese, duplicates, PII), written as one
JSONL file in a temp dir (``--compress``: gzip- or zstd-compressed; its parts then decompress the bytes
before them again, and the script also reports the CPU time of both scans' workers). Both scans must
write byte-identical records.parquet; the script checks it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scale_bench import generate  # noqa: E402

import auditor.pipeline as pipeline  # noqa: E402
from auditor.config import config_from_paths  # noqa: E402
from auditor.io.detect import Shard, sniff  # noqa: E402
from auditor.io.parts import jsonl_parts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=80_000)
    parser.add_argument("--compress", choices=("gzip", "zstd"), help="compress the JSONL file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pq").mkdir()
        generate(root / "pq", args.docs)
        corpus = root / "jsonl"
        corpus.mkdir()
        with (corpus / "all.jsonl").open("w", encoding="utf-8") as out:
            for f in sorted((root / "pq").glob("*.parquet")):
                for row in pq.read_table(f).to_pylist():
                    out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        path = corpus / "all.jsonl"
        size = path.stat().st_size
        if args.compress:
            data = path.read_bytes()
            path.unlink()
            path = corpus / ("all.jsonl.gz" if args.compress == "gzip" else "all.jsonl.zst")
            path.write_bytes(gzip.compress(data) if args.compress == "gzip"
                             else pa.compress(data, codec="zstd", asbytes=True))
            del data
        start = time.perf_counter()
        parts = jsonl_parts(Shard(path, path.name, sniff(path)), pipeline.PART_BYTES)
        plan = time.perf_counter() - start
        print(f"{args.docs} docs, {size / 1e6:.0f} MB JSONL ({path.name}, {path.stat().st_size / 1e6:.0f} MB); "
              f"{len(parts)} parts of >= {pipeline.PART_BYTES >> 20} MiB, planned in {plan:.2f} s "
              f"({size / 1e6 / plan:.0f} MB/s of JSONL)")
        config = config_from_paths([corpus])
        walls = {}
        default = pipeline.PART_BYTES
        for label, part_bytes in (("one task", 1 << 60), ("split", default)):
            pipeline.PART_BYTES = part_bytes
            cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_utime
            start = time.perf_counter()
            pipeline.scan(config, pipeline.ScanOptions(out=root / label, workers=2))
            walls[label] = time.perf_counter() - start
            cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu
            print(f"{label:9s} 2 workers: {walls[label]:6.1f} s, {args.docs / walls[label]:,.0f} docs/s; "
                  f"user CPU of this process and its finished workers {cpu:.1f} s")
        pipeline.PART_BYTES = default
        same = (root / "split" / "records.parquet").read_bytes() == (root / "one task" / "records.parquet").read_bytes()
        print(f"speed-up of the split scan: {walls['one task'] / walls['split']:.2f}x; records.parquet identical: {same}")


if __name__ == "__main__":
    main()
