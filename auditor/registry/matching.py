"""Exact comparison of one record with the works its anchors hit: kinds, scores and spans.

For a candidate record the text is normalised piece by piece (each run of non-space characters), so
that every character of the normal form maps back to the raw text. All its windows (see
``fingerprints``) are compared with all windows of each candidate work:

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

Spans are reported as character (code point) offsets into the raw record text, end exclusive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from auditor.registry.fingerprints import WINDOW_BYTES, sorted_unique, text_windows
from auditor.registry.models import WorkFingerprint
from auditor.stages.normalise import normalise_text

_NON_SPACE = re.compile(r"\S+")


@dataclass(frozen=True)
class MatchParams:
    near_duplicate: float = 0.5
    min_excerpt_bytes: int = 500
    min_span_bytes: int = 64
    gap_bytes: int = WINDOW_BYTES
    short_work_share: float = 0.8

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


def _isin_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0 or len(values) == 0:
        return np.zeros(len(values), dtype=bool)
    loc = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[loc] == values


def match_records(texts: Sequence[str], works: Sequence[Sequence[int]],
                  fingerprints: Sequence[WorkFingerprint], params: MatchParams,
                  norms: Sequence[str | None] | None = None) -> list[list[WorkMatch]]:
    """Compare each text exactly with its candidate works (``works[i]`` for ``texts[i]``); the
    windows of all texts are computed in one vectorised pass. ``norms``: their normal forms, if known."""
    mapped = [map_normal_form(t, norms[i] if norms else None) for i, t in enumerate(texts)]
    doc, pos_all, hash_all = text_windows(pa.array([m.norm for m in mapped], pa.large_string()))
    bounds = np.searchsorted(doc, np.arange(len(texts) + 1))
    return [_match_one(mapped[i], pos_all[bounds[i]:bounds[i + 1]], hash_all[bounds[i]:bounds[i + 1]],
                       works[i], fingerprints, params) for i in range(len(texts))]


def match_record(text: str, works: Sequence[int], fingerprints: Sequence[WorkFingerprint],
                 params: MatchParams) -> list[WorkMatch]:
    """Compare ``text`` exactly with each work in ``works``; return the matches that qualify."""
    return match_records([text], [works], fingerprints, params)[0]


def _match_one(mapped: MappedText, pos: np.ndarray, hashes: np.ndarray, works: Sequence[int],
               fingerprints: Sequence[WorkFingerprint], params: MatchParams) -> list[WorkMatch]:
    if len(pos) == 0:
        return []
    unique: np.ndarray | None = None
    order = np.argsort(hashes)
    ordered = hashes[order]  # sorted queries make searchsorted several times faster
    out: list[WorkMatch] = []
    for w in works:
        fp = fingerprints[w]
        hit = np.sort(pos[order[_isin_sorted(ordered, fp.windows)]])
        if len(hit) == 0:
            continue
        qualify = min(params.min_excerpt_bytes, params.short_work_share * fp.norm_bytes)
        min_span = min(params.min_span_bytes, qualify)
        cut = np.flatnonzero(np.diff(hit) > WINDOW_BYTES + params.gap_bytes)
        starts = hit[np.concatenate(([0], cut + 1))]
        ends = hit[np.append(cut, len(hit) - 1)] + WINDOW_BYTES
        keep = ends - starts >= min_span
        starts, ends = starts[keep], ends[keep]
        jaccard = 0.0
        # Resemblance can reach the threshold only if the set sizes are close enough.
        if min(len(hashes), len(fp.windows)) >= params.near_duplicate * max(len(hashes), len(fp.windows)) * 0.5:
            unique = sorted_unique(hashes) if unique is None else unique
            inter = int(_isin_sorted(unique, fp.windows).sum())
            jaccard = inter / (len(unique) + len(fp.windows) - inter)
        if jaccard >= params.near_duplicate:
            kind, score = "work-near-duplicate", jaccard
        elif len(starts) and int((ends - starts).max()) >= qualify:
            inside = np.searchsorted(hit, ends, side="left") - np.searchsorted(hit, starts, side="left")
            kind, score = "work-excerpt", float(inside.sum()) / len(pos)
        else:
            continue
        out.append(WorkMatch(work=w, kind=kind, score=round(float(score), 6),
                             spans=_raw_spans(mapped, starts, ends)))
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
