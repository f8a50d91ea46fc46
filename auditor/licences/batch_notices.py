"""Step 4 of the batch scan: SPDX ids and licence notices for rows whose window is *safe* (see
``batch.py``), without ``ContentScanner._scan``.

A regex engine over all windows (Hyperscan, else RE2) says, per matcher and window, where the leftmost
match starts and how far the matches reach; Python then runs the matcher's own pattern once, at that
start, for its exact span and captured groups. A row's findings are those of ``scan`` when:

- ``SPDX-License-Identifier`` occurs at most once (so ``scan`` finds at most the one match there);
- for each licence notice whose exact RE2 form reads no character past its matches
  (``patterns.reads_no_further``) and whose trigger occurs: the leftmost match M lies in Python's
  window around one occurrence t of a trigger (starts within ``_TRIGGER_REACH`` characters of t, ends
  by the end of the line holding t + ``_MATCH_SPAN``), and no match ends after M. Python then tries
  M's start (no match starts earlier), finds M (its window ends after it), and no later match. A notice
  with no match in the window has no Python match either: a Python match, cut at its window end, is
  a match in the whole text too;
- every other matcher whose gate occurs (notices without such a form, such as ``license-field``, and
  Creative Commons URLs and badges) has no match of its RE2 *superset* form in the window.

Any other row goes to Python. Findings are put together as ``scan`` does: one per (kind, value), the
first in ``scan``'s order (SPDX, then notices in file order); a licence notice overlapping the span of
an earlier one that named a licence is skipped. Captured names and SPDX expressions are normalised once
per distinct string.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.licences.normalise import normalise_licence
from auditor.licences.patterns import literal_items, reads_no_further, to_re2

if TYPE_CHECKING:
    from auditor.licences.content import ContentScanner

_NONE = np.iinfo(np.int64).max
# Captured names and SPDX expressions normalised, per distinct text (as normalise_licence's own cache).
_MAX_CACHED = 65_536


@dataclass(frozen=True)
class _Matcher:
    """A matcher step 4 looks for: ``regex`` (exact, or superset for ``absent`` ones) and its gates."""

    name: str  # "spdx-id", a notice id, or "absent:<what>"
    regex: str
    gates: tuple[int, ...]
    pattern: re.Pattern[str] | None = None  # licence notices and SPDX: Python's pattern
    licence: str | None = None
    triggers: tuple[str, ...] = ()
    wide: str | None = None  # Hyperscan's form when it differs: large counted repeats open-ended


@dataclass
class NoticeFindings:
    """Findings of step 4, one entry each in ``scan``'s order within a window (before sorting): ``at``
    indexes the windows, ``offset`` is a character offset from the window start."""

    at: np.ndarray
    kind: np.ndarray
    value: np.ndarray
    offset: np.ndarray
    detail: np.ndarray
    named: np.ndarray  # per window: a licence notice was found (``scan``'s full-text rule)


@dataclass
class FirstMatches:
    """Per window and matcher (``NoticeStep.matchers`` order; windows x matchers arrays): the byte start
    of the leftmost match (-1: none), and the byte end past which no match ends (``_NONE``: unknown)."""

    start: np.ndarray
    reach: np.ndarray


class NoticeStep:
    """The matchers of step 4 (built once, with the ``BatchPlan``)."""

    def __init__(self, scanner: ContentScanner, gate_index: dict[str, int]) -> None:
        from auditor.licences.content import (
            _CC_BADGE,
            _CC_GATES,
            _CC_URL,
            _MATCH_SPAN,
            _SPDX_GATES,
            _SPDX_ID,
            _SPDX_TRAILER,
            _TRIGGER_REACH,
        )

        self.scanner = scanner
        self.reach, self.span = _TRIGGER_REACH, _MATCH_SPAN
        (self.spdx_gate,) = (gate_index[g] for g in _SPDX_GATES)
        spdx = to_re2(_SPDX_ID, "exact", trim_tail=True)
        if spdx is None or not reads_no_further(_SPDX_ID):
            raise ValueError("the SPDX-License-Identifier pattern has no exact RE2 form")
        self.matchers: list[_Matcher] = [
            _Matcher("spdx-id", spdx, (self.spdx_gate,), _SPDX_ID, wide=_wide(_SPDX_ID, spdx))
        ]
        for notice in scanner.notices:
            if notice.kind != "licence-notice":
                continue
            gates = tuple(gate_index[t] for t in notice.triggers)
            exact = to_re2(notice.pattern, "exact", trim_tail=True)
            if exact is not None and reads_no_further(notice.pattern):
                self.matchers.append(
                    _Matcher(
                        notice.id,
                        exact,
                        gates,
                        notice.pattern,
                        notice.licence,
                        notice.triggers,
                        _wide(notice.pattern, exact),
                    )
                )
            else:
                self.matchers.append(_Matcher(f"absent:{notice.id}", _superset(notice.pattern), gates))
        # Creative Commons URLs and badges: the literal start every match begins with (the whole
        # superset form, open-ended classes under case folding, makes Hyperscan ten times slower).
        cc_gates = tuple(gate_index[g] for g in _CC_GATES)
        for name, pattern in (("cc-url", _CC_URL), ("cc-badge", _CC_BADGE)):
            cue = to_re2(pattern, "superset", max_items=literal_items(pattern))
            self.matchers.append(_Matcher(f"absent:{name}", cue or _superset(pattern), cc_gates))
        self._exact = np.array([k for k, m in enumerate(self.matchers) if m.pattern is not None], np.int64)
        self._absent = np.array([k for k, m in enumerate(self.matchers) if m.pattern is None], np.int64)
        self._spdx_trailer = _SPDX_TRAILER
        self._spdx_cache: dict[str, tuple[str, str]] = {}
        self._licence_cache: dict[tuple[str, str], str | None] = {}

    @property
    def hyperscan_regexes(self) -> tuple[str, ...]:
        """The matchers' regexes for Hyperscan: a superset form's '^' (MULTILINE) is dropped (a wider
        superset), as Hyperscan has no inline (?m); an exact form with a large counted repeat has it
        open-ended (``_wide``). Supersets are enough here: ``run`` runs Python's pattern at the
        leftmost start the engine reports, and a reach past that match leaves the row to Python."""
        return tuple((m.wide or m.regex).replace("(?m:^)", "") for m in self.matchers)

    def firsts_re2(self, windows: pa.Array, gate_sets: np.ndarray, skip: np.ndarray) -> FirstMatches:
        """``FirstMatches`` with pyarrow's RE2 kernels, on windows where a gate of the matcher occurs:
        the reach is 0 where RE2 counts at most one match (finditer's matches: a second one would start
        after the first ends), else unknown."""
        n = len(windows)
        starts, reaches = [], []
        for matcher in self.matchers:
            start = np.full(n, -1, np.int64)
            reach = np.zeros(n, np.int64)
            at = np.flatnonzero(gate_sets[:, list(matcher.gates)].any(axis=1) & ~skip)
            if len(at):
                part = windows.take(pa.array(at)) if len(at) < n else windows
                count = np.asarray(pc.count_substring_regex(part, matcher.regex).to_numpy(), np.int64)
                hit = np.flatnonzero(count > 0)
                if len(hit) and matcher.pattern is not None:
                    found = pc.find_substring_regex(part.take(pa.array(hit)), matcher.regex)
                    start[at[hit]] = np.asarray(found.to_numpy(zero_copy_only=False), np.int64)
                else:
                    start[at[hit]] = 0
                reach[at[count > 1]] = _NONE
            starts.append(start)
            reaches.append(reach)
        return FirstMatches(np.stack(starts, axis=1), np.stack(reaches, axis=1))

    def firsts_hyperscan(
        self, matches: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], first_id: int, n: int
    ) -> FirstMatches:
        """``FirstMatches`` from Hyperscan's reports (``GateFinder.window_matches``; this step's regexes
        are numbered from ``first_id``): the smallest start, and the largest end."""
        ids, window, start, end = matches
        k = ids - first_id
        mine = k >= 0
        k, window, start, end = k[mine], window[mine], start[mine], end[mine]
        first = np.full((n, len(self.matchers)), _NONE, np.int64)
        np.minimum.at(first, (window, k), start)
        reach = np.zeros((n, len(self.matchers)), np.int64)
        np.maximum.at(reach, (window, k), end)
        return FirstMatches(np.where(first == _NONE, -1, first), reach)

    def run(
        self,
        win_bytes: np.ndarray,
        win_offsets: np.ndarray,
        gate_counts: np.ndarray,
        firsts: FirstMatches,
        unsettled: np.ndarray,
        label: Callable[[str], int],
    ) -> NoticeFindings:
        """Findings of the safe windows (``unsettled`` False); sets ``unsettled`` for the windows left to
        Python (whose findings here are then to be dropped). ``label`` codes a string."""
        n = len(win_offsets) - 1
        starts = firsts.start
        unsettled |= (starts[:, self._absent] >= 0).any(axis=1)  # their superset form must not match
        unsettled |= gate_counts[:, self.spdx_gate] > 1
        window, slot = np.nonzero((starts[:, self._exact] >= 0) & ~unsettled[:, None])  # by window, then matcher
        matcher = self._exact[slot]
        start = starts[window, matcher]
        reach = firsts.reach[window, matcher]
        rows: list[tuple[int, ...]] = []  # (window, kind, value, offset, detail)
        named = np.zeros(n, bool)
        view = memoryview(win_bytes)
        kinds = {"spdx-id": label("spdx-id"), "licence-notice": label("licence-notice")}
        named_code = kinds["licence-notice"]
        bounds = [0, *(np.flatnonzero(window[1:] != window[:-1]) + 1).tolist(), len(window)] if len(window) else [0]
        hits = list(zip(matcher.tolist(), start.tolist(), reach.tolist(), strict=True))
        windows = window.tolist()
        begin, end = win_offsets[:-1].tolist(), win_offsets[1:].tolist()
        left: list[int] = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            w = windows[lo]
            found = self._window(view[begin[w] : end[w]], hits[lo:hi])
            if found is None:
                left.append(w)
                continue
            rows.extend((w, kinds[kind], label(value), offset, label(detail)) for kind, value, offset, detail in found)
        unsettled[left] = True
        if not rows:
            empty = np.empty(0, np.int64)
            return NoticeFindings(empty, empty, empty, empty, empty, named)
        table = np.array(rows, np.int64).reshape(-1, 5)
        named[table[table[:, 1] == named_code, 0]] = True
        return NoticeFindings(*(table[:, k] for k in range(5)), named)

    def _window(
        self, raw: memoryview, hits: list[tuple[int, int, int]]
    ) -> list[tuple[str, str, int, str]] | None:
        """The findings (kind, value, character offset, detail) of one window (its UTF-8 bytes ``raw``)
        from its matchers' (index, leftmost start, reach) in matcher order, or None to leave the window
        to Python."""
        text = str(raw, "utf-8")
        ascii_only = len(text) == len(raw)
        found: list[tuple[str, str, int, str]] = []
        seen: set[tuple[str, str]] = set()
        claimed: list[tuple[int, int]] = []
        for index, start_b, reach in hits:
            matcher = self.matchers[index]
            start = start_b if ascii_only else len(str(raw[:start_b], "utf-8"))
            match = matcher.pattern.match(text, start)  # type: ignore[union-attr]
            if match is None:
                return None
            end = match.end()
            if reach > (end if ascii_only else len(text[:end].encode())):
                return None  # a match may end after this one: there may be a second one
            if matcher.name == "spdx-id":
                value, status = self._spdx(match.group("expr"))
                finding = ("spdx-id", value, start, status)
            else:
                if not self._in_trigger_window(text, matcher.triggers, start, end):
                    return None
                if any(a < end and b > start for a, b in claimed):
                    continue  # a more specific notice already explained this span
                licence = self._licence(matcher, match)
                if licence is None:
                    continue
                claimed.append((start, end))
                finding = ("licence-notice", licence, start, matcher.name)
            if (finding[0], finding[1]) not in seen:
                seen.add((finding[0], finding[1]))
                found.append(finding)
        return found

    def _in_trigger_window(self, text: str, triggers: tuple[str, ...], start: int, end: int) -> bool:
        """Does Python try ``start`` and let a match run to ``end``: is there a trigger occurrence t with
        |start - t| <= reach, ending by the end of the line holding t + span? Only the stretch of
        ``text`` that can hold such a t is lower-cased (on a safe or word-ish window, ``str.lower()``
        maps character by character)."""
        low = max(0, start - self.reach)
        lowered = text[low : start + self.reach + max(map(len, triggers))].lower()
        for trigger in triggers:
            t = lowered.find(trigger, 0, start - low + self.reach + len(trigger))
            while 0 <= t <= start - low + self.reach:
                line_end = text.find("\n", low + t + self.span)
                if end <= (len(text) if line_end < 0 else line_end):
                    return True
                t = lowered.find(trigger, t + 1, start - low + self.reach + len(trigger))
        return False

    def _spdx(self, expression: str) -> tuple[str, str]:
        cached = self._spdx_cache.get(expression)
        if cached is None:
            if len(self._spdx_cache) >= _MAX_CACHED:
                self._spdx_cache.clear()
            result = normalise_licence(self._spdx_trailer.sub("", expression).strip(), self.scanner.rules_dir)
            cached = self._spdx_cache[expression] = (result.spdx or "unknown", result.status)
        return cached

    def _licence(self, matcher: _Matcher, match: re.Match[str]) -> str | None:
        """``ContentScanner._notice_licence``, once per distinct captured text."""
        group = "name" if matcher.licence is None else "v" if "{v}" in matcher.licence else None
        key = (matcher.name, match.group(group) if group else "")
        if key not in self._licence_cache:
            if len(self._licence_cache) >= _MAX_CACHED:
                self._licence_cache.clear()
            notice = next(n for n in self.scanner.notices if n.id == matcher.name)
            self._licence_cache[key] = self.scanner._notice_licence(notice, match)
        return self._licence_cache[key]


def _wide(pattern: re.Pattern[str], exact: str) -> str | None:
    """``exact`` with its counted repeats above 16 open-ended (Hyperscan refuses a large counted
    repeat of a class holding multi-byte characters, such as a Chinese licence name), or None when that
    changes nothing."""
    wide = to_re2(pattern, "exact", trim_tail=True, open_repeats=True)
    return None if wide is None or wide == exact else wide


def _superset(pattern: re.Pattern[str]) -> str:
    superset = to_re2(pattern, "superset")
    if superset is None:
        raise ValueError(f"{pattern.pattern[:60]!r} has no RE2 superset form; the batch scan needs one")
    return superset
