"""Step 1 of the batch scan with Hyperscan, when that package is installed (``pip install hyperscan``).

One pass over a batch's UTF-8 buffer finds every occurrence of every *root* gate of the content scan (a
literal gate that holds no other one: "licen", not "apache licen"); a second one, over the windows of the
candidate rows, every occurrence of the other gates and every match of the exact RE2 forms of the
copyright and licence notices and of the superset forms of the other matchers (RE2 syntax that Hyperscan
also reads). The whole-batch pass costs about in proportion to the number of literals it looks for, and a
gate that holds a root occurs only in rows the root makes candidates, from shortly before the root on:
inside their windows. Without Hyperscan, ``batch.BatchPlan`` does the same with pyarrow's RE2 kernels,
which compile every pattern at every call, about twice as slowly; the findings are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

# 'İ' (U+0130) is the one character ``str.lower()`` turns into two ('i' + U+0307): in a text holding
# one, ``ContentScanner._scan`` cannot map positions and searches every notice everywhere, not in
# windows around triggers. Step 1 finds it too, and such candidates are left to Python.
LENGTHENING = "\u0130"


@dataclass(frozen=True)
class Located:
    """Step 1's result: the candidate rows (ascending), the byte offset where the first gate of each may
    start, whether it holds a gate of a matcher other than the RE2 copyright notices (``to_python``),
    its occurrences of each gate (candidates x gates, or None when not counted) and whether it holds a
    ``LENGTHENING`` character (``whole_text``)."""

    candidates: np.ndarray
    first: np.ndarray
    to_python: np.ndarray
    counts: np.ndarray | None
    whole_text: np.ndarray


class GateFinder:
    """Step 1 and 2 with Hyperscan, when it is installed: every occurrence of every literal gate in a
    batch, in one pass over the batch's UTF-8 buffer (ASCII-case-insensitive, as ``str.lower()`` gates
    are, see ``compatible``). Gives the exact gate set of each row, so Python rows skip computing it,
    and a row goes to Python exactly when it holds a gate of a matcher that is not an RE2 copyright
    notice. Built lazily in each process (a Hyperscan database does not pickle).

    ``cues`` replaces the literal of some gates by a regex that every match of their matchers holds
    (``batch.word_cues``: " under " by "licensed under" and its variants): such a gate is reported
    present where its cue matches, which changes no finding (a gate only selects matchers, and those
    find nothing where the cue does not match, and only near the literal when it does) and keeps
    common words of prose from making candidates.

    With ``split_roots`` (the default), step 1 counts the root gates and cues only, and the other gates
    are counted when ``window_matches`` is given the counts: until then ``locate``'s counts (and the
    rows it sends to Python) cover the roots only."""

    def __init__(
        self,
        gates: tuple[str, ...],
        python_gates: tuple[int, ...],
        window_regexes: tuple[str, ...],
        cues: dict[int, str] | None = None,
        *,
        split_roots: bool = True,
    ) -> None:
        self.gates = gates
        self.python_gates = np.array(python_gates, np.int64)
        self.window_regexes = window_regexes
        self.cues = dict(cues or {})
        self._is_cue = np.array([i in self.cues for i in range(len(gates))], bool)
        self.cue_gates = np.array(sorted(self.cues), np.int64)
        self.lengths = np.array([len(g.encode()) for g in gates], np.int64)
        self._lengthening_id = len(gates)  # the report id of ``LENGTHENING``
        self.roots, self.inner, self.lead = _roots(gates, set(self.cues), split_roots)
        self._window_db: object | None = None
        self._db: object | None = None
        self._tried = False

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_db": None, "_window_db": None, "_tried": False}

    @staticmethod
    def compatible(gates: tuple[str, ...]) -> bool:
        """ASCII case folding finds a gate exactly where ``str.lower()`` does: no gate holds 'k' (the
        Kelvin sign lowers to it), U+0307 or a cased non-ASCII character, or ends with 'i' ('İ' lowers
        to 'i' + U+0307); and there are at most 64 gates."""
        for gate in gates:
            if "k" in gate or "\u0307" in gate or gate.endswith("i"):
                return False
            if any(not c.isascii() and (c.lower() != c or c.upper() != c) for c in gate):
                return False
        return 0 < len(gates) <= 64

    def available(self) -> bool:
        if not self._tried:
            self._tried = True
            try:
                import hyperscan
            except ImportError:
                return False
            literal = ["".join(f"\\x{b:02x}" for b in g.encode()) for g in self.gates]
            cue_flags = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_SOM_LEFTMOST
            lengthening = "".join(f"\\x{b:02x}" for b in LENGTHENING.encode())
            self._db = _compile(
                hyperscan,
                [*(self.cues.get(i, literal[i]) for i in self.roots), lengthening],
                [*(cue_flags if i in self.cues else hyperscan.HS_FLAG_CASELESS for i in self.roots), 0],
                ids=[*self.roots, self._lengthening_id],
            )
            # RE2 syntax is also Hyperscan syntax (UTF-8 mode; Unicode properties need UCP, which would
            # change \b, so only superset forms, which have none, use them); leftmost starts. Then the
            # gates that are not roots, as literals, numbered after the regexes.
            base = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_SOM_LEFTMOST
            expressions = [*map(_without_nul, self.window_regexes), *(literal[i] for i in self.inner)]
            if expressions:
                self._window_db = _compile(
                    hyperscan,
                    expressions,
                    [base | (hyperscan.HS_FLAG_UCP if "\\p{" in r else 0) for r in self.window_regexes]
                    + [hyperscan.HS_FLAG_CASELESS] * len(self.inner),
                )
        return self._db is not None

    def window_matches(
        self,
        win_bytes: np.ndarray,
        win_offsets: np.ndarray,
        counts: np.ndarray | None = None,
        separated: bytes | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every report of every window regex: (regex index, window, start, end), start and end in
        bytes from the window's start, with one Hyperscan scan of the windows joined by NUL bytes (so
        that no \\b sees a neighbouring window). A report is made for every end of a match, with the
        leftmost start of the matches ending there; a match that runs into the next window ends past
        its window's end. ``counts`` (windows x gates, ``locate``'s): the occurrences of the gates that
        are not roots are added to it (every one lies in the window that ``locate``'s first offsets
        give). ``separated``: the windows already joined by NUL bytes (``batch_windows.windows_of``)."""
        if self._window_db is None:
            empty = np.empty(0, np.int64)
            return empty, empty, empty, empty
        if separated is None:
            view = memoryview(win_bytes)
            bounds = win_offsets.tolist()
            separated = b"\x00".join([view[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
        regex, window, starts, ends = _scan_windows(self._window_db, separated, win_offsets, len(self.window_regexes))
        mine = regex < len(self.window_regexes)
        if mine.all():
            return regex, window, starts, ends
        if counts is not None:
            gate = np.array(self.inner, np.int64)[regex[~mine] - len(self.window_regexes)]
            np.add.at(counts, (window[~mine], gate), 1)
        return regex[mine], window[mine], starts[mine], ends[mine]

    @staticmethod
    def copyright_firsts(
        matches: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        win_offsets: np.ndarray,
        count: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The first match of each window regex 0 .. count - 1 (the copyright notices) in each window:
        (regex, window, start, the longest match from that start in bytes), ordered by regex, then
        window; from ``window_matches``."""
        notice, window, local, ends = matches
        keep = notice < count
        notice, window, local, ends = notice[keep], window[keep], local[keep], ends[keep]
        if not len(notice):
            return notice, window, local, ends
        # First match per (notice, window): the smallest start; its longest end among the reports.
        key = (notice * (len(win_offsets) - 1) + window) * (int(local.max()) + 1) + local
        order = np.lexsort((-ends, key))
        notice, window, local, ends = notice[order], window[order], local[order], ends[order]
        first = np.ones(len(notice), bool)
        first[1:] = (notice[1:] != notice[:-1]) | (window[1:] != window[:-1])
        notice, window, local, ends = notice[first], window[first], local[first], ends[first]
        length = ends - local
        # A match running into the next window is no match of this one: too long, so left to Python.
        length[ends > win_offsets[window + 1] - win_offsets[window]] = np.iinfo(np.int64).max
        return notice, window, local, length

    def locate(self, offsets: np.ndarray, data: pa.Buffer) -> Located | None:
        """Step 1 (see ``Located``; with ``split_roots``, counts of the root gates only)."""
        ids, froms, ends, on_match = _reports()
        lo, hi = int(offsets[0]), int(offsets[-1])
        self._db.scan(memoryview(np.frombuffer(data, np.uint8)[lo:hi]), match_event_handler=on_match)  # type: ignore[attr-defined]
        if not ids:
            return None
        gate = np.array(ids, np.int64)
        end = np.array(ends, np.int64) + lo
        som = np.array(froms, np.int64) + lo
        lengthened = np.empty(0, np.int64)
        if self._lengthening_id in ids:
            lengthening = gate == self._lengthening_id
            lengthened = np.searchsorted(offsets, end[lengthening], side="right") - 1
            gate, end, som = gate[~lengthening], end[~lengthening], som[~lengthening]
        start = np.where(self._is_cue[gate], som, end - self.lengths[gate])
        row = np.searchsorted(offsets, start, side="right") - 1
        inside = end <= offsets[row + 1]  # an occurrence across two rows is no occurrence
        if not inside.all():
            row, gate, start = row[inside], gate[inside], start[inside]
        if not len(row):
            return None
        # Reports come in order of their ends, so the rows of the occurrences left are ascending.
        fresh = np.empty(len(row), bool)
        fresh[0] = True
        np.not_equal(row[1:], row[:-1], out=fresh[1:])
        heads = np.flatnonzero(fresh)
        candidates = row[heads]
        slot = np.cumsum(fresh) - 1
        n_gates = len(self.gates)
        counts = np.bincount(slot * n_gates + gate, minlength=len(heads) * n_gates).reshape(len(heads), n_gates)
        first = np.minimum.reduceat(start - self.lead[gate], heads)
        to_python = (counts[:, self.python_gates] > 0).any(axis=1)
        whole_text = np.isin(candidates, lengthened) if len(lengthened) else np.zeros(len(candidates), bool)
        return Located(candidates, first, to_python, counts, whole_text)


def _roots(
    gates: tuple[str, ...], cues: set[int], split: bool
) -> tuple[list[int], list[int], np.ndarray]:
    """(root gates and cues, the other gates, per gate: how many bytes before its own start a gate that
    holds it may start). A root holds no other literal gate (a cue's literal may be absent where it
    matches, so it roots nothing); every other gate holds a root."""
    literal = [i for i in range(len(gates)) if i not in cues]
    inner = [i for i in literal if split and any(j != i and gates[j] in gates[i] for j in literal)]
    roots = [i for i in range(len(gates)) if i not in inner]
    lead = np.zeros(len(gates), np.int64)
    for i in inner:
        for r in roots:
            if r not in cues and gates[r] in gates[i]:
                lead[r] = max(lead[r], len(gates[i][: gates[i].rfind(gates[r])].encode()))
    return roots, inner, lead


def _without_nul(regex: str) -> str:
    """``regex`` (a translation of ``patterns.to_re2``, where a literal dot or bracket is written
    ``\\x{..}``) with no class that matches the NUL byte: windows are scanned joined by NUL bytes, and a
    match running from one window into the next could otherwise end where a match of the next one
    ends and hide its start (Hyperscan reports the leftmost start per end). A window holding a NUL
    byte itself is left to Python (``batch_windows.unsafe_rows``)."""
    regex = regex.replace("(?s:.)", "[^\\x00]").replace(".", "[^\\n\\x00]").replace("[^", "[^\\x00")
    return regex.replace("\\D", "[^0-9\\x00]").replace("\\W", "[^0-9A-Za-z_\\x00]")


def _scan_windows(
    db: Any, separated: bytes, win_offsets: np.ndarray, first_literal: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One Hyperscan scan of windows joined by NUL bytes (``separated``; ``win_offsets`` of the
    windows without them): every report as (id, window, start, end), start and end in bytes from the
    window's start. A report is placed by its start (a match may run into the next window), but one of
    a literal (id from ``first_literal`` on: no SOM flag, so no start) by its last byte."""
    ids, froms, tos, on_match = _reports()
    db.scan(separated, match_event_handler=on_match)
    regex = np.array(ids, np.int64)
    starts, ends = np.array(froms, np.int64), np.array(tos, np.int64)
    # Window i starts at ``win_offsets[i] + i`` in the joined bytes.
    sep_start = win_offsets[:-1] + np.arange(len(win_offsets) - 1)
    window = np.searchsorted(sep_start, np.where(regex >= first_literal, ends - 1, starts), side="right") - 1
    return regex, window, starts - sep_start[window], ends - sep_start[window]


def _compile(hyperscan: Any, expressions: list[str], flags: list[int], ids: list[int] | None = None) -> object:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=[e.encode() for e in expressions],
        ids=list(range(len(expressions))) if ids is None else ids,
        elements=len(expressions),
        flags=flags,
    )
    return db


def _reports() -> tuple[list[int], list[int], list[int], Any]:
    """Lists of Hyperscan reports (id, start, end) and the match handler that fills them."""
    ids: list[int] = []
    froms: list[int] = []
    ends: list[int] = []

    def on_match(id_: int, start: int, to: int, _flags: int, _context: object) -> None:
        ids.append(id_)
        froms.append(start)
        ends.append(to)

    return ids, froms, ends, on_match
