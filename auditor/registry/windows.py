"""Hashed 32-byte windows of normal-form text, and the probe windows a record is looked up by.

Scheme ``auditor-window64-v1`` (``fingerprints`` records it in every fingerprint file):

- the text is put in the normal form of ``auditor.stages.normalise.normalise_text`` (NFKC, case
  folding, whitespace collapsed to single spaces) and encoded as UTF-8;
- a *token start* is the first byte of the text, every byte after a space, and every lead byte of
  a 3- or 4-byte UTF-8 sequence (each CJK, kana or Thai character starts a token: those scripts do
  not separate words by spaces);
- a *window* is the ``WINDOW_BYTES`` (32) bytes from a token start, if they lie inside the text:
  about five English words or ten CJK characters. Its hash is the four little-endian 64-bit words
  combined as ``h = ((w0 * P + w1) * P + w2) * P + w3`` (mod 2**64) then the splitmix64 finaliser.

Probes (``probe_starts``): a record is not hashed at every token start. Its first window is a probe,
and so is, for every grid point ``p = begin + j * PROBE_STRIDE`` (j >= 1), the window at the first
token start in ``[p, p + PROBE_REACH)``. The index holds *every* window of every work, so the
guarantee is positional, whatever the words: a passage of ``L`` bytes of normal form that a record
shares with a work, in which every ``PROBE_REACH`` consecutive bytes hold a token start (no token of
32 bytes or more), contains at least ``floor((L - PROBE_REACH - WINDOW_BYTES + 1) / PROBE_STRIDE)``
probes whose windows lie inside the passage and start at a token start there, hence are windows of
the work (6 for a 500-byte passage). Probes depend on the record alone, never on its batch.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

WINDOW_BYTES = 32
PROBE_STRIDE = 64
PROBE_REACH = 32  # a multiple of 8, <= WINDOW_BYTES and <= PROBE_STRIDE
HASH_DESCRIPTION = "polynomial P=0x9E3779B97F4A7C15 over 4 little-endian uint64 words + splitmix64 finaliser"

_P = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_M1_INVERSE = np.uint64(pow(0xBF58476D1CE4E5B9, -1, 2**64))
_M2_INVERSE = np.uint64(pow(0x94D049BB133111EB, -1, 2**64))
_PAD = WINDOW_BYTES + 8
_EMPTY = np.zeros(0, dtype=np.uint64)
_EMPTY_INT = np.zeros(0, dtype=np.int64)
# SWAR constants: eight bytes at a time.
_SPACES = np.uint64(0x2020202020202020)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_HIGH = np.uint64(0x8080808080808080)
_BYTE_INDEX = np.uint64(0x0001020304050607)  # (1 << 8i) * this >> 56 == i


def text_buffer(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bytes padded with zeros, begin, end) of a string array, copied; null texts are empty."""
    data, begin, end = text_bytes(texts)
    padded = np.zeros(len(data) + _PAD, dtype=np.uint8)
    padded[: len(data)] = data
    return padded, begin, end


def text_bytes(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bytes, begin, end) of a string array without copying its data buffer; null texts are empty.
    No padding: read only inside ``[begin, end)``."""
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
        return np.zeros(0, dtype=np.uint8), np.zeros(n, np.int64), np.zeros(n, np.int64)
    offsets = np.frombuffer(buffers[1], dtype=width, count=texts.offset + n + 1)[texts.offset:]
    offsets = offsets.astype(np.int64)
    base, top = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(buffers[2], dtype=np.uint8, count=top)[base:]
    begin = offsets[:-1] - base
    end = offsets[1:] - base
    if texts.null_count:
        valid = np.asarray(texts.is_valid())
        end = np.where(valid, end, begin)
    return data, begin, end


def token_starts(data: np.ndarray, begin: np.ndarray, end: np.ndarray, *, anchors: bool = False,
                 fitting: bool = False) -> np.ndarray:
    """Byte positions of token starts (``anchors``: only anchor starts, see ``fingerprints``),
    sorted, never repeated (``data`` must carry 2 bytes of padding); ``fitting``: only those whose
    window lies inside a text."""
    n = int(end.max()) if len(end) else 0
    if n == 0:
        return _EMPTY_INT
    body = data[:n]
    # chosen[i]: the selector of the token starting at i + 1 (its first two bytes), which is also
    # the selector of a 3/4-byte character starting at i (its 2nd and 3rd bytes). Elementwise over
    # the buffer: no gather.
    chosen = None
    if anchors:
        chosen = ((data[1 : n + 1] ^ (data[2 : n + 2] >> np.uint8(1))) & np.uint8(3)) == 1
    # One flag per position (a start after the last byte included), read back in order: no sort.
    starts = np.zeros(n + 1, dtype=bool)
    after_space = starts[1:]
    np.equal(body, 0x20, out=after_space)
    if chosen is not None:
        after_space &= chosen
    if body.max() >= 0xE0:
        high = body >= 0xE0
        high[1:] &= body[:-1] != 0x20  # after a space: already a start
        if chosen is not None:
            high &= chosen
        starts[:n] |= high
    heads = begin[end > begin]
    if len(heads):
        keep = (data[heads] < 0xE0) & ((heads == 0) | (data[np.maximum(heads - 1, 0)] != 0x20))
        if anchors:
            keep &= ((data[heads] ^ (data[heads + 1] >> np.uint8(1))) & np.uint8(3)) == 1
        starts[heads[keep]] = True
    if fitting:
        inside = np.zeros(n + 1, dtype=bool)
        for b, e in zip(begin.tolist(), (end - WINDOW_BYTES + 1).tolist(), strict=True):
            if e > b:  # else the text is shorter than a window
                inside[b:e] = True
        starts &= inside
    return np.flatnonzero(starts)


def window_hashes(data: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Hashes of the ``WINDOW_BYTES`` windows at ``starts`` (every window inside ``data``)."""
    return finalise(window_polys(data, starts))


