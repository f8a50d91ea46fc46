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
   footer, the footer (Hyperscan reads it from 81 bytes before the cue when those are ASCII).
   A candidate holding 'İ' (``gates.LENGTHENING``: ``str.lower()`` lengthens it, and ``scan`` then
   searches every notice everywhere) goes to Python.
2. A window is *safe* when every non-ASCII character in it is whitespace or in
   ``patterns.SAFE_NON_ASCII`` (checked with numpy): there Python's regex semantics and the exact
   RE2 forms (``patterns.to_re2(.., "exact")``) agree. A window whose other non-ASCII characters are
   CJK (``patterns.WORDISH_RANGES``) is as good where no notice that reads word classes
   (``patterns.reads_word_class``: \\b, \\w) has a gate: Chinese notices are settled here too. Rows
   with another window go to Python (``ContentScanner._scan``, the reference).
3. Copyright notices: each notice's exact form finds its first match in the windows (RE2 per notice,
   or one Hyperscan scan of all windows). It is Python's when it starts with one of the notice's
   triggers and is at most ``_MATCH_SPAN`` bytes long, so it lies in Python's window around that
   trigger; otherwise the row goes to Python.
4. SPDX ids and licence notices (``batch_notices.NoticeStep``, same Hyperscan scan, or RE2), then full
   licence texts (``fulltext.identify_full_texts``, once for all rows that ``scan``'s rule sends there).

Byte offsets become character offsets with the ``n_chars`` column of the normalise stage when the batch
has it, else with ``utf8_length`` of those rows. No per-row Python object is made for rows without a
cue, nor for rows settled in step 3; step 4 runs a notice's own Python pattern once per row it matched.
Without gate counts (RE2 with gates that ASCII case folding cannot find exactly, or a batch with
fewer than ``BatchPlan.re2_notice_rows`` such rows, where Python is cheaper than RE2's compilations)
steps 3 and 4 take only rows that can hold nothing but copyright notices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.licences.batch_notices import NoticeStep
from auditor.licences.batch_windows import (
    Multibyte,
    char_classes,
    starts_with_trigger,
    string_buffers,
    unsafe_rows,
    windows_of,
)
from auditor.licences.gates import LENGTHENING, GateFinder, Located
from auditor.licences.patterns import (
    SAFE_NON_ASCII,
    WORDISH_RANGES,
    cue_through,
    literal_prefixes,
    literals_to_re2,
    prefilter_re2,
    reads_word_class,
    to_re2,
)

if TYPE_CHECKING:
    from auditor.licences.content import ContentScanner, Finding

# Same bound as content._MATCH_SPAN: Python searches a notice up to the end of the line this far after
# its trigger; an RE2 match that starts at a trigger and is no longer than this lies in that window.
_MATCH_SPAN = 400
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


def _scan_from(
    win_offsets: np.ndarray, row_end: np.ndarray, first_abs: np.ndarray, multibyte: Multibyte
) -> np.ndarray:
    """Where the regex engine starts reading each window: ``_TRIGGER_REACH`` + 1 bytes before its first
    cue when those bytes are ASCII (that many characters: as far back as Python reads), else at the
    window's start (``_WINDOW_BACK`` bytes back covers any characters). The copyright footer of a page
    is then read from shortly before it, not from 324 bytes before."""
    start = win_offsets[:-1]
    cue = start + first_abs - (row_end - (win_offsets[1:] - start))
    back = cue - (_TRIGGER_REACH + 1)
    # No lead byte in [back - 3, cue): no multi-byte character has a byte in [back, cue).
    lead = multibyte.lead
    ascii_only = np.searchsorted(lead, cue) == np.searchsorted(lead, back - 3)
    return np.where(ascii_only & (back > start), back, start)


def _self_overlapping(literal: str) -> bool:
    """True when two occurrences of ``literal`` can overlap (a proper prefix is also a suffix)."""
    return any(literal[:k] == literal[-k:] for k in range(1, len(literal)))


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _alternation(parts: list[str]) -> str:
    return "|".join(dict.fromkeys(parts))


@dataclass(frozen=True)
class _CopyrightNotice:
    id: str
    value: str
    regex: str  # exact RE2 form
    triggers: tuple[bytes, ...]
    gates: tuple[int, ...]  # indices of the triggers in ``ContentScanner.gates``
    # Every match starts with a trigger (its literal prefixes do, ``patterns.literal_prefixes``): on a
    # safe or word-ish window, no need to check.
    at_trigger: bool = False


@dataclass
class ContentColumns:
    """Findings of a batch, one entry per finding: ``rows`` ascending, each row's in ``scan`` order.

    ``kind``, ``value`` and ``detail`` are codes into ``labels``; ``offset`` is -1 for findings with no
    offset (full-text matches).
    """

    num_rows: int
    rows: np.ndarray
    kind: np.ndarray
    value: np.ndarray
    offset: np.ndarray
    detail: np.ndarray
    labels: list[str]
    python_rows: int = 0  # rows scanned by ``ContentScanner._scan`` (the others were settled column-wise)

    @classmethod
    def empty(cls, num_rows: int) -> ContentColumns:
        none = np.empty(0, np.int64)
        return cls(num_rows, none, none, none, none, none, [])

    def by_row(self) -> dict[int, list[Finding]]:
        from auditor.licences.content import Finding

        found: dict[int, list[Finding]] = {}
        labels = self.labels
        for row, kind, value, offset, detail in zip(
            self.rows.tolist(),
            self.kind.tolist(),
            self.value.tolist(),
            self.offset.tolist(),
            self.detail.tolist(),
            strict=True,
        ):
            finding = Finding(labels[kind], labels[value], None if offset < 0 else offset, labels[detail])
            found.setdefault(row, []).append(finding)
        return found


class _Collector:
    """Accumulates findings (vectorised parts and Python ``Finding`` lists) into ``ContentColumns``."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self._codes: dict[str, int] = {}
        self.parts: list[tuple[np.ndarray, ...]] = []

    def code(self, label: str) -> int:
        code = self._codes.get(label)
        if code is None:
            code = self._codes[label] = len(self.labels)
            self.labels.append(label)
        return code

    def add_findings(self, row_findings: list[tuple[int, list[Finding]]]) -> None:
        rows: list[int] = []
        columns: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
        kind, value, offset, detail = columns
        for row, findings in row_findings:
            for f in findings:
                rows.append(row)
                kind.append(self.code(f.kind))
                value.append(self.code(f.value))
                offset.append(-1 if f.offset is None else f.offset)
                detail.append(self.code(f.detail))
        if rows:
            self.parts.append(
                (np.array(rows, np.int64), *(np.array(c, np.int64) for c in columns))  # type: ignore[arg-type]
            )

    def finish(self, num_rows: int, python_rows: int = 0) -> ContentColumns:
        if not self.parts:
            empty = ContentColumns.empty(num_rows)
            empty.python_rows = python_rows
            return empty
        rows, kind, value, offset, detail = (np.concatenate(c) for c in zip(*self.parts, strict=True))
        order = np.argsort(rows, kind="stable")  # row sets of the parts are disjoint
        return ContentColumns(
            num_rows,
            rows[order],
            kind[order],
            value[order],
            offset[order],
            detail[order],
            self.labels,
            python_rows,
        )


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
        self.copyright: list[_CopyrightNotice] = []
        cues = word_cues(scanner, gate_index)
        for notice in scanner.notices:
            cue = prefilter_re2(notice.pattern, notice.triggers)
            if all(gate_index[t] in cues for t in notice.triggers):  # "licensed under", not " under "
                cue = _alternation([cues[gate_index[t]] for t in notice.triggers])
            prefilter.append(cue)
            exact = to_re2(notice.pattern, "exact") if notice.kind == "copyright-notice" else None
            if exact is None:
                python_cues.append(cue)
                python_gates.update(notice.triggers)
                continue
            prefixes = literal_prefixes(notice.pattern)
            self.copyright.append(
                _CopyrightNotice(
                    notice.id,
                    notice.value or "copyright",
                    exact,
                    tuple(t.encode() for t in notice.triggers),
                    tuple(gate_index[t] for t in notice.triggers),
                    prefixes is not None and all(p.startswith(notice.triggers) for p in prefixes),
                )
            )
        self.prefilter = _alternation(prefilter)
        self.python_cues = _alternation(python_cues)
        self._python_gates = np.array(sorted(gate_index[g] for g in python_gates), np.int64)
        self._char_classes = char_classes(SAFE_NON_ASCII, WORDISH_RANGES)
        # A window with word-ish characters (CJK) is settled column-wise only where no matcher that
        # reads word classes runs: none of their gates occurs (``patterns.WORDISH_RANGES``).
        # Step 3: each notice's value (index into ``_copyright_values``); the notices whose matches may
        # start elsewhere than at a trigger (their starts are checked).
        self._copyright_values = sorted({n.value for n in self.copyright})
        self._copyright_value = np.array([self._copyright_values.index(n.value) for n in self.copyright], np.int64)
        self._check_trigger = [k for k, n in enumerate(self.copyright) if not n.at_trigger]
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
                tuple(n.regex for n in self.copyright)
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
            *(n.regex for n in self.copyright),
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
        collector = _Collector()
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
        windows, _b, _o = windows_of(data, offsets[candidates], first_abs, offsets[candidates + 1], longest)
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

    def _copyright_firsts_re2(
        self, subset: pa.Array, gate_sets: np.ndarray | None, skip: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """As ``GateFinder.copyright_firsts``, with RE2 (a length of 0: at most ``_MATCH_SPAN`` bytes
        follow the start)."""
        n = len(subset)
        found: list[tuple[np.ndarray, ...]] = [(np.empty(0, np.int64),) * 4]
        for k, notice in enumerate(self.copyright):
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
            long = np.flatnonzero(lengths_left > _MATCH_SPAN)
            if len(long):
                spans = pc.extract_regex_span(part.take(pa.array(hit[long])), f"(?P<m>{notice.regex})")
                length[long] = spans.field("m").flatten().to_numpy(zero_copy_only=False).reshape(-1, 2)[:, 1]
            found.append((np.full(len(hit), k, np.int64), at[hit], start, length))
        return tuple(np.concatenate(c) for c in zip(*found, strict=True))  # type: ignore[return-value]

    def _columnwise(
        self,
        collector: _Collector,
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
        windows, win_bytes, win_offsets = windows_of(
            data, offsets[rows], first_abs, offsets[rows + 1], _WINDOW_BACK
        )
        unsafe = unsafe_rows(win_bytes, win_offsets, self._char_classes)
        multibyte = unsafe.multibyte
        label = collector.code
        hyperscan = self._gates is not None and self._gates.available()
        matches = None
        if hyperscan:
            scan_from = _scan_from(win_offsets, offsets[rows + 1], first_abs, multibyte)
            matches = self._gates.window_matches(win_bytes, win_offsets, scan_from, counts)  # type: ignore[union-attr]
        gate_sets = None if counts is None else counts > 0
        unsettled = whole_text | unsafe.unsafe
        unsettled |= unsafe.wordish if gate_sets is None else unsafe.wordish & gate_sets[:, self._word_gates].any(axis=1)
        at, kind, value, offset, detail = self._copyright(
            windows, win_bytes, win_offsets, gate_sets, unsettled, label, matches
        )
        # Step 3 gives byte offsets in the window, step 4 character offsets in the window.
        base = win_offsets[:-1]
        offset = multibyte.chars(base[at], base[at] + offset)
        parts = [(at, kind, value, offset, detail)]
        full_text = np.empty(0, np.int64)
        if counts is not None and gate_sets is not None and self.notices is not None:
            if matches is not None:
                firsts = self.notices.firsts_hyperscan(matches, len(self.copyright), len(rows))
            else:
                firsts = self.notices.firsts_re2(windows, gate_sets, unsettled)
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
            if n_chars is not None:
                row_chars = np.asarray(
                    n_chars.take(pa.array(rows[need])).to_numpy(zero_copy_only=False), np.int64
                )
            else:
                lengths = pc.utf8_length(texts.take(pa.array(rows[need])))
                row_chars = np.asarray(lengths.to_numpy(zero_copy_only=False), np.int64)
            lead = np.zeros(len(rows), np.int64)
            lead[need] = row_chars - multibyte.chars(base[need], win_offsets[need + 1])
            offset = lead[at] + offset
        if len(full_text):
            full = self.scanner.full_texts(texts.take(pa.array(rows[full_text])).to_pylist())
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
        if len(at):
            # ``scan`` orders a row's findings by offset (full texts last), then kind, then value.
            labels = collector.labels
            rank = np.empty(len(labels), np.int64)
            rank[sorted(range(len(labels)), key=labels.__getitem__)] = np.arange(len(labels))
            order = np.lexsort((rank[value], rank[kind], offset, offset < 0, at))
            collector.parts.append((rows[at[order]], kind[order], value[order], offset[order], detail[order]))
        return unsettled

    def _copyright(
        self,
        windows: pa.Array,
        win_bytes: np.ndarray,
        win_offsets: np.ndarray,
        gate_sets: np.ndarray | None,
        unsettled: np.ndarray,
        label: Callable[[str], int],
        matches: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> tuple[np.ndarray, ...]:
        """Step 3: (window, kind, value, byte offset in the window, detail) of the copyright findings;
        sets ``unsettled`` for windows RE2 (or Hyperscan's ``matches``) cannot settle."""
        if matches is not None:
            notice, window, start, length = GateFinder.copyright_firsts(matches, win_offsets, len(self.copyright))
        else:
            notice, window, start, length = self._copyright_firsts_re2(windows, gate_sets, unsettled)
        keep = ~unsettled[window]
        notice, window, start, length = notice[keep], window[keep], start[keep], length[keep]
        # Python finds a match only if it lies in the window around the trigger it starts with.
        ok = length <= _MATCH_SPAN
        base = win_offsets[window]
        for k in self._check_trigger:
            at = np.flatnonzero(notice == k)
            if len(at):
                ok[at] &= starts_with_trigger(
                    win_bytes, base[at] + start[at], win_offsets[window[at] + 1], self.copyright[k].triggers
                )
        unsettled[window[~ok]] = True
        notice, window, start = notice[ok], window[ok], start[ok]
        # Per value, the first notice (in file order) with a match gives the finding, as in ``scan``:
        # the entries come by notice, so a stable sort by (value, window) keeps that order.
        value = self._copyright_value[notice]
        order = np.lexsort((window, value))
        first = np.ones(len(order), bool)
        first[1:] = (value[order][1:] != value[order][:-1]) | (window[order][1:] != window[order][:-1])
        pick = order[first]
        values = np.array([label(v) for v in self._copyright_values], np.int64)
        details = np.array([label(n.id) for n in self.copyright], np.int64)
        return (
            window[pick],
            np.full(len(pick), label("copyright-notice"), np.int64),
            values[value[pick]],
            start[pick],
            details[notice[pick]],
        )
