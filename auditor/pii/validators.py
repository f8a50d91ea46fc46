"""Checks that turn a pattern match into a finding: checksums, dates, regions, placeholders.

Each validator is ``(value, context) -> bool | int`` and is named in ``detectors.toml``; an int is the
length of a valid prefix of the value (the finding then covers only that prefix). The registry is the
explicit ``VALIDATORS`` mapping (no discovery). Checksummed identifiers use python-stdnum, phone numbers
use phonenumbers, e-mail domains use tldextract's bundled public-suffix snapshot (never the network).
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import phonenumbers
import tldextract
from stdnum import iban as stdnum_iban
from stdnum import luhn, numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError
from stdnum.us import ssn


@dataclass(frozen=True, slots=True)
class ValidationContext:
    """What a validator may know beyond the value: phone regions for the record."""

    regions: tuple[str, ...] = ()


# A validator answers True (valid), False (not) or, for a valid prefix of the value, that prefix's length.
Validator = Callable[[str, ValidationContext], bool | int]

_NON_DIGITS = re.compile(r"[^0-9]")


def _digits(value: str) -> str:
    return _NON_DIGITS.sub("", value)


# Issuer identification number prefixes and lengths of payment cards (ISO/IEC 7812 ranges of the major
# networks). A Luhn-valid digit run with no known issuer prefix is not reported.
_CARD_RANGES: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),  # Visa
    (51, 55, frozenset({16})),  # Mastercard
    (2221, 2720, frozenset({16})),  # Mastercard 2-series
    (34, 34, frozenset({15})),  # American Express
    (37, 37, frozenset({15})),
    (6011, 6011, frozenset(range(16, 20))),  # Discover
    (644, 649, frozenset(range(16, 20))),
    (65, 65, frozenset(range(16, 20))),
    (62, 62, frozenset(range(16, 20))),  # UnionPay
    (3528, 3589, frozenset(range(16, 20))),  # JCB
    (2131, 2131, frozenset({15})),  # JCB 15-digit
    (1800, 1800, frozenset({15})),
    (300, 305, frozenset(range(14, 20))),  # Diners Club
    (36, 36, frozenset(range(14, 20))),
    (38, 39, frozenset(range(14, 20))),
    (2200, 2204, frozenset(range(16, 20))),  # Mir
    (5018, 5018, frozenset(range(12, 20))),  # Maestro
    (5020, 5020, frozenset(range(12, 20))),
    (5038, 5038, frozenset(range(12, 20))),
    (56, 58, frozenset(range(12, 20))),
    (6304, 6304, frozenset(range(12, 20))),
    (6390, 6390, frozenset(range(12, 20))),
    (6759, 6759, frozenset(range(12, 20))),
    (6761, 6763, frozenset(range(12, 20))),
)


def _known_issuer(digits: str) -> bool:
    for low, high, lengths in _CARD_RANGES:
        width = len(str(low))
        if low <= int(digits[:width]) <= high and len(digits) in lengths:
            return True
    return False


def payment_card(value: str, context: ValidationContext) -> bool:
    """Luhn check digit, a known issuer prefix with its length, one kind of separator."""
    if " " in value and "-" in value:
        return False
    digits = _digits(value)
    if not 12 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    if len(digits) == 18 and _cn_resident_id_shape(digits):
        return False  # an 18-digit resident-ID-shaped number is an ID (maybe mistyped), not a card
    return luhn.is_valid(digits) and _known_issuer(digits)


def iban(value: str, context: ValidationContext) -> bool:
    """ISO 13616: country length and format, mod-97 check digits."""
    return bool(stdnum_iban.is_valid(value))


def _cn_resident_id_shape(number: str) -> bool:
    """An assigned region code and a real birth date, whatever the check digit."""
    try:
        ric.get_birth_date(number)
    except ValidationError:
        return False
    return bool(numdb.get("cn/loc").info(number[:6])[0][1])


def cn_resident_id(value: str, context: ValidationContext) -> bool:
    """GB 11643-1999: check digit, a real birth date and a region code that exists or existed.

    stdnum's ``ric.is_valid`` also demands that the county existed in the birth year, but numbers are
    assigned by the county of registration when issued, so people born before their county was created
    hold valid numbers it rejects; the region is checked against stdnum's table without the year.
    """
    number = value.upper()
    if len(number) != 18 or number[-1] != ric.calc_check_digit(number):
        return False
    return _cn_resident_id_shape(number)


def us_ssn(value: str, context: ValidationContext) -> bool:
    """Area (not 000, 666, 9xx), group (not 00) and serial (not 0000) rules, known misused numbers."""
    return bool(ssn.is_valid(value.replace(" ", "-")))


_DATE_LIKE = re.compile(
    r"^\(?(?:[0-9]{4}[ ./\-][0-9]{1,2}[ ./\-][0-9]{1,2}|[0-9]{1,2}[ ./\-][0-9]{1,2}[ ./\-][0-9]{2,4})\)?$"
)
_DATE_PREFIX = re.compile(r"^\(?[0-9]{4}[./\-][0-9]{1,2}[./\-][0-9]{1,2}(?![0-9])")
_CONTAINS_DATE = re.compile(r"(?:1[89]|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])")
_YEAR_RANGE = re.compile(r"^(?:1[89]|20)[0-9]{2} ?[\-/] ?(?:1[89]|20)[0-9]{2}$")
_THOUSANDS = re.compile(r"^[0-9]{1,3}(?:([ .])[0-9]{3})(?:\1[0-9]{3})*$")
_CN_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
# Not phones: addresses or versions (4 groups of 1-3 digits, or a one-digit group after the first:
# 192.168.1.10, 1.2.10.4, 192.168.1.1.2), decimals (48.858370) and SSN-shaped 3-2-4 groups.
_NOT_PHONE_SHAPES = re.compile(
    r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$|^[0-9]+(?:\.[0-9]+)*\.[0-9](?:\.[0-9]+)*$|^[0-9]+\.[0-9]+$"
    r"|^[0-9]{3}-[0-9]{2}-[0-9]{4}$"
)


def phone(value: str, context: ValidationContext) -> bool | int:
    """A number phonenumbers deems valid: international form, or national form in a record region.

    Dates, year ranges, thousands-grouped amounts, versions, decimals, SSN shapes and runs mixing '.'
    with other separators are rejected first (phonenumbers accepts some of them, e.g. 2023-04-05 as a
    German number). An 11-digit 1[3-9]... run is also tried as a CN mobile. When the whole candidate
    is not a number but the candidate without some trailing groups is ("(0151) 4960962 23"), that
    prefix's length is returned: the finding covers the prefix.
    """
    if _phone_valid(value, context):
        return True
    if _FOUR_DIGIT_GROUPS.match(value):
        return False  # 3592 9361 0147 7860 is one card-like number: no phone inside it
    for separator in reversed(list(_PHONE_SEPARATOR.finditer(value))):  # drop trailing space-separated groups
        prefix = value[: separator.start()]
        if len(_digits(prefix)) < 7:
            break
        if _phone_valid(prefix, context):
            return len(prefix)
    return False


# Only cut at spaces: a cut at "." or "-" would turn 172.16.235.120 into the "number" 172.16.235.
_PHONE_SEPARATOR = re.compile(r" {1,2}")
_FOUR_DIGIT_GROUPS = re.compile(r"^[0-9]{4}(?: [0-9]{4}){2,}$")


def _phone_valid(value: str, context: ValidationContext) -> bool:
    digits = _digits(value)
    if not 7 <= len(digits) <= 15:
        return False
    if any(p.match(value) for p in (_DATE_LIKE, _DATE_PREFIX, _YEAR_RANGE, _THOUSANDS, _NOT_PHONE_SHAPES)):
        return False
    if _CONTAINS_DATE.search(value):
        return False
    if "." in value and (" " in value or "-" in value):
        return False  # "1934 240.42", "63 775.82": numbers side by side, not one phone number
    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        return _valid_number(text, None)
    regions = context.regions
    if _CN_MOBILE.match(digits) and "CN" not in regions:
        regions = (*regions, "CN")
    return any(_possible_length(digits, region) and _valid_number(text, region) for region in regions)


@functools.cache
def _region_lengths(region: str) -> tuple[frozenset[int], str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None or not metadata.general_desc.possible_length:
        return frozenset(range(1, 18)), ""
    return frozenset(metadata.general_desc.possible_length), metadata.national_prefix or ""


def _possible_length(digits: str, region: str) -> bool:
    """Cheap necessary condition before parsing: the national number has a length the region uses."""
    lengths, prefix = _region_lengths(region)
    if len(digits) in lengths:
        return True
    return bool(prefix) and digits.startswith(prefix) and len(digits) - len(prefix) in lengths


@functools.lru_cache(maxsize=65536)
def _valid_number(text: str, region: str | None) -> bool:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


@functools.cache
def _suffix_extractor() -> tldextract.TLDExtract:
    # Bundled public-suffix snapshot only: no fetch, no cache directory.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def email(value: str, context: ValidationContext) -> bool:
    """A local part without empty dot-atoms and a domain under a known public suffix."""
    local, _, domain = value.rpartition("@")
    if not local or ".." in local or ".." in domain:
        return False
    parts = _suffix_extractor()(domain.lower())
    return bool(parts.suffix and parts.domain)


# Documentation ranges (RFC 5737, RFC 3849) stand in for public addresses in examples and sample data.
_DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


def ip_public(value: str, context: ValidationContext) -> bool:
    """A public IPv4/IPv6 address: globally routable or in a documentation range (which stands for one);
    not private, loopback, link-local, multicast or otherwise reserved."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    if address.is_multicast:
        return False
    return bool(address.is_global) or any(address in network for network in _DOCUMENTATION_NETWORKS)


