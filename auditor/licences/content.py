"""Licence evidence inside the content itself.

Matchers, cheapest first, run only on texts that pass a vectorised pre-filter (one RE2 pass over the
Arrow column for "licen", "copyright", "©", "spdx", "creativecommons", "版权", ...):

- ``spdx-id``: ``SPDX-License-Identifier:`` lines, normalised;
- ``cc-url`` / ``cc-badge``: Creative Commons licence URLs and licence-button images;
- ``licence-notice`` / ``copyright-notice``: the data-driven patterns of ``rules/licences/notices.toml``;
- ``full-text``: a whole reference licence text (``fulltext.py``), for texts long enough to hold one.

A finding holds a licence id or a notice type and an offset, never a copied piece of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.licences import tables
from auditor.licences.fulltext import FullTextMatch, identify_full_text
from auditor.licences.normalise import normalise_licence

# Cues of a licence grant (these rows get the full Python scan) and of copyright notices only (these rows
# are matched with Arrow's RE2 kernels, without a Python loop, when the notice patterns allow it).
LICENCE_CUES = (
    r"licen[cs]|spdx|creativecommons|licensebuttons|public domain|permission is hereby granted|warrant"
    r"|redistribution and use|waived all copyright|许可|許可|授权|開源|开源|协议"
    r"|(?:licensed|released|distributed|available|published|provided|covered) under"
)
COPYRIGHT_CUES = (
    r"copyright|©|&copy;|\([cC]\)\s*\d|all rights reserved|droits réservés|rechte vorbehalten"
    r"|derechos reservados|版权|版權|著作权|著作權|保留所有|保留一切|转载"
)
PREFILTER = LICENCE_CUES + "|" + COPYRIGHT_CUES
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
# A notice's match starts at most this far before one of its triggers (see notices.toml) and ends at
# most _MATCH_SPAN characters after it (then at the end of that line, so '$' keeps its meaning).
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

    @property
    def grants_licence(self) -> bool:
        return self.kind != "copyright-notice" and self.value != "unknown"


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


def _windows(lowered: str, triggers: list[str]) -> list[tuple[int, int]]:
    """Merged spans of ``lowered`` around every occurrence of the triggers, where matches can lie."""
    spans: list[tuple[int, int]] = []
    for trigger in triggers:
        position = lowered.find(trigger)
        while position >= 0:
            line_end = lowered.find("\n", position + _MATCH_SPAN)
            spans.append((max(0, position - _TRIGGER_REACH), len(lowered) if line_end < 0 else line_end))
            position = lowered.find(trigger, position + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _matches(
    pattern: re.Pattern[str], text: str, windows: list[tuple[int, int]] | None
) -> Iterator[re.Match[str]]:
    """Matches of ``pattern`` in ``text``, searched only inside ``windows`` (None: everywhere)."""
    if windows is None:
        yield from pattern.finditer(text)
        return
    for start, end in windows:
        yield from pattern.finditer(text, start, end)


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


_SPDX_GATES = ("spdx-license-identifier",)
_CC_GATES = ("creativecommons", "licensebuttons")
_FULLTEXT_GATES = ("warrant", "licen")


class ContentScanner:
    """Finds licence evidence in texts. Build once per worker (``LicenceStage.setup``)."""

    def __init__(self, rules_dir: Path | None = None, *, full_text: bool = True) -> None:
        self.rules_dir = rules_dir
        self.notices = tables.load_notices(rules_dir)
        self.fulltext_index = tables.load_fulltext(rules_dir) if full_text else None
        # Every literal gate, once: the batch scan tests each in one vectorised pass per batch.
        gates = {*_SPDX_GATES, *_CC_GATES, *_FULLTEXT_GATES}
        for notice in self.notices:
            gates.update(notice.triggers)
        self._gates = tuple(sorted(gates))

    @staticmethod
    def candidate_mask(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Vectorised pre-filter: True where a text may hold licence evidence (nulls are False)."""
        return _mask(pc.match_substring_regex(texts, PREFILTER, ignore_case=True))

    def scan(self, text: str) -> list[Finding]:
        """All evidence in one text, at most one finding per (kind, value), in order of offset."""
        if not text:
            return []
        lowered = text.lower()
        return self._scan(text, lowered, {g for g in self._gates if g in lowered})

    def scan_batch(self, texts: pa.Array | pa.ChunkedArray) -> dict[int, list[Finding]]:
        """Findings per row index of ``texts``, for the rows that have any.

        Equivalent to ``scan`` on every row. Rows without any cue are skipped by one RE2 pass; rows whose
        only cues are copyright cues are matched with RE2 kernels (no Python loop); the rest are scanned
        in Python.
        """
        rows = np.flatnonzero(self.candidate_mask(texts))
        if not len(rows):
            return {}
        candidates = texts.take(pa.array(rows))
        licence_like = _mask(pc.match_substring_regex(candidates, LICENCE_CUES, ignore_case=True))
        results: dict[int, list[Finding]] = {}
        python_rows = np.flatnonzero(licence_like)
        copyright_rows = np.flatnonzero(~licence_like)
        if len(copyright_rows):
            vectorised, fallback = self._copyright_batch(candidates.take(pa.array(copyright_rows)))
            for i, findings in vectorised.items():
                results[int(rows[copyright_rows[i]])] = findings
            python_rows = np.concatenate([python_rows, copyright_rows[fallback]])
        if len(python_rows):
            for i, text in zip(
                python_rows.tolist(), candidates.take(pa.array(python_rows)).to_pylist(), strict=True
            ):
                findings = self.scan(text or "")
                if findings:
                    results[int(rows[i])] = findings
        return dict(sorted(results.items()))

    def _copyright_batch(self, texts: pa.Array) -> tuple[dict[int, list[Finding]], np.ndarray]:
        """Copyright notices of rows with no licence cue: (findings per row, rows to scan in Python)."""
        n = len(texts)
        ascii_rows = _mask(pc.string_is_ascii(texts))
        hits: list[tuple[tables.NoticePattern, np.ndarray]] = []
        fallback = np.zeros(n, dtype=bool)
        for notice in self.notices:
            if notice.kind != "copyright-notice":
                continue
            if notice.re2 is None:
                gate = np.zeros(n, dtype=bool)
                for trigger in notice.triggers:
                    gate |= _mask(pc.match_substring(texts, trigger, ignore_case=True))
                fallback |= gate
                continue
            offsets = pc.find_substring_regex(texts, notice.re2, ignore_case=notice.ignore_case)
            hits.append((notice, pc.fill_null(offsets, -1).to_numpy(zero_copy_only=False)))
        if not hits:
            return {}, np.flatnonzero(fallback)
        any_hit = np.any([offsets >= 0 for _, offsets in hits], axis=0)
        hit_rows = np.flatnonzero(any_hit & ~fallback)
        # RE2 gives byte offsets; they are character offsets only in ASCII text.
        encoded: dict[int, bytes] = {}
        non_ascii = hit_rows[~ascii_rows[hit_rows]]
        if len(non_ascii):
            texts_non_ascii = texts.take(pa.array(non_ascii)).to_pylist()
            encoded = {int(i): t.encode("utf-8") for i, t in zip(non_ascii, texts_non_ascii, strict=True)}
        results: dict[int, list[Finding]] = {}
        for i in hit_rows.tolist():
            found: dict[str, Finding] = {}
            for notice, offsets in hits:
                value = notice.value or "copyright"
                if offsets[i] >= 0 and value not in found:
                    offset = int(offsets[i])
                    if i in encoded:
                        offset = len(encoded[i][:offset].decode("utf-8", "ignore"))
                    found[value] = Finding("copyright-notice", value, offset, notice.id)
            results[i] = sorted(found.values(), key=lambda f: (f.offset or 0, f.kind, f.value))
        return results, np.flatnonzero(fallback)

    def _scan(self, text: str, lowered: str, gates: set[str]) -> list[Finding]:
        """Run the matchers whose literal gates occur in the text (``gates``)."""
        found: dict[tuple[str, str], Finding] = {}

        def add(finding: Finding) -> None:
            found.setdefault((finding.kind, finding.value), finding)

        if gates.intersection(_SPDX_GATES):
            for match in _SPDX_ID.finditer(text):
                expression = _SPDX_TRAILER.sub("", match.group("expr")).strip()
                result = normalise_licence(expression, self.rules_dir)
                add(Finding("spdx-id", result.spdx or "unknown", match.start(), result.status))
        if gates.intersection(_CC_GATES):
            for kind, pattern in (("cc-url", _CC_URL), ("cc-badge", _CC_BADGE)):
                for match in pattern.finditer(text):
                    value = _cc_id(match.group("el"), match.group("ver"), match.group("port"), self.rules_dir)
                    add(Finding(kind, value, match.start()))
        claimed: list[tuple[int, int]] = []
        same_length = len(lowered) == len(text)
        for notice in self.notices:
            active = [t for t in notice.triggers if t in gates]
            if not active:
                continue
            for match in _matches(notice.pattern, text, _windows(lowered, active) if same_length else None):
                if notice.kind == "copyright-notice":
                    add(Finding("copyright-notice", notice.value or "copyright", match.start(), notice.id))
                    continue
                start, end = match.span()
                if any(s < end and start < e for s, e in claimed):
                    continue  # a more specific notice already explained this span
                licence = self._notice_licence(notice, match)
                if licence is None:
                    continue
                claimed.append((start, end))
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
        if self.fulltext_index is None or len(text) < _MIN_FULLTEXT_CHARS:
            return None
        if len(text) > 2 * _FULLTEXT_WINDOW:
            text = text[:_FULLTEXT_WINDOW] + "\n" + text[-_FULLTEXT_WINDOW:]
        return identify_full_text(text, self.fulltext_index)
