"""Verification of LSH candidate pairs: the signature Jaccard estimate (``signature_jaccard``) and,
for pairs whose estimate lies near the threshold, the exact Jaccard of their shingle sets
(``pair_jaccard``), the texts being fetched again through ``fetch_texts`` in batches of at most
``FETCH_BATCH`` rows and checked against their ``norm_sha256``. The fetched rows' shingle hashes
are spilled to an unnamed temporary file (``SpilledHashes``, in ``TMPDIR``) and read back one chunk
of pairs at a time: memory holds 8 bytes per fetched row, not 8 bytes per shingle of every one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from auditor.dedup._common import FetchTexts, _concat_ranges
from auditor.errors import InputError, UsageError
from auditor.stages.minhash import MinHashParams, shingle_hash_sets, sort_by_group

# Rows per fetch_texts call.
FETCH_BATCH = 4096
# Candidate pairs verified per chunk (bounds the (chunk, num_perm) comparison arrays).
_VERIFY_CHUNK = 1 << 15
# Shingle hashes compared per chunk of exact verification (bounds the sort arrays, 8 bytes each).
_EXACT_CHUNK = 1 << 19
_EXACT_CHUNK_PAIRS = (1 << 15) - 1  # pair numbers within a chunk fit in int16 (see sort_by_group)


def _verify(
    estimate: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    params: MinHashParams,
    n: int,
    fetch: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]] | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Which candidate pairs (``lo``, ``hi``; their signature Jaccard ``estimate``) are near duplicates,
    and the counts for the summary. Rows >= ``n`` (earlier manifests) have no text to fetch."""
    stats: dict[str, Any] = {"candidate_pairs": len(lo), "verification": "none"}
    if not params.verify:
        return np.ones(len(lo), dtype=bool), stats
    threshold = float(params.threshold)
    keep = estimate >= threshold
    stats["verification"] = "signature"
    if fetch is None:
        return keep, stats
    band = params.exact_band_used()
    in_band = np.abs(estimate - threshold) <= band + 1e-9
    check = np.flatnonzero(in_band & (hi < n))  # lo < hi: both rows are new
    rows = np.unique(np.concatenate([lo[check], hi[check]]))
    hashes, offsets, available = fetch(rows)
    a, b = np.searchsorted(rows, lo[check]), np.searchsorted(rows, hi[check])
    known = available[a] & available[b]
    checked = check[known]
    try:
        verdict = pair_jaccard(hashes, offsets, a[known], b[known]) >= threshold
    finally:
        if isinstance(hashes, SpilledHashes):
            hashes.close()
    changed = int(np.count_nonzero(verdict != keep[checked]))
    keep[checked] = verdict
    stats.update(
        {
            "verification": "signature+exact",
            "exact_band": band,
            "exact_pairs_in_band": int(np.count_nonzero(in_band)),
            "exact_checked": len(checked),
            "exact_changed": changed,
            "exact_skipped_prior": int(np.count_nonzero(in_band & (hi >= n))),
            "exact_skipped_no_text": len(check) - len(checked),
            "exact_rows_fetched": len(rows),
        }
    )
    return keep, stats


