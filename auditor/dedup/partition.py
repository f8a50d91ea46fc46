"""Hash partitions for clustering a corpus larger than memory.

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

from auditor.dedup._common import _HEX

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
    (null: zeros). Rows with equal prefixes are compared in full afterwards, so any string works."""
    chunk = chunk.cast(pa.string())
    n = len(chunk)
    out = np.zeros((n, 2), dtype=np.uint64)
    if n == 0:
        return out
    offsets = np.frombuffer(chunk.buffers()[1], np.int32)[chunk.offset : chunk.offset + n + 1]
    data = np.frombuffer(chunk.buffers()[2], np.uint8) if chunk.buffers()[2] is not None else np.empty(0, np.uint8)
    valid = np.asarray(chunk.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    hexed = np.flatnonzero(valid & (np.diff(offsets) == 64))
    nibbles = _HEX[data[offsets[hexed, None] + np.arange(32)]] if len(hexed) else np.empty((0, 32), np.uint8)
    good = nibbles.max(axis=1, initial=0) <= 15
    packed = (nibbles[good, 0::2] << 4) | nibbles[good, 1::2]
    out[hexed[good]] = packed.view(">u8").astype(np.uint64)
    other = np.setdiff1d(np.flatnonzero(valid), hexed[good])
    for i in other.tolist():
        value = chunk[i].as_py().encode("utf-8")
        out[i] = np.frombuffer(hashlib.sha256(value).digest()[:16], ">u8")
    return out


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
