"""Hash partitions for clustering a corpus larger than memory, and exact groups over them
(``exact_edges``).

Exact grouping sorts every record's 128-bit digest prefix, and LSH banding sorts every record's key
in each band. Both keys are uniform hashes, so their top bits split the records into ``count``
partitions of about equal size (``partition_count``: one partition per ``PARTITION_ROWS`` records,
rounded up to a power of two). ``Partitions`` keeps one partition in memory, or spills each to an
unnamed temporary file (in ``TMPDIR``) and reads them back one at a time: memory holds one
partition's keys, not every record's. Equal keys always fall in the same partition, so grouping each
partition on its own finds every group.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.dedup._common import _HEX
from auditor.dedup.records import _Rows

# Records per partition before the keys are spilled to temporary files (24 bytes a record for the
# exact pass, 16 for a band).
PARTITION_ROWS = 1 << 22

EXACT_DTYPE = np.dtype([("hi", np.uint64), ("lo", np.uint64), ("row", np.int64)])
BAND_DTYPE = np.dtype([("key", np.uint64), ("row", np.int64)])


def partition_count(total: int, rows_per_partition: int | None = None) -> int:
    """Partitions for ``total`` records: 1, or a power of two with at most about ``PARTITION_ROWS``
    records each."""
    per = rows_per_partition or PARTITION_ROWS
    if total <= per:
        return 1
    return 1 << math.ceil(math.log2(math.ceil(total / per)))


class Partitions:
    """Records of a numpy structured ``dtype`` appended to ``count`` partitions by a uint64 hash key
    (its top bits pick the partition) and read back partition by partition, each in append order."""

    def __init__(self, count: int, dtype: np.dtype) -> None:
        if count < 1 or count & (count - 1):
            raise ValueError(f"partition count must be a power of two, got {count}")
        self.count = count
        self.dtype = dtype
        self._shift = np.uint64(64 - (count.bit_length() - 1))
        self._memory: list[np.ndarray] = []
        # Closed by close() (deleted on close).
        self._files = [tempfile.TemporaryFile(prefix="auditor-part-")  # noqa: SIM115
                       for _ in range(count)] if count > 1 else []

    def append(self, keys: np.ndarray, records: np.ndarray) -> None:
        """Add ``records``, each to the partition of its ``keys`` value (uint64)."""
        if self.count == 1:
            self._memory.append(np.ascontiguousarray(records))
            return
        part = (np.asarray(keys, dtype=np.uint64) >> self._shift).astype(np.int64)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.count + 1))
        ordered = records[order]
        for p in np.flatnonzero(np.diff(bounds)).tolist():
            self._files[p].write(np.ascontiguousarray(ordered[bounds[p] : bounds[p + 1]]).tobytes())

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.count == 1:
            records = np.concatenate(self._memory) if self._memory else np.empty(0, self.dtype)
            self._memory = []
            yield records
            return
        for handle in self._files:
            handle.flush()
            handle.seek(0)
            yield np.fromfile(handle, dtype=self.dtype)
            handle.truncate(0)

    def close(self) -> None:
        self._memory = []
        for handle in self._files:
            handle.close()


def digest_prefixes(chunk: pa.Array) -> np.ndarray:
    """The first 128 bits of each digest (as (n, 2) uint64), the same for a value whichever chunk it
    is in: of the hex digest itself for 64-character hex strings, else of the SHA-256 of the string
    (null: zeros). Rows with equal prefixes are compared in full afterwards, so any string works.
    Temporaries: 32 bytes a row when every value is a 64-character string, else blocks of rows."""
    chunk = chunk.cast(pa.string())
    n = len(chunk)
    out = np.zeros((n, 2), dtype=np.uint64)
    if n == 0:
        return out
    offsets = np.frombuffer(chunk.buffers()[1], np.int32)[chunk.offset : chunk.offset + n + 1]
    data = np.frombuffer(chunk.buffers()[2], np.uint8) if chunk.buffers()[2] is not None else np.empty(0, np.uint8)
    valid = np.asarray(chunk.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    lengths = np.diff(offsets)
    if not chunk.null_count and np.all(lengths == 64):
        blocks = [(np.arange(n), data[offsets[0] : offsets[-1]].reshape(n, 64)[:, :32])]
    else:
        hexed = np.flatnonzero(valid & (lengths == 64))
        blocks = [(rows, data[offsets[rows, None] + np.arange(32)])
                  for rows in np.array_split(hexed, max(1, len(hexed) // _PREFIX_BLOCK))]
    done = np.zeros(n, dtype=bool)
    for rows, text in blocks:
        nibbles = _HEX[text]
        good = nibbles.max(axis=1, initial=0) <= 15
        packed = (nibbles[good, 0::2] << 4) | nibbles[good, 1::2]
        out[rows[good]] = packed.view(">u8").astype(np.uint64)
        done[rows[good]] = True
    for i in np.flatnonzero(valid & ~done).tolist():
        value = chunk[i].as_py().encode("utf-8")
        out[i] = np.frombuffer(hashlib.sha256(value).digest()[:16], ">u8")
    return out


_PREFIX_BLOCK = 1 << 16


def exact_edges(rows: _Rows, eligible: np.ndarray | None, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (sorted by their first row) from each eligible row to the first eligible row with the
    same digest, and which rows are eligible: a digest and a text (``text_null`` false), and for new
    records ``eligible`` (default all), for earlier manifests' a signature.

    Rows are grouped by 128-bit digest prefix in ``count`` hash partitions; the full digests of the
    rows grouped with another are then read in one pass (``gather``) and split any group whose
    prefixes are equal and digests are not."""
    ok = np.zeros(rows.total, dtype=bool)
    parts = Partitions(count, EXACT_DTYPE)

    def add(start: int, table: pa.Table, allowed: np.ndarray | None) -> None:
        digests = table.column("norm_sha256")
        m = len(digests)
        mine = np.asarray(digests.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        if "text_null" in table.column_names:
            mine &= ~np.asarray(pc.fill_null(table.column("text_null"), False).to_numpy(zero_copy_only=False),
                                dtype=bool)
        if allowed is not None:
            mine &= allowed
        ok[start : start + m] = mine
        prefix = np.concatenate([digest_prefixes(c) for c in digests.chunks]) if m else np.empty((0, 2), np.uint64)
        keep = np.flatnonzero(mine)
        block = np.empty(len(keep), dtype=EXACT_DTYPE)
        block["hi"], block["lo"], block["row"] = prefix[keep, 0], prefix[keep, 1], start + keep
        parts.append(block["hi"], block)

    members: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    try:
        for start, table in rows.records.slices(["norm_sha256", "text_null"]):
            add(start, table, None if eligible is None else eligible[start : start + table.num_rows])
        for start, prior in rows.prior_slices():
            add(start, prior, np.asarray(prior.column("minhash").is_valid().to_numpy(zero_copy_only=False), dtype=bool))
        offset = 0
        for block in parts:
            block = block[np.lexsort((block["row"], block["lo"], block["hi"]))]
            group = np.cumsum(group_starts(block["hi"], block["lo"])) - 1
            grouped = np.bincount(group)[group] > 1 if len(group) else np.zeros(0, dtype=bool)
            members.append(block["row"][grouped])
            groups.append(group[grouped] + offset)
            offset += len(group)
    finally:
        parts.close()
    member = np.concatenate(members) if members else np.empty(0, np.int64)
    group = np.concatenate(groups) if groups else np.empty(0, np.int64)
    if not len(member):
        return np.empty(0, np.int64), np.empty(0, np.int64), ok
    # Equal prefixes: the full digests decide (a 128-bit prefix collision splits the group).
    by_row = np.argsort(member, kind="stable")
    codes = np.empty(len(member), dtype=np.int64)
    codes[by_row] = pc.dictionary_encode(rows.strings(member[by_row], "norm_sha256")).indices.to_numpy(
        zero_copy_only=False)
    order = np.lexsort((member, codes, group))
    member, starts = member[order], group_starts(group[order], codes[order])
    first = member[starts][np.cumsum(starts) - 1]
    u, v = member[~starts], first[~starts]
    order = np.argsort(u, kind="stable")
    return u[order], v[order], ok


def group_starts(*keys: np.ndarray) -> np.ndarray:
    """Flags of the rows (in sorted order) that start a run of equal ``keys``."""
    m = len(keys[0])
    starts = np.ones(m, dtype=bool)
    if m > 1:
        same = np.ones(m - 1, dtype=bool)
        for key in keys:
            same &= key[1:] == key[:-1]
        starts[1:] = ~same
    return starts
