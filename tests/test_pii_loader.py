"""detectors.toml validation: a table of broken files and the error each must produce."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import ConfigError
from auditor.pii import categories, default_rules_path, detector_names, load_detectors, validator_names

GOOD = """
[[detector]]
name = "email"
category = "contact"
validator = "email"
[[detector.pattern]]
name = "address"
regex = '''[a-z]{1,10}@[a-z]{1,10}\\.com'''
score = 0.9
"""

BROKEN = [
    (
        GOOD.replace('validator = "email"', 'validator = "luhnn"'),
        r"line 2: detector\[0\] 'email': Unknown validator 'luhnn'; available: cn_resident_id, email",
    ),
    (
        GOOD.replace('category = "contact"', 'category = "contact"\ncolour = "red"'),
        r"unknown key\(s\) \['colour'\]; allowed: \[",
    ),
    (
        GOOD.replace("score = 0.9", 'score = 0.9\nflags = "i"'),
        r"line 6: detector 'email' pattern\[0\]: unknown key\(s\) \['flags'\]",
    ),
    (GOOD.replace("[a-z]{1,10}@", "[a-z]+@"), r"unbounded repeat .* use a bounded \{m,n\}"),
    (GOOD.replace("[a-z]{1,10}@", "(?:[a-z]{1,10})*@"), r"unbounded repeat"),
    (GOOD.replace("[a-z]{1,10}@", "[a-z]{1,10}(@"), r"regex does not compile"),
    (GOOD.replace('name = "email"', 'name = "E-mail"'), r"name must match \[a-z\]\[a-z0-9_\]\*"),
    (GOOD.replace("score = 0.9", "score = 2"), r"score must be a number from 0 to 1"),
    (GOOD + GOOD, r"detector names must be unique; repeated: \['email'\]"),
    (
        GOOD.replace('category = "contact"', 'category = "contact"\nsensitivity = ["health"]'),
        r"must look like pipl28.health",
    ),
    (
        GOOD.replace('category = "contact"', 'category = "contact"\ntrigger = "(?<!x)@"'),
        r"trigger is not a valid RE2 regex",
    ),
    (
        GOOD.replace('category = "contact"', 'category = "contact"\nkeywords = ["x"]'),
        r"either \[\[detector.pattern\]\] tables or a keywords list",
    ),
    ('[phone_regions]\nen = ["XX"]\n' + GOOD, r"phone_regions.en: unknown region\(s\) \['XX'\]"),
    ("version = 2\n" + GOOD, r"version must be 1"),
    ("[[detector]\n", r"not valid TOML"),
    ("version = 1\n", r"at least one \[\[detector\]\] table is required"),
]


@pytest.mark.parametrize(("content", "message"), BROKEN)
def test_broken_files_are_rejected_with_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "detectors.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_detectors(path)
    assert str(path) in str(info.value)


def test_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "detectors.toml"
    path.write_text(GOOD, encoding="utf-8")
    detectors = load_detectors(path)
    assert detectors.names() == ["email"]
    assert detectors.get("email").placeholder == "EMAIL"
    with pytest.raises(KeyError, match="Unknown detector 'emial'; available: email"):
        detectors.get("emial")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="detectors file not found"):
        load_detectors(tmp_path / "nope.toml")


def test_shipped_detectors_cover_the_issue() -> None:
    names = set(detector_names())
    required = {
        "email",
        "phone",
        "ip_address",
        "payment_card",
        "iban",
        "cn_resident_id",
        "us_ssn",
        "passport",
        "aws_access_key",
        "github_token",
        "gitlab_token",
        "private_key",
        "jwt",
        "secret_assignment",
    }
    assert required <= names
    assert {"pipl28.financial_account", "pipl28.identity_number", "gdpr9.health"} <= set(categories())
    assert all(tag.startswith(("pipl28.", "gdpr9.")) for tag in categories())


def test_every_shipped_validator_is_used_and_exists() -> None:
    detectors = load_detectors(default_rules_path())
    used = {d.validator for d in detectors.detectors if d.validator}
    assert used <= set(validator_names())
    assert used == set(validator_names())


def test_keyword_detectors_are_marked_low_confidence_and_not_redacted() -> None:
    detectors = load_detectors(default_rules_path())
    for detector in detectors.detectors:
        if detector.low_confidence:
            assert not detector.redact, detector.name
        if detector.category.startswith("keyword."):
            assert detector.sensitive, detector.name
