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


@dataclass(frozen=True)
class _Lookup:
    """Tables derived once from a ``FullTextIndex`` (``_lookup``): per value of a hash's top
    ``_TOP_BITS`` bits, does a key have it (a shingle whose top bits no key has needs no search); per
    key, its *owner set* (keys are held by a few thousand distinct sets of references); and the
    references of each owner set in CSR form. A text's hits are counted per owner set, then per
    reference: far fewer expansions than one per (hit, reference)."""

    top_bits: np.ndarray
    key_set: np.ndarray
    set_offsets: np.ndarray
    set_members: np.ndarray


# By index object, and by content (each ``ContentScanner`` loads its own copy of the same table).
_lookups: dict[int, tuple[FullTextIndex, _Lookup]] = {}
_lookups_by_content: dict[int, _Lookup] = {}
_MAX_LOOKUPS = 8


def _lookup(index: FullTextIndex) -> _Lookup:
    cached = _lookups.get(id(index))
    if cached is not None and cached[0] is index:
        return cached[1]
    digest = xxhash.xxh3_64()
    for array in (index.keys, index.offsets, index.owners, index.sizes):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\n".join(index.ids).encode())
    fingerprint = digest.intdigest()
    lookup = _lookups_by_content.get(fingerprint)
    if lookup is None:
        lookup = _build_lookup(index)
        if len(_lookups_by_content) >= _MAX_LOOKUPS:
            _lookups_by_content.clear()
        _lookups_by_content[fingerprint] = lookup
    if len(_lookups) >= _MAX_LOOKUPS:
        _lookups.clear()
    _lookups[id(index)] = (index, lookup)
    return lookup


def _build_lookup(index: FullTextIndex) -> _Lookup:
    top_bits = np.zeros(1 << _TOP_BITS, bool)
    top_bits[index.keys >> np.uint64(64 - _TOP_BITS)] = True
    # A key's owners as a bit mask, 8 references a byte: equal masks, equal owner sets.
    n_keys, n_refs = len(index.keys), len(index.ids)
    width = max(1, (n_refs + 7) // 8)
    owners = index.owners.astype(np.int64)
    key_of_owner = np.repeat(np.arange(n_keys), np.diff(index.offsets))
    masks = np.bincount(
        key_of_owner * width + owners // 8,
        weights=np.left_shift(1, owners % 8).astype(np.float64),
        minlength=n_keys * width,
    ).astype(np.uint8)
    rows = masks.reshape(n_keys, width).view(np.dtype((np.void, width))).reshape(-1)
    distinct, key_set = np.unique(rows, return_inverse=True)
    bits = np.unpackbits(distinct.view(np.uint8).reshape(-1, width), axis=1, bitorder="little")[:, :n_refs]
    owner_set, members = np.nonzero(bits)
    set_offsets = np.zeros(len(distinct) + 1, np.int64)
    np.cumsum(np.bincount(owner_set, minlength=len(distinct)), out=set_offsets[1:])
    return _Lookup(top_bits, key_set.reshape(-1).astype(np.int64), set_offsets, members.astype(np.int64))


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
    total_words = int(lengths.sum())
    shingles = total_words - SHINGLE_SIZE + 1
    if shingles <= 0 or n_refs == 0 or not len(index.keys):
        return [None] * n
    tokens = np.fromiter(
        map(xxhash.xxh3_64_intdigest, itertools.chain.from_iterable(words)), dtype=np.uint64, count=total_words
    )
    # Unsigned array arithmetic wraps (mod 2**64) without a warning.
    acc = tokens[:shingles] * _MULTIPLIER + tokens[1 : 1 + shingles]
    for j in range(2, SHINGLE_SIZE):
        acc = acc * _MULTIPLIER + tokens[j : j + shingles]
    owner_text = np.repeat(np.arange(n), lengths)
    inside = np.flatnonzero(owner_text[:shingles] == owner_text[SHINGLE_SIZE - 1 :])
    # Look up the shingles whose top bits some reference key has, then count each (text, reference
    # key) pair once: per owner set of the key, then per reference (``_Lookup``).
    lookup = _lookup(index)
    maybe = inside[lookup.top_bits[acc[inside] >> np.uint64(64 - _TOP_BITS)]]
    probe = acc[maybe]
    pos = np.searchsorted(index.keys, probe)
    pos[pos == len(index.keys)] = 0
    found = index.keys[pos] == probe
    pairs = _distinct(owner_text[maybe[found]] * len(index.keys) + pos[found])
    hit_row, hit = np.divmod(pairs, len(index.keys))
    # A text reaches ``min_containment`` of no reference when its distinct hits fall short of it for
    # the smallest one: only the others are counted per reference.
    hits = np.bincount(hit_row, minlength=n)
    rows = np.flatnonzero(hits / max(int(index.sizes.min()), 1) >= min_containment - 1e-9)
    if not len(rows):
        return [None] * n
    if len(rows) < n:
        keep = np.isin(hit_row, rows)
        hit_row, hit = np.searchsorted(rows, hit_row[keep]), hit[keep]
    n_sets = len(lookup.set_offsets) - 1
    text_set, per_set = np.unique(hit_row * n_sets + lookup.key_set[hit], return_counts=True)
    owner_set = text_set % n_sets
    starts = lookup.set_offsets[owner_set]
    spans = lookup.set_offsets[owner_set + 1] - starts
    # Expand each (text, owner set) to its references (CSR ranges [starts, starts + spans)).
    run_starts = np.repeat(np.cumsum(spans) - spans, spans)
    members = lookup.set_members[np.arange(int(spans.sum())) - run_starts + np.repeat(starts, spans)]
    counts = np.bincount(
        np.repeat(text_set // n_sets, spans) * n_refs + members,
        weights=np.repeat(per_set, spans).astype(np.float64),
        minlength=len(rows) * n_refs,
    )
    counts = counts.astype(np.int64).reshape(len(rows), n_refs)
    containment = counts / np.maximum(index.sizes, 1)
    at = np.arange(len(rows))
    best = np.argmax(containment, axis=1)
    best_containment = containment[at, best]
    # A larger reference that is nearly as contained wins (first such with the most shingles).
    near = (containment >= (best_containment - _NEAR_TIE)[:, None]) & (counts > counts[at, best][:, None])
    best = np.where(near.any(axis=1), np.argmax(np.where(near, counts, -1), axis=1), best)
    cut = np.searchsorted(inside, np.concatenate([[0], np.cumsum(lengths)]))
    matches: list[FullTextMatch | None] = [None] * n
    for k in np.flatnonzero(best_containment >= min_containment).tolist():
        r, b = int(rows[k]), int(best[k])
        if counts[k, b] >= MIN_SHINGLES or len(_distinct(acc[inside[cut[r] : cut[r + 1]]])) >= MIN_SHINGLES:
            matches[r] = FullTextMatch(index.ids[b], float(containment[k, b]), int(counts[k, b]))
    return matches
