"""Step 1 of the batch scan with Hyperscan, when that package is installed (``pip install hyperscan``).

One pass over a batch's UTF-8 buffer finds every occurrence of every literal gate of the content scan;
a second one, over the windows of the candidate rows, every match of the exact RE2 forms of the copyright
and licence notices and of the superset forms of the other matchers (RE2 syntax that Hyperscan also
reads). Without Hyperscan, ``batch.BatchPlan`` does the same with pyarrow's RE2 kernels, which compile
every pattern at every call, about twice as slowly; the findings are the same.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


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
    common words of prose from making candidates."""

    def __init__(
        self,
        gates: tuple[str, ...],
        python_gates: tuple[int, ...],
        window_regexes: tuple[str, ...],
        cues: dict[int, str] | None = None,
    ) -> None:
        self.gates = gates
        self.python_gates = np.array(python_gates, np.int64)
        self.window_regexes = window_regexes
        self.cues = dict(cues or {})
        self._is_cue = np.array([i in self.cues for i in range(len(gates))], bool)
        self.cue_gates = np.array(sorted(self.cues), np.int64)
        self._window_db: object | None = None
        self.lengths = np.array([len(g.encode()) for g in gates], np.int64)
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
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            literal = ["".join(f"\\x{b:02x}" for b in g.encode()) for g in self.gates]
            db.compile(
                expressions=[self.cues.get(i, literal[i]).encode() for i in range(len(self.gates))],
                ids=list(range(len(self.gates))),
                elements=len(self.gates),
                flags=[
                    hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_SOM_LEFTMOST
                    if i in self.cues
                    else hyperscan.HS_FLAG_CASELESS
                    for i in range(len(self.gates))
                ],
            )
            self._db = db
            if self.window_regexes:
                # RE2 syntax is also Hyperscan syntax (UTF-8 mode; Unicode properties need UCP, which
                # would change \b, so only superset forms, which have none, use them); leftmost starts.
                window_db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                base = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_SOM_LEFTMOST
                window_db.compile(
                    expressions=[r.encode() for r in self.window_regexes],
                    ids=list(range(len(self.window_regexes))),
                    elements=len(self.window_regexes),
                    flags=[base | (hyperscan.HS_FLAG_UCP if "\\p{" in r else 0) for r in self.window_regexes],
                )
                self._window_db = window_db
        return self._db is not None

    def window_matches(
        self, win_bytes: np.ndarray, win_offsets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every report of every window regex: (regex index, window, start, end), start and end in
        bytes from the window's start, with one Hyperscan scan of the windows joined by NUL bytes (so
        that no \\b sees a neighbouring window). A report is made for every end of a match, with the
        leftmost start of the matches ending there; a match that runs into the next window ends past
        its window's end."""
        n = len(win_offsets) - 1
        ids: list[int] = []
        froms: list[int] = []
        tos: list[int] = []

        def on_match(regex: int, start: int, end: int, _flags: int, _context: object) -> None:
            ids.append(regex)
            froms.append(start)
            tos.append(end)

        view = memoryview(win_bytes)
        joined = b"\x00".join(
            [view[a:b] for a, b in zip(win_offsets[:-1].tolist(), win_offsets[1:].tolist(), strict=True)]
        )
        self._window_db.scan(joined, match_event_handler=on_match)  # type: ignore[attr-defined]
        starts = np.array(froms, np.int64)
        sep_start = win_offsets[:-1] + np.arange(n)  # window i starts here in ``joined``
        window = np.searchsorted(sep_start, starts, side="right") - 1
        return (
            np.array(ids, np.int64),
            window,
            starts - sep_start[window],
            np.array(tos, np.int64) - sep_start[window],
        )

    @staticmethod
    def copyright_firsts(
        matches: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        win_offsets: np.ndarray,
        count: int,
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per window regex 0 .. count - 1 (the copyright notices): (windows with a match, start of the
        first match, the longest match from that start, in bytes), from ``window_matches``."""
        notice, window, local, ends = matches
        keep = notice < count
        notice, window, local, ends = notice[keep], window[keep], local[keep], ends[keep]
        empty = np.empty(0, np.int64)
        if not len(notice):
            return [(empty, empty, empty)] * count
        # First match per (notice, window): the smallest start; its longest end among the reports.
        order = np.lexsort((-ends, local, window, notice))
        notice, window, local, ends = notice[order], window[order], local[order], ends[order]
        first = np.r_[True, (notice[1:] != notice[:-1]) | (window[1:] != window[:-1])]
        length = ends - local
        # A match running into the next window is no match of this one: too long, so left to Python.
        length[ends > win_offsets[window + 1] - win_offsets[window]] = np.iinfo(np.int64).max
        found = []
        for k in range(count):
            pick = first & (notice == k)
            found.append((window[pick], local[pick], length[pick]))
        return found

    def locate(
        self, offsets: np.ndarray, data: pa.Buffer
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(candidate rows, byte offset of their first gate, scan in Python, occurrences of each gate
        per candidate: an int32 matrix, candidates x gates)."""
        ids: list[int] = []
        froms: list[int] = []
        ends: list[int] = []

        def on_match(gate: int, start: int, to: int, _flags: int, _context: object) -> None:
            ids.append(gate)
            froms.append(start)
            ends.append(to)

        lo, hi = int(offsets[0]), int(offsets[-1])
        self._db.scan(memoryview(np.frombuffer(data, np.uint8)[lo:hi]), match_event_handler=on_match)  # type: ignore[attr-defined]
        if not ids:
            return None
        gate = np.array(ids, np.int64)
        end = np.array(ends, np.int64) + lo
        start = np.where(self._is_cue[gate], np.array(froms, np.int64) + lo, end - self.lengths[gate])
        row = np.searchsorted(offsets, start, side="right") - 1
        inside = end <= offsets[row + 1]  # an occurrence across two rows is no occurrence
        row, gate, start = row[inside], gate[inside], start[inside]
        if not len(row):
            return None
        # Reports come in order of their ends, so the rows of the occurrences left are ascending.
        heads = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
        candidates = row[heads]
        slot = np.repeat(np.arange(len(heads)), np.diff(np.r_[heads, len(row)]))
        n_gates = len(self.gates)
        counts = np.bincount(slot * n_gates + gate, minlength=len(heads) * n_gates)
        counts = counts.reshape(len(heads), n_gates).astype(np.int32)
        first = np.minimum.reduceat(start, heads)
        to_python = (counts[:, self.python_gates] > 0).any(axis=1)
        return candidates, first, to_python, counts
