"""The window index over all registered works: every window hash, its owners, and the prefilter.

Layout (numpy, built once per worker from the works' fingerprints):

- ``keys``: the sorted distinct hashes of all windows shared by at most ``max_works_per_window``
  works, taken before the finaliser (``windows.unfinalise``: a bijection, so a record's probes skip
  the finaliser), with their owners as CSR (``owner_ptr``, ``owners``). Windows shared by more
  works are boilerplate and left out: they cannot tell works apart. A key keeps the top ``64 - b``
  bits of the hash, ``b`` the bits of the largest work index (10 for 1,000 works), so that keys and
  owners sort together as one integer (several times faster than an argsort). Two windows then
  share a key with probability ``2**-(64 - b)``: the expected number of such pairs in an index of
  ``N`` windows is ``N**2 / 2**(65 - b)`` (0.002 for the bench's 8 million). Such a pair only adds
  probe hits, unless together they pass ``max_works_per_window``;
- a bitmap over the top bits of every key (about ``BITS_PER_KEY`` bits per key: a 3% false
  positive rate), so that most record windows are rejected with one memory access;
- a directory of the top bits into ``keys`` (about two keys per bucket), so that the few hashes
  the bitmap lets through are found with two or three vectorised steps instead of a binary search
  over a large array;
- ``work_windows``: each work's own sorted windows (all of them, boilerplate included), shared with
  the fingerprints, for the exact comparison (``matching``).

Memory: 16 bytes per indexed window (key 8, owner 4, owner pointer 4), plus the bitmap and the
directory (sized in powers of two: 4 to 8 and 2 to 4 bytes per window); 178 MB for the bench's 8
million windows (1,000 works of 50 KB), built in about a second.

``candidates`` takes a batch of normal-form texts, looks up their probe windows (``windows.probe_grid``)
and returns the (record, work) pairs with at least the work's minimum of hits. The minimum is
``prefilter_hits`` (2) for a work long enough that a qualifying passage is guaranteed that many
probe hits; for a shorter work it is what the guarantee gives, and at least 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from auditor.registry.models import WorkFingerprint
from auditor.registry.windows import (
    PROBE_REACH,
    PROBE_STRIDE,
    WINDOW_BYTES,
    has_cjk_bytes,
    probe_grid,
    run_lengths,
    text_bytes,
    unfinalise,
    window_polys,
)

BITS_PER_KEY = 32
KEYS_PER_BUCKET = 2
SCREEN_FACTOR = 2  # the screening grid takes every other grid point
# Defaults of matching.MatchParams: a passage qualifies from this many bytes (or this share of a
# shorter work); the minimum hits per work are derived from them unless the caller passes its own.
DEFAULT_QUALIFY_BYTES = 500
DEFAULT_SHORT_WORK_SHARE = 0.8
_EMPTY_INT = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class ProbePlan:
    """How to probe: the hits a candidate needs per work, and whether to screen first."""

    min_hits: np.ndarray
    screen: bool


@dataclass(frozen=True)
class Candidates:
    """(record, work) pairs of a batch with at least the work's minimum of probe hits."""

    doc: np.ndarray
    work: np.ndarray
    hits: np.ndarray


