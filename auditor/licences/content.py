"""Licence evidence inside the content itself.

Matchers, cheapest first; each runs only on texts whose lower-cased form holds one of its literal gates
("licen", "copyright", "©", "spdx-license-identifier", "creativecommons", "版权", ...):

- ``spdx-id``: ``SPDX-License-Identifier:`` lines, normalised;
- ``cc-url`` / ``cc-badge``: Creative Commons licence URLs and licence-button images;
- ``licence-notice`` / ``copyright-notice``: the data-driven patterns of ``rules/licences/notices.toml``;
- ``full-text``: a whole reference licence text (``fulltext.py``), for texts long enough to hold one.

``ContentScanner.scan(text)`` is the reference: Python ``re``. A notice pattern is tried at the starts
within ``_TRIGGER_REACH`` characters (before or after) of an occurrence of one of its triggers, left to
right, and a match must end by the end of the line ``_MATCH_SPAN`` characters after the trigger; this is
the contract notices.toml states ("a trigger must lie within 80 characters of the start of any match").
Where every match of a notice starts with a known literal (derived from the pattern,
``patterns.literal_prefixes``) or at a line start (``^`` in MULTILINE mode), only the starts where such a
literal (or line) begins are tried: the same matches, without a regex attempt at every character.

``ContentScanner.scan_batch(texts)`` gives the same findings for a whole Arrow column (``batch.py``).

A finding holds a licence id or a notice type and an offset, never a copied piece of the text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from auditor.licences import tables
from auditor.licences.fulltext import FullTextMatch, identify_full_texts
from auditor.licences.normalise import normalise_licence
from auditor.licences.patterns import PYTHON_EXTRA_FOLDS, literal_prefixes, starts_at_line

_SPDX_ID = re.compile(r"SPDX-License-Identifier\s*:\s*(?P<expr>[^\n\r]{1,200})", re.IGNORECASE)
_SPDX_TRAILER = re.compile(r"\s*(?:\*/|-->|#}|%>|\"\"\"|'''|;|,)?\s*$")
_CC_URL = re.compile(
    r"creativecommons\.org/(?P<kind>licen[cs]es|publicdomain)/(?P<el>[a-z+-]+)/(?P<ver>\d\.\d)"
    r"(?:/(?P<port>[a-z]{2,3})(?![a-z]))?",
    re.IGNORECASE,
)
_CC_BADGE = re.compile(
    r"(?:i\.creativecommons\.org|licensebuttons\.net)/(?P<kind>[lp])/(?P<el>[a-z+-]+)/(?P<ver>\d\.\d)"
    r"(?:/(?P<port>[a-z]{2,3})(?![a-z]))?",
    re.IGNORECASE,
)
_MAX_NAME_WORDS = 8
# A notice's match starts at most this far before or after one of its triggers (notices.toml: "a trigger
# must lie within 80 characters of the start of any match") and ends by the end of the line that holds
# the character _MATCH_SPAN after the trigger (so '$' keeps its meaning).
_TRIGGER_REACH = 80
_MATCH_SPAN = 400
# Full-text matching reads at most this many characters from each end of a long text.
_FULLTEXT_WINDOW = 100_000
_MIN_FULLTEXT_CHARS = 120


@dataclass(frozen=True)
class Finding:
    """One piece of licence evidence found in a text."""

    kind: str  # spdx-id | cc-url | cc-badge | licence-notice | copyright-notice | full-text
    value: str  # licence expression, notice type ("copyright", "all-rights-reserved") or "unknown"
    offset: int | None  # character offset in the text; None for full-text matches
    detail: str = ""  # e.g. the notice pattern id or the containment of a full-text match

    @property
    def where(self) -> str:
        if self.offset is None:
            return f"content:{self.detail}" if self.detail else "content"
        return f"content:offset {self.offset}"


def _cc_id(element: str, version: str, port: str | None, rules_dir: Path | None) -> str:
    element = element.lower().strip("-")
    if element in ("zero", "cc0"):
        candidates = [f"CC0-{version}"]
    elif element == "mark":
        candidates = [f"CC-PDM-{version}"]
    else:
        base = "CC-" + element.upper().replace("+", "-")
        candidates = (
            [f"{base}-{version}-{port.upper()}", f"{base}-{version}"] if port else [f"{base}-{version}"]
        )
    known = tables.known_ids_by_lower(rules_dir)
    for candidate in candidates:
        if candidate.lower() in known:
            return known[candidate.lower()]
    return "unknown"


def _normalised_name(name: str, rules_dir: Path | None) -> str | None:
    """The licence a captured name denotes: the longest word prefix that normalises, or None."""
    if re.search(r"[\u4e00-\u9fff]", name):
        result = normalise_licence(name.strip(), rules_dir)
        return result.spdx
    words = name.split()[:_MAX_NAME_WORDS]
    for n in range(len(words), 0, -1):
        candidate = " ".join(words[:n]).rstrip(",")
        result = normalise_licence(candidate, rules_dir)
        if result.spdx is not None:
            return result.spdx
    return None


Window = tuple[int, int, list[tuple[int, int]]]


class _Spans:
    """Disjoint claimed spans, sorted by start: overlap tests in O(log n), so a record with very many
    notices (a 50 MB dump of licence headers) costs n log n, not n squared."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self.starts, end)  # spans starting before `end` are at i - 1 and below
        return i > 0 and self.ends[i - 1] > start

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)


