"""Full licence texts in content: hashed word shingles matched against reference licence texts.

A record "contains" a reference licence when most of the reference's distinct word 5-grams occur in
it (containment, not Jaccard: a licence is often embedded in a longer file). Tokens are case-folded
words, so reflowed lines and changed punctuation do not matter; a changed copyright holder only loses
the few shingles that span it. Lookup is vectorised: the record's shingle hashes are searched in the
sorted reference keys (numpy), and hits are counted per reference.

The reference table is built by ``build_reference.py`` from the ScanCode licence texts that the
``licensedcode-data`` package ships; only hashes are stored, no licence text.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np
import xxhash

from auditor.licences.tables import FullTextIndex

SHINGLE_SIZE = 5
# Everything that changes a fingerprint; stored next to the fingerprints and checked at load time.
SHINGLE_PARAMS: dict[str, object] = {
    "version": 1,
    "tokens": "casefolded \\w+ words, 'licence' spelt 'license'",
    "k": SHINGLE_SIZE,
    "token_hash": "xxh3_64",
    "combine": "polynomial mod 2**64, multiplier 1099511628211",
}
_MULTIPLIER = np.uint64(1099511628211)
_WORD = re.compile(r"\w+")
# A record must yield at least this many shingles to be compared (about 25 words).
MIN_SHINGLES = 20
# Share of a reference's shingles a record must contain to count as holding that licence text.
MIN_CONTAINMENT = 0.6
# A larger reference that is nearly as contained wins (BSD-3-Clause holds all of BSD-2-Clause's text).
_NEAR_TIE = 0.03


# ASCII text is tokenised on bytes: upper case to lower case, every byte that is not a word character
# ([A-Za-z0-9_], what ``\w`` means on ASCII) to a space. Same tokens as ``_WORD``, about 6x faster.
_ASCII_WORDS = bytes(
    c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 or c == 95 else 32 for c in range(256)
)


def _words(text: str) -> list[bytes]:
    r"""The UTF-8 encoded, case-folded ``\w+`` words of ``text``, 'licence' spelt 'license'."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORDS).replace(b"licence", b"license").split()
    return [w.encode() for w in _WORD.findall(text.lower().replace("licence", "license"))]


def shingle_hashes(text: str) -> np.ndarray:
    """Distinct uint64 hashes of the word 5-grams of ``text`` (sorted)."""
    words = _words(text)
    if len(words) < SHINGLE_SIZE:
        return np.empty(0, dtype=np.uint64)
    tokens = np.fromiter(map(xxhash.xxh3_64_intdigest, words), dtype=np.uint64, count=len(words))
    n = len(tokens) - SHINGLE_SIZE + 1
    acc = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(SHINGLE_SIZE):
            acc = acc * _MULTIPLIER + tokens[j : j + n]
    return _distinct(acc)


