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
matched records are mapped back to their raw text: single-spaced ASCII text keeps every offset;
otherwise ``map_normal_form`` normalises the text piece by piece (each run of non-space
characters) so that every character of the normal form maps back, and if that piecewise normal
form differs from the record's ``norm_text``, the record is compared again on it so that the
offsets are exact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from auditor.registry.index import DEFAULT_QUALIFY_BYTES, DEFAULT_SHORT_WORK_SHARE, Candidates, WorkIndex
from auditor.registry.windows import WINDOW_BYTES, buffer_windows, rows_buffer, sorted_unique, text_bytes
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
        ns = np.concatenate(([0], np.cumsum(lengths + 1)[:-1])).astype(np.int64)
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
    if len(docs) == 0:
        return []
    udocs, inv = np.unique(np.asarray(docs, dtype=np.int64), return_inverse=True)
    cdoc, pos, h = buffer_windows(*rows_buffer(*text_bytes(norm), udocs))
    if len(h) == 0:
        return []
    nw = index.n_works
    n_win = np.bincount(cdoc, minlength=len(udocs))
    bounds = np.searchsorted(cdoc, np.arange(len(udocs) + 1))
    # The windows of each pair's record found in its work, ordered by pair then position: one
    # search of the record's sorted hashes in the work's sorted windows per pair.
    found_idx: list[np.ndarray] = []
    found_code: list[np.ndarray] = []
    last, order, ordered = -1, h[:0], h[:0]
    for d, w in sorted(set(zip(inv.tolist(), np.asarray(works).tolist(), strict=True))):
        if d != last:
            last = d
            order = np.argsort(h[bounds[d]:bounds[d + 1]])
            ordered = h[bounds[d]:bounds[d + 1]][order]
        windows = index.work_windows[w]
        if len(ordered) == 0 or len(windows) == 0:
            continue
        at = np.minimum(np.searchsorted(windows, ordered), len(windows) - 1)
        hit = np.sort(order[windows[at] == ordered])
        if len(hit):
            found_idx.append(hit + bounds[d])
            found_code.append(np.full(len(hit), d * nw + w, dtype=np.int64))
    if not found_idx:
        return []
    widx, code = np.concatenate(found_idx), np.concatenate(found_code)
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
    out: list[PairMatch] = []
    bounds = np.append(pair_spans, len(s_pair))
    for i in np.flatnonzero(near | excerpt).tolist():
        sl = slice(int(bounds[i]), int(bounds[i + 1]))
        kept = s_keep[sl]
        out.append(PairMatch(doc=int(udocs[pdoc[i]]), work=int(pwork[i]),
                             kind="work-near-duplicate" if near[i] else "work-excerpt",
                             score=round(float(score[i]), 6), starts=s_start[sl][kept], ends=s_end[sl][kept]))
    return out


def match_batch(texts: pa.Array | pa.ChunkedArray, norm: pa.Array | pa.ChunkedArray, cands: Candidates,
                index: WorkIndex, params: MatchParams) -> dict[int, list[WorkMatch]]:
    """Matches of the candidate pairs of a batch, by row, with raw-text spans."""
    if len(cands.doc) == 0:
        return {}
    found: dict[int, list[WorkMatch]] = {}
    by_doc = _by_doc(compare_pairs(norm, cands.doc, cands.work, index, params))
    rows = pa.array(list(by_doc), pa.int64())
    for (doc, pairs), text, known in zip(by_doc.items(), texts.take(rows).to_pylist(),
                                          norm.take(rows).to_pylist(), strict=True):
        if not text:
            continue
        if text.isascii() and _single_spaced(known) and known == text.lower():
            # Its own normal form but for case: every character keeps its offset (an end just
            # after a space moves back before it, as in ``MappedText.raw_offset``).
            matches = [WorkMatch(work=m.work, kind=m.kind, score=m.score,
                                 spans=tuple((s, e - (known[e - 1] == " ")) for s, e in
                                             zip(m.starts.tolist(), np.minimum(m.ends, len(known)).tolist(),
                                                 strict=True))) for m in pairs]
        else:
            mapped = map_normal_form(text, known)
            if mapped.norm != known:  # compare on the piecewise normal form the offsets refer to
                works = cands.work[cands.doc == doc]
                pairs = compare_pairs(pa.array([mapped.norm], pa.large_string()),
                                      np.zeros(len(works), np.int64), works, index, params)
            matches = [WorkMatch(work=m.work, kind=m.kind, score=m.score,
                                 spans=_raw_spans(mapped, m.starts, m.ends)) for m in pairs]
        if matches:
            found[doc] = matches
    return found


def match_record(text: str, works: Sequence[int], index: WorkIndex, params: MatchParams) -> list[WorkMatch]:
    """Compare one text exactly with each work in ``works`` (indices into the index's works)."""
    norm = pa.array([normalise_text(text)], pa.large_string())
    cands = Candidates(np.zeros(len(works), np.int64), np.sort(np.asarray(works, dtype=np.int64)),
                       np.zeros(len(works), np.int64))
    return match_batch(pa.array([text], pa.large_string()), norm, cands, index, params).get(0, [])


_OTHER_ASCII_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"


def _single_spaced(text: str) -> bool:
    """ASCII whitespace in ``text`` is single spaces between words (as in a normal form)."""
    return (text[:1] != " " and text[-1:] != " " and not any(c in text for c in _OTHER_ASCII_SPACE)
            and "  " not in text)


def _by_doc(pairs: list[PairMatch]) -> dict[int, list[PairMatch]]:
    out: dict[int, list[PairMatch]] = {}
    for m in pairs:
        out.setdefault(m.doc, []).append(m)
    return out


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
