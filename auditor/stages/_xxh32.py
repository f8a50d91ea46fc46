"""xxh32 of many byte spans of one buffer at once, vectorised with numpy.

``auditor.stages.minhash`` hashes every shingle of a batch as a (start, length) span of the Arrow
text buffer, so no Python ``bytes`` object is built per shingle. ``xxh32_spans`` equals
``xxhash.xxh32_intdigest`` span by span (a property test compares them).
"""

from __future__ import annotations

import numpy as np

# xxh32 primes (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md)
_P1 = np.uint32(0x9E3779B1)
_P2 = np.uint32(0x85EBCA77)
_P3 = np.uint32(0xC2B2AE3D)
_P4 = np.uint32(0x27D4EB2F)
_P5 = np.uint32(0x165667B1)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _select(take: np.ndarray, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """``np.where(take, new, old)`` as bit arithmetic: ~8x faster than np.where on a random mask (48k values)."""
    bits = take.astype(np.uint32)
    np.negative(bits, out=bits)  # 0 or 0xFFFFFFFF
    new ^= old
    new &= bits
    new ^= old
    return new


def _round(acc: np.ndarray, word: np.ndarray, prime: np.ndarray, r: int, prime2: np.ndarray) -> np.ndarray:
    """xxh32's ``rotl(acc + word * prime, r) * prime2``, reusing ``word`` as the output."""
    word *= prime
    word += acc
    word = _rotl(word, r)
    word *= prime2
    return word


def xxh32_spans(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, seed: int = 0) -> np.ndarray:
    """xxh32 of ``data[s:s + n]`` for every (s, n) in (starts, lengths), vectorised; equals
    ``xxhash.xxh32_intdigest(bytes(data[s:s + n]), seed)``."""
    m = len(starts)
    if m == 0:
        return np.empty(0, dtype=np.uint32)
    size = len(data)
    padded = np.zeros(size + 16, dtype=np.uint32)
    padded[:size] = data
    # words[i] is the little-endian uint32 starting at byte i; an aligned copy gathers ~4x faster
    # than an overlapping strided view. Padding lets reads past a span's end (masked out) stay in range.
    words = padded[:-3] | (padded[1:-2] << 8) | (padded[2:-1] << 16) | (padded[3:] << 24)
    starts = starts.astype(np.int64, copy=False)
    lengths = lengths.astype(np.int64, copy=False)
    mask = 0xFFFFFFFF
    h = np.full(m, (seed + int(_P5)) & mask, dtype=np.uint32)
    stripes = lengths >> 4
    long = np.flatnonzero(stripes)
    if len(long):
        long_stripes = stripes[long]
        pos = starts[long]
        p1, p2 = int(_P1), int(_P2)
        inits = ((seed + p1 + p2) & mask, (seed + p2) & mask, seed, (seed - p1) & mask)
        acc = [
            _round(np.uint32(init), np.take(words, pos + 4 * k), _P2, 13, _P1) for k, init in enumerate(inits)
        ]
        more = np.flatnonzero(long_stripes > 1)
        for j in range(1, int(long_stripes.max())):
            more = more[long_stripes[more] > j]
            at = pos[more] + 16 * j
            for k in range(4):
                acc[k][more] = _round(acc[k][more], np.take(words, at + 4 * k), _P2, 13, _P1)
        h[long] = _rotl(acc[0], 1) + _rotl(acc[1], 7) + _rotl(acc[2], 12) + _rotl(acc[3], 18)
    h += lengths.astype(np.uint32)
    tail = starts + 16 * stripes
    rest = lengths & 15
    for t in range(3):
        new = _round(h, np.take(words, tail + 4 * t), _P3, 17, _P4)
        h = _select(rest >= 4 * (t + 1), new, h)
    tail += 4 * (rest >> 2)
    for t in range(3):
        new = _round(h, np.take(padded, tail + t), _P5, 11, _P1)
        h = _select((rest & 3) > t, new, h)
    h ^= h >> np.uint32(15)
    h *= _P2
    h ^= h >> np.uint32(13)
    h *= _P3
    h ^= h >> np.uint32(16)
    return h
