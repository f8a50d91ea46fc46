"""Planning large files as several map tasks (``ShardPart``): runs of whole Parquet row groups, of
Arrow IPC record batches (files and streams) and of JSON Lines lines, and the planned JSON Lines parts
kept in the run directory.

Planning a JSON Lines file's parts (``jsonl_parts``) reads the whole file, decompressing it if it is
compressed. A re-run over an unchanged file (same size and modification time, trusted as the map step
trusts them for finished shards, as make and rsync do) reuses the parts planned before, from its run
directory or from an earlier run's (``--incremental``; ``JsonlPlans``), so that a scheduled re-audit
of an unchanged corpus does not read it again.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from auditor.io.atomic import write_json_atomic
from auditor.io.detect import ARROW_FILE, ARROW_STREAM, JSONL, JSONL_GZ, JSONL_ZST, PARQUET, Shard, ShardPart
from auditor.io.readers import open_jsonl


def _runs(sizes: list[int], min_rows: int) -> list[ShardPart]:
    """Runs of consecutive units (row groups, record batches) of ``sizes`` rows with at least
    ``min_rows`` rows each (the last may have fewer; trailing empty units join it, so that the runs
    cover every unit), or [] when there is only one run."""
    runs: list[tuple[int, int, int]] = []  # (first unit, end unit, first row)
    start_unit, start_row, rows, row = 0, 0, 0, 0
    for unit, size in enumerate(sizes):
        rows += size
        row += size
        if rows >= min_rows:
            runs.append((start_unit, unit + 1, start_row))
            start_unit, start_row, rows = unit + 1, row, 0
    if rows or (start_unit < len(sizes) and not runs):
        runs.append((start_unit, len(sizes), start_row))
    elif start_unit < len(sizes):
        runs[-1] = (runs[-1][0], len(sizes), runs[-1][2])
    if len(runs) < 2:
        return []
    return [ShardPart(k, len(runs), (a, b), first) for k, (a, b, first) in enumerate(runs)]


def parquet_parts(shard: Shard, min_rows: int) -> list[ShardPart]:
    """Runs of consecutive row groups of a Parquet file with at least ``min_rows`` rows each (the last
    may have fewer), or [] when the file is one part (or its footer cannot be read: the map step
    reports that)."""
    if shard.format != PARQUET:
        return []
    try:
        metadata = pq.ParquetFile(shard.path).metadata
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError):
        return []
    return _runs([metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)], min_rows)


def arrow_parts(shard: Shard, min_rows: int) -> list[ShardPart]:
    """Runs of consecutive record batches of an Arrow IPC file or stream with at least ``min_rows`` rows
    each (the last may have fewer), in ``ShardPart.row_groups``, or [] when the file is one part (or
    cannot be read: the map step reports that). A stream's parts also hold the bytes of their batch
    messages (``byte_range``, from ``stream_batches``): a part is read from there, not from the start.

    Counting rows maps each batch without reading its data, but a compressed file is decompressed once
    to count them."""
    try:
        if shard.format == ARROW_FILE:
            with pa.memory_map(str(shard.path)) as source:
                reader = ipc.open_file(source)
                sizes = [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)]
            return _runs(sizes, min_rows)
        if shard.format == ARROW_STREAM:
            found = stream_batches(shard)
            if found is None:
                return []
            runs = _runs([rows for _, _, rows in found], min_rows)
            return [replace(p, byte_range=(found[p.row_groups[0]][0], found[p.row_groups[1] - 1][1])) for p in runs]
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError):
        return []
    return []


def stream_batches(shard: Shard) -> list[tuple[int, int, int]] | None:
    """(first byte, end byte, rows) of each record batch message of an Arrow IPC stream, in order, or
    None when the stream holds dictionary batches (a later batch may need an earlier dictionary, so such
    a stream is read whole). One pass over the message headers of the memory-mapped file."""
    with pa.memory_map(str(shard.path)) as source:
        messages = ipc.MessageReader.open_stream(source)
        schema = ipc.read_schema(messages.read_next_message())
        found: list[tuple[int, int, int]] = []
        while True:
            start = source.tell()
            try:
                message = messages.read_next_message()
            except StopIteration:
                return found
            if message.type != "record batch":
                return None
            found.append((start, source.tell(), ipc.read_record_batch(message, schema).num_rows))


# Parts of a compressed JSON Lines file (``jsonl_parts``): each decompresses the bytes before it again.
COMPRESSED_MAX_PARTS = 8


def jsonl_parts(shard: Shard, min_bytes: int) -> list[ShardPart]:
    """Runs of whole lines of a JSON Lines file of at least ``min_bytes`` bytes each (the last may have
    fewer), each with the number of records (non-blank lines) and of lines before it, or [] when the
    file is one part. One pass over the file's lines, read as the reader reads them.

    A compressed file (gzip, zstd) is decompressed once for this, and its parts' byte ranges are in
    decompressed bytes: a part decompresses the file from its start and drops the bytes before its first
    line (gzip: ~280 MB/s on one core, against ~7 MB/s for mapping them), so such a file has at most
    ``COMPRESSED_MAX_PARTS`` parts, larger ones when it is large, which bounds that extra work (with 8
    parts, about 3.5 times the file decompressed again: ~9% more CPU for gzip)."""
    if shard.format not in (JSONL, JSONL_GZ, JSONL_ZST):
        return []
    compressed = shard.format != JSONL
    try:
        # A compressed file this small would have to compress more than 32x to hold two parts.
        if shard.path.stat().st_size < (min_bytes // 16 if compressed else 2 * min_bytes):
            return []
        starts: list[tuple[int, int, int]] = [(0, 0, 0)]  # (byte, lines before, records before)
        position = lines = rows = 0
        target = min_bytes
        with open_jsonl(shard) as stream:
            for line in stream:
                if position >= target:
                    starts.append((position, lines, rows))
                    target = position + min_bytes
                position += len(line)
                lines += 1
                if line.strip():
                    rows += 1
    except (OSError, EOFError, zlib.error):
        return []  # the map step reports it
    if compressed and len(starts) > COMPRESSED_MAX_PARTS:
        starts = starts[:: -(-len(starts) // COMPRESSED_MAX_PARTS)]
    if len(starts) < 2 or position < 2 * min_bytes:
        return []
    ends = [s[0] for s in starts[1:]] + [position]
    return [ShardPart(k, len(starts), (0, 0), first_row, byte_range=(begin, stop), first_line=first_line)
            for k, ((begin, first_line, first_row), stop) in enumerate(zip(starts, ends, strict=True))]


PLANS = "jsonl-parts.json"
_VERSION = 1


class JsonlPlans:
    """``jsonl_parts`` of each file, remembered by its resolved path, size, modification time, format
    and the part size asked."""

    def __init__(self, files: dict[str, dict[str, Any]] | None = None) -> None:
        self.files = dict(files or {})
        self.changed = False

    @classmethod
    def load(cls, run_dirs: Sequence[Path]) -> JsonlPlans:
        """The plans kept in ``run_dirs`` (the first directory's win); a missing or unreadable file
        counts as none: the plans are planned again."""
        files: dict[str, dict[str, Any]] = {}
        for run_dir in reversed(run_dirs):
            try:
                data = json.loads((run_dir / PLANS).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("version") == _VERSION and isinstance(data.get("files"), dict):
                files.update(data["files"])
        return cls(files)

    def parts(self, shard: Shard, min_bytes: int) -> list[ShardPart]:
        """``jsonl_parts(shard, min_bytes)``, from the plan kept for an unchanged file if there is one."""
        try:
            stat = shard.path.stat()
        except OSError:
            return jsonl_parts(shard, min_bytes)  # [] : the map step reports the file
        key = str(shard.path.resolve())
        facts = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "format": shard.format,
                 "min_bytes": min_bytes, "max_parts": COMPRESSED_MAX_PARTS}
        kept = self.files.get(key)
        if kept is not None and all(kept.get(k) == v for k, v in facts.items()):
            try:
                return [_part(p) for p in kept["parts"]]
            except (KeyError, TypeError, ValueError):
                pass  # a damaged entry: plan again
        parts = jsonl_parts(shard, min_bytes)
        self.files[key] = {**facts, "parts": [asdict(p) for p in parts]}
        self.changed = True
        return parts

    def save(self, run_dir: Path) -> None:
        """Keep the plans in ``run_dir`` (when any was planned in this run)."""
        if self.changed:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(run_dir / PLANS, {"version": _VERSION, "files": self.files})
            self.changed = False


def _part(entry: dict[str, Any]) -> ShardPart:
    """A ``ShardPart`` from its kept form (``dataclasses.asdict``; JSON makes its tuples lists)."""
    return ShardPart(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()})
