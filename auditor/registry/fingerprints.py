"""Work fingerprints and the window index: hashed 32-byte windows of normalised text.

Scheme ``auditor-window64-v1`` (recorded in every fingerprint file; a file with another scheme is
refused):

- the text is put in the normal form of ``auditor.stages.normalise.normalise_text`` (NFKC, case
  folding, whitespace collapsed to single spaces) and encoded as UTF-8;
- a *token start* is the first byte of the text, every byte after a space, and every lead byte of
  a 3- or 4-byte UTF-8 sequence (each CJK, kana or Thai character starts a token: those scripts do
  not separate words by spaces);
- a *window* is the ``WINDOW_BYTES`` (32) bytes from a token start, if they lie inside the text:
  about five English words or ten CJK characters. Its hash is the four little-endian 64-bit words
  combined as ``h = ((w0 * P + w1) * P + w2) * P + w3`` (mod 2**64) then the splitmix64 finaliser;
- an *anchor* is a token start whose selector bytes ``a, b`` (the first two bytes of the token; the
  second and third byte of a 3- or 4-byte character not preceded by a space) give
  ``(a ^ (b >> 1)) & 3 == 1``: a content-defined subset of the starts (16-21% of them in the
  English sample works, 26% in the Chinese one), the same in a record and in a work wherever their
  text is the same.

A work's fingerprint holds the sorted unique hashes of all its windows and of its anchor windows,
and its normal-form length; never its text. The index over all works holds the anchor windows only,
so a batch of records costs a few vectorised passes over its bytes plus one bitmap probe per anchor;
records with enough anchor hits on a work are then compared exactly (``matching``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from auditor.registry.models import WorkFingerprint

WINDOW_BYTES = 32
SCHEME = "auditor-window64-v1"
FORMAT_VERSION = 1
METADATA_KEY = b"auditor.fingerprints"
PARAMETERS = {
    "format": FORMAT_VERSION,
    "scheme": SCHEME,
    "window_bytes": WINDOW_BYTES,
    "normal_form": "auditor.stages.normalise.normalise_text (NFKC, casefold, NFKC, collapsed spaces)",
    "anchor_rule": "(a ^ (b >> 1)) & 3 == 1 for selector bytes a, b",
    "hash": "polynomial P=0x9E3779B97F4A7C15 over 4 little-endian uint64 words + splitmix64 finaliser",
}

_P = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_PAD = WINDOW_BYTES + 8
_EMPTY = np.zeros(0, dtype=np.uint64)


def text_buffer(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bytes padded with zeros, begin, end) of a string array; null texts are empty."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if pa.types.is_string(texts.type):
        width = np.int32
    elif pa.types.is_large_string(texts.type):
        width = np.int64
    else:
        raise TypeError(f"expected a string array, got {texts.type}")
    n = len(texts)
    buffers = texts.buffers()
    if n == 0 or buffers[2] is None:
        return np.zeros(_PAD, dtype=np.uint8), np.zeros(n, np.int64), np.zeros(n, np.int64)
    offsets = np.frombuffer(buffers[1], dtype=width, count=texts.offset + n + 1)[texts.offset:]
    offsets = offsets.astype(np.int64)
    base, top = int(offsets[0]), int(offsets[-1])
    data = np.zeros(top - base + _PAD, dtype=np.uint8)
    data[: top - base] = np.frombuffer(buffers[2], dtype=np.uint8, count=top)[base:]
    begin = offsets[:-1] - base
    end = offsets[1:] - base
    if texts.null_count:
        valid = np.asarray(texts.is_valid())
        end = np.where(valid, end, begin)
    return data, begin, end


def token_starts(data: np.ndarray, begin: np.ndarray, end: np.ndarray, *, anchors: bool) -> np.ndarray:
    """Byte positions of token starts (``anchors``: only anchor starts); unsorted, never repeated."""
    n = int(end.max()) if len(end) else 0
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    body = data[:n]
    # chosen[i]: the selector of the token starting at i + 1 (its first two bytes), which is also
    # the selector of a 3/4-byte character starting at i (its 2nd and 3rd bytes). Elementwise over
    # the buffer: no gather.
    chosen = None
    if anchors:
        chosen = ((data[1 : n + 1] ^ (data[2 : n + 2] >> np.uint8(1))) & np.uint8(3)) == 1
    after_space = body == 0x20
    if chosen is not None:
        after_space &= chosen
    parts = [np.flatnonzero(after_space) + 1]
    if body.max() >= 0xE0:
        high = body >= 0xE0
        high[1:] &= body[:-1] != 0x20  # after a space: already a start
        if chosen is not None:
            high &= chosen
        parts.append(np.flatnonzero(high))
    heads = begin[end > begin]
    if len(heads):
        keep = (data[heads] < 0xE0) & ((heads == 0) | (data[np.maximum(heads - 1, 0)] != 0x20))
        if anchors:
            keep &= ((data[heads] ^ (data[heads + 1] >> np.uint8(1))) & np.uint8(3)) == 1
        parts.append(heads[keep])
    return np.concatenate(parts).astype(np.int64, copy=False)


def window_hashes(data: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Hashes of the ``WINDOW_BYTES`` windows at ``starts`` (``data`` must carry the zero padding)."""
    if len(starts) == 0:
        return _EMPTY
    words = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    h = words[starts].astype(np.uint64)
    for k in range(8, WINDOW_BYTES, 8):
        h = h * _P + words[starts + k]
    h ^= h >> np.uint64(30)
    h *= _M1
    h ^= h >> np.uint64(27)
    h *= _M2
    h ^= h >> np.uint64(31)
    return h


