"""Step 1 of the batch scan with Hyperscan, when that package is installed (``pip install hyperscan``).

One pass over a batch's UTF-8 buffer finds every occurrence of every literal gate of the content scan
(and, in the windows of the rows that can only hold copyright notices, every match of the notices' exact
RE2 forms, which are also Hyperscan syntax). Without Hyperscan, ``batch.BatchPlan`` does the same with
pyarrow's RE2 kernels, about twice as slowly; the findings are the same.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


class GateFinder:
    """Step 1 and 2 with Hyperscan, when it is installed: every occurrence of every literal gate in a
    batch, in one pass over the batch's UTF-8 buffer (ASCII-case-insensitive, as ``str.lower()`` gates
    are, see ``compatible``). Gives the exact gate set of each row, so Python rows skip computing it,
    and a row goes to Python exactly when it holds a gate of a matcher that is not an RE2 copyright
    notice. Built lazily in each process (a Hyperscan database does not pickle)."""

    def __init__(
        self, gates: tuple[str, ...], python_gates: tuple[int, ...], copyright_regexes: tuple[str, ...]
    ) -> None:
        self.gates = gates
        self.python_gates = np.array(python_gates, np.int64)
        self.copyright_regexes = copyright_regexes
        self._copyright_db: object | None = None
        self.lengths = np.array([len(g.encode()) for g in gates], np.int64)
        self._db: object | None = None
        self._tried = False

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_db": None, "_copyright_db": None, "_tried": False}

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
            expressions = ["".join(f"\\x{b:02x}" for b in g.encode()).encode() for g in self.gates]
            db.compile(
                expressions=expressions,
                ids=list(range(len(self.gates))),
                elements=len(self.gates),
                flags=[hyperscan.HS_FLAG_CASELESS] * len(self.gates),
            )
            self._db = db
            if self.copyright_regexes:
                # The exact RE2 forms are also Hyperscan syntax (UTF-8 mode); leftmost starts reported.
                copyright_db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                copyright_db.compile(
                    expressions=[r.encode() for r in self.copyright_regexes],
                    ids=list(range(len(self.copyright_regexes))),
                    elements=len(self.copyright_regexes),
                    flags=[hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_SOM_LEFTMOST]
                    * len(self.copyright_regexes),
                )
                self._copyright_db = copyright_db
        return self._db is not None

    def copyright_firsts(
        self, win_bytes: np.ndarray, win_offsets: np.ndarray, count: int
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per copyright notice: (windows with a match, start of the first match, the longest match from
        that start, in bytes), with one Hyperscan scan of the windows joined by NUL bytes (so that no
        match and no \\b sees a neighbouring window)."""
        n = len(win_offsets) - 1
        ids: list[int] = []
        froms: list[int] = []
        tos: list[int] = []

        def on_match(notice: int, start: int, end: int, _flags: int, _context: object) -> None:
            ids.append(notice)
            froms.append(start)
            tos.append(end)

        view = memoryview(win_bytes)
        joined = b"\x00".join(
            [view[a:b] for a, b in zip(win_offsets[:-1].tolist(), win_offsets[1:].tolist(), strict=True)]
        )
        self._copyright_db.scan(joined, match_event_handler=on_match)  # type: ignore[attr-defined]
        empty = np.empty(0, np.int64)
        if not ids:
            return [(empty, empty, empty)] * count
        notice = np.array(ids, np.int64)
        starts = np.array(froms, np.int64)
        ends = np.array(tos, np.int64)
        sep_start = win_offsets[:-1] + np.arange(n)  # window i starts here in ``joined``
        window = np.searchsorted(sep_start, starts, side="right") - 1
        local = starts - sep_start[window]
        # First match per (notice, window): the smallest start; its longest end among the reports.
        order = np.lexsort((-ends, local, window, notice))
        notice, window, local, ends = notice[order], window[order], local[order], ends[order]
        first = np.r_[True, (notice[1:] != notice[:-1]) | (window[1:] != window[:-1])]
        length = ends - sep_start[window] - local
        # A match running into the next window is no match of this one: too long, so left to Python.
        length[local + length > win_offsets[window + 1] - win_offsets[window]] = np.iinfo(np.int64).max
        found = []
        for k in range(count):
            pick = first & (notice == k)
            found.append((window[pick], local[pick], length[pick]))
        return found

    def locate(
        self, offsets: np.ndarray, data: pa.Buffer
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(candidate rows, byte offset of their first gate, scan in Python, gate set per candidate)."""
        ids: list[int] = []
        ends: list[int] = []

        def on_match(gate: int, _from: int, to: int, _flags: int, _context: object) -> None:
            ids.append(gate)
            ends.append(to)

        lo, hi = int(offsets[0]), int(offsets[-1])
        self._db.scan(memoryview(np.frombuffer(data, np.uint8)[lo:hi]), match_event_handler=on_match)  # type: ignore[attr-defined]
        if not ids:
            return None
        gate = np.array(ids, np.int64)
        end = np.array(ends, np.int64) + lo
        start = end - self.lengths[gate]
        row = np.searchsorted(offsets, start, side="right") - 1
        inside = end <= offsets[row + 1]  # an occurrence across two rows is no occurrence
        row, gate, start = row[inside], gate[inside], start[inside]
        if not len(row):
            return None
        candidates, slot = np.unique(row, return_inverse=True)
        gate_sets = np.zeros((len(candidates), len(self.gates)), bool)
        gate_sets[slot, gate] = True
        first = np.full(len(candidates), np.iinfo(np.int64).max, np.int64)
        np.minimum.at(first, slot, start)
        to_python = gate_sets[:, self.python_gates].any(axis=1)
        return candidates, first, to_python, gate_sets
