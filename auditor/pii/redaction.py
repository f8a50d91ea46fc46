"""Replace personal information in text with typed placeholders such as ``<EMAIL>``.

Used by ``auditor filter --redact-pii``. Overlapping findings never leave part of a value behind: they
merge into one span that takes the placeholder of the earliest (then longest, then by detector name)
finding. Findings of detectors marked ``redact = false`` (keyword evidence such as health or religion
words) are left in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from auditor.pii.loader import default_detectors
from auditor.pii.model import DetectorSet, Finding
from auditor.pii.scanner import PiiScanner


def _span(finding: Finding | Mapping[str, Any]) -> tuple[str, int, int]:
    if isinstance(finding, Finding):
        return finding.detector, finding.start, finding.end
    return str(finding["detector"]), int(finding["start"]), int(finding["end"])


def redact(
    text: str,
    findings: Iterable[Finding | Mapping[str, Any]],
    *,
    detectors: DetectorSet | None = None,
) -> str:
    """``text`` with each finding replaced by ``<PLACEHOLDER>`` of its detector.

    ``findings`` are :class:`Finding` objects or mappings with ``detector``, ``start`` and ``end`` (the
    rows of a ``pii_findings`` column); offsets are character offsets into ``text``.
    """
    known = (detectors or default_detectors()).by_name()
    spans = []
    for finding in findings:
        name, start, end = _span(finding)
        detector = known.get(name)
        if detector is not None and not detector.redact:
            continue
        if not 0 <= start < end <= len(text):
            raise ValueError(
                f"finding {name!r} [{start}, {end}) lies outside a text of {len(text)} characters"
            )
        placeholder = detector.placeholder if detector is not None else name.upper()
        spans.append((start, -(end - start), name, end, placeholder))
    spans.sort()
    merged: list[list[Any]] = []  # [start, end, placeholder]; overlapping spans merge into the first
    for start, _, _, end, placeholder in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, placeholder])
    pieces: list[str] = []
    position = 0
    for start, end, placeholder in merged:
        pieces.append(text[position:start])
        pieces.append(f"<{placeholder}>")
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def redact_texts(
    texts: pa.Array | pa.ChunkedArray,
    *,
    langs: pa.Array | pa.ChunkedArray | None = None,
    sources: pa.Array | pa.ChunkedArray | None = None,
    scanner: PiiScanner | None = None,
) -> pa.Array | pa.ChunkedArray:
    """Scan ``texts`` and return them redacted, same type and length, nulls kept."""
    scanner = scanner or PiiScanner(default_detectors())
    findings = scanner.scan_texts(texts, langs, sources)
    rows = [i for i, found in enumerate(findings) if found]
    if not rows:
        return texts
    originals = texts.take(pa.array(rows, pa.int64())).to_pylist()
    replaced = [
        redact(text, findings[row], detectors=scanner.detectors)
        for row, text in zip(rows, originals, strict=True)
    ]
    mask = [False] * len(texts)
    for row in rows:
        mask[row] = True
    return pc.replace_with_mask(texts, pa.array(mask), pa.array(replaced, texts.type))
