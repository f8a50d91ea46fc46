"""Find personal information in text with a :class:`DetectorSet`.

For one text: every pattern of every detector is run. A match is kept when no negative-context word
labels it (one in the ``negative_window`` characters before it with no digit in between: "Serial No.
4155552671"), its score (plus ``context_boost`` when a context word is within ``context_window``
characters either side) reaches ``min_score``, and the detector's validator accepts it. A rejected match
does not consume text: the search resumes one character after its start. Overlapping findings are then
resolved deterministically: higher priority, then higher score, then the longer span, then the earlier
start.

For many texts (an Arrow array): each detector's RE2 ``trigger`` is evaluated columnar by pyarrow first,
so Python regexes only run on the rows, and for the detectors, that can match.

Time bound: patterns have only bounded repeats (enforced by the loader), so each start position costs a
bounded number of steps and a scan is linear in the text length; a rejected match restarts the search
one character later, which keeps that bound. Triggers run in RE2, which is linear by construction.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.pii.loader import default_detectors
from auditor.pii.model import Detector, DetectorSet, Finding
from auditor.pii.validators import VALIDATORS, ValidationContext

_DIGIT = re.compile("[0-9]")


class PiiScanner:
    """Scans texts with a detector set (default: the shipped one). ``salt`` (bytes) turns on salted
    HMAC-SHA256 value hashes."""

    def __init__(
        self,
        detectors: DetectorSet | None = None,
        *,
        salt: bytes | None = None,
        source_regions: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if salt is not None and not isinstance(salt, bytes | bytearray):
            raise TypeError(f"salt must be bytes, got {type(salt).__name__}")
        self.detectors = detectors if detectors is not None else default_detectors()
        self._salt = bytes(salt) if salt is not None else None
        self._source_regions = {k: tuple(v) for k, v in (source_regions or {}).items()}
        self._contexts: dict[tuple[str | None, str | None], ValidationContext] = {}
        triggers = [d.trigger for d in self.detectors.detectors]
        self._any_trigger = (
            "|".join(f"(?:{t})" for t in triggers)
            if triggers and all(t is not None for t in triggers)
            else None
        )

    def _validation_context(self, lang: str | None, source: str | None) -> ValidationContext:
        key = (lang, source)
        context = self._contexts.get(key)
        if context is None:
            regions = self._source_regions.get(source or "", ()) + self.detectors.regions_for(lang)
            context = ValidationContext(regions=tuple(dict.fromkeys(regions)))
            self._contexts[key] = context
        return context

    def scan(
        self,
        text: str,
        *,
        lang: str | None = None,
        source: str | None = None,
        detectors: Sequence[Detector] | None = None,
    ) -> list[Finding]:
        """Findings in ``text``, sorted by start, never overlapping."""
        context = self._validation_context(lang, source)
        candidates: list[tuple[int, float, int, int, Finding]] = []
        for detector in self.detectors.detectors if detectors is None else detectors:
            candidates.extend(self._candidates(detector, text, context))
        return _resolve_overlaps(candidates)

    def _candidates(
        self, detector: Detector, text: str, context: ValidationContext
    ) -> list[tuple[int, float, int, int, Finding]]:
        validator = VALIDATORS[detector.validator] if detector.validator else None
        window = detector.context_window
        found = []
        for pattern in detector.patterns:
            use_group = pattern.value_group
            search = pattern.regex.search
            position = 0
            # A rejected match does not consume its text: the next search starts one character later,
            # so a failed candidate ("4399 4111 1111 1111") cannot hide an overlapping valid one.
            while (match := search(text, position)) is not None:
                position = match.start() + 1
                start, end = match.span("value") if use_group else match.span()
                if start == end:
                    continue
                score = pattern.score
                if detector.negative_context is not None and self._vetoed(detector, text, start):
                    continue
                if detector.context is not None and (
                    detector.context.search(text, max(0, start - window), start)
                    or detector.context.search(text, end, end + window)
                ):
                    score = min(1.0, score + detector.context_boost)
                if score < detector.min_score:
                    continue
                value = text[start:end]
                if validator is not None:
                    verdict = validator(value, context)
                    if verdict is False or verdict <= 0:
                        continue
                    if verdict is not True and verdict < end - start:
                        end = start + verdict
                        value = text[start:end]
                position = max(position, match.end())
                finding = Finding(
                    detector=detector.name,
                    category=detector.category,
                    start=start,
                    end=end,
                    pattern=pattern.name,
                    score=round(score, 4),
                    validator=detector.validator,
                    value_hash=self._hash(value),
                )
                found.append((detector.priority, finding.score, start, end, finding))
        return found

    @staticmethod
    def _vetoed(detector: Detector, text: str, start: int) -> bool:
        """A negative-context word labels the value starting at ``start``: it lies in the window before,
        with no digit in between ("Serial No. 4155552671" is vetoed; in "订单编号 17654223935 4111 1111
        1111 1111" the label belongs to the first number, not to the card)."""
        negative = detector.negative_context
        if negative is None:
            return False
        ends = [m.end() for m in negative.finditer(text, max(0, start - detector.negative_window), start)]
        return bool(ends) and not _DIGIT.search(text, ends[-1], start)

    def _hash(self, value: str) -> str | None:
        if self._salt is None:
            return None
        return hmac.new(self._salt, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def scan_texts(
        self,
        texts: pa.Array | pa.ChunkedArray,
        langs: pa.Array | pa.ChunkedArray | None = None,
        sources: pa.Array | pa.ChunkedArray | None = None,
    ) -> list[list[Finding]]:
        """Findings for every row of ``texts`` (null texts have none); langs/sources align with texts."""
        n = len(texts)
        results: list[list[Finding]] = [[] for _ in range(n)]
        if n == 0:
            return results
        if self._any_trigger is not None:
            hit = pc.fill_null(pc.match_substring_regex(texts, self._any_trigger), False)
            rows = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
        else:
            rows = np.flatnonzero(pc.is_valid(texts).to_numpy(zero_copy_only=False))
        if rows.size == 0:
            return results
        take = pa.array(rows, pa.int64())
        subset = texts.take(take)
        masks = [self._trigger_mask(d, subset) for d in self.detectors.detectors]
        row_texts = subset.to_pylist()
        row_langs = langs.take(take).to_pylist() if langs is not None else [None] * len(rows)
        row_sources = sources.take(take).to_pylist() if sources is not None else [None] * len(rows)
        all_detectors = self.detectors.detectors
        for k, row in enumerate(rows.tolist()):
            text = row_texts[k]
            if not text:
                continue
            active = [d for d, mask in zip(all_detectors, masks, strict=True) if mask is None or mask[k]]
            if active:
                results[row] = self.scan(text, lang=row_langs[k], source=row_sources[k], detectors=active)
        return results

    @staticmethod
    def _trigger_mask(detector: Detector, texts: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
        if detector.trigger is None:
            return None
        hit = pc.fill_null(pc.match_substring_regex(texts, detector.trigger), False)
        return hit.to_numpy(zero_copy_only=False)


def _resolve_overlaps(candidates: list[tuple[int, float, int, int, Finding]]) -> list[Finding]:
    """Keep the best of overlapping findings: priority, score, longer span, earlier start, name."""
    if len(candidates) <= 1:
        return [c[-1] for c in candidates]
    candidates.sort(key=lambda c: (-c[0], -c[1], -(c[3] - c[2]), c[2], c[4].detector))
    starts: list[int] = []
    kept: list[Finding] = []
    for _, _, start, end, finding in candidates:
        i = bisect.bisect_right(starts, start)
        if i > 0 and kept[i - 1].end > start:
            continue
        if i < len(kept) and kept[i].start < end:
            continue
        starts.insert(i, start)
        kept.insert(i, finding)
    return kept
