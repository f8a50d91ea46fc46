"""Value objects of PII detection: detectors (loaded from data), their patterns, and findings.

A finding never holds the matched value: only where it is (character offsets into the raw text), what
found it and, when a salt is given, a salted HMAC of the value for linking findings across records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Category prefix of lower-confidence detectors (keyword or phrase evidence, no validated identifier).
LOW_CONFIDENCE_PREFIX = "keyword."


@dataclass(frozen=True, slots=True)
class Pattern:
    """One regular expression of a detector, with the score a bare match gets."""

    name: str
    regex: re.Pattern[str]
    score: float

    @property
    def value_group(self) -> bool:
        """Whether a group named ``value`` narrows the finding to part of the match."""
        return "value" in self.regex.groupindex


@dataclass(frozen=True, slots=True)
class Detector:
    """A data-driven recogniser: patterns, an optional validator, context words and a category."""

    name: str
    category: str
    patterns: tuple[Pattern, ...]
    sensitivity: tuple[str, ...] = ()
    priority: int = 50
    validator: str | None = None
    trigger: str | None = None
    context: re.Pattern[str] | None = None
    negative_context: re.Pattern[str] | None = None
    context_window: int = 48
    negative_window: int = 20
    context_boost: float = 0.4
    min_score: float = 0.5
    redact: bool = True
    placeholder: str = ""
    description: str = ""

    @property
    def sensitive(self) -> bool:
        return bool(self.sensitivity)

    @property
    def low_confidence(self) -> bool:
        return self.category.startswith(LOW_CONFIDENCE_PREFIX)


@dataclass(frozen=True)
class DetectorSet:
    """The detectors of one rules file, in file order, plus phone regions by language."""

    detectors: tuple[Detector, ...]
    phone_regions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    path: Path | None = None

    def names(self) -> list[str]:
        return sorted(d.name for d in self.detectors)

    def categories(self) -> list[str]:
        """Sensitivity tags the detectors can report (the values of ``pii_categories``)."""
        return sorted({tag for d in self.detectors for tag in d.sensitivity})

    def by_name(self) -> dict[str, Detector]:
        return {d.name: d for d in self.detectors}

    def get(self, name: str) -> Detector:
        for detector in self.detectors:
            if detector.name == name:
                return detector
        raise KeyError(f"Unknown detector {name!r}; available: {', '.join(self.names())}")

    def regions_for(self, lang: str | None) -> tuple[str, ...]:
        """Phone regions for a language code: exact code, then its base language, then ``default``."""
        if lang:
            if lang in self.phone_regions:
                return self.phone_regions[lang]
            base = lang.split("-", 1)[0]
            if base in self.phone_regions:
                return self.phone_regions[base]
        return self.phone_regions.get("default", ())


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected piece of personal information, located by character offsets ``[start, end)``."""

    detector: str
    category: str
    start: int
    end: int
    pattern: str
    score: float
    validator: str | None = None
    value_hash: str | None = None

    def explain(self) -> str:
        """Evidence in words, without the value."""
        return (
            f"{self.detector} (category {self.category}) at characters {self.start}-{self.end}: "
            f"pattern {self.pattern!r}, validator {self.validator or 'none'} passed, score {self.score:.2f}"
        )
