"""Redaction: typed placeholders, deterministic overlap handling, Arrow arrays."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.pii import Finding, PiiScanner, default_detectors, redact, redact_texts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe@example.com now", "mail <EMAIL> now"),
        ("身份证号110105199003071239，手机13812345678", "身份证号<CN_RESIDENT_ID>，手机<PHONE>"),
        ('password = "Tr0ub4dor&3"', 'password = "<SECRET>"'),
        ("IBAN DE89 3704 0044 0532 0130 00.", "IBAN <IBAN>."),
        ("The patient was diagnosed with diabetes.", "The patient was diagnosed with diabetes."),
        ("nothing here", "nothing here"),
    ],
)
def test_redact_scanned_text(text: str, expected: str) -> None:
    scanner = PiiScanner(default_detectors())
    assert redact(text, scanner.scan(text, lang="zh")) == expected


def _f(detector: str, start: int, end: int) -> dict[str, object]:
    return {"detector": detector, "start": start, "end": end}


@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        ([_f("email", 0, 5), _f("phone", 3, 8)], "<EMAIL>89"),  # overlap: merged, earliest names it
        ([_f("phone", 3, 8), _f("email", 0, 5)], "<EMAIL>89"),  # input order does not matter
        ([_f("phone", 0, 4), _f("email", 0, 8)], "<EMAIL>89"),  # same start: longest span wins
        (
            [_f("ip_address", 0, 2), _f("ip_address", 2, 4)],
            "<IP_ADDRESS><IP_ADDRESS>456789",
        ),  # adjacent spans both redacted
        ([_f("custom_thing", 8, 10)], "01234567<CUSTOM_THING>"),  # unknown detector: NAME upper
    ],
)
def test_overlaps_are_resolved_deterministically(findings: list[dict[str, object]], expected: str) -> None:
    assert redact("0123456789", findings) == expected


def test_out_of_range_finding_is_an_error() -> None:
    with pytest.raises(ValueError, match="outside a text of 3 characters"):
        redact("abc", [Finding("email", "contact", 1, 9, "address", 0.9)])


def test_redact_texts_keeps_type_length_and_nulls() -> None:
    texts = pa.array(["a@qq.com x", None, "clean", "电话13812345678"], pa.large_string())
    out = redact_texts(texts)
    assert out.type == pa.large_string()
    assert out.to_pylist() == ["<EMAIL> x", None, "clean", "电话<PHONE>"]
    clean = pa.array(["nothing", None], pa.string())
    assert redact_texts(clean).equals(clean)


VALUES = ["jane.doe@example.com", "13812345678", "4111 1111 1111 1111", "8.8.8.8", "536-90-4399"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from([*VALUES, "hello", "世界", "1.2.3", "at home"]), max_size=10))
def test_redacted_text_holds_no_value(parts: list[str]) -> None:
    text = " ".join(parts)
    redacted = redact_texts(pa.array([text])).to_pylist()[0]
    for value in VALUES:
        assert value not in redacted
    assert redacted.count("<") == sum(part in VALUES for part in parts)
