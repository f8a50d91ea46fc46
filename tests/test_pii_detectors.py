"""Each shipped detector on tables of (text, expected findings), decoys included."""

from __future__ import annotations

import pytest

from auditor.pii import PiiScanner, default_detectors


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner(default_detectors())


def found(scanner: PiiScanner, text: str, lang: str | None = None) -> list[tuple[str, str]]:
    return [(f.detector, text[f.start : f.end]) for f in scanner.scan(text, lang=lang)]


POSITIVES = [
    # e-mail
    ("mail me at jane.doe@example.co.uk today", "en", [("email", "jane.doe@example.co.uk")]),
    ("联系邮箱zhang.san@qq.com，谢谢", "zh", [("email", "zhang.san@qq.com")]),
    ("Schreiben Sie an max.mustermann@web.de.", "de", [("email", "max.mustermann@web.de")]),
    ("<a href='mailto:Pierre+news@orange.fr'>", "fr", [("email", "Pierre+news@orange.fr")]),
    # phone numbers: international, national in the record's regions, CN mobiles without context
    ("Call +1 415-555-2671 now", "en", [("phone", "+1 415-555-2671")]),
    ("office (415) 555-2671 ext. 4", "en", [("phone", "(415) 555-2671")]),
    ("我的手机号是13812345678，欢迎来电", "zh", [("phone", "13812345678")]),
    ("电话：+86 138 1234 5678", "zh", [("phone", "+86 138 1234 5678")]),
    ("Rufen Sie an: 030 901820 (Zentrale)", "de", [("phone", "030 901820")]),
    ("Téléphone : 01 42 68 53 00", "fr", [("phone", "01 42 68 53 00")]),
    ("Tel. 0049 30 901820", "de", [("phone", "0049 30 901820")]),
    ("phone: 4155552671", "en", [("phone", "4155552671")]),
    # the candidate runs into the next number: the valid prefix is the finding
    ("Phone (0161) 4960457 23 units", "en", [("phone", "(0161) 4960457")]),
    ("Tél. 04 44 72 38 99 34,607 euros", "fr", [("phone", "04 44 72 38 99")]),
    # IP addresses: public only
    ("client 8.8.8.8 connected", None, [("ip_address", "8.8.8.8")]),
    ("from 2001:4860:4860::8888 via", None, [("ip_address", "2001:4860:4860::8888")]),
    # documentation ranges stand for public addresses in examples
    ("Submitted from 203.0.113.5.", None, [("ip_address", "203.0.113.5")]),
    ("router at 2001:db8:1f::2a today", None, [("ip_address", "2001:db8:1f::2a")]),
    # payment cards (Luhn + issuer), with separators
    ("card 4111 1111 1111 1111 exp 12/29", "en", [("payment_card", "4111 1111 1111 1111")]),
    ("Amex 378282246310005.", "en", [("payment_card", "378282246310005")]),
    ("卡号5500-0000-0000-0004已绑定", "zh", [("payment_card", "5500-0000-0000-0004")]),
    # a label ("订单编号") belongs to the number right after it, not to a card further on
    ("订单编号 17654223935 4111 1111 1111 1111", "zh", [("payment_card", "4111 1111 1111 1111")]),
    # IBAN (mod 97), plain and grouped
    ("IBAN DE89 3704 0044 0532 0130 00 bitte", "de", [("iban", "DE89 3704 0044 0532 0130 00")]),
    ("virement FR1420041010050500013M02606", "fr", [("iban", "FR1420041010050500013M02606")]),
    # Chinese resident identity numbers (GB 11643), touching CJK characters
    ("身份证号110105199003071239，住址", "zh", [("cn_resident_id", "110105199003071239")]),
    ("ID 11010519900307005X ok", None, [("cn_resident_id", "11010519900307005X")]),
    # an ID that also passes Luhn is an ID, never a card
    ("身份证440304199207150351", "zh", [("cn_resident_id", "440304199207150351")]),
    # US SSN
    ("SSN 536-90-4399 on file", "en", [("us_ssn", "536-90-4399")]),
    ("social security number 536904399", "en", [("us_ssn", "536904399")]),
    # passport-like numbers only with a context word
    ("Passport No. E12345678 issued", "en", [("passport", "E12345678")]),
    ("护照号码：G23456789", "zh", [("passport", "G23456789")]),
    # credentials
    ("aws_access_key_id = AKIA2E3XKQ7VJH4MNPWZ", None, [("aws_access_key", "AKIA2E3XKQ7VJH4MNPWZ")]),
    (
        'AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKY"',
        None,
        [("aws_secret_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKY")],
    ),
    (
        "token ghp_aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gH3kM5 leaked",
        None,
        [("github_token", "ghp_aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gH3kM5")],
    ),
    ("export GL=glpat-Zx8vQ2mN4bR7tY1uW3eK", None, [("gitlab_token", "glpat-Zx8vQ2mN4bR7tY1uW3eK")]),
    ('db_password = "Tr0ub4dor&3"', None, [("secret_assignment", "Tr0ub4dor&3")]),
    (
        "API_KEY: sk_live_51HqLyjWDarjtT1zdp7dc",
        None,
        [("secret_assignment", "sk_live_51HqLyjWDarjtT1zdp7dc")],
    ),
    ("password = tzWgR4SvkAaz7h", None, [("secret_assignment", "tzWgR4SvkAaz7h")]),
    (
        "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        None,
        [
            (
                "jwt",
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            )
        ],
    ),
    # bank accounts and coordinates
    ("收款账号：6225880137706868 招商银行", "zh", [("payment_card", "6225880137706868")]),
    ("Kontonummer 0532013000, BLZ", "de", [("bank_account", "0532013000")]),
    ("last seen at 48.858370, 2.294481 yesterday", "en", [("geo_coordinates", "48.858370, 2.294481")]),
]