def sorted_unique(values: np.ndarray, *, counts: bool = False
                  ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values (and how often each occurs), by sorting: faster here than np.unique."""
    ordered = np.sort(values)
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    if not counts:
        return ordered[first]
    starts = np.flatnonzero(first)
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def doc_of(begin: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Index of the text each byte position falls in (texts are laid out in order)."""
    return np.searchsorted(begin, positions, side="right") - 1


def text_windows(texts: pa.Array | pa.ChunkedArray, *, anchors: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc, byte position within the doc, hash) of every window that lies inside its text, ordered
    by doc then position."""
    data, begin, end = text_buffer(texts)
    starts = np.sort(token_starts(data, begin, end, anchors=anchors))  # the rules never repeat a start
    doc = doc_of(begin, starts)
    ok = (doc >= 0) & (starts + WINDOW_BYTES <= end[np.maximum(doc, 0)])
    starts, doc = starts[ok], doc[ok]
    return doc, starts - begin[doc], window_hashes(data, starts)


def str_windows(norm: str) -> tuple[np.ndarray, np.ndarray]:
    """(byte position, hash) of every window of one normal-form text."""
    _, pos, h = text_windows(pa.array([norm], pa.large_string()))
    return pos, h


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


@dataclass(frozen=True)
class Candidates:
    """(record, work) pairs of a batch with at least the work's minimum of anchor hits."""

    doc: np.ndarray
    work: np.ndarray
    hits: np.ndarray


class WorkIndex:
    """Anchor windows of all works: a sorted key array with owners, behind a bitmap prefilter."""

    def __init__(self, keys: np.ndarray, owner_ptr: np.ndarray, owners: np.ndarray,
                 min_hits: np.ndarray, log2_bits: int) -> None:
        self.keys = keys
        self.owner_ptr = owner_ptr
        self.owners = owners
        self.min_hits = min_hits
        self.n_works = len(min_hits)
        self._shift = np.uint64(64 - log2_bits)
        self.bits = _bitmap(keys >> self._shift, log2_bits)

    @classmethod
    def build(cls, fingerprints: Sequence[WorkFingerprint], *, max_works_per_window: int = 16,
              prefilter_hits: int = 2) -> WorkIndex:
        """Index anchor windows; a window shared by more than ``max_works_per_window`` works is
        boilerplate and left out of the prefilter (exact comparison still sees it)."""
        n = len(fingerprints)
        sizes = np.array([len(f.anchors) for f in fingerprints], dtype=np.int64)
        allk = np.concatenate([f.anchors for f in fingerprints]) if n else _EMPTY
        own = np.repeat(np.arange(n, dtype=np.int32), sizes)
        order = np.argsort(allk, kind="stable")
        allk, own = allk[order], own[order]
        keys, counts = sorted_unique(allk, counts=True)
        common = counts > max_works_per_window
        if common.any():
            own = own[~np.repeat(common, counts)]
            keys, counts = keys[~common], counts[~common]
        owner_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        min_hits = np.maximum(1, np.minimum(prefilter_hits, sizes // 2)).astype(np.int64)
        log2_bits = int(min(31, max(16, np.ceil(np.log2(max(len(keys), 1) * 64)))))
        return cls(keys, owner_ptr, own, min_hits, log2_bits)

    def candidates(self, norm: pa.Array | pa.ChunkedArray) -> Candidates:
        """Pairs (record, work) whose anchor hits reach the work's minimum; vectorised."""
        empty = Candidates(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
        if self.n_works == 0 or len(self.keys) == 0:
            return empty
        data, begin, end = text_buffer(norm)
        starts = token_starts(data, begin, end, anchors=True)
        h = window_hashes(data, starts)
        bi = h >> self._shift
        probe = (self.bits[bi >> np.uint64(3)] >> (bi & np.uint64(7)).astype(np.uint8)) & 1
        sel = np.flatnonzero(probe)
        if len(sel) == 0:
            return empty
        hk, starts = h[sel], starts[sel]
        loc = np.minimum(np.searchsorted(self.keys, hk), len(self.keys) - 1)
        ok = self.keys[loc] == hk
        loc, starts = loc[ok], starts[ok]
        doc = doc_of(begin, starts)
        ok = (doc >= 0) & (starts + WINDOW_BYTES <= end[np.maximum(doc, 0)])
        loc, starts, doc = loc[ok], starts[ok], doc[ok]
        if len(loc) == 0:
            return empty
        lo, hi = self.owner_ptr[loc], self.owner_ptr[loc + 1]
        reps = hi - lo
        idx = np.repeat(lo - np.concatenate([[0], np.cumsum(reps)[:-1]]), reps) + np.arange(reps.sum())
        works = self.owners[idx].astype(np.int64)
        pair = np.repeat(doc, reps) * self.n_works + works
        pairs, hits = sorted_unique(pair, counts=True)
        pdoc, pwork = pairs // self.n_works, pairs % self.n_works
        keep = hits >= self.min_hits[pwork]
        return Candidates(pdoc[keep], pwork[keep], hits[keep])


def _bitmap(slots: np.ndarray, log2_bits: int) -> np.ndarray:
    bits = np.zeros(1 << (log2_bits - 3), dtype=np.uint8)
    if len(slots):
        slots = np.sort(slots)
        byte = slots >> np.uint64(3)
        val = (np.uint8(1) << (slots & np.uint64(7)).astype(np.uint8)).astype(np.uint8)
        ubyte, first = np.unique(byte, return_index=True)
        bits[ubyte] = np.bitwise_or.reduceat(val, first)
    return bits


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
