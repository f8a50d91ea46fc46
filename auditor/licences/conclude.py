"""Concluding one record's licence from source, metadata and content evidence.

Every piece of evidence is kept. Claims (a licence asserted by the source, the record's metadata, a
registry or the content) that agree give the licence; claims that disagree are a conflict, surfaced for
the policy to act on, and the conclusion is the strictest claim (an unknown claim is the strictest of
all, so the licence is then null). Two claims agree when they are equal, when one is an option of the
other's ``OR``, or when a full-text match and a notice name the same GNU licence (the full text of
GPL-2.0 does not say "-only" or "-or-later"; the notice does).

An "All rights reserved" notice in the content claims ``LicenseRef-All-Rights-Reserved`` only when the
content grants no licence itself: "Copyright (c) 2020 X. All rights reserved." followed by the BSD
licence is an ordinary BSD header. A bare copyright notice is evidence of a holder, not a licence.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from auditor.licences.traits import UNKNOWN_TRAITS, parse_expression, strictest, traits_of

CLAIM_KINDS = (
    "source",
    "metadata",
    "registry",
    "spdx-id",
    "cc-url",
    "cc-badge",
    "licence-notice",
    "full-text",
)
CONTENT_KINDS = ("spdx-id", "cc-url", "cc-badge", "licence-notice", "full-text", "copyright-notice")
ALL_RIGHTS_RESERVED = "LicenseRef-All-Rights-Reserved"
UNKNOWN = "unknown"
_GNU_SUFFIX = re.compile(r"-(?:only|or-later)$")


@dataclass(frozen=True)
class Evidence:
    """Where a licence (or a notice) was seen. ``value`` is a licence id/expression or a notice type."""

    kind: str
    value: str
    where: str


@dataclass(frozen=True)
class Conclusion:
    licence: str | None
    evidence: tuple[Evidence, ...]
    conflict: bool
    traits: tuple[str, ...]


def _options(expression: str) -> set[str]:
    """The top-level OR options of an expression (the expression itself when it is not an OR)."""
    tree = parse_expression(expression)
    if tree is not None and type(tree).__name__ == "OR":
        return {str(arg) for arg in tree.args}  # type: ignore[attr-defined]
    return {expression}


def _gnu_family(expression: str) -> str | None:
    return _GNU_SUFFIX.sub("", expression) if _GNU_SUFFIX.search(expression) else None


def _reconcile(claims: list[Evidence]) -> list[str]:
    """Distinct claimed licences once agreeing claims are merged (the narrower one is kept)."""
    content_licences = {c.value for c in claims if c.kind in CONTENT_KINDS and c.kind != "full-text"}
    values: list[str] = []
    for claim in claims:
        if claim.kind == "full-text":
            family = _gnu_family(claim.value)
            if family and any(_gnu_family(v) == family for v in content_licences):
                continue  # the notice says which GNU variant the full text is under
        if claim.value not in values:
            values.append(claim.value)
    known = [v for v in values if v != UNKNOWN]
    merged = list(known)
    for wide in known:
        options = _options(wide)
        if len(options) > 1 and any(other != wide and other in options for other in known):
            merged.remove(wide)  # the narrower option was chosen elsewhere
    return merged + ([UNKNOWN] if UNKNOWN in values else [])


@functools.lru_cache(maxsize=16384)
def conclude(evidence: tuple[Evidence, ...], rules_dir: Path | None = None) -> Conclusion:
    """Combine the evidence of one record into a concluded licence, a conflict flag and traits."""
    claims = [e for e in evidence if e.kind in CLAIM_KINDS]
    content_grants = any(e.kind in CONTENT_KINDS and e.value != UNKNOWN for e in claims)
    if not content_grants:
        reserved = next(
            (e for e in evidence if e.kind == "copyright-notice" and e.value == "all-rights-reserved"), None
        )
        if reserved is not None:
            claims.append(Evidence("copyright-notice", ALL_RIGHTS_RESERVED, reserved.where))
    if not claims:
        return Conclusion(None, evidence, False, tuple(UNKNOWN_TRAITS.names))
    distinct = _reconcile(claims)
    conflict = len(distinct) > 1
    if UNKNOWN in distinct:
        return Conclusion(None, evidence, conflict, tuple(UNKNOWN_TRAITS.names))
    licence = distinct[0] if len(distinct) == 1 else strictest(distinct, rules_dir)
    return Conclusion(licence, evidence, conflict, tuple(traits_of(licence, rules_dir).names))
