"""Exact comparison of records with the works their probes hit: kinds, scores and spans.

All candidate pairs (record, work) of a batch are compared at once (``compare_pairs``): the windows
of each candidate record's normal form (see ``windows``) are hashed in one pass, sorted once per
record and searched in each candidate work's own sorted windows (``WorkIndex.work_windows``, all of
them, boilerplate included); the windows found are then taken in order of position, for all pairs
at once:

- matched windows are merged into spans when they overlap or are at most ``gap_bytes`` apart (one
  changed word does not break a quotation); spans shorter than ``min_span_bytes`` are dropped (a
  shared common phrase makes one or two isolated windows);
- ``work-near-duplicate``: the Jaccard resemblance of the record's and the work's window sets (the
  quantity MinHash estimates, here computed exactly from the sets) is at least
  ``near_duplicate``; score = that resemblance;
- ``work-excerpt``: otherwise, one span covers at least ``min_excerpt_bytes`` of the normal form
  (500 bytes, about 85 English words or 165 CJK characters: a passage, not a one-sentence
  citation; or 80% of a shorter work); score = share of the record's windows that lie in the kept
  spans (several passages add up). Common phrases shared by chance make short, scattered spans and
  never qualify.

Spans are reported as character (code point) offsets into the raw record text, end exclusive. Only
matched records are mapped back to their raw text, piece by piece (each run of non-space
characters, normalised on its own, see ``map_normal_form``): the ASCII records whose ``norm_text``
has the length of that piecewise normal form all at once, over their bytes (``_AsciiPieces``: a
piece of ASCII text keeps its length); any other record by itself, and if its piecewise normal
form differs from its ``norm_text``, the record is compared again on it so that the offsets are
exact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa

from auditor.registry.index import DEFAULT_QUALIFY_BYTES, DEFAULT_SHORT_WORK_SHARE, Candidates, WorkIndex
from auditor.registry.windows import (
    WINDOW_BYTES,
    buffer_windows,
    rows_buffer,
    run_lengths,
    sorted_unique,
    text_bytes,
)
from auditor.stages.normalise import normalise_text

_NON_SPACE = re.compile(r"\S+")


@dataclass(frozen=True)
class MatchParams:
    near_duplicate: float = 0.5
    min_excerpt_bytes: int = DEFAULT_QUALIFY_BYTES
    min_span_bytes: int = 64
    gap_bytes: int = WINDOW_BYTES
    short_work_share: float = DEFAULT_SHORT_WORK_SHARE

    def __post_init__(self) -> None:
        if not 0.0 < self.near_duplicate <= 1.0:
            raise ValueError(f"near_duplicate must be in (0, 1], got {self.near_duplicate}")
        for name in ("min_excerpt_bytes", "min_span_bytes", "gap_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 < self.short_work_share <= 1.0:
            raise ValueError(f"short_work_share must be in (0, 1], got {self.short_work_share}")


@dataclass(frozen=True)
class WorkMatch:
    work: int  # index into Registries.works
    kind: str  # work-excerpt | work-near-duplicate
    score: float
    spans: tuple[tuple[int, int], ...]  # raw-text character offsets


@dataclass(frozen=True)
class PairMatch:
    """A qualifying (record, work) pair, spans as normal-form byte offsets."""

    doc: int
    work: int
    kind: str
    score: float
    starts: np.ndarray
    ends: np.ndarray


@dataclass(frozen=True)
class MappedText:
    """A normal form built piece by piece, with the way back to raw character offsets."""

    norm: str
    norm_starts: np.ndarray  # char offset of each piece in ``norm``
    norm_ends: np.ndarray
    raw_starts: np.ndarray  # char offsets of the same piece in the raw text
    raw_ends: np.ndarray

    def raw_offset(self, norm_char: int, *, end: bool) -> int:
        """Raw offset of a normal-form char offset (``end``: an exclusive end offset)."""
        if len(self.norm_starts) == 0:
            return 0
        probe = norm_char - 1 if end else norm_char
        i = max(0, int(np.searchsorted(self.norm_starts, probe, side="right")) - 1)
        ns, ne = int(self.norm_starts[i]), int(self.norm_ends[i])
        rs, re_ = int(self.raw_starts[i]), int(self.raw_ends[i])
        if ne - ns == re_ - rs:  # same length: the mapping inside the piece is exact
            return min(max(rs + (norm_char - ns), rs), re_)
        return re_ if end else rs


# The characters str.split() treats as whitespace in ASCII text.
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20]] = True


def _not_ascii_space(data: np.ndarray) -> np.ndarray:
    """Per byte, not one of ``_ASCII_SPACE`` (comparisons: faster than a table lookup)."""
    space = data == 0x20
    space |= (data - np.uint8(0x09)) <= 4  # \t \n \v \f \r (uint8 arithmetic wraps below)
    space |= (data - np.uint8(0x1C)) <= 3  # the separators 0x1C-0x1F
    return ~space


def _spaced_out(data: np.ndarray, begin: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bytes, begin, end) of texts copied end to end with a space before, between and after
    them (nothing else: no bytes of null rows)."""
    lengths = end - begin
    new_begin = np.cumsum(lengths + 1) - lengths
    out = np.full(int(new_begin[-1] + lengths[-1]) + 1 if len(lengths) else 1, 0x20, dtype=np.uint8)
    for b, e, at in zip(begin.tolist(), end.tolist(), new_begin.tolist(), strict=True):
        out[at:at + e - b] = data[b:e]
    return out, new_begin, new_begin + lengths


