"""Adversarial input: scans finish (linear-time patterns) and give the right answer.

The guarantee these inputs exercise: the loader rejects unbounded repeats, every pattern begins with a
boundary lookbehind, and triggers run in RE2, so scan time grows linearly with the text. Inputs that
make naive patterns quadratic or exponential (long runs without a boundary) are used at sizes where a
quadratic scan would take hours; this file checks results, never wall time.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from auditor.pii import PiiScanner, default_detectors

ADVERSARIAL = [
    ("digits_5mb", "7" * 5_000_000, []),
    ("no_spaces_1mb", "ab1cD" * 200_000, []),
    ("at_signs_1mb", "@" * 1_000_000, []),
    ("local_part_then_at", "a" * 1_000_000 + "@", []),
    ("alternating_at", "a@" * 300_000, []),
    ("dotted_digits", "1." * 500_000, []),
    ("spaced_digit_pairs", "12 " * 100_000, None),  # "12 12 12 12 12" is a valid number in some regions
    ("dashes", "1-" * 500_000, []),
    ("colons", ":" * 1_000_000, []),
    ("hex_colons", "ab:" * 300_000, []),
    ("pem_headers", "-----BEGIN RSA PRIVATE KEY-----" * 20_000, None),
    ("jwt_prefixes", "eyJ" * 300_000, []),
    ("password_prefixes", "password=" * 100_000, None),
    ("keyword_runs", "diabetes " * 30_000, []),
]


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner(default_detectors())


@pytest.mark.parametrize(("name", "text", "expected"), ADVERSARIAL, ids=[a[0] for a in ADVERSARIAL])
def test_adversarial_input_is_scanned(
    scanner: PiiScanner, name: str, text: str, expected: list | None
) -> None:
    findings = scanner.scan_texts(pa.array([text], pa.large_string()))[0]
    if expected is not None:
        assert findings == expected
    assert all(0 <= f.start < f.end <= len(text) for f in findings)


def test_value_after_a_huge_run_is_still_found(scanner: PiiScanner) -> None:
    text = "x" * 1_000_000 + " mail jane.doe@example.com " + "9" * 500_000
    (finding,) = scanner.scan(text)
    assert text[finding.start : finding.end] == "jane.doe@example.com"
