"""Step 3 of the batch scan: copyright notices for rows whose window is *safe* (see ``batch.py``),
without ``ContentScanner._scan``.

Each notice's exact RE2 form (``patterns.to_re2(.., "exact")``) finds its first match in the windows: RE2
per notice, or one Hyperscan scan of all windows (``gates.GateFinder.window_matches``). The match is
Python's when it starts with one of the notice's triggers and is at most ``MATCH_SPAN`` bytes long, so
it lies in Python's window around that trigger; otherwise the row goes to Python. Per value, the first
notice (in file order) with a match gives the finding, as in ``scan``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.licences.batch_windows import starts_with_trigger
from auditor.licences.gates import GateFinder
from auditor.licences.patterns import literal_prefixes, to_re2

if TYPE_CHECKING:
    from auditor.licences.content import ContentScanner

# Same bound as content._MATCH_SPAN: Python searches a notice up to the end of the line this far after
# its trigger; a match that starts at a trigger and is no longer than this lies in that window.
MATCH_SPAN = 400


@dataclass(frozen=True)
class CopyrightNotice:
    id: str
    value: str
    regex: str  # exact RE2 form
    triggers: tuple[bytes, ...]
    gates: tuple[int, ...]  # indices of the triggers in ``ContentScanner.gates``
    # Every match starts with a trigger (its literal prefixes do, ``patterns.literal_prefixes``): on a
    # safe or word-ish window, no need to check.
    at_trigger: bool = False


class CopyrightStep:
    """The copyright notices of a ``ContentScanner`` that have an exact RE2 form (built once, with the
    ``BatchPlan``); the others are left to Python."""

    def __init__(self, scanner: ContentScanner, gate_index: dict[str, int]) -> None:
        self.notices: list[CopyrightNotice] = []
        for notice in scanner.notices:
            exact = to_re2(notice.pattern, "exact") if notice.kind == "copyright-notice" else None
            if exact is None:
                continue
            prefixes = literal_prefixes(notice.pattern)
            self.notices.append(
                CopyrightNotice(
                    notice.id,
                    notice.value or "copyright",
                    exact,
                    tuple(t.encode() for t in notice.triggers),
                    tuple(gate_index[t] for t in notice.triggers),
                    prefixes is not None and all(p.startswith(notice.triggers) for p in prefixes),
                )
            )
        self.ids = frozenset(n.id for n in self.notices)
        # Each notice's value (index into ``_values``); the notices whose matches may start elsewhere
        # than at a trigger (their starts are checked).
        self._values = sorted({n.value for n in self.notices})
        self._value = np.array([self._values.index(n.value) for n in self.notices], np.int64)
        self._check_trigger = [k for k, n in enumerate(self.notices) if not n.at_trigger]

    @property
    def regexes(self) -> tuple[str, ...]:
        return tuple(n.regex for n in self.notices)

    def settle(
        self,
        windows: pa.Array | None,
        win_bytes: np.ndarray,
        win_offsets: np.ndarray,
        gate_sets: np.ndarray | None,
        unsettled: np.ndarray,
        label: Callable[[str], int],
        matches: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> tuple[np.ndarray, ...]:
        """(window, kind, value, byte offset in the window, detail) of the copyright findings, from
        Hyperscan's ``matches`` or, without them, RE2 on ``windows``; sets ``unsettled`` for the windows
        these cannot settle."""
        if matches is not None:
            notice, window, start, length = GateFinder.copyright_firsts(matches, win_offsets, len(self.notices))
        elif windows is not None:
            notice, window, start, length = self._firsts_re2(windows, gate_sets, unsettled)
        else:
            raise ValueError("CopyrightStep.settle needs Hyperscan's matches or the windows as an Arrow array")
        keep = ~unsettled[window]
        notice, window, start, length = notice[keep], window[keep], start[keep], length[keep]
        # Python finds a match only if it lies in the window around the trigger it starts with.
        ok = length <= MATCH_SPAN
        base = win_offsets[window]
        for k in self._check_trigger:
            at = np.flatnonzero(notice == k)
            if len(at):
                ok[at] &= starts_with_trigger(
                    win_bytes, base[at] + start[at], win_offsets[window[at] + 1], self.notices[k].triggers
                )
        unsettled[window[~ok]] = True
        notice, window, start = notice[ok], window[ok], start[ok]
        # Per value, the first notice (in file order) with a match gives the finding, as in ``scan``:
        # the entries come by notice, so a stable sort by (value, window) keeps that order.
        value = self._value[notice]
        order = np.lexsort((window, value))
        first = np.ones(len(order), bool)
        first[1:] = (value[order][1:] != value[order][:-1]) | (window[order][1:] != window[order][:-1])
        pick = order[first]
        values = np.array([label(v) for v in self._values], np.int64)
        details = np.array([label(n.id) for n in self.notices], np.int64)
        return (
            window[pick],
            np.full(len(pick), label("copyright-notice"), np.int64),
            values[value[pick]],
            start[pick],
            details[notice[pick]],
        )

    def _firsts_re2(
        self, subset: pa.Array, gate_sets: np.ndarray | None, skip: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """As ``GateFinder.copyright_firsts``, with RE2 (a length of 0: at most ``MATCH_SPAN`` bytes
        follow the start)."""
        n = len(subset)
        found: list[tuple[np.ndarray, ...]] = [(np.empty(0, np.int64),) * 4]
        for k, notice in enumerate(self.notices):
            run = ~skip
            if gate_sets is not None:
                run &= gate_sets[:, list(notice.gates)].any(axis=1)  # no trigger, no match
            at = np.flatnonzero(run)
            if not len(at):
                continue
            part = subset.take(pa.array(at)) if len(at) < n else subset
            start = pc.fill_null(pc.find_substring_regex(part, notice.regex), -1).to_numpy(
                zero_copy_only=False
            )
            hit = np.flatnonzero(start >= 0)
            start = start[hit].astype(np.int64)
            length = np.zeros(len(hit), np.int64)
            # Measure a match (a capture group makes RE2 slower) only where it could be too long.
            lengths_left = pc.binary_length(part.take(pa.array(hit))).to_numpy(zero_copy_only=False) - start
            long = np.flatnonzero(lengths_left > MATCH_SPAN)
            if len(long):
                spans = pc.extract_regex_span(part.take(pa.array(hit[long])), f"(?P<m>{notice.regex})")
                length[long] = spans.field("m").flatten().to_numpy(zero_copy_only=False).reshape(-1, 2)[:, 1]
            found.append((np.full(len(hit), k, np.int64), at[hit], start, length))
        return tuple(np.concatenate(c) for c in zip(*found, strict=True))  # type: ignore[return-value]