def _ascii_rows(data: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per text laid out end to end in ``data`` (no gaps), whether all its bytes are ASCII."""
    out = np.ones(len(begin), dtype=bool)
    filled = np.flatnonzero(end > begin)
    if len(filled):
        out[filled] = np.maximum.reduceat(data[: int(end[filled[-1]])], begin[filled]) < 0x80
    return out


def map_normal_form(text: str, norm: str | None = None) -> MappedText:
    """The normal form of ``text`` (as ``normalise_text``, applied to each run of non-space
    characters) with the raw offsets of every run. ``norm``: the normal form if already known (used
    for ASCII text when its length agrees)."""
    if text.isascii():
        raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        word = ~_ASCII_SPACE[raw]
        edges = np.diff(np.concatenate(([False], word, [False])).astype(np.int8))
        rs, rend = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        lengths = rend - rs
        ns = (np.cumsum(lengths + 1) - (lengths + 1)).astype(np.int64)  # no piece: none (all spaces)
        size = int(ns[-1] + lengths[-1]) if len(ns) else 0
        if norm is None or len(norm) != size or not norm.isascii():
            norm = " ".join(text.lower().split())
        return MappedText(norm, ns, ns + lengths, rs, rend)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    raw_s: list[int] = []
    raw_e: list[int] = []
    pos = 0
    for m in _NON_SPACE.finditer(text):
        chunk = m.group()
        norm = chunk.lower() if chunk.isascii() else normalise_text(chunk)
        if not norm:
            continue
        if pieces:
            pos += 1
        pieces.append(norm)
        starts.append(pos)
        pos += len(norm)
        ends.append(pos)
        raw_s.append(m.start())
        raw_e.append(m.end())
    return MappedText(" ".join(pieces), *(np.array(a, dtype=np.int64) for a in (starts, ends, raw_s, raw_e)))


def _run_starts(sorted_values: np.ndarray) -> np.ndarray:
    first = np.ones(len(sorted_values), dtype=bool)
    first[1:] = sorted_values[1:] != sorted_values[:-1]
    return first


def compare_pairs(norm: pa.Array | pa.ChunkedArray, docs: np.ndarray, works: np.ndarray, index: WorkIndex,
                  params: MatchParams) -> list[PairMatch]:
    """Compare each pair (``norm[docs[i]]``, work ``works[i]``) exactly; return those that qualify,
    ordered by doc then work. One sorted search per pair, the rest vectorised over all pairs."""
    pairs = _compare(norm, docs, works, index, params)
    kinds = pairs.kinds()
    return [PairMatch(doc=d, work=w, kind=k, score=sc, starts=pairs.starts[a:b], ends=pairs.ends[a:b])
            for d, w, k, sc, a, b in zip(pairs.doc.tolist(), pairs.work.tolist(), kinds, pairs.score.tolist(),
                                         pairs.span_ptr[:-1].tolist(), pairs.span_ptr[1:].tolist(), strict=True)]


@dataclass(frozen=True)
class BatchMatches:
    """Qualifying (record, work) pairs of a batch, columnar and ordered by record then work: match
    ``i`` has spans ``starts[span_ptr[i]:span_ptr[i + 1]]`` (and ``ends``), as normal-form byte
    offsets (``_compare``) or raw-text character offsets (``match_columns``)."""

    doc: np.ndarray  # int64 row of the batch
    work: np.ndarray  # int64 index into the index's works
    near: np.ndarray  # bool: work-near-duplicate, else work-excerpt
    score: np.ndarray  # float64, rounded to 6 decimal places
    span_ptr: np.ndarray  # int64, len(doc) + 1
    starts: np.ndarray  # int64
    ends: np.ndarray  # int64

    @classmethod
    def empty(cls) -> BatchMatches:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, np.zeros(0, dtype=bool), np.zeros(0), np.zeros(1, dtype=np.int64), none, none)

    def kinds(self) -> list[str]:
        return ["work-near-duplicate" if n else "work-excerpt" for n in self.near.tolist()]

    def take(self, order: np.ndarray) -> BatchMatches:
        """The matches ``order`` (indices), in that order, with their spans."""
        counts = np.diff(self.span_ptr)[order]
        spans = concat_ranges(self.span_ptr[:-1][order], counts)
        ptr = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        return BatchMatches(self.doc[order], self.work[order], self.near[order], self.score[order], ptr,
                            self.starts[spans], self.ends[spans])

    @classmethod
    def concat(cls, parts: Sequence[BatchMatches]) -> BatchMatches:
        """All matches of ``parts`` (spans included), ordered by record, stably."""
        if not parts:
            return cls.empty()
        counts = np.concatenate([np.diff(p.span_ptr) for p in parts])
        ptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        joined = cls(*(np.concatenate([getattr(p, name) for p in parts])
                       for name in ("doc", "work", "near", "score")), ptr,
                     np.concatenate([p.starts for p in parts]), np.concatenate([p.ends for p in parts]))
        return joined.take(np.argsort(joined.doc, kind="stable"))

    def by_row(self) -> dict[int, list[WorkMatch]]:
        """The matches as ``WorkMatch`` objects by row (spans as they are stored)."""
        found: dict[int, list[WorkMatch]] = {}
        starts, ends = self.starts.tolist(), self.ends.tolist()
        for d, w, k, sc, a, b in zip(self.doc.tolist(), self.work.tolist(), self.kinds(), self.score.tolist(),
                                     self.span_ptr[:-1].tolist(), self.span_ptr[1:].tolist(), strict=True):
            found.setdefault(d, []).append(WorkMatch(work=w, kind=k, score=sc,
                                                     spans=tuple(zip(starts[a:b], ends[a:b], strict=True))))
        return found


def concat_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``starts[i] + arange(counts[i])`` for every i, concatenated (int64)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    out = np.arange(total, dtype=np.int64)
    if total:
        out += np.repeat(np.asarray(starts, dtype=np.int64) - (np.cumsum(counts) - counts), counts)
    return out


def _hash_order(hashes: np.ndarray, doc: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, hashes[order]) with the hashes of each text (``doc``, ascending) in ascending order
    of their top bits, the texts in turn: one sort of the hashes with their text above and their
    index below (several times faster than an argsort per text). Hashes of a text that agree on
    the top bits may stay out of order, which only slows their search."""
    doc_bits = max(1, (n_docs - 1).bit_length())
    low = max(1, (len(hashes) - 1).bit_length())
    mask = np.uint64((1 << low) - 1)
    keyed = hashes >> np.uint64(doc_bits)
    keyed &= ~mask
    keyed |= np.arange(len(hashes), dtype=np.uint64)
    keyed |= doc.astype(np.uint64) << np.uint64(64 - doc_bits)
    keyed.sort()
    keyed &= mask
    order = keyed.view(np.int64)
    return order, hashes[order]


def _compare(norm: pa.Array | pa.ChunkedArray, docs: np.ndarray, works: np.ndarray, index: WorkIndex,
             params: MatchParams) -> BatchMatches:
    """``compare_pairs``, columnar: spans as normal-form byte offsets."""
    if len(docs) == 0:
        return BatchMatches.empty()
    udocs, inv = np.unique(np.asarray(docs, dtype=np.int64), return_inverse=True)
    cdoc, pos, h = buffer_windows(*rows_buffer(*text_bytes(norm), udocs))
    if len(h) == 0:
        return BatchMatches.empty()
    nw = index.n_works
    n_win = np.bincount(cdoc, minlength=len(udocs))
    bounds = np.searchsorted(cdoc, np.arange(len(udocs) + 1))
    # The windows of each pair's record found in its work, ordered by pair then position: one
    # search of the record's sorted hashes in the work's sorted windows per pair.
    found_idx: list[np.ndarray] = []
    found_code: list[int] = []
    found_len: list[int] = []
    order_all, ordered_all = _hash_order(h, cdoc, len(udocs))
    edges = bounds.tolist()
    for d, w in sorted(set(zip(inv.tolist(), np.asarray(works).tolist(), strict=True))):
        order, ordered = order_all[edges[d]:edges[d + 1]], ordered_all[edges[d]:edges[d + 1]]
        windows = index.work_windows[w]
        if len(ordered) == 0 or len(windows) == 0:
            continue
        at = np.searchsorted(windows, ordered)
        np.minimum(at, len(windows) - 1, out=at)
        hit = order[windows[at] == ordered]
        if len(hit):
            hit.sort()
            found_idx.append(hit)
            found_code.append(d * nw + w)
            found_len.append(len(hit))
    if not found_idx:
        return BatchMatches.empty()
    widx = np.concatenate(found_idx)
    code = np.repeat(np.array(found_code, dtype=np.int64), found_len)
    p = pos[widx]
    new_pair = _run_starts(code)
    pair_first = np.flatnonzero(new_pair)
    pcode = code[pair_first]
    pdoc, pwork = pcode // nw, pcode % nw
    # Spans: runs of matched windows less than WINDOW_BYTES + gap_bytes apart.
    new_span = new_pair.copy()
    new_span[1:] |= (p[1:] - p[:-1]) > WINDOW_BYTES + params.gap_bytes
    span_first = np.flatnonzero(new_span)
    span_last = np.append(span_first[1:], len(p)) - 1
    s_start, s_end = p[span_first], p[span_last] + WINDOW_BYTES
    s_pair = np.cumsum(new_pair)[span_first] - 1
    qualify = np.minimum(params.min_excerpt_bytes, params.short_work_share * index.norm_bytes[pwork])
    s_len = s_end - s_start
    s_keep = s_len >= np.minimum(params.min_span_bytes, qualify)[s_pair]
    pair_spans = np.flatnonzero(_run_starts(s_pair))
    longest = np.maximum.reduceat(np.where(s_keep, s_len, -1), pair_spans)
    inside = np.add.reduceat(np.where(s_keep, span_last - span_first + 1, 0), pair_spans)
    records, wins = n_win[pdoc], index.window_counts[pwork]
    # Resemblance can reach the threshold only if the set sizes are close enough; only then is it
    # computed: |record windows & work windows| / |record windows | work windows|, distinct.
    gate = np.minimum(records, wins) >= params.near_duplicate * np.maximum(records, wins) * 0.5
    jaccard = np.zeros(len(pcode))
    if gate.any():
        hits_of = np.split(h[widx], pair_first[1:])
        for i in np.flatnonzero(gate).tolist():
            d = int(pdoc[i])
            distinct = len(sorted_unique(h[bounds[d]:bounds[d + 1]]))
            inter = len(sorted_unique(hits_of[i]))
            jaccard[i] = inter / (distinct + int(wins[i]) - inter)
    near = jaccard >= params.near_duplicate
    excerpt = ~near & (longest >= qualify)
    score = np.where(near, jaccard, inside / np.maximum(records, 1))
    chosen = near | excerpt
    keep = s_keep & chosen[s_pair]
    sel = np.flatnonzero(chosen)
    ptr = np.zeros(len(sel) + 1, dtype=np.int64)
    np.cumsum(np.bincount(s_pair[keep], minlength=len(chosen))[sel], out=ptr[1:])
    return BatchMatches(doc=udocs[pdoc[sel]], work=pwork[sel], near=near[sel],
                        score=np.array([round(x, 6) for x in score[sel].tolist()], dtype=np.float64),
                        span_ptr=ptr, starts=s_start[keep], ends=s_end[keep])


def match_batch(texts: pa.Array | pa.ChunkedArray, norm: pa.Array | pa.ChunkedArray, cands: Candidates,
                index: WorkIndex, params: MatchParams) -> dict[int, list[WorkMatch]]:
    """Matches of the candidate pairs of a batch, by row, with raw-text spans."""
    return match_columns(texts, norm, cands, index, params).by_row()


def match_columns(texts: pa.Array | pa.ChunkedArray, norm: pa.Array | pa.ChunkedArray, cands: Candidates,
                  index: WorkIndex, params: MatchParams) -> BatchMatches:
    """``match_batch``, columnar, spans as raw-text character offsets. A record with an empty or
    null text has no match. A record whose text is ASCII and whose ``norm_text`` has the length of
    its piecewise normal form (``map_normal_form``, which then takes ``norm_text`` as it is) is
    mapped back with all such records at once (``_AsciiPieces``); any other one by itself."""
    if len(cands.doc) == 0:
        return BatchMatches.empty()
    pairs = _compare(norm, cands.doc, cands.work, index, params)
    if len(pairs.doc) == 0:
        return pairs
    rows = run_lengths(pairs.doc)
    taken = pa.array(rows, pa.int64())
    raw_texts, known = texts.take(taken), norm.take(taken)
    pieces = _AsciiPieces.of(raw_texts, known)
    row_of = np.searchsorted(rows, pairs.doc)
    fast = pieces.usable[row_of]
    if fast.all():  # the usual case: no record to map one by one
        return pieces.raw_spans(pairs, row_of)
    parts = [pieces.raw_spans(pairs.take(np.flatnonzero(fast)), row_of[fast])] if fast.any() else []
    others = np.flatnonzero(~pieces.usable & pieces.has_text)
    if len(others):
        picked = pa.array(others, pa.int64())
        for r, text, norm_text in zip(others.tolist(), raw_texts.take(picked).to_pylist(),
                                      known.take(picked).to_pylist(), strict=True):
            parts.append(_match_one(int(rows[r]), text, norm_text, pairs, cands, index, params))
    return BatchMatches.concat(parts)


def _match_one(doc: int, text: str, known: str, pairs: BatchMatches, cands: Candidates, index: WorkIndex,
               params: MatchParams) -> BatchMatches:
    """The matches of one record with raw-text spans, through ``map_normal_form``."""
    mapped = map_normal_form(text, known)
    if mapped.norm != known:  # compare on the piecewise normal form the offsets refer to
        works = cands.work[cands.doc == doc]
        own = _compare(pa.array([mapped.norm], pa.large_string()), np.zeros(len(works), np.int64), works,
                       index, params)
    else:
        own = pairs.take(np.flatnonzero(pairs.doc == doc))
    spans = [_raw_spans(mapped, own.starts[a:b], own.ends[a:b])
             for a, b in zip(own.span_ptr[:-1].tolist(), own.span_ptr[1:].tolist(), strict=True)]
    flat = [offset for per_match in spans for span in per_match for offset in span]
    ends = np.array(flat, dtype=np.int64).reshape(-1, 2)
    return BatchMatches(np.full(len(own.doc), doc, dtype=np.int64), own.work, own.near, own.score, own.span_ptr,
                        ends[:, 0].copy(), ends[:, 1].copy())


@dataclass(frozen=True)
class _AsciiPieces:
    """The runs of non-space characters of a few ASCII texts laid out end to end (``map_normal_form``
    for all of them at once): piece ``k`` is raw bytes ``[raw_start[k], raw_end[k])`` of the layout;
    ``before[k]`` is the normal-form length of all the pieces before it, each with its space, so
    that record ``r``'s pieces are ``first[r]:first[r + 1]`` and its normal form starts at
    ``before[first[r]]``. ``usable`` marks the records whose ``norm_text`` has the piecewise length."""

    has_text: np.ndarray
    usable: np.ndarray
    begin: np.ndarray
    raw_start: np.ndarray
    raw_end: np.ndarray
    before: np.ndarray
    first: np.ndarray
    norm_len: np.ndarray

    @classmethod
    def of(cls, texts: pa.Array | pa.ChunkedArray, norm: pa.Array | pa.ChunkedArray) -> _AsciiPieces:
        data, begin, end = _spaced_out(*text_bytes(texts))
        word = _not_ascii_space(data)
        # The layout starts and ends with a space and has one between texts: the edges of the
        # runs of word bytes alternate, a piece's start then its end.
        edges = np.flatnonzero(word[1:] != word[:-1])
        edges += 1
        raw_start, raw_end = edges[0::2], edges[1::2]
        first = np.searchsorted(raw_start, np.append(begin, len(data)))
        width = np.zeros(len(raw_start) + 1, dtype=np.int64)
        np.cumsum(raw_end - raw_start + 1, out=width[1:])  # piece lengths, one space each
        counts = np.diff(first)
        size = width[first[1:]] - width[first[:-1]] - (counts > 0)  # no space after the last piece
        norm_data, norm_begin, norm_end = text_bytes(norm)
        if not np.array_equal(norm_begin[1:], norm_end[:-1]):  # not end to end (bytes of null rows)
            norm_data, norm_begin, norm_end = rows_buffer(norm_data, norm_begin, norm_end, np.arange(len(norm)))
        norm_len = norm_end - norm_begin
        has_text = end > begin
        usable = has_text & (size == norm_len) & (counts > 0)
        usable &= _ascii_rows(data, begin, end + 1) & _ascii_rows(norm_data, norm_begin, norm_end)
        return cls(has_text, usable, begin, raw_start, raw_end, width[:-1], first, norm_len)

    def raw_spans(self, matches: BatchMatches, rows: np.ndarray) -> BatchMatches:
        """``matches`` (of the usable records ``rows``) with spans as raw character offsets, as
        ``MappedText.raw_offset`` gives them (ASCII: a byte is a character)."""
        span_row = np.repeat(rows, np.diff(matches.span_ptr))
        ends = np.minimum(matches.ends, self.norm_len[span_row])
        return replace(matches, starts=self._raw_offset(span_row, matches.starts, end=False),
                       ends=self._raw_offset(span_row, ends, end=True))

    def _raw_offset(self, row: np.ndarray, norm_char: np.ndarray, *, end: bool) -> np.ndarray:
        if len(row) == 0:
            return norm_char.astype(np.int64)
        origin = self.before[self.first[row]]  # where the record's normal form starts
        probe = norm_char - 1 if end else norm_char
        piece = np.searchsorted(self.before, origin + probe, side="right") - 1
        piece = np.maximum(piece, self.first[row])
        at = self.before[piece] - origin  # the piece's normal-form start in its record
        rs, re_ = self.raw_start[piece], self.raw_end[piece]
        return np.minimum(np.maximum(rs + (norm_char - at), rs), re_) - self.begin[row]


def match_record(text: str, works: Sequence[int], index: WorkIndex, params: MatchParams) -> list[WorkMatch]:
    """Compare one text exactly with each work in ``works`` (indices into the index's works)."""
    norm = pa.array([normalise_text(text)], pa.large_string())
    cands = Candidates(np.zeros(len(works), np.int64), np.sort(np.asarray(works, dtype=np.int64)),
                       np.zeros(len(works), np.int64))
    return match_batch(pa.array([text], pa.large_string()), norm, cands, index, params).get(0, [])


def _raw_spans(mapped: MappedText, starts: np.ndarray, ends: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Normal-form byte spans -> raw-text character spans."""
    if len(starts) == 0:
        return ()
    raw = mapped.norm.encode("utf-8")
    ends = np.minimum(ends, len(raw))
    if len(raw) == len(mapped.norm):  # ASCII: byte offsets are character offsets
        cstart, cend = starts, ends
    else:
        char_of_byte = np.cumsum((np.frombuffer(raw, dtype=np.uint8) & 0xC0) != 0x80) - 1
        cstart, cend = char_of_byte[starts], char_of_byte[ends - 1] + 1
    return tuple((mapped.raw_offset(int(a), end=False), mapped.raw_offset(int(b), end=True))
                 for a, b in zip(cstart.tolist(), cend.tolist(), strict=True))
