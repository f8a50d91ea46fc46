"""Names shared by the modules of ``auditor.dedup``: column names, metadata keys, the output schema
and small Arrow/numpy helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

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
# cluster_records' result: the records in a cluster, by row index.
CLUSTERED_SCHEMA = pa.schema([pa.field("row", pa.int64(), nullable=False),
                              *(OUTPUT_SCHEMA.field(name) for name in DUP_COLUMNS)])


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


_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_HEX[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
