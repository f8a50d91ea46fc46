"""Content evidence for a whole Arrow column: the same findings as ``ContentScanner.scan`` on every row.

Work per batch, cheapest first:

1. One pass over every text finds the rows with a cue (*candidates*) and where their first cue starts.
   With Hyperscan installed (``gates.GateFinder``): every occurrence of every *root* gate (a literal
   gate that holds no other: "licen", not "apache licen"; a word of prose such as " under " is
   replaced by the start of its notices, "licensed under" and the like); the other gates are counted
   in step 2's windows, so each candidate's gate counts are known. Otherwise one RE2 pass
   (``find_substring_regex``) with the *pre-filter* (the gates as literals, refined where a pattern
   starts with its trigger: "(c)" only before a year; ``patterns.prefilter_re2``), then the gates are
   counted in the candidates' windows. A row without a cue has no finding. No match starts more than
   ``content._TRIGGER_REACH`` (80) characters before its trigger, so later steps read only a *window*
   of each candidate, from 81 characters before its first cue to its end: for a page with a copyright
   footer, the footer (with Hyperscan, the window starts 81 bytes before the cue when those are ASCII,
   else 324 bytes before: 81 characters of any width). A candidate holding 'İ' (``gates.LENGTHENING``:
   ``str.lower()`` lengthens it, and ``scan`` then searches every notice everywhere) goes to Python.
2. A window is *safe* when every non-ASCII character in it is whitespace or in
   ``patterns.SAFE_NON_ASCII`` (checked with numpy, ``batch_windows``): there Python's regex semantics
   and the exact RE2 forms (``patterns.to_re2(.., "exact")``) agree. A window whose other non-ASCII
   characters are CJK (``patterns.WORDISH_RANGES``) is as good where no notice that reads word classes
   (``patterns.reads_word_class``: \\b, \\w) has a gate: Chinese notices are settled here too. Rows
   with another window go to Python (``ContentScanner._scan``, the reference).
3. Copyright notices (``batch_copyright.CopyrightStep``): each notice's exact form finds its first
   match in the windows (RE2 per notice, or one Hyperscan scan of all windows). It is Python's when it
   starts with one of the notice's triggers and is at most ``MATCH_SPAN`` bytes long, so it lies in
   Python's window around that trigger; otherwise the row goes to Python.
4. SPDX ids and licence notices (``batch_notices.NoticeStep``, same Hyperscan scan, or RE2), then full
   licence texts (``fulltext.identify_full_texts``, once for all rows that ``scan``'s rule sends there).

The findings are put together column-wise (``batch_columns``). Byte offsets become character offsets
with the ``n_chars`` column of the normalise stage when the batch has it, else by decoding the bytes
of each row before its window. No per-row Python object is made for rows without a cue, nor for rows
settled in step 3; step 4 runs a notice's own Python pattern once per row it matched.
Without gate counts (RE2 with gates that ASCII case folding cannot find exactly, or a batch with
fewer than ``BatchPlan.re2_notice_rows`` such rows, where Python is cheaper than RE2's compilations)
steps 3 and 4 take only rows that can hold nothing but copyright notices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.licences.batch_columns import Collector, ContentColumns
from auditor.licences.batch_copyright import CopyrightStep
from auditor.licences.batch_notices import NoticeStep
from auditor.licences.batch_windows import (
    char_classes,
    prefix_chars,
    row_texts,
    string_buffers,
    unsafe_rows,
    window_array,
    windows_of,
)
from auditor.licences.gates import LENGTHENING, GateFinder, Located
from auditor.licences.patterns import (
    SAFE_NON_ASCII,
    WORDISH_RANGES,
    cue_through,
    literals_to_re2,
    prefilter_re2,
    reads_word_class,
)

if TYPE_CHECKING:
    from auditor.licences.content import ContentScanner

__all__ = ["BatchPlan", "ContentColumns", "word_cues"]

_NON_NOTICE_LITERALS = ("licen", "warrant", "creativecommons")
# Gates whose counts step 4 reads (content._SPDX_GATES and content._FULLTEXT_GATES).
_SPDX_GATES = ("spdx-license-identifier",)
_LICEN, _WARRANT = "licen", "warrant"
# A match may start up to content._TRIGGER_REACH (80) characters before its trigger: windows start 81
# characters (at most 4 bytes each) before the first cue.
_TRIGGER_REACH = 80
_WINDOW_BACK = 4 * (_TRIGGER_REACH + 1)
# RE2 engine: the fewest rows per batch for which step 4 beats scanning them in Python (measured with
# bench/licence_overhead.py: ~6 ms of fixed cost per batch against ~70 us per row in Python).
_RE2_NOTICE_ROWS = 128


def word_cues(scanner: ContentScanner, gate_index: dict[str, int]) -> dict[int, str]:
    """Cues for the gates that are a word of prose between spaces (" under "), which most texts hold:
    the alternation of the leading part, through that word, of each notice the gate triggers
    ("licensed under", "made available under", ...), when every such notice has one and the gate
    triggers nothing else."""
    cues: dict[int, str] = {}
    for gate in scanner.gates:
        word = gate.strip()
        if gate == word or not word.isalpha():
            continue
        users = [n for n in scanner.notices if gate in n.triggers]
        if gate in (*_SPDX_GATES, _LICEN, _WARRANT, *_NON_NOTICE_LITERALS):
            continue
        parts = [cue_through(n.pattern, word) for n in users]
        if users and all(parts):
            cues[gate_index[gate]] = _alternation([p for p in parts if p])
    return cues


def _window_back(data: pa.Buffer, row_start: np.ndarray, first_abs: np.ndarray) -> np.ndarray:
    """How many bytes before its first cue each window starts: ``_TRIGGER_REACH`` + 1 when those bytes
    are ASCII (that many characters: as far back as Python reads), else ``_WINDOW_BACK`` (which covers
    any characters). The copyright footer of a page is then read from shortly before it, not from 324
    bytes before."""
    reach = _TRIGGER_REACH + 1
    view = memoryview(data)
    # A row starting later than ``reach`` bytes before its cue: the window starts at the row start,
    # whatever those bytes are.
    start = np.maximum(first_abs - reach, row_start)
    ascii_only = np.fromiter(
        (view[a:b].tobytes().isascii() for a, b in zip(start.tolist(), first_abs.tolist(), strict=True)),
        bool,
        count=len(start),
    )
    return np.where(ascii_only, reach, _WINDOW_BACK)


def _self_overlapping(literal: str) -> bool:
    """True when two occurrences of ``literal`` can overlap (a proper prefix is also a suffix)."""
    return any(literal[:k] == literal[-k:] for k in range(1, len(literal)))


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _alternation(parts: list[str]) -> str:
    return "|".join(dict.fromkeys(parts))


class BatchPlan:
    """The compiled RE2 forms a ``ContentScanner`` needs for whole columns (built once, in setup)."""

    def __init__(self, scanner: ContentScanner, *, use_hyperscan: bool | None = None) -> None:
        self.scanner = scanner
        gate_index = {gate: i for i, gate in enumerate(scanner.gates)}
        prefilter = [literals_to_re2(_NON_NOTICE_LITERALS)]
        python_cues = [literals_to_re2(_NON_NOTICE_LITERALS)]
        python_gates = set(scanner.gates) - {
            t for n in scanner.notices if n.kind == "copyright-notice" for t in n.triggers
        }
        # Step 3: the copyright notices with an exact RE2 form; the other notices go to Python.
        self.copyright = CopyrightStep(scanner, gate_index)
        cues = word_cues(scanner, gate_index)
        for notice in scanner.notices:
            cue = prefilter_re2(notice.pattern, notice.triggers)
            if all(gate_index[t] in cues for t in notice.triggers):  # "licensed under", not " under "
                cue = _alternation([cues[gate_index[t]] for t in notice.triggers])
            prefilter.append(cue)
            if notice.id not in self.copyright.ids:
                python_cues.append(cue)
                python_gates.update(notice.triggers)
        self.prefilter = _alternation(prefilter)
        self.python_cues = _alternation(python_cues)
        self._python_gates = np.array(sorted(gate_index[g] for g in python_gates), np.int64)
        self._char_classes = char_classes(SAFE_NON_ASCII, WORDISH_RANGES)
        # A window with word-ish characters (CJK) is settled column-wise only where no matcher that
        # reads word classes runs: none of their gates occurs (``patterns.WORDISH_RANGES``).
        self._word_gates = np.array(
            sorted({gate_index[t] for n in scanner.notices if reads_word_class(n.pattern) for t in n.triggers}),
            np.int64,
        )
        # Step 4 needs every row's exact gate counts: ASCII case folding must find the gates where
        # ``str.lower()`` does, and the counted gates must not overlap themselves (Hyperscan reports
        # overlapping occurrences, ``str.count`` does not).
        self.notices: NoticeStep | None = None
        if GateFinder.compatible(scanner.gates) and not any(
            _self_overlapping(g) for g in (*_SPDX_GATES, _LICEN, _WARRANT)
        ):
            self.notices = NoticeStep(scanner, gate_index)
        # With RE2, step 4 costs a regex compilation per matcher and batch: below this many rows that
        # may hold more than copyright notices, the Python scan of those rows is cheaper (same findings).
        self.re2_notice_rows = _RE2_NOTICE_ROWS
        self._licen, self._warrant = gate_index[_LICEN], gate_index[_WARRANT]
        (self._spdx,) = (gate_index[g] for g in _SPDX_GATES)
        self._check_compiles()
        self._gates: GateFinder | None = None
        if use_hyperscan is not False and GateFinder.compatible(scanner.gates):
            self._gates = GateFinder(
                scanner.gates,
                tuple(gate_index[g] for g in sorted(python_gates)),
                self.copyright.regexes
                + (self.notices.hyperscan_regexes if self.notices is not None else ()),
                cues,
                # Gates that hold a root are counted in the windows, which only rows settled
                # column-wise get: all of them when step 4 runs.
                split_roots=self.notices is not None,
            )
            if use_hyperscan and not self._gates.available():
                raise ImportError("use_hyperscan=True needs the hyperscan package: pip install hyperscan")

    @property
    def engine(self) -> str:
        """Which engine finds the cues of step 1: "hyperscan" when installed (and usable), else "re2"."""
        return "hyperscan" if self._gates is not None and self._gates.available() else "re2"

    def _check_compiles(self) -> None:
        probe = pa.array([""], pa.large_string())
        for regex in (
            self.prefilter,
            self.python_cues,
            *self.copyright.regexes,
            *(m.regex for m in (self.notices.matchers if self.notices is not None else ())),
        ):
            pc.extract_regex_span(probe, f"(?P<probe>{regex})")

    def candidate_mask(self, texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """True where a text may hold licence evidence (the RE2 pre-filter of step 1); nulls are False."""
        return _mask(pc.match_substring_regex(texts, self.prefilter))

    def scan(self, texts: pa.Array | pa.ChunkedArray, n_chars: pa.Array | None = None) -> ContentColumns:
        """Findings of every row of ``texts`` (see the module docstring). ``n_chars``: optional
        character lengths of the texts (the normalise stage's column), to convert byte offsets."""
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
            texts = texts.cast(pa.large_string())
        collector = Collector()
        offsets, data = string_buffers(texts)
        if data is None or not len(texts):
            return collector.finish(len(texts))
        gates = self._gates if (self._gates is not None and self._gates.available()) else None
        located = gates.locate(offsets, data) if gates is not None else self._locate_re2(texts, offsets, data)
        if located is None:
            return collector.finish(len(texts))
        candidates, first, counts = located.candidates, located.first, located.counts
        # Steps 3 and 4 take the rows they can (all of them when the gate counts are known).
        columnwise = ~located.to_python if counts is None or self.notices is None else np.ones(len(candidates), bool)
        at = np.flatnonzero(columnwise)
        python_at = np.flatnonzero(~columnwise)
        if len(at):
            unsettled = self._columnwise(
                collector,
                texts,
                n_chars,
                offsets,
                data,
                candidates[at],
                first[at],
                # Step 2 completes the gate counts in place (``GateFinder.split_roots``).
                None if counts is None else counts if len(at) == len(candidates) else counts[at],
                located.whole_text[at],
            )
            python_at = np.sort(np.concatenate([python_at, at[unsettled]]))
        if len(python_at):
            rows = candidates[python_at]
            texts_py = texts.take(pa.array(rows)).to_pylist()
            names, scan, scan_gates = self.scanner.gates, self.scanner.scan, self.scanner._scan
            # ``scan`` finds the gates itself where they were counted in windows (RE2) or a cue stood
            # for a gate (its literal may be absent, which matters where lower-casing changes lengths).
            exact = np.zeros(len(rows), bool)
            if gates is not None:
                exact = ~(counts[python_at][:, gates.cue_gates] > 0).any(axis=1)
            found = [
                (row, scan_gates(text, text.lower(), {names[g] for g in np.flatnonzero(counts[at])}))
                if use_gates
                else (row, scan(text or ""))
                for row, text, at, use_gates in zip(
                    rows.tolist(), texts_py, python_at.tolist(), exact.tolist(), strict=True
                )
            ]
            collector.add_findings(found)
        return collector.finish(len(texts), len(python_at))

    def _locate_re2(self, texts: pa.Array, offsets: np.ndarray, data: pa.Buffer) -> Located | None:
        """Step 1 with RE2 (``gates.Located``; ``first``: the byte offset of the first cue).

        The pre-filter finds the candidates, one pass of the other matchers' cues over their windows
        the rows that may hold more than copyright notices. The gates of those rows are found in
        Python (``ContentScanner.present_gates``: pyarrow would take a pass per gate); the other rows
        hold only copyright triggers, which count as present (1): a gate only selects the matchers that
        run, and step 3 finds nothing that does not start with a trigger."""
        first = pc.fill_null(pc.find_substring_regex(texts, self.prefilter), -1).to_numpy(
            zero_copy_only=False
        )
        candidates = np.flatnonzero(first >= 0)
        if not len(candidates):
            return None
        first_abs = offsets[candidates] + first[candidates]
        whole_text = _mask(pc.match_substring(texts.take(pa.array(candidates)), LENGTHENING))
        # Every gate holds a literal of the pre-filter or of a cue ("spdx-license-identifier" holds
        # "licen"), so none starts more than the longest gate's length before the first cue (but a
        # copyright trigger whose cue is refined, where no notice can match).
        longest = max(len(g.encode()) for g in self.scanner.gates)
        windows = window_array(*windows_of(data, offsets[candidates], first_abs, offsets[candidates + 1], longest)[:2])
        to_python = _mask(pc.match_substring_regex(windows, self.python_cues))
        if self.notices is None or int(to_python.sum()) < self.re2_notice_rows:
            return Located(candidates, first_abs, to_python, None, whole_text)
        counts = np.ones((len(candidates), len(self.scanner.gates)), np.int32)
        counts[:, self._python_gates] = 0
        at = np.flatnonzero(to_python)
        if len(at):
            gate_index = {gate: g for g, gate in enumerate(self.scanner.gates)}
            counts[at] = 0
            present_gates = self.scanner.present_gates
            spdx, licen = self.scanner.gates[self._spdx], self.scanner.gates[self._licen]
            for row, window in zip(at.tolist(), windows.take(pa.array(at)).to_pylist(), strict=True):
                lowered = window.lower()
                for gate in present_gates(lowered):
                    counts[row, gate_index[gate]] = 1
                counts[row, self._spdx] = lowered.count(spdx)
                counts[row, self._licen] = lowered.count(licen)
        return Located(candidates, first_abs, to_python, counts, whole_text)

    def _columnwise(
        self,
        collector: Collector,
        texts: pa.Array,
        n_chars: pa.Array | None,
        offsets: np.ndarray,
        data: pa.Buffer,
        rows: np.ndarray,
        first_abs: np.ndarray,
        counts: np.ndarray | None,
        whole_text: np.ndarray,
    ) -> np.ndarray:
        """Steps 2 to 4 for ``rows`` (whose first cue starts at byte ``first_abs``); the findings of the
        rows they settle go to ``collector``. Returns the mask of rows left to Python: those of
        ``whole_text`` (``gates.LENGTHENING``) and those steps 2 to 4 cannot settle."""
        hyperscan = self._gates is not None and self._gates.available()
        back = _window_back(data, offsets[rows], first_abs) if hyperscan else _WINDOW_BACK
        win_bytes, win_offsets, separated = windows_of(
            data, offsets[rows], first_abs, offsets[rows + 1], back, separated=hyperscan
        )
        windows = None if hyperscan else window_array(win_bytes, win_offsets)
        unsafe = unsafe_rows(win_bytes, win_offsets, self._char_classes)
        multibyte = unsafe.multibyte
        label = collector.code
        matches = None
        if hyperscan:
            matches = self._gates.window_matches(win_bytes, win_offsets, counts, separated)  # type: ignore[union-attr]
        gate_sets = None if counts is None else counts > 0
        unsettled = whole_text | unsafe.unsafe
        unsettled |= unsafe.wordish if gate_sets is None else unsafe.wordish & gate_sets[:, self._word_gates].any(axis=1)
        at, kind, value, offset, detail = self.copyright.settle(
            windows, win_bytes, win_offsets, gate_sets, unsettled, label, matches
        )
        # Step 3 gives byte offsets in the window, step 4 character offsets in the window.
        base = win_offsets[:-1]
        offset = multibyte.chars(base[at], base[at] + offset)
        parts = [(at, kind, value, offset, detail)]
        full_text = np.empty(0, np.int64)
        if counts is not None and gate_sets is not None and self.notices is not None:
            if matches is not None:
                firsts = self.notices.firsts_hyperscan(matches, len(self.copyright.notices), len(rows))
            else:
                firsts = self.notices.firsts_re2(windows, gate_sets, unsettled)  # type: ignore[arg-type]
            found = self.notices.run(win_bytes, win_offsets, counts, firsts, unsettled, label)
            parts.append((found.at, found.kind, found.value, found.offset, found.detail))
            # ``scan``'s full-text rule: "warrant" occurs, or "licen" three times and no notice names one.
            full_text = np.flatnonzero(
                ~unsettled & (gate_sets[:, self._warrant] | (~found.named & (counts[:, self._licen] >= 3)))
            )
        at, kind, value, offset, detail = (np.concatenate(c) for c in zip(*parts, strict=True))
        keep = ~unsettled[at]
        at, kind, value, offset, detail = at[keep], kind[keep], value[keep], offset[keep], detail[keep]
        # Character offset in the window -> in the row: add the characters before the window (row
        # length minus window length, in characters).
        need = np.flatnonzero(np.bincount(at, minlength=len(rows)))
        if len(need):
            lead = np.zeros(len(rows), np.int64)
            if n_chars is not None:
                row_chars = np.asarray(
                    n_chars.take(pa.array(rows[need])).to_numpy(zero_copy_only=False), np.int64
                )
                lead[need] = row_chars - multibyte.chars(base[need], win_offsets[need + 1])
            else:
                # The characters before the window: those of its row's bytes before it.
                row_end = offsets[rows[need] + 1]
                lead[need] = prefix_chars(data, offsets[rows[need]], row_end - (win_offsets[need + 1] - base[need]))
            offset = lead[at] + offset
        if len(full_text):
            full = self.scanner.full_texts(row_texts(data, offsets, rows[full_text]))
            hits = []
            for window, match in zip(full_text.tolist(), full, strict=True):
                if match is not None:
                    detail_code = label(f"full-text containment {match.containment:.2f}")
                    hits.append((window, label("full-text"), label(match.licence), -1, detail_code))
            if hits:
                extra = np.array(hits, np.int64).reshape(-1, 5)
                at, kind, value, offset, detail = (
                    np.concatenate([column, extra[:, k]])
                    for k, column in enumerate((at, kind, value, offset, detail))
                )
        collector.add_columns(rows[at], kind, value, offset, detail)
        return unsettled