class WorkIndex:
    """Every window of every work (see the module docstring)."""

    def __init__(self, keys: np.ndarray, owner_ptr: np.ndarray, owners: np.ndarray,
                 work_windows: Sequence[np.ndarray], norm_bytes: np.ndarray, *, prefilter_hits: int = 2,
                 max_works_per_window: int = 16, stride: int = PROBE_STRIDE, reach: int = PROBE_REACH) -> None:
        self.keys, self.owner_ptr, self.owners = keys, owner_ptr, owners
        self._key_mask = ~np.uint64((1 << _owner_bits(len(norm_bytes))) - 1)
        self.work_windows = tuple(work_windows)
        self.norm_bytes = norm_bytes
        self.window_counts = np.array([len(w) for w in self.work_windows], dtype=np.int64)
        self.n_works = len(norm_bytes)
        self.prefilter_hits = prefilter_hits
        self.max_works_per_window = max_works_per_window
        self.stride, self.reach = stride, reach
        self.default_plan = self.plan(DEFAULT_QUALIFY_BYTES, DEFAULT_SHORT_WORK_SHARE)
        self.min_hits = self.default_plan.min_hits
        log2_bits = int(min(31, max(16, np.ceil(np.log2(max(len(keys), 1) * BITS_PER_KEY)))))
        self._bit_shift = np.uint64(64 - log2_bits)
        self.bits = _bitmap(keys >> self._bit_shift, log2_bits)
        dir_bits = int(min(30, max(8, np.ceil(np.log2(max(len(keys), 1) / KEYS_PER_BUCKET)))))
        self._dir_shift = np.uint64(64 - dir_bits)
        per_bucket = np.bincount((keys >> self._dir_shift).astype(np.intp), minlength=1 << dir_bits)
        self._dir = np.zeros((1 << dir_bits) + 1, dtype=np.int32 if len(keys) < 2**31 else np.int64)
        np.cumsum(per_bucket, out=self._dir[1:])

    @classmethod
    def build(cls, fingerprints: Sequence[WorkFingerprint], *, max_works_per_window: int = 16,
              prefilter_hits: int = 2, stride: int = PROBE_STRIDE, reach: int = PROBE_REACH) -> WorkIndex:
        """Index every window of every work; a window shared by more than ``max_works_per_window``
        works is boilerplate and left out (the exact comparison, which reads each work's own
        windows, still sees it)."""
        if prefilter_hits < 1 or max_works_per_window < 1:
            raise ValueError(f"prefilter_hits and max_works_per_window must be >= 1, got {prefilter_hits} "
                             f"and {max_works_per_window}")
        n = len(fingerprints)
        sizes = np.array([len(f.windows) for f in fingerprints], dtype=np.int64)
        # Sort (key, owner) pairs as one uint64: the owner in the low bits, which the key gives up.
        low = np.uint64((1 << _owner_bits(n)) - 1)
        packed = unfinalise(np.concatenate([f.windows for f in fingerprints])) if n else np.zeros(0, np.uint64)
        packed &= ~low
        packed |= np.repeat(np.arange(n, dtype=np.uint64), sizes)
        packed.sort()
        own = (packed & low).astype(np.int32)
        packed &= ~low
        first = np.ones(len(packed), dtype=bool)
        first[1:] = packed[1:] != packed[:-1]
        starts = np.flatnonzero(first)
        ptr_type = np.int32 if len(packed) < 2**31 else np.int64
        ptr = np.append(starts, len(packed)).astype(ptr_type)  # owners of keys[i]: own[ptr[i]:ptr[i + 1]]
        keys = packed[starts]
        del packed
        counts = np.diff(ptr)
        common = counts > max_works_per_window
        if common.any():
            keys, own = keys[~common], own[~np.repeat(common, counts)]
            ptr = np.zeros(len(keys) + 1, dtype=ptr_type)
            np.cumsum(counts[~common], out=ptr[1:])
        return cls(keys, ptr, own, [f.windows for f in fingerprints],
                   np.array([f.norm_bytes for f in fingerprints], dtype=np.int64),
                   prefilter_hits=prefilter_hits, max_works_per_window=max_works_per_window,
                   stride=stride, reach=reach)

    def parameters(self) -> dict[str, int]:
        """What changes which records are candidates, for summary.json."""
        return {"max_works_per_window": self.max_works_per_window, "prefilter_hits": self.prefilter_hits,
                "probe_stride": self.stride, "probe_reach": self.reach,
                "screen_stride": SCREEN_FACTOR * self.stride}

    def guaranteed_hits(self, passage_bytes: np.ndarray | float, stride: int | None = None) -> np.ndarray:
        """Probe hits a shared passage of this many bytes is guaranteed (``windows`` docstring)."""
        span = np.floor(np.asarray(passage_bytes, dtype=np.float64)) - self.reach - WINDOW_BYTES + 1
        return np.maximum(span, 0).astype(np.int64) // (stride or self.stride)

    def plan(self, qualify_bytes: int, short_work_share: float) -> ProbePlan:
        """Per work, the hits required of a candidate, so that every passage that qualifies as an
        excerpt (``qualify_bytes``, or ``short_work_share`` of a shorter work) has them; and
        whether records may be screened on every other grid point first, which is safe when every
        work that has a guarantee keeps at least one hit on the coarse grid."""
        qualify = np.minimum(qualify_bytes, short_work_share * self.norm_bytes)
        fine = self.guaranteed_hits(qualify)
        coarse = self.guaranteed_hits(qualify, SCREEN_FACTOR * self.stride)
        return ProbePlan(np.clip(fine, 1, self.prefilter_hits), bool(np.all((coarse >= 1) | (fine == 0))))

    def candidates(self, norm: pa.Array | pa.ChunkedArray, plan: ProbePlan | None = None, *,
                   ascii_only: bool = False) -> Candidates:
        """Pairs (record, work) whose probe hits reach the work's minimum; vectorised. With
        screening, the grid points of odd rank are probed only in records that hit some work on
        the even ones (whose hits then count too): the hits of a candidate are those of the full
        grid, at half the cost for the records that hit nothing. ``ascii_only``: the caller knows
        that the texts are ASCII (no byte starts a 3- or 4-byte character), which saves reading
        them all once to find out."""
        plan = plan or self.default_plan
        empty = Candidates(_EMPTY_INT, _EMPTY_INT, _EMPTY_INT)
        if self.n_works == 0 or len(self.keys) == 0:
            return empty
        data, begin, end = text_bytes(norm)
        cjk = not ascii_only and has_cjk_bytes(data)  # once per batch: both passes read the same buffer
        if not plan.screen:
            doc, works = self._probe_hits(data, begin, end, stride=self.stride, phase=self.stride, head=True,
                                          cjk=cjk)
        else:
            coarse = SCREEN_FACTOR * self.stride
            doc, works = self._probe_hits(data, begin, end, stride=coarse, phase=coarse, head=True, cjk=cjk)
            rows = run_lengths(doc)
            more_doc, more_works = self._probe_hits(data, begin[rows], end[rows], stride=coarse,
                                                    phase=self.stride, head=False, cjk=cjk)
            doc, works = np.concatenate([doc, rows[more_doc]]), np.concatenate([works, more_works])
        if len(doc) == 0:
            return empty
        pairs, hits = run_lengths(np.sort(doc * self.n_works + works), counts=True)
        pdoc, pwork = pairs // self.n_works, pairs % self.n_works
        keep = hits >= plan.min_hits[pwork]
        return Candidates(pdoc[keep], pwork[keep], hits[keep])

    def _probe_hits(self, data: np.ndarray, begin: np.ndarray, end: np.ndarray, *, stride: int, phase: int,
                    head: bool, cjk: bool) -> tuple[np.ndarray, np.ndarray]:
        """(doc, work) for every probe window found in the index and every work it belongs to."""
        counts, starts, dropped = probe_grid(data, begin, end, stride=stride, reach=self.reach, phase=phase,
                                             head=head, cjk=cjk)
        if len(starts) == 0:
            return _EMPTY_INT, _EMPTY_INT
        h = window_polys(data, starts)
        sel = self._maybe(h)  # the bitmap reads top bits only: the key mask can wait
        if len(dropped):
            sel = sel[~np.isin(sel, dropped)]
        found = h[sel]
        found &= self._key_mask
        loc = self._find(found)
        hit = loc >= 0
        sel, loc = sel[hit], loc[hit]
        probe, works = self._expand(loc, self.owner_ptr, self.owners)
        # The text of each probe found, from the probes per text (few are found).
        return np.searchsorted(np.cumsum(counts), sel[probe], side="right"), works

    def _maybe(self, h: np.ndarray) -> np.ndarray:
        """Indices of the hashes whose bitmap bit is set (all indexed hashes, and ~3% of others)."""
        slot = h >> self._bit_shift
        byte = self.bits[(slot >> np.uint64(3)).view(np.int64)]
        low = slot.astype(np.uint8)  # the low byte: its low 3 bits are the bit's index in its byte
        low &= 7
        byte >>= low
        byte &= 1
        return np.flatnonzero(byte)

    def _find(self, h: np.ndarray) -> np.ndarray:
        """Position of each hash in ``keys``, -1 if absent: a scan of its directory bucket, one
        vectorised step per rank in the bucket (a bucket holds about two keys)."""
        loc = np.full(len(h), -1, dtype=np.int64)
        if len(h) == 0:
            return loc
        bucket = (h >> self._dir_shift).astype(np.intp)
        lo = self._dir[bucket].astype(np.int64)
        hi = self._dir[bucket + 1].astype(np.int64)
        active = np.flatnonzero(hi > lo)
        at = lo[active]
        while len(active):
            key = self.keys[at]
            want = h[active]
            hit = key == want
            loc[active[hit]] = at[hit]
            more = (key < want) & (at + 1 < hi[active])
            active, at = active[more], at[more] + 1
        return loc

    @staticmethod
    def _expand(loc: np.ndarray, ptr: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index into ``loc``, owner) for every owner of every key position in ``loc``."""
        lo = ptr[loc].astype(np.int64)
        reps = ptr[loc + 1].astype(np.int64) - lo
        if len(reps) and int(reps.max(initial=0)) == 1:  # the usual case: one owner per window
            return np.arange(len(loc)), owners[lo].astype(np.int64)
        idx = np.repeat(np.arange(len(loc)), reps)
        first = np.repeat(lo - (np.cumsum(reps) - reps), reps)
        return idx, owners[first + np.arange(len(idx))].astype(np.int64)


def _owner_bits(n_works: int) -> int:
    """Low bits of a key given up to the owner while sorting: enough for every work index."""
    return max(1, int(n_works - 1).bit_length())


def _bitmap(slots: np.ndarray, log2_bits: int) -> np.ndarray:
    """Bits set at ``slots``."""
    bits = np.zeros(1 << (log2_bits - 3), dtype=np.uint8)
    np.bitwise_or.at(bits, (slots >> np.uint64(3)).astype(np.intp),
                     np.left_shift(np.uint8(1), (slots & np.uint64(7)).astype(np.uint8)))
    return bits
