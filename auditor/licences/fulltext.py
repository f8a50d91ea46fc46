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
    return np.unique(acc)


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


def identify_full_text(
    text: str, index: FullTextIndex, min_containment: float = MIN_CONTAINMENT
) -> FullTextMatch | None:
    """The reference licence whose text ``text`` contains, or None."""
    hashes = shingle_hashes(text)
    if len(hashes) < MIN_SHINGLES:
        return None
    counts, containment = containment_scores(hashes, index)
    best = int(np.argmax(containment))
    if containment[best] < min_containment:
        return None
    near = np.flatnonzero((containment >= containment[best] - _NEAR_TIE) & (counts > counts[best]))
    if len(near):
        best = int(near[np.argmax(counts[near])])
    return FullTextMatch(index.ids[best], float(containment[best]), int(counts[best]))