def _newlines(lowered: str) -> np.ndarray:
    """Positions of every newline, once per text (a line-end lookup per trigger would be quadratic on a
    long text without newlines)."""
    if lowered.isascii():
        return np.flatnonzero(np.frombuffer(lowered.encode("ascii"), dtype=np.uint8) == 10)
    return np.flatnonzero(np.frombuffer(lowered.encode("utf-32-le"), dtype=np.uint32) == 10)


def _windows(lowered: str, triggers: list[str], newlines: np.ndarray | None = None) -> list[Window]:
    """Where a notice is searched: merged (start, end, start ranges) around every trigger occurrence t.

    A match may start in [t - _TRIGGER_REACH, t + _TRIGGER_REACH] (the start ranges, merged) and must
    end by the end of the line that holds t + _MATCH_SPAN (the window end, so '$' keeps its meaning).
    """
    if newlines is None:
        newlines = _newlines(lowered)
    spans: list[tuple[int, int, int]] = []
    for trigger in triggers:
        position = lowered.find(trigger)
        while position >= 0:
            k = int(np.searchsorted(newlines, position + _MATCH_SPAN))
            line_end = int(newlines[k]) if k < len(newlines) else len(lowered)
            start = max(0, position - _TRIGGER_REACH)
            spans.append((start, line_end, position + _TRIGGER_REACH))
            position = lowered.find(trigger, position + 1)
    spans.sort()
    merged: list[Window] = []
    for start, end, last_start in spans:
        if merged and start <= merged[-1][1]:
            window_start, window_end, ranges = merged[-1]
            if start <= ranges[-1][1] + 1:
                ranges[-1] = (ranges[-1][0], max(ranges[-1][1], last_start))
            else:
                ranges.append((start, last_start))
            merged[-1] = (window_start, max(window_end, end), ranges)
        else:
            merged.append((start, end, [(start, last_start)]))
    return merged


# ``_notice_matches`` prefixes of a pattern that starts with '^' in MULTILINE mode.
_LINE_STARTS = ("\n",)


def _notice_matches(
    pattern: re.Pattern[str],
    prefixes: tuple[str, ...] | None,
    text: str,
    lowered: str,
    windows: list[Window],
) -> Iterator[re.Match[str]]:
    """The matches of a notice: ``pattern.match`` tried at each allowed start of each window, left to
    right, skipping starts inside the previous match; a match ends by the window end.

    ``prefixes`` only saves work: when every match starts with one of them (``literal_prefixes``; exact
    as ``lowered`` is ``text.lower()`` of the same length and ``text`` has no ``PYTHON_EXTRA_FOLDS``
    character), only the starts where one occurs in ``lowered`` are tried; ``_LINE_STARTS``: only the
    starts of lines; None: every allowed start.
    """
    for _start, end, ranges in windows:
        candidates: set[int] = set()
        for low, high in ranges:
            high = min(high, end - 1)
            if prefixes is None:
                candidates.update(range(low, high + 1))
            elif prefixes == _LINE_STARTS:
                if low == 0 or text[low - 1] == "\n":
                    candidates.add(low)
                position = text.find("\n", low, high)
                while position >= 0:
                    candidates.add(position + 1)
                    position = text.find("\n", position + 1, high)
            else:
                for prefix in prefixes:
                    stop = min(high + len(prefix), end)
                    position = lowered.find(prefix, low, stop)
                    while position >= 0:
                        candidates.add(position)
                        position = lowered.find(prefix, position + 1, stop)
        resume = 0
        for position in sorted(candidates):
            if position < resume:
                continue
            match = pattern.match(text, position, end)
            if match is not None:
                yield match
                resume = max(match.end(), position + 1)