DECOYS = [
    # cards failing Luhn, Luhn-valid numbers without an issuer prefix, too short
    ("order 4111 1111 1111 1112 shipped", "en"),
    ("ref 1234567812345670", "en"),
    ("code 4111 1111 111", "en"),
    # IDs with a wrong check digit, an impossible date, a month 13
    ("身份证号110105199003071230", "zh"),
    ("身份证号110105199002301231", "zh"),
    ("身份证号110105199013301237", "zh"),
    ("编号360702195607035109", "zh"),  # ID-shaped, wrong check digit, Luhn-valid: neither ID nor card
    ("20,833 2006-06-18 and 91,864 1987-07-23", "de"),
    # version strings and private/reserved addresses are not public IPs
    ("upgrade to 192.168.1.1.2 now", "en"),
    ("gateway 192.168.1.1 and 10.0.0.7, loopback 127.0.0.1, multicast 224.0.0.1", "en"),
    ("hosts 172.16.235.120 and 192.168.18.77 here", "fr"),
    ("carte 3592 9361 0147 7860 (préfixe non attribué)", "fr"),
    ("localhost ::1 and fe80::1", None),
    ("time 12:30:45 and 3.14.15.926", "en"),
    # phone-like serial numbers, dates, amounts
    ("Serial No. 4155552671", "en"),
    ("订单编号 13812345678", "zh"),
    ("released 2023-04-05 in Berlin", "de"),
    ("Umsatz 1.234.567 Euro", "de"),
    ("ISBN 978-3-16-148410-0", "en"),
    ("years 1990-2020", "en"),
    # IBAN with a wrong check, SSN with invalid area, passport number without context
    ("IBAN DE89 3704 0044 0532 0130 01", "de"),
    ("SSN 666-12-3456 or 000-12-3456", "en"),
    ("model E12345678 in stock", "en"),
    # placeholders and code, not secrets
    ("password = os.environ['DB_PASSWORD']", None),
    ('api_key: "<your-api-key>"', None),
    ("token ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", None),
    ("commit 9fceb02d0ae598e95dc970b74767f19372d61af8 merged", None),  # 40 hex chars, no AWS context
    ("password=${DB_PASS}", None),
    ("password = userPassword", None),
    ("api_key = settings.API_KEY", None),
    ("secret_key = SECRET_KEY_VALUE", None),
    # e-mail look-alikes
    ("retina image icon@2x.png", None),
    ("user@localhost and a@@b", None),
    # a digit run with no account context is not a bank account
    ("population 0532013000 people", "en"),
]