class SpilledHashes:
    """uint64 values appended to an unnamed temporary file and read back by ranges (``gather``)."""

    def __init__(self) -> None:
        # Outlives this call: closed by close() once the pairs are verified (deleted on close).
        self._file = tempfile.TemporaryFile(prefix="auditor-shingles-")  # noqa: SIM115
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(values, dtype=np.uint64).tobytes())
        self.size += len(values)

    def gather(self, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The values [starts[i], starts[i] + lengths[i]) for every i, one after the other."""
        self._file.flush()
        fd = self._file.fileno()
        out = np.empty(int(lengths.sum()), dtype=np.uint64)
        at = 0
        for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
            if length:
                out[at : at + length] = np.frombuffer(os.pread(fd, length * 8, start * 8), dtype=np.uint64)
                at += length
        return out

    def close(self) -> None:
        self._file.close()


def _fetch_shingle_sets(
    rows: np.ndarray,
    *,
    fetch_texts: FetchTexts,
    expected: Callable[[np.ndarray], tuple[list[str], list[str]]],
    params: MinHashParams,
) -> tuple[SpilledHashes, np.ndarray, np.ndarray]:
    """The shingle hash sets (hashes, spilled to a temporary file; offsets) of ``rows`` (sorted) and
    which rows had a text. ``expected(rows)``: the norm_sha256 and record_id of the rows."""
    spilled = SpilledHashes()
    sizes = np.zeros(len(rows), dtype=np.int64)
    available = np.zeros(len(rows), dtype=bool)
    all_digests, all_ids = expected(rows)  # once: a source reads its files once for every row
    announce = getattr(fetch_texts, "announce", None)
    if announce is not None:
        announce(rows.copy())  # every row it will be asked for, in order: it may read ahead
    for start in range(0, len(rows), FETCH_BATCH):
        batch = rows[start : start + FETCH_BATCH]
        got = fetch_texts(batch.copy())
        texts = got.to_pylist() if isinstance(got, pa.Array | pa.ChunkedArray) else list(got)
        if len(texts) != len(batch):
            raise UsageError(f"fetch_texts returned {len(texts)} texts for {len(batch)} rows")
        digests, ids = all_digests[start : start + FETCH_BATCH], all_ids[start : start + FETCH_BATCH]
        for k, (text, digest) in enumerate(zip(texts, digests, strict=True)):
            if text is None:
                continue
            if not isinstance(text, str):
                raise UsageError(
                    f"fetch_texts returned {type(text).__name__} for row {batch[k]}, not str or None"
                )
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
                raise InputError(
                    f"fetch_texts returned a text for record {ids[k]} (row {batch[k]}) "
                    "whose SHA-256 is not its norm_sha256: it must return norm_text as the normalise "
                    "stage made it, of the same record"
                )
        hashes, offsets = shingle_hash_sets(pa.array(texts, pa.large_string()), params)
        spilled.append(hashes)
        sizes[start : start + len(batch)] = np.diff(offsets)
        available[start : start + len(batch)] = [t is not None for t in texts]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return spilled, offsets, available


def pair_jaccard(
    hashes: np.ndarray | SpilledHashes, offsets: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Exact Jaccard (float64) of the sets ``a[i]`` and ``b[i]``, where set k is the sorted distinct
    ``hashes[offsets[k]:offsets[k + 1]]`` (as ``shingle_hash_sets`` gives). Two empty sets: 1.0."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    size_a, size_b = offsets[a + 1] - offsets[a], offsets[b + 1] - offsets[b]
    both = size_a + size_b
    ends = np.cumsum(both)
    out = np.empty(len(a), dtype=np.float64)
    lo = 0
    while lo < len(a):
        # A chunk of pairs with about _EXACT_CHUNK hashes in all (at least one pair).
        hi = max(lo + 1, int(np.searchsorted(ends, ends[lo] - both[lo] + _EXACT_CHUNK, side="right")))
        hi = min(hi, lo + _EXACT_CHUNK_PAIRS)
        starts = np.stack([offsets[a[lo:hi]], offsets[b[lo:hi]]], axis=1).ravel()
        lengths = np.stack([size_a[lo:hi], size_b[lo:hi]], axis=1).ravel()
        if isinstance(hashes, SpilledHashes):
            values = hashes.gather(starts, lengths)
        else:
            values = hashes[_concat_ranges(starts, lengths)]
        pair = np.repeat(np.arange(hi - lo, dtype=np.int32), both[lo:hi])
        order = sort_by_group(values, pair)
        values, pair = values[order], pair[order]
        # Each set is distinct, so a value repeated within a pair is in both sets.
        shared = (values[1:] == values[:-1]) & (pair[1:] == pair[:-1])
        inter = np.bincount(pair[1:][shared], minlength=hi - lo)
        union = both[lo:hi] - inter
        out[lo:hi] = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        lo = hi
    return out


def signature_jaccard(sigs: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Jaccard estimates (float64) of the row pairs (u[i], v[i]), as datasketch's ``MinHash.jaccard``."""
    out = np.empty(len(u), dtype=np.float64)
    for lo in range(0, len(u), _VERIFY_CHUNK):
        hi = lo + _VERIFY_CHUNK
        equal = np.count_nonzero(sigs[u[lo:hi]] == sigs[v[lo:hi]], axis=1)
        out[lo:hi] = equal / float(sigs.shape[1])
    return out