def _distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)``: sorted distinct values (sorting is many times faster than the hash-based
    ``np.unique`` of numpy 2 on these arrays)."""
    ordered = np.sort(values)
    if not len(ordered):
        return ordered
    fresh = np.empty(len(ordered), bool)
    fresh[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=fresh[1:])
    return ordered[fresh]


@dataclass(frozen=True)
class FullTextMatch:
    """A reference licence text found in a record."""

    licence: str
    containment: float  # share of the reference's shingles present in the record
    matched: int  # number of the reference's shingles present


def containment_scores(hashes: np.ndarray, index: FullTextIndex) -> tuple[np.ndarray, np.ndarray]:
    """(matched shingle count, containment) per reference for a record's shingle hashes."""
    n_refs = len(index.ids)
    if len(hashes) == 0 or len(index.keys) == 0:
        return np.zeros(n_refs, dtype=np.int64), np.zeros(n_refs)
    pos = np.searchsorted(index.keys, hashes)
    pos[pos == len(index.keys)] = 0
    hit = pos[index.keys[pos] == hashes]
    starts = index.offsets[hit]
    lengths = index.offsets[hit + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(n_refs, dtype=np.int64), np.zeros(n_refs)
    # Expand the CSR ranges [starts, starts + lengths) without a Python loop.
    run_starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    flat = np.arange(total) - run_starts + np.repeat(starts, lengths)
    counts = np.bincount(index.owners[flat], minlength=n_refs)
    return counts, counts / np.maximum(index.sizes, 1)


_TOP_BITS = 20
_top_bits_of: dict[int, tuple[FullTextIndex, np.ndarray]] = {}


def _top_bits(index: FullTextIndex) -> np.ndarray:
    """Per value of a hash's top ``_TOP_BITS`` bits: does a reference key have it? (Built once per
    index: a shingle whose top bits no key has needs no search.)"""
    cached = _top_bits_of.get(id(index))
    if cached is None or cached[0] is not index:
        table = np.zeros(1 << _TOP_BITS, bool)
        table[index.keys >> np.uint64(64 - _TOP_BITS)] = True
        cached = _top_bits_of[id(index)] = (index, table)
    return cached[1]


def identify_full_text(
    text: str, index: FullTextIndex, min_containment: float = MIN_CONTAINMENT
) -> FullTextMatch | None:
    """The reference licence whose text ``text`` contains, or None."""
    return identify_full_texts([text], index, min_containment)[0]


def identify_full_texts(
    texts: list[str], index: FullTextIndex, min_containment: float = MIN_CONTAINMENT
) -> list[FullTextMatch | None]:
    """``identify_full_text`` of each text, with one vectorised lookup for all of them: the texts'
    shingles are hashed together (a shingle spanning two texts is dropped), looked up, and each
    (text, reference key) hit counted once per reference holding the key."""
    words = [_words(text) for text in texts]
    n, n_refs = len(texts), len(index.ids)
    lengths = np.array([len(w) for w in words], np.int64)
    flat = list(itertools.chain.from_iterable(words))
    shingles = len(flat) - SHINGLE_SIZE + 1
    if shingles <= 0 or n_refs == 0 or not len(index.keys):
        return [None] * n
    tokens = np.fromiter(map(xxhash.xxh3_64_intdigest, flat), dtype=np.uint64, count=len(flat))
    acc = np.zeros(shingles, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(SHINGLE_SIZE):
            acc = acc * _MULTIPLIER + tokens[j : j + shingles]
    owner_text = np.repeat(np.arange(n), lengths)
    inside = np.flatnonzero(owner_text[:shingles] == owner_text[SHINGLE_SIZE - 1 :])
    # Look up the shingles whose top bits some reference key has, then count each (text, reference
    # key) pair once.
    maybe = inside[_top_bits(index)[acc[inside] >> np.uint64(64 - _TOP_BITS)]]
    pos = np.searchsorted(index.keys, acc[maybe])
    pos[pos == len(index.keys)] = 0
    found = index.keys[pos] == acc[maybe]
    pairs = _distinct(owner_text[maybe[found]] * len(index.keys) + pos[found])
    hit_row, hit = np.divmod(pairs, len(index.keys))
    starts = index.offsets[hit]
    spans = index.offsets[hit + 1] - starts
    total = int(spans.sum())
    # Expand the CSR ranges [starts, starts + spans) without a Python loop.
    run_starts = np.repeat(np.cumsum(spans) - spans, spans)
    owners = index.owners[np.arange(total) - run_starts + np.repeat(starts, spans)]
    counts = np.bincount(np.repeat(hit_row, spans) * n_refs + owners, minlength=n * n_refs).reshape(n, n_refs)
    containment = counts / np.maximum(index.sizes, 1)
    rows = np.arange(n)
    best = np.argmax(containment, axis=1)
    best_containment = containment[rows, best]
    # A larger reference that is nearly as contained wins (first such with the most shingles).
    near = (containment >= (best_containment - _NEAR_TIE)[:, None]) & (counts > counts[rows, best][:, None])
    best = np.where(near.any(axis=1), np.argmax(np.where(near, counts, -1), axis=1), best)
    # A text with fewer distinct shingles than MIN_SHINGLES is not compared. It holds at least as many
    # as its best reference has keys in it (``counts`` counts distinct keys), so they are counted only
    # where that is fewer; ``inside`` is ascending, so each text's shingles are one slice of it.
    cut = np.searchsorted(inside, np.concatenate([[0], np.cumsum(lengths)]))
    matches: list[FullTextMatch | None] = [None] * n
    for r in np.flatnonzero(best_containment >= min_containment).tolist():
        b = int(best[r])
        if counts[r, b] >= MIN_SHINGLES or len(_distinct(acc[inside[cut[r] : cut[r + 1]]])) >= MIN_SHINGLES:
            matches[r] = FullTextMatch(index.ids[b], float(containment[r, b]), int(counts[r, b]))
    return matches