@pytest.mark.parametrize(("text", "lang", "expected"), POSITIVES)
def test_detector_finds(
    scanner: PiiScanner, text: str, lang: str | None, expected: list[tuple[str, str]]
) -> None:
    assert found(scanner, text, lang) == expected


@pytest.mark.parametrize(("text", "lang"), DECOYS)
def test_decoy_is_not_found(scanner: PiiScanner, text: str, lang: str | None) -> None:
    assert found(scanner, text, lang) == []


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        # phone regions come from the record language: a UK national number needs GB
        ("ring 0161 496 0457 today", "en", [("phone", "0161 496 0457")]),
        ("ring 0161 496 0457 today", "zh", []),
        # mixed CJK + ASCII: both findings, exact offsets
        (
            "请联系Li Wei（li.wei@163.com，13912345678）",
            "zh",
            [("email", "li.wei@163.com"), ("phone", "13912345678")],
        ),
    ],
)
def test_regions_follow_language(
    scanner: PiiScanner, text: str, lang: str | None, expected: list[tuple[str, str]]
) -> None:
    assert found(scanner, text, lang) == expected


def test_source_regions_are_tried(scanner: PiiScanner) -> None:
    by_source = PiiScanner(default_detectors(), source_regions={"uk-forum": ["GB"]})
    text = "ring 0161 496 0457 today"
    assert [f.detector for f in by_source.scan(text, lang="zh", source="uk-forum")] == ["phone"]
    assert scanner.scan(text, lang="zh", source="uk-forum") == []


def test_private_key_block_is_one_finding(scanner: PiiScanner) -> None:
    body = "MIIEowIBAAKCAQEA7d4Zf2mQ\nq8yKp1vT0xR3nL5wZ9bC2dE4\n"
    text = f"key:\n-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----\nafter"
    findings = scanner.scan(text)
    assert [f.detector for f in findings] == ["private_key"]
    assert text[findings[0].start : findings[0].end].endswith("-----END RSA PRIVATE KEY-----")
    assert text[findings[0].end :] == "\nafter"


@pytest.mark.parametrize(
    ("text", "detector", "category"),
    [
        ("The patient was diagnosed with diabetes last year.", "health", "keyword.health"),
        ("他患有糖尿病多年。", "health", "keyword.health"),
        ("She is a devout Muslim.", "religion", "keyword.religion"),
        ("员工指纹信息已采集", "biometric", "keyword.biometric"),
        ("my 9-year-old son", "minor_age", "keyword.minor"),
        ("小明今年8岁", "minor_age", "keyword.minor"),
    ],
)
def test_sensitive_keywords_are_low_confidence(
    scanner: PiiScanner, text: str, detector: str, category: str
) -> None:
    findings = scanner.scan(text)
    assert [(f.detector, f.category) for f in findings] == [(detector, category)]
    assert default_detectors().get(detector).low_confidence


@pytest.mark.parametrize(
    "text",
    ["Cancer research funding rose.", "The museum has a Buddhist temple exhibit.", "a 40-year-old building"],
)
def test_keywords_without_personal_context_are_not_found(scanner: PiiScanner, text: str) -> None:
    assert scanner.scan(text) == []


def test_overlaps_resolved_by_priority(scanner: PiiScanner) -> None:
    text = "13812345678@qq.com"
    assert found(scanner, text, "zh") == [("email", "13812345678@qq.com")]


def test_scanner_defaults_to_the_shipped_detectors() -> None:
    assert PiiScanner().detectors == default_detectors()
    assert [f.detector for f in PiiScanner().scan("mail a@qq.com")] == ["email"]


def test_findings_explain_themselves(scanner: PiiScanner) -> None:
    (finding,) = scanner.scan("card 4111111111111111")
    explanation = finding.explain()
    assert "payment_card" in explanation and "payment_card passed" in explanation
    assert "4111111111111111" not in explanation