def _anchored_matches(
    pattern: re.Pattern[str], prefixes: tuple[str, ...], text: str, lowered: str
) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, trying only where one of ``prefixes`` occurs in ``lowered`` (exact
    under the same conditions as in ``_notice_matches``)."""
    candidates: set[int] = set()
    for prefix in prefixes:
        position = lowered.find(prefix)
        while position >= 0:
            candidates.add(position)
            position = lowered.find(prefix, position + 1)
    resume = 0
    for position in sorted(candidates):
        if position < resume:
            continue
        match = pattern.match(text, position)
        if match is not None:
            yield match
            resume = max(match.end(), position + 1)


def _gate_parents(gates: tuple[str, ...]) -> dict[str, str | None]:
    """Each gate's longest other gate contained in it (absent parent: absent gate), or None."""
    parents: dict[str, str | None] = {}
    for gate in gates:
        inner = [g for g in gates if g != gate and g in gate]
        parents[gate] = max(inner, key=len) if inner else None
    return parents


_SPDX_GATES = ("spdx-license-identifier",)
_CC_GATES = ("creativecommons", "licensebuttons")
_FULLTEXT_GATES = ("warrant", "licen")


class ContentScanner:
    """Finds licence evidence in texts. Build once per worker (``LicenceStage.setup``): loading the
    tables and compiling every pattern, Python and RE2 forms, happens here."""

    def __init__(self, rules_dir: Path | None = None, *, full_text: bool = True) -> None:
        from auditor.licences.batch import BatchPlan

        self.rules_dir = rules_dir
        self.notices = tables.load_notices(rules_dir)
        self.fulltext_index = tables.load_fulltext(rules_dir) if full_text else None
        # Every literal gate, once; a gate is tested only when the longest gate inside it is present.
        gates = {*_SPDX_GATES, *_CC_GATES, *_FULLTEXT_GATES}
        for notice in self.notices:
            gates.update(notice.triggers)
        self._gates = tuple(sorted(gates))
        parents = _gate_parents(self._gates)
        self._gate_children: dict[str | None, tuple[str, ...]] = {
            parent: tuple(g for g in self._gates if parents[g] == parent) for parent in (None, *self._gates)
        }
        self._prefixes = {
            notice.id: _LINE_STARTS if starts_at_line(notice.pattern) else literal_prefixes(notice.pattern)
            for notice in self.notices
        }
        self._matcher_prefixes = {
            pattern: literal_prefixes(pattern) for pattern in (_SPDX_ID, _CC_URL, _CC_BADGE)
        }
        self._notices_of_gate: dict[str, tuple[int, ...]] = {
            gate: tuple(i for i, n in enumerate(self.notices) if gate in n.triggers) for gate in self._gates
        }
        self._fold_chars = "".join(sorted({c for extra in PYTHON_EXTRA_FOLDS.values() for c in extra}))
        self.plan = BatchPlan(self)

    @property
    def gates(self) -> tuple[str, ...]:
        """Every literal gate of every matcher (lower case)."""
        return self._gates

    def candidate_mask(self, texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Vectorised pre-filter: True where a text may hold licence evidence (nulls are False).

        False guarantees that ``scan`` finds nothing; True is a superset (see ``batch.BatchPlan``).
        """
        return self.plan.candidate_mask(texts)

    def present_gates(self, lowered: str) -> set[str]:
        """The gates that occur in ``lowered`` (a lower-cased text)."""
        ascii_only = lowered.isascii()
        found: set[str] = set()
        pending = [g for g in self._gate_children[None] if not ascii_only or g.isascii()]
        while pending:
            gate = pending.pop()
            if gate in lowered:
                found.add(gate)
                pending.extend(g for g in self._gate_children[gate] if not ascii_only or g.isascii())
        return found

    def scan(self, text: str) -> list[Finding]:
        """All evidence in one text, at most one finding per (kind, value), in order of offset."""
        if not text:
            return []
        lowered = text.lower()
        return self._scan(text, lowered, self.present_gates(lowered))

    def scan_batch(self, texts: pa.Array | pa.ChunkedArray) -> dict[int, list[Finding]]:
        """Findings per row index of ``texts``, for the rows that have any; equal to ``scan`` on every row.

        Column-wise (``batch.BatchPlan.scan``): rows with no cue cost one pass (Hyperscan or RE2),
        copyright notices, SPDX ids and licence notices are matched column-wise where that provably
        gives ``scan``'s findings, the other rows are scanned in Python.
        """
        return self.plan.scan(texts).by_row()

    def _scan(self, text: str, lowered: str, gates: set[str]) -> list[Finding]:
        """Run the matchers whose literal gates occur in the text (``gates``)."""
        found: dict[tuple[str, str], Finding] = {}

        def add(finding: Finding) -> None:
            found.setdefault((finding.kind, finding.value), finding)

        same_length = len(lowered) == len(text)
        anchorable = same_length and (text.isascii() or not any(c in text for c in self._fold_chars))

        def everywhere(pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
            prefixes = self._matcher_prefixes[pattern]
            if anchorable and prefixes is not None:
                return _anchored_matches(pattern, prefixes, text, lowered)
            return pattern.finditer(text)

        if gates.intersection(_SPDX_GATES):
            for match in everywhere(_SPDX_ID):
                expression = _SPDX_TRAILER.sub("", match.group("expr")).strip()
                result = normalise_licence(expression, self.rules_dir)
                add(Finding("spdx-id", result.spdx or "unknown", match.start(), result.status))
        if gates.intersection(_CC_GATES):
            for kind, pattern in (("cc-url", _CC_URL), ("cc-badge", _CC_BADGE)):
                for match in everywhere(pattern):
                    value = _cc_id(match.group("el"), match.group("ver"), match.group("port"), self.rules_dir)
                    add(Finding(kind, value, match.start()))
        claimed = _Spans()
        newlines: np.ndarray | None = None
        notices = self.notices
        for index in sorted({i for gate in gates for i in self._notices_of_gate.get(gate, ())}):
            notice = notices[index]
            active = [t for t in notice.triggers if t in gates]
            if same_length:
                prefixes = self._prefixes[notice.id] if anchorable else None
                if newlines is None:
                    newlines = _newlines(lowered)
                windows = _windows(lowered, active, newlines)
                matches = _notice_matches(notice.pattern, prefixes, text, lowered, windows)
            else:  # lower-casing changed the length ('İ'): positions do not map, search everywhere
                matches = notice.pattern.finditer(text)
            for match in matches:
                if notice.kind == "copyright-notice":
                    add(Finding("copyright-notice", notice.value or "copyright", match.start(), notice.id))
                    continue
                start, end = match.span()
                if claimed.overlaps(start, end):
                    continue  # a more specific notice already explained this span
                licence = self._notice_licence(notice, match)
                if licence is None:
                    continue
                claimed.add(start, end)
                add(Finding("licence-notice", licence, start, notice.id))
        # Reference licence texts carry a warranty disclaimer, or name the licence many times; a text
        # whose licence a notice already named is not searched for a full text as well.
        named = any(f.kind == "licence-notice" for f in found.values())
        if "warrant" in gates or ("licen" in gates and not named and lowered.count("licen") >= 3):
            full = self.full_text(text)
            if full is not None:
                add(Finding("full-text", full.licence, None, f"full-text containment {full.containment:.2f}"))
        return sorted(found.values(), key=lambda f: (f.offset is None, f.offset or 0, f.kind, f.value))

    def _notice_licence(self, notice: tables.NoticePattern, match: re.Match[str]) -> str | None:
        if notice.licence is None:
            return _normalised_name(match.group("name"), self.rules_dir)
        licence = notice.licence
        if "{v}" in licence:
            version = match.group("v")
            licence = licence.replace("{v}", version if "." in version else f"{version}.0")
        return normalise_licence(licence, self.rules_dir).spdx

    def full_text(self, text: str) -> FullTextMatch | None:
        """The reference licence text contained in ``text``, if any."""
        return self.full_texts([text])[0]

    def full_texts(self, texts: list[str]) -> list[FullTextMatch | None]:
        """``full_text`` of each text, with one vectorised lookup (``fulltext.identify_full_texts``)."""
        found: list[FullTextMatch | None] = [None] * len(texts)
        if self.fulltext_index is None:
            return found
        at = [i for i, text in enumerate(texts) if len(text) >= _MIN_FULLTEXT_CHARS]
        clipped = [
            text
            if len(text) <= 2 * _FULLTEXT_WINDOW
            else text[:_FULLTEXT_WINDOW] + "\n" + text[-_FULLTEXT_WINDOW:]
            for text in (texts[i] for i in at)
        ]
        for i, match in zip(at, identify_full_texts(clipped, self.fulltext_index), strict=True):
            found[i] = match
        return found
