"""Work fingerprints: the hashed windows of each work's normal form, and fingerprint files.

Scheme ``auditor-window64-v1`` (recorded in every fingerprint file; a file with another scheme is
refused): windows and their hashes as described in ``windows``. A work's fingerprint holds the
sorted unique hashes of all its windows and of its *anchor* windows, and its normal-form length;
never its text. An anchor is a token start whose selector bytes ``a, b`` (the first two bytes of
the token; the second and third byte of a 3- or 4-byte character not preceded by a space) give
``(a ^ (b >> 1)) & 3 == 1``. Anchors are part of fingerprint format 1; matching no longer uses them
(``index`` holds every window and records are probed positionally, see ``windows``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from auditor.registry.index import Candidates, WorkIndex
from auditor.registry.models import WorkFingerprint
from auditor.registry.windows import (
    HASH_DESCRIPTION,
    WINDOW_BYTES,
    doc_of,
    sorted_unique,
    str_windows,
    text_buffer,
    text_windows,
    token_starts,
    window_hashes,
)

__all__ = [
    "FORMAT_VERSION", "METADATA_KEY", "PARAMETERS", "SCHEME", "WINDOW_BYTES", "Candidates", "WorkIndex",
    "doc_of", "fingerprint_norms", "fingerprint_table", "read_fingerprints", "sha256_hex", "sorted_unique",
    "str_windows", "text_buffer", "text_windows", "token_starts", "window_hashes", "write_fingerprints",
]

SCHEME = "auditor-window64-v1"
FORMAT_VERSION = 1
METADATA_KEY = b"auditor.fingerprints"
PARAMETERS = {
    "format": FORMAT_VERSION,
    "scheme": SCHEME,
    "window_bytes": WINDOW_BYTES,
    "normal_form": "auditor.stages.normalise.normalise_text (NFKC, casefold, NFKC, collapsed spaces)",
    "anchor_rule": "(a ^ (b >> 1)) & 3 == 1 for selector bytes a, b",
    "hash": HASH_DESCRIPTION,
}


def fingerprint_norms(norms: Sequence[str]) -> list[WorkFingerprint]:
    """Fingerprints of texts already in normal form (vectorised over all of them)."""
    arr = pa.array(list(norms), pa.large_string())
    out_all = _split_unique(*text_windows(arr), len(norms))
    out_anchor = _split_unique(*text_windows(arr, anchors=True), len(norms))
    return [WorkFingerprint(norm_bytes=len(t.encode("utf-8")), windows=w, anchors=a)
            for t, w, a in zip(norms, out_all, out_anchor, strict=True)]


def _split_unique(doc: np.ndarray, _pos: np.ndarray, h: np.ndarray, n: int) -> list[np.ndarray]:
    bounds = np.searchsorted(doc, np.arange(n + 1))
    return [sorted_unique(h[bounds[i]:bounds[i + 1]]) for i in range(n)]


# -- fingerprint files ------------------------------------------------------------------------------

def fingerprint_table(ids: Sequence[str], sha256s: Sequence[str],
                      fingerprints: Sequence[WorkFingerprint]) -> pa.Table:
    list_type = pa.large_list(pa.uint64())
    table = pa.table({
        "work_id": pa.array(list(ids), pa.string()),
        "content_sha256": pa.array(list(sha256s), pa.string()),
        "norm_bytes": pa.array([f.norm_bytes for f in fingerprints], pa.int64()),
        "windows": pa.array([f.windows for f in fingerprints], list_type),
        "anchors": pa.array([f.anchors for f in fingerprints], list_type),
    })
    meta = {METADATA_KEY: json.dumps(PARAMETERS, sort_keys=True).encode("utf-8")}
    return table.replace_schema_metadata(meta)


def write_fingerprints(table: pa.Table, out: Path) -> Path:
    """Write atomically (temp file + rename); deterministic for the same input and pyarrow."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd", write_statistics=False)
    tmp.replace(out)
    return out


def read_fingerprints(path: Path) -> dict[str, tuple[str, WorkFingerprint]]:
    """work_id -> (content sha256, fingerprint); ValueError says what is wrong with the file."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ValueError(f"not a readable Parquet fingerprint file: {exc}") from None
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError("not an auditor fingerprint file (no auditor.fingerprints metadata); "
                         "build one with `auditor registry build`")
    params = json.loads(raw)
    if params.get("scheme") != SCHEME or params.get("format") != FORMAT_VERSION:
        raise ValueError(f"built with scheme {params.get('scheme')!r} format {params.get('format')!r}; "
                         f"this version reads {SCHEME!r} format {FORMAT_VERSION}: rebuild it with "
                         "`auditor registry build`")
    needed = {"work_id", "content_sha256", "norm_bytes", "windows", "anchors"}
    if not needed <= set(table.column_names):
        raise ValueError(f"missing column(s) {sorted(needed - set(table.column_names))}")
    out: dict[str, tuple[str, WorkFingerprint]] = {}
    ids = table.column("work_id").to_pylist()
    shas = table.column("content_sha256").to_pylist()
    sizes = table.column("norm_bytes").to_pylist()
    windows = table.column("windows").combine_chunks()
    anchors = table.column("anchors").combine_chunks()
    for i, wid in enumerate(ids):
        w = windows[i].values.to_numpy(zero_copy_only=False)
        a = anchors[i].values.to_numpy(zero_copy_only=False)
        out[wid] = (shas[i], WorkFingerprint(norm_bytes=sizes[i], windows=w, anchors=a))
    return out


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