def window_polys(data: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The window hashes before the finaliser, a bijection: ``finalise`` of them is the hash. The
    index keys windows this way (``unfinalise`` of the hashes), so probes skip the finaliser."""
    if len(starts) == 0:
        return _EMPTY
    # One gather of 32 bytes per window, as opaque 32-byte items (a plain copy each: faster than
    # gathering rows of four strided words), then read as four little-endian words.
    windows = np.ndarray(shape=(len(data) - WINDOW_BYTES + 1,), dtype=f"V{WINDOW_BYTES}", buffer=data, strides=(1,))
    w = windows[starts].view("<u8").reshape(-1, WINDOW_BYTES // 8)
    h = w[:, 0] * _P
    h += w[:, 1]
    h *= _P
    h += w[:, 2]
    h *= _P
    h += w[:, 3]
    return h


def finalise(h: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, in place."""
    h ^= h >> np.uint64(30)
    h *= _M1
    h ^= h >> np.uint64(27)
    h *= _M2
    h ^= h >> np.uint64(31)
    return h


def unfinalise(h: np.ndarray) -> np.ndarray:
    """The inverse of ``finalise`` (a new array)."""
    h = h.copy()
    h ^= (h >> np.uint64(31)) ^ (h >> np.uint64(62))
    h *= _M2_INVERSE
    h ^= (h >> np.uint64(27)) ^ (h >> np.uint64(54))
    h *= _M1_INVERSE
    h ^= (h >> np.uint64(30)) ^ (h >> np.uint64(60))
    return h


def sorted_unique(values: np.ndarray, *, counts: bool = False
                  ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values (and how often each occurs), by sorting: faster here than np.unique."""
    return run_lengths(np.sort(values), counts=counts)


def run_lengths(ordered: np.ndarray, *, counts: bool = False
                ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array (and the length of each run)."""
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
    """(doc, byte position within the doc, hash) of every window (``anchors``: every anchor window)
    that lies inside its text, ordered by doc then position."""
    return buffer_windows(*text_buffer(texts), anchors=anchors)


def buffer_windows(data: np.ndarray, begin: np.ndarray, end: np.ndarray, *, anchors: bool = False
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``text_windows`` of texts laid out in a padded buffer (``text_buffer``, ``rows_buffer``)."""
    starts = token_starts(data, begin, end, anchors=anchors, fitting=True)
    # doc_of(begin, starts), from the sorted starts (each inside its text).
    bounds = np.append(np.searchsorted(starts, begin), len(starts))
    doc = np.repeat(np.arange(len(begin), dtype=np.int64), np.diff(bounds))
    return doc, starts - begin[doc], window_hashes(data, starts)


def rows_buffer(data: np.ndarray, begin: np.ndarray, end: np.ndarray, rows: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bytes padded with zeros, begin, end) of the texts ``rows`` of a buffer, copied in order."""
    lengths = end[rows] - begin[rows]
    new_end = np.cumsum(lengths)
    out = np.zeros(int(new_end[-1]) + _PAD if len(rows) else _PAD, dtype=np.uint8)
    if len(rows):
        out[: int(new_end[-1])] = np.concatenate([data[b:e] for b, e in zip(begin[rows].tolist(),
                                                                            end[rows].tolist(), strict=True)])
    return out, new_end - lengths, new_end


def str_windows(norm: str) -> tuple[np.ndarray, np.ndarray]:
    """(byte position, hash) of every window of one normal-form text."""
    _, pos, h = text_windows(pa.array([norm], pa.large_string()))
    return pos, h


def has_cjk_bytes(data: np.ndarray) -> bool:
    """Whether ``data`` holds a lead byte of a 3- or 4-byte UTF-8 sequence (>= 0xE0)."""
    return len(data) > 0 and int(data.max()) >= 0xE0


def probe_starts(data: np.ndarray, begin: np.ndarray, end: np.ndarray, *, stride: int = PROBE_STRIDE,
                 reach: int = PROBE_REACH, phase: int | None = None, head: bool = True, cjk: bool | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(doc, absolute byte position) of the probe windows of every text: ``probe_grid`` without
    the probes that found no token start."""
    counts, starts, dropped = probe_grid(data, begin, end, stride=stride, reach=reach, phase=phase, head=head,
                                         cjk=cjk)
    doc = np.repeat(np.arange(len(begin), dtype=np.int64), counts)
    if len(dropped):
        keep = np.ones(len(starts), dtype=bool)
        keep[dropped] = False
        return doc[keep], starts[keep]
    return doc, starts


def probe_grid(data: np.ndarray, begin: np.ndarray, end: np.ndarray, *, stride: int = PROBE_STRIDE,
               reach: int = PROBE_REACH, phase: int | None = None, head: bool = True, cjk: bool | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probes per text, absolute byte position of each, indices of the probes that found no token
    start within reach) of the probe windows of every text, ordered by text then position; every
    probe window lies inside its text (a dropped probe's too, but its position means nothing). The grid points are ``begin + phase +
    j * stride`` (j >= 0; ``phase`` defaults to ``stride``), each snapped to a token start within
    ``reach``, and kept while any such window would fit; ``head`` adds the text's first window.
    ``cjk``: ``has_cjk_bytes(data)`` if the caller knows it (else computed here); a true value is
    always correct, a false one only when no such byte is read."""
    phase = stride if phase is None else phase
    if reach % 8 or not 0 < reach <= min(stride, WINDOW_BYTES) or not 0 < phase <= stride:
        raise ValueError(f"reach must be a positive multiple of 8, at most {WINDOW_BYTES} and at most the "
                         f"stride, and phase in (0, stride]; got reach {reach}, stride {stride}, phase {phase}")
    length = end - begin
    heads = (length >= WINDOW_BYTES) if head else np.zeros(len(begin), dtype=bool)
    counts = np.maximum(length - reach - WINDOW_BYTES + 1 - phase + stride, 0) // stride + heads
    total = int(counts.sum())
    if total == 0:
        return counts, _EMPTY_INT, _EMPTY_INT
    first = np.cumsum(counts) - counts
    p = np.arange(total, dtype=np.int64)
    p *= stride
    p += np.repeat(begin + phase - (first + heads) * stride, counts)
    head_at = first[heads]
    # Snap, eight bytes at a time: byte i of ``before`` is at + i - 1 (a space there starts a token
    # at at + i), byte i of ``x`` is at + i (a lead byte >= 0xE0 starts one there). Reads stay in
    # [p - 1, p + reach), inside the text but for step 0, whose result is not used.
    if cjk is None:
        cjk = has_cjk_bytes(data)
    words = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    q = p
    todo = None  # first pass: every probe
    for off in range(0, reach, 8):
        at = p + off if todo is None else p[todo] + off
        mask = _token_start_bytes(words, at, cjk)
        missing = mask == 0
        # The lowest marked byte: isolate its bit, then its byte index from one multiplication.
        mask &= np.negative(mask)
        mask >>= np.uint64(7)
        mask *= _BYTE_INDEX
        mask >>= np.uint64(56)
        at += mask.view(np.int64)
        if todo is None:
            q = at
            missing[head_at] = False
            todo = np.flatnonzero(missing)
        else:
            q[todo] = at
            todo = todo[missing]
        if len(todo) == 0:
            break
    q[head_at] = begin[heads]
    return counts, q, todo  # todo: no token start within reach


def _token_start_bytes(words: np.ndarray, at: np.ndarray, cjk: bool) -> np.ndarray:
    """Per position in ``at``, the high bit of byte i set when at + i is a token start (after a
    space; or, with ``cjk``, a lead byte >= 0xE0), for i in 0..7."""
    before = words[at - 1]
    before ^= _SPACES  # spaces become zero bytes
    mask = before & _LOW7
    mask += _LOW7
    mask |= before
    mask |= _LOW7
    np.invert(mask, out=mask)  # the high bit of each zero byte
    if cjk:
        x = words[at]
        mask |= x & (x << np.uint64(1)) & (x << np.uint64(2)) & _HIGH
    return mask
