"""Content evidence for a whole Arrow column: the same findings as ``ContentScanner.scan`` on every row.

Work per batch, cheapest first:

1. One pass over every text finds the rows with a cue (*candidates*) and where their first cue starts.
   With Hyperscan installed (``gates.GateFinder``): every occurrence of every literal gate, so each
   candidate's exact gate set is known. Otherwise one RE2 pass (``find_substring_regex``) with the
   *pre-filter*: the gates as literals, refined where a pattern starts with its trigger ("(c)" only
   before a year; ``patterns.prefilter_re2``). A row without a cue has no finding, and no match of any
   matcher starts before the first cue, so later steps read only a *window* from one character before
   that cue to the end of the row: for a page with a copyright footer, the footer.
2. Rows that may hold anything but a copyright notice (a gate of another matcher; with RE2, one pass of
   those matchers' cues over the windows) are scanned in Python (``ContentScanner.scan``, the reference,
   given the gate set when it is known).
3. The other candidates can only hold copyright notices. Each notice's exact RE2 form
   (``patterns.to_re2(.., "exact")``) finds its first match in the windows (RE2 per notice, or one
   Hyperscan scan). A row's result is taken from there only when it provably equals Python's: the window
   is *safe* (every non-ASCII character is whitespace or in ``patterns.SAFE_NON_ASCII``, checked with
   numpy), and the first match starts with one of the notice's triggers and is at most ``_MATCH_SPAN``
   bytes long, so it lies in Python's window around that trigger (and Python's matches are RE2's matches
   there). Any other row goes to Python. Byte offsets become character offsets with the ``n_chars``
   column of the normalise stage when the batch has it, else with ``utf8_length`` of those rows.

No per-row Python object is made for rows without a cue, nor for rows settled in step 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.licences.gates import GateFinder
from auditor.licences.patterns import (
    SAFE_NON_ASCII,
    literals_to_re2,
    needs_unsafe_text,
    prefilter_re2,
    to_re2,
)

if TYPE_CHECKING:
    from auditor.licences.content import ContentScanner, Finding

# Same bound as content._MATCH_SPAN: Python searches a notice up to the end of the line this far after
# its trigger; an RE2 match that starts at a trigger and is no longer than this lies in that window.
_MATCH_SPAN = 400
_NON_NOTICE_LITERALS = ("licen", "warrant", "creativecommons")


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

    def finish(self, num_rows: int) -> ContentColumns:
        if not self.parts:
            return ContentColumns.empty(num_rows)
        rows, kind, value, offset, detail = (np.concatenate(c) for c in zip(*self.parts, strict=True))
        order = np.argsort(rows, kind="stable")  # row sets of the parts are disjoint
        return ContentColumns(
            num_rows, rows[order], kind[order], value[order], offset[order], detail[order], self.labels
        )


def _string_buffers(texts: pa.Array) -> tuple[np.ndarray, pa.Buffer | None]:
    """(offsets as int64 numpy, data buffer) of a string or large_string array."""
    width = 8 if pa.types.is_large_string(texts.type) else 4
    dtype = np.int64 if width == 8 else np.int32
    _validity, offsets_buffer, data = texts.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=dtype, count=len(texts) + 1, offset=texts.offset * width)
    return offsets.astype(np.int64), data


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
        for notice in scanner.notices:
            cue = prefilter_re2(notice.pattern, notice.triggers)
            prefilter.append(cue)
            if notice.kind == "copyright-notice" and needs_unsafe_text(notice.pattern):
                continue  # a window it matches is never safe, so such rows go to Python anyway
            exact = to_re2(notice.pattern, "exact") if notice.kind == "copyright-notice" else None
            if exact is None:
                python_cues.append(cue)
                python_gates.update(notice.triggers)
                continue
            self.copyright.append(
                _CopyrightNotice(
                    notice.id,
                    notice.value or "copyright",
                    exact,
                    tuple(t.encode() for t in notice.triggers),
                    tuple(gate_index[t] for t in notice.triggers),
                )
            )
        self.prefilter = _alternation(prefilter)
        self.python_cues = _alternation(python_cues)
        self._safe_code_points = np.array(sorted(ord(c) for c in SAFE_NON_ASCII), np.int64)
        self._check_compiles()
        self._gates: GateFinder | None = None
        if use_hyperscan is not False and GateFinder.compatible(scanner.gates):
            self._gates = GateFinder(
                scanner.gates,
                tuple(gate_index[g] for g in sorted(python_gates)),
                tuple(n.regex for n in self.copyright),
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
        offsets, data = _string_buffers(texts)
        if data is None or not len(texts):
            return collector.finish(len(texts))
        gates = self._gates if (self._gates is not None and self._gates.available()) else None
        located = gates.locate(offsets, data) if gates is not None else self._locate_re2(texts, offsets, data)
        if located is None:
            return collector.finish(len(texts))
        candidates, first, to_python, gate_sets = located
        copyright_only = np.flatnonzero(~to_python)
        if len(copyright_only) and self.copyright:
            unsettled = self._copyright(
                collector,
                texts,
                n_chars,
                offsets,
                data,
                candidates[copyright_only],
                first[copyright_only],
                None if gate_sets is None else gate_sets[copyright_only],
            )
            to_python[copyright_only[unsettled]] = True
        elif len(copyright_only):
            to_python[copyright_only] = True
        python_at = np.flatnonzero(to_python)
        if len(python_at):
            rows = candidates[python_at]
            texts_py = texts.take(pa.array(rows)).to_pylist()
            if gate_sets is None:
                scan = self.scanner.scan
                found = [(row, scan(text or "")) for row, text in zip(rows.tolist(), texts_py, strict=True)]
            else:
                names = self.scanner.gates
                scan_gates = self.scanner._scan
                found = [
                    (row, scan_gates(text, text.lower(), {names[g] for g in np.flatnonzero(present)}))
                    for row, text, present in zip(rows.tolist(), texts_py, gate_sets[python_at], strict=True)
                ]
            collector.add_findings(found)
        return collector.finish(len(texts))

    def _locate_re2(
        self, texts: pa.Array, offsets: np.ndarray, data: pa.Buffer
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, None] | None:
        """Step 1 and 2 with RE2: (candidate rows, byte offset of their first cue, scan in Python, None)."""
        first = pc.fill_null(pc.find_substring_regex(texts, self.prefilter), -1).to_numpy(
            zero_copy_only=False
        )
        candidates = np.flatnonzero(first >= 0)
        if not len(candidates):
            return None
        first_abs = offsets[candidates] + first[candidates]
        windows, _bytes, _offsets = _windows(data, offsets[candidates], first_abs, offsets[candidates + 1])
        to_python = _mask(pc.match_substring_regex(windows, self.python_cues))
        return candidates, first_abs, to_python, None

    def _copyright_firsts_re2(
        self, subset: pa.Array, gate_sets: np.ndarray | None, skip: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per copyright notice: (windows with a match, start of the first match, its length in bytes,
        or 0 when at most ``_MATCH_SPAN`` bytes follow the start), with RE2."""
        n = len(subset)
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for notice in self.copyright:
            run = ~skip
            if gate_sets is not None:
                run &= gate_sets[:, list(notice.gates)].any(axis=1)  # no trigger, no match
            at = np.flatnonzero(run)
            if not len(at):
                found.append((at, at, at))
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
            found.append((at[hit], start, length))
        return found

    def _copyright(
        self,
        collector: _Collector,
        texts: pa.Array,
        n_chars: pa.Array | None,
        offsets: np.ndarray,
        data: pa.Buffer,
        rows: np.ndarray,
        first_abs: np.ndarray,
        gate_sets: np.ndarray | None,
    ) -> np.ndarray:
        """Step 3 for ``rows`` (whose first cue starts at byte ``first_abs``); findings of the rows RE2
        (or Hyperscan) settles go to ``collector``. Returns the mask of rows left to Python."""
        subset, win_bytes, win_offsets = _windows(data, offsets[rows], first_abs, offsets[rows + 1])
        n = len(rows)
        unsettled = _unsafe_rows(win_bytes, win_offsets, self._safe_code_points)
        base = win_offsets[:-1]
        span_len = win_offsets[1:] - base
        if gate_sets is not None and self._gates is not None:
            firsts = self._gates.copyright_firsts(win_bytes, win_offsets, len(self.copyright))
        else:
            firsts = self._copyright_firsts_re2(subset, gate_sets, unsettled)
        # Per value, the first notice (in file order) with a match gives the finding, as in ``scan``.
        values = sorted({notice.value for notice in self.copyright})
        value_offset = {v: np.full(n, -1, np.int64) for v in values}
        value_notice = {v: np.full(n, -1, np.int64) for v in values}
        for notice, (at, start, length) in zip(self.copyright, firsts, strict=True):
            keep = ~unsettled[at]
            at, start, length = at[keep], start[keep], length[keep]
            if not len(at):
                continue
            # Python finds this match only if it lies in the window around the trigger it starts with.
            ok = (length <= _MATCH_SPAN) & _starts_with_trigger(
                win_bytes, base[at] + start, base[at] + span_len[at], notice.triggers
            )
            unsettled[at[~ok]] = True
            at, start = at[ok], start[ok]
            slot = value_offset[notice.value]
            fresh = slot[at] < 0
            slot[at[fresh]] = start[fresh]
            value_notice[notice.value][at[fresh]] = collector.code(notice.id)
        found_any = np.zeros(n, bool)
        for v in values:
            found_any |= value_offset[v] >= 0
        need = np.flatnonzero(~unsettled & found_any)
        if not len(need):
            return unsettled
        # Byte offset in the window -> character offset in the row: characters before the window (row
        # length minus window length, in characters) plus characters of the window before the match.
        if n_chars is not None:
            row_chars = np.asarray(
                n_chars.take(pa.array(rows[need])).to_numpy(zero_copy_only=False), np.int64
            )
        else:
            lengths = pc.utf8_length(texts.take(pa.array(rows[need])))
            row_chars = np.asarray(lengths.to_numpy(zero_copy_only=False), np.int64)
        char_starts = np.r_[0, np.cumsum((win_bytes & 0xC0) != 0x80)].astype(np.int64)
        win_first = char_starts[base[need]]
        lead_chars = row_chars - (char_starts[base[need] + span_len[need]] - win_first)
        kind = collector.code("copyright-notice")
        parts: list[tuple[np.ndarray, ...]] = []
        for rank, v in enumerate(values):  # sorted: ``scan`` orders a row's findings by offset, then value
            byte_off = value_offset[v][need]
            has = byte_off >= 0
            chars = lead_chars[has] + char_starts[base[need][has] + byte_off[has]] - win_first[has]
            count = int(has.sum())
            parts.append(
                (
                    rows[need][has],
                    np.full(count, kind, np.int64),
                    np.full(count, collector.code(v), np.int64),
                    chars,
                    value_notice[v][need][has],
                    np.full(count, rank, np.int64),
                )
            )
        rows_, kinds, vals, offs, details, ranks = (np.concatenate(c) for c in zip(*parts, strict=True))
        order = np.lexsort((ranks, offs, rows_))
        collector.parts.append((rows_[order], kinds[order], vals[order], offs[order], details[order]))
        return unsettled


