"""Personal-information detection: data-driven detectors, a scanner, redaction and a findings file.

Detectors live in ``auditor/rules/pii/detectors.toml`` (pattern + validator + context, with a category
and sensitivity tags for PIPL art. 28 and GDPR art. 9). Findings hold detector, category and character
offsets, never the value (at most a salted HMAC of it). Categories starting with ``keyword.`` are
lower-confidence: a keyword or phrase next to a personal context, not a validated identifier.

Time guarantee: scans are linear in the text length (bounded repeats, boundary lookbehinds, RE2
triggers); see :mod:`auditor.pii.scanner`.
"""

from __future__ import annotations

from auditor.pii.findings import FINDING_TYPE, findings_table, source_pii_summary, write_findings
from auditor.pii.loader import default_detectors, default_rules_path, load_detectors
from auditor.pii.model import LOW_CONFIDENCE_PREFIX, Detector, DetectorSet, Finding, Pattern
from auditor.pii.redaction import redact, redact_texts
from auditor.pii.scanner import PiiScanner
from auditor.pii.validators import VALIDATORS, validator_names


def detector_names() -> list[str]:
    """Names of the shipped detectors: the values ``pii_types`` can hold."""
    return default_detectors().names()


def categories() -> list[str]:
    """Sensitivity tags of the shipped detectors: the values ``pii_categories`` can hold."""
    return default_detectors().categories()


__all__ = [
    "FINDING_TYPE",
    "LOW_CONFIDENCE_PREFIX",
    "VALIDATORS",
    "Detector",
    "DetectorSet",
    "Finding",
    "Pattern",
    "PiiScanner",
    "categories",
    "default_detectors",
    "default_rules_path",
    "detector_names",
    "findings_table",
    "load_detectors",
    "redact",
    "redact_texts",
    "source_pii_summary",
    "validator_names",
    "write_findings",
]
