"""The local engine: map stages over shards on one machine, in a process pool, with bounded memory.

Each shard is read batch by batch, passed through the stages, and its attributes (the stage columns,
without any text) are written to ``<run_dir>/attributes/<task>.parquet`` next to a completion marker
``<task>.done.json``. A marker names the input file's SHA-256 and the fingerprint of the stages and
their parameters, so a re-run with the same run directory reuses every finished shard: a scan that dies
resumes where it stopped, and an unchanged shard is never read twice.

Results do not depend on the number of workers or the batch size: every shard's attribute file is a
function of that shard alone, and the reduce step reads them in task order.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from auditor.config import SourceSpec
from auditor.errors import AuditorError, InputError
from auditor.io.atomic import atomic_path, write_json_atomic
from auditor.io.detect import Shard
from auditor.io.readers import read_shard
from auditor.stages.base import TRANSIENT_COLUMNS, Stage

StageFactory = Callable[[], Sequence[Stage]]
ProgressFn = Callable[[int, int], None]  # (records done, bytes done) increments


@dataclass(frozen=True)
class ShardTask:
    index: int
    source: SourceSpec
    shard: Shard


@dataclass(frozen=True)
class ShardResult:
    index: int
    source: str
    shard: str
    format: str
    file_sha256: str
    n_bytes: int
    n_records: int
    attributes: Path | None
    error: str | None = None
    reused: bool = False


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _marker_path(attributes: Path) -> Path:
    return attributes.with_name(attributes.stem + ".done.json")


def _strip(batch: pa.RecordBatch) -> pa.RecordBatch:
    keep = [i for i, name in enumerate(batch.schema.names) if name not in TRANSIENT_COLUMNS]
    return batch.select(keep)


def _write_attributes(task: ShardTask, stages: Sequence[Stage], batch_size: int, target: Path,
                      progress: ProgressFn | None) -> int:
    writer: pq.ParquetWriter | None = None
    n_records = 0
    with atomic_path(target) as tmp:
        try:
            for batch in read_shard(task.shard, task.source, batch_size):
                for stage in stages:
                    batch = stage(batch)
                out = _strip(batch)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, out.schema, compression="zstd", write_statistics=False)
                writer.write_batch(out)
                n_records += batch.num_rows
                if progress is not None:
                    progress(batch.num_rows, 0)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            # A shard with no records still gets a (0-row) attribute file so that it is accounted for.
            pq.write_table(pa.table({"record_id": pa.array([], pa.string())}), tmp)
    return n_records


def run_task(task: ShardTask, stages: Sequence[Stage], *, run_dir: Path, fingerprint: str, batch_size: int,
             skip_bad_files: bool, progress: ProgressFn | None = None) -> ShardResult:
    """Map one shard (or reuse its finished attribute file) and describe what happened."""
    path = task.shard.path
    n_bytes = path.stat().st_size
    sha = file_sha256(path)
    target = run_dir / "attributes" / f"{task.index:06d}.parquet"
    marker = _marker_path(target)
    key = {"file_sha256": sha, "fingerprint": fingerprint, "source": task.source.name, "shard": task.shard.name}
    base = {"index": task.index, "source": task.source.name, "shard": task.shard.name,
            "format": task.shard.format, "file_sha256": sha, "n_bytes": n_bytes}
    if marker.exists() and target.exists():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.get("key") == key:
            if progress is not None:
                progress(done["n_records"], n_bytes)
            return ShardResult(**base, n_records=done["n_records"], attributes=target, reused=True)
    try:
        n_records = _write_attributes(task, stages, batch_size, target, progress)
    except InputError as exc:
        if not skip_bad_files:
            raise
        return ShardResult(**base, n_records=0, attributes=None, error=str(exc))
    write_json_atomic(marker, {"key": key, "n_records": n_records})
    if progress is not None:
        progress(0, n_bytes)
    return ShardResult(**base, n_records=n_records, attributes=target)


# Per-worker state of the process pool: the stages are built and set up once per worker.
_WORKER_STAGES: Sequence[Stage] | None = None


def _init_worker(factory: StageFactory) -> None:
    global _WORKER_STAGES
    _WORKER_STAGES = factory()


def _run_in_worker(task: ShardTask, run_dir: Path, fingerprint: str, batch_size: int,
                   skip_bad_files: bool) -> ShardResult | AuditorError:
    if _WORKER_STAGES is None:
        raise RuntimeError("worker initialiser did not run")
    try:
        return run_task(task, _WORKER_STAGES, run_dir=run_dir, fingerprint=fingerprint,
                        batch_size=batch_size, skip_bad_files=skip_bad_files)
    except AuditorError as exc:
        return exc


def run_map(tasks: Sequence[ShardTask], factory: StageFactory, *, run_dir: Path, fingerprint: str,
            batch_size: int, workers: int, skip_bad_files: bool,
            progress: ProgressFn | None = None) -> Iterator[ShardResult]:
    """Map every task; yields results in task order. ``workers=1`` runs in this process."""
    (run_dir / "attributes").mkdir(parents=True, exist_ok=True)
    if workers <= 1 or len(tasks) <= 1:
        stages = factory()
        for task in tasks:
            yield run_task(task, stages, run_dir=run_dir, fingerprint=fingerprint, batch_size=batch_size,
                           skip_bad_files=skip_bad_files, progress=progress)
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), initializer=_init_worker,
                             initargs=(factory,)) as pool:
        futures = [pool.submit(_run_in_worker, t, run_dir, fingerprint, batch_size, skip_bad_files)
                   for t in tasks]
        for future in futures:
            result = future.result()
            if isinstance(result, AuditorError):
                for f in futures:
                    f.cancel()
                raise result
            if progress is not None:
                progress(result.n_records, result.n_bytes)
            yield result


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
