"""Names shared by the modules of ``auditor.dedup``: column names, metadata keys, the output schema
and small Arrow/numpy helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.errors import ColumnError

# Row indices (ascending, into the records table) -> their norm_text, None where unavailable.
FetchTexts = Callable[[np.ndarray], Sequence[str | None]]

DEFAULT_SURVIVOR_ORDER = ("licence_rank", "evidence_rank", "crawl_date", "record_id")
# Preference columns that may be absent (then every record ties on them).
OPTIONAL_PREFERENCE_COLUMNS = ("licence_rank", "evidence_rank", "crawl_date")
REQUIRED_COLUMNS = ("record_id", "norm_sha256", "minhash")
SIGNATURE_COLUMNS = ("record_id", "norm_sha256", "minhash", "text_null", *OPTIONAL_PREFERENCE_COLUMNS)
PRIOR_REASON = "prior_manifest"
SIGNATURES_METADATA_KEY = b"auditor.minhash"
DEDUP_METADATA_KEY = b"auditor.dedup"
DUP_COLUMNS = ("dup_cluster", "dup_of", "dup_kind", "dup_reason", "dup_jaccard")
OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("dup_cluster", pa.int64()),
        pa.field("dup_of", pa.string()),
        pa.field("dup_kind", pa.string()),
        pa.field("dup_reason", pa.string()),
        pa.field("dup_jaccard", pa.float32()),
    ]
)


def _strings(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    column = column.cast(pa.string())
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _check_columns(table: pa.Table, what: str, required: Sequence[str] = REQUIRED_COLUMNS) -> None:
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise ColumnError(f"{what} lacks column(s) {missing}; it has {table.column_names}")


def _concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``np.concatenate([np.arange(s, s + k) for s, k in zip(starts, lengths)])``, vectorised."""
    lengths = np.asarray(lengths, dtype=np.int64)
    begins = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, dtype=np.int64) - begins, lengths) + np.arange(int(lengths.sum()))


def _chunked_strings(arrays: Sequence[pa.Array | pa.ChunkedArray]) -> pa.ChunkedArray:
    """The string columns one after the other, as one chunked array (no copy of string data)."""
    chunks = []
    for array in arrays:
        array = array.cast(pa.string())
        chunks.extend(array.chunks if isinstance(array, pa.ChunkedArray) else [array])
    return pa.chunked_array(chunks, pa.string())


_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_HEX[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)


def _hex_prefix(chunk: pa.Array) -> np.ndarray | None:
    """The first 128 bits of each value of a chunk of 64-character hex digests, as (n, 2) uint64;
    None when the chunk holds anything else (nulls, other lengths, non-hex characters)."""
    if chunk.null_count or len(chunk) == 0:
        return None if chunk.null_count else np.empty((0, 2), np.uint64)
    offsets = np.frombuffer(chunk.buffers()[1], np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
    if not np.all(np.diff(offsets) == 64):
        return None
    data = np.frombuffer(chunk.buffers()[2], np.uint8)[offsets[0] : offsets[-1]].reshape(-1, 64)
    nibbles = _HEX[data[:, :32]]
    if nibbles.max(initial=0) > 15:
        return None
    packed = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    return packed.view(">u8").astype(np.uint64)


def _digest_groups(digests: pa.ChunkedArray) -> np.ndarray:
    """An int64 code per row, equal exactly when the digests are equal.

    SHA-256 hex digests are grouped by their first 128 bits (16 bytes a row, no dictionary of the
    strings); the full digests of every row grouped with another are then compared, and any
    difference (a 128-bit prefix collision) falls back to dictionary encoding the strings.
    """
    prefixes = [_hex_prefix(chunk) for chunk in digests.chunks]
    if any(p is None for p in prefixes):
        return _dictionary_codes(digests)
    keys = np.concatenate(prefixes) if prefixes else np.empty((0, 2), np.uint64)
    if len(keys) == 0:
        return np.empty(0, np.int64)
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    ordered = keys[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    codes = np.empty(len(order), dtype=np.int64)
    codes[order] = np.cumsum(starts) - 1
    # The full digests of grouped rows against the first row of their group.
    first = order[starts][codes]
    grouped = np.flatnonzero(first != np.arange(len(codes)))
    if len(grouped):
        same = pc.equal(digests.take(pa.array(grouped)), digests.take(pa.array(first[grouped])))
        if not pc.all(same).as_py():
            return _dictionary_codes(digests)
    return codes


def _dictionary_codes(digests: pa.ChunkedArray) -> np.ndarray:
    encoded = pc.dictionary_encode(digests.combine_chunks() if digests.num_chunks else pa.array([], pa.string()))
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