def _unsafe_rows(win_bytes: np.ndarray, win_offsets: np.ndarray, safe: np.ndarray) -> np.ndarray:
    """Per window: does it hold a non-ASCII character outside ``safe`` (code points, sorted)?"""
    unsafe = np.zeros(len(win_offsets) - 1, bool)
    lead = np.flatnonzero(win_bytes >= 0xC0)
    if not len(lead):
        return unsafe
    padded = np.concatenate([win_bytes, np.zeros(3, np.uint8)]).astype(np.int64)
    b0, b1, b2, b3 = (padded[lead + k] for k in range(4))
    code = np.where(
        b0 < 0xE0,
        ((b0 & 0x1F) << 6) | (b1 & 0x3F),
        np.where(
            b0 < 0xF0,
            ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F),
            ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F),
        ),
    )
    bad = lead[~np.isin(code, safe)]
    unsafe[np.searchsorted(win_offsets, bad, side="right") - 1] = True
    return unsafe


def _starts_with_trigger(
    win_bytes: np.ndarray, at: np.ndarray, stop: np.ndarray, triggers: tuple[bytes, ...]
) -> np.ndarray:
    """Whether the ASCII-lower-cased bytes at ``at`` (before ``stop``) begin with one of ``triggers``."""
    width = max(len(t) for t in triggers)
    index = np.minimum(at[:, None] + np.arange(width), len(win_bytes) - 1)
    window = win_bytes[index]
    lowered = np.where((window >= 65) & (window <= 90), window + 32, window)
    result = np.zeros(len(at), bool)
    for trigger in triggers:
        code = np.frombuffer(trigger, dtype=np.uint8)
        fits = at + len(code) <= stop
        result |= fits & np.all(lowered[:, : len(code)] == code, axis=1)
    return result


def _windows(
    data: pa.Buffer, row_start: np.ndarray, first_abs: np.ndarray, row_end: np.ndarray
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(windows as a large_string array, their bytes, their offsets): from one character before each
    row's first cue (enough context for a leading \\b) to the end of the row."""
    bytes_ = np.frombuffer(data, dtype=np.uint8)
    start = np.where(first_abs > row_start, first_abs - 1, first_abs)
    for _ in range(3):  # back to the first byte of that character
        start = start - ((start > row_start) & ((bytes_[start] & 0xC0) == 0x80))
    view = memoryview(data)
    joined = b"".join([view[s:e] for s, e in zip(start.tolist(), row_end.tolist(), strict=True)])
    win_offsets = np.r_[0, np.cumsum(row_end - start)].astype(np.int64)
    windows = pa.Array.from_buffers(
        pa.large_string(), len(start), [None, pa.py_buffer(win_offsets), pa.py_buffer(joined)]
    )
    return windows, np.frombuffer(joined, dtype=np.uint8), win_offsets