def _b64url_json(segment: str) -> object:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        return None


def jwt(value: str, context: ValidationContext) -> bool:
    """Header and payload decode to JSON objects and the header names an algorithm."""
    parts = value.split(".")
    if len(parts) != 3:
        return False
    header, payload = _b64url_json(parts[0]), _b64url_json(parts[1])
    return isinstance(header, dict) and "alg" in header and isinstance(payload, dict)


def _entropy(text: str) -> float:
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def token_entropy(value: str, context: ValidationContext) -> bool:
    """The random part of a token looks random (rejects placeholders like ghp_xxxx...)."""
    body = value.split("_", 1)[-1] if "_" in value[:12] else value
    return _entropy(body) >= 3.0


_PLACEHOLDER = re.compile(
    r"^(?:\$\{|\$[A-Za-z_][A-Za-z0-9_]*$|%\(?[a-z_]*\)?[sd]$|\{\{|<|#\{|\*{3,}|x{4,}$|\.{3})"
    r"|your|example|changeme|placeholder|redacted|dummy|environ|getenv|process\.env|config\[|settings\.",
    re.IGNORECASE,
)
# Variable names and attribute access, not literal secrets: user_password, DB_PASSWORD, userPassword,
# form.password, sunshine (lower-case letters only). Random mixed-case or digit-bearing values pass.
_IDENTIFIER = re.compile(
    r"^(?:[a-z_]+|[a-z][a-z0-9]*(?:_[a-z0-9]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z]+(?:[A-Z][a-z]+)+"
    r"|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)$"
)
_LITERALS = frozenset({"none", "null", "undefined", "true", "false", "password", "secret", "required"})


def secret_value(value: str, context: ValidationContext) -> bool:
    """An assigned value that is a literal secret, not a placeholder, variable or attribute access."""
    if value.lower() in _LITERALS or _PLACEHOLDER.search(value) or _IDENTIFIER.match(value):
        return False
    return len(set(value)) >= 4


def geo_coordinates(value: str, context: ValidationContext) -> bool:
    """Latitude in [-90, 90] and longitude in [-180, 180]."""
    lat_text, _, lon_text = value.partition(",")
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        return False
    return abs(lat) <= 90 and abs(lon) <= 180


def minor_age(value: str, context: ValidationContext) -> bool:
    """The stated age is under 14 (PIPL art. 28: all personal information of minors under 14)."""
    digits = _digits(value)
    return bool(digits) and int(digits) < 14


VALIDATORS: Mapping[str, Validator] = {
    "cn_resident_id": cn_resident_id,
    "email": email,
    "geo_coordinates": geo_coordinates,
    "iban": iban,
    "ip_public": ip_public,
    "jwt": jwt,
    "minor_age": minor_age,
    "payment_card": payment_card,
    "phone": phone,
    "secret_value": secret_value,
    "token_entropy": token_entropy,
    "us_ssn": us_ssn,
}


def validator_names() -> list[str]:
    return sorted(VALIDATORS)
