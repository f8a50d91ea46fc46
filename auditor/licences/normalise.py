"""Normalisation of licence strings as found in the wild to SPDX expressions.

Order of attempts for one string (the first that succeeds wins):

1. the reviewed alias table ``rules/licences/aliases.tsv``, on a loose key (``alias_key``);
2. the Creative Commons naming grammar ("CC BY-SA 3.0", "Creative Commons Attribution 4.0
   International", "知识共享署名-相同方式共享 4.0");
3. an SPDX expression, parsed and validated by license-expression (deprecated ids are upgraded and
   reported, e.g. ``GPL-2.0`` -> ``GPL-2.0-only``);
4. a list of licences joined by one kind of separator ("MIT/Apache-2.0", "mit, apache 2.0"), each part
   normalised by 1-3.

Anything else is ``unknown`` (the original string is kept as evidence, never guessed) or ``malformed``
(an SPDX expression that does not parse, e.g. ``MIT AND`` or ``;``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from license_expression import ExpressionError, Licensing, build_spdx_licensing, get_license_index

from auditor.licences import tables

Status = Literal["ok", "deprecated-upgraded", "alias", "licenseref", "unknown", "empty", "malformed"]
STATUSES: tuple[str, ...] = (
    "ok",
    "deprecated-upgraded",
    "alias",
    "licenseref",
    "unknown",
    "empty",
    "malformed",
)


@dataclass(frozen=True)
class LicenceNormalisation:
    """The result of normalising one licence string."""

    spdx: str | None
    status: Status
    original: str | None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when an SPDX expression (possibly with LicenseRef ids) was concluded."""
        return self.spdx is not None


# --- the alias key ------------------------------------------------------------------------------------

_CLASSIFIER_PREFIX = re.compile(r"^\s*licen[cs]e\s*::\s*(?:osi approved\s*(?:::\s*|$))?", re.IGNORECASE)
_LETTER_V_DIGIT = re.compile(r"([a-z])v(\d)")
_LETTERS_DIGIT = re.compile(r"([a-z]{2,})(\d)")
_V_DIGIT = re.compile(r"\bv(?:er)?\.?\s*(\d)")
_ZERO_MINORS = re.compile(r"\b(\d+)(?:\.0)+\b")
_NON_DECIMAL_DOT = re.compile(r"(?<!\d)\.|\.(?!\d)")
_SEPARATORS = re.compile(r"[\s\-_/,:;()\[\]{}\"'`*!?|&<>，、：；（）【】《》「」“”‘’。]+")
_DROP_TOKENS = frozenset(
    {"the", "license", "licenses", "licensed", "version", "ver", "v", "international", "agreement", "a"}
)
_LATER_PHRASES = (
    (("or", "any", "later"), ("or", "later")),
    (("or", "newer"), ("or", "later")),
    (("or", "above"), ("or", "later")),
    (("or", "greater"), ("or", "later")),
    (("and", "later"), ("or", "later")),
)


def alias_key(text: str) -> str:
    """A loose key for alias lookup: 'The Apache License, Version 2.0' and 'apache-2' share 'apache 2'."""
    s = _CLASSIFIER_PREFIX.sub("", text).lower().replace("licence", "license")
    s = _LETTER_V_DIGIT.sub(r"\1 \2", s)
    s = _LETTERS_DIGIT.sub(r"\1 \2", s)  # gpl3 -> gpl 3
    s = _V_DIGIT.sub(r"\1", s)
    s = _ZERO_MINORS.sub(r"\1", s)
    s = _NON_DECIMAL_DOT.sub(" ", s)
    tokens = [t for t in _SEPARATORS.split(s) if t and t not in _DROP_TOKENS]
    for phrase, replacement in _LATER_PHRASES:
        n = len(phrase)
        i = 0
        while i + n <= len(tokens):
            if tuple(tokens[i : i + n]) == phrase:
                tokens[i : i + n] = replacement
            i += 1
    # "3 or later" and "3+" are the same thing.
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i : i + 2] == ["or", "later"] and out:
            out[-1] = out[-1] + "+"
            i += 2
            continue
        if not out or out[-1] != tokens[i]:
            out.append(tokens[i])
        i += 1
    return " ".join(out)


# --- the Creative Commons grammar --------------------------------------------------------------------

_CC_WORDS = {
    "by": "BY", "attribution": "BY", "署名": "BY",
    "nc": "NC", "noncommercial": "NC", "非商业性使用": "NC", "非商业": "NC",
    "sa": "SA", "sharealike": "SA", "相同方式共享": "SA",
    "nd": "ND", "noderivatives": "ND", "noderivs": "ND", "禁止演绎": "ND",
}  # fmt: skip
_CC_PAIRS = {("non", "commercial"): "noncommercial", ("share", "alike"): "sharealike",
             ("no", "derivatives"): "noderivatives", ("no", "derivs"): "noderivs"}  # fmt: skip
_CC_ORDER = ("BY", "NC", "ND", "SA")
_CC_PREFIXES = (("creative", "commons"), ("cc",), ("知识共享",))
_CC_CJK = re.compile(r"(知识共享|署名|非商业性使用|相同方式共享|禁止演绎|国际|许可协议|许可证|协议)")


def _cc_from_key(key: str) -> str | None:
    """'cc by nc sa 4' -> 'CC-BY-NC-SA-4.0'; 'creative commons attribution 3 de' -> 'CC-BY-3.0-DE'."""
    tokens = _CC_CJK.sub(r" \1 ", key).split()
    tokens = [
        t for t in tokens if t not in ("国际", "许可协议", "许可证", "协议", "public", "unported", "generic")
    ]
    for prefix in _CC_PREFIXES:
        if tuple(tokens[: len(prefix)]) == prefix:
            tokens = tokens[len(prefix) :]
            break
    else:
        return None
    merged: list[str] = []
    for token in tokens:
        if merged and (merged[-1], token) in _CC_PAIRS:
            merged[-1] = _CC_PAIRS[(merged[-1], token)]
        else:
            merged.append(token)
    elements: list[str] = []
    rest = merged
    while rest and rest[0] in _CC_WORDS:
        elements.append(_CC_WORDS[rest[0]])
        rest = rest[1:]
    if not elements or elements[0] != "BY" or len(set(elements)) != len(elements) or not rest:
        return None
    version = rest[0].rstrip("+")
    if not re.fullmatch(r"\d(?:\.\d)?", version) or len(rest) > 2:
        return None
    if "." not in version:
        version += ".0"
    port = f"-{rest[1].upper()}" if len(rest) == 2 else ""
    if port and not re.fullmatch(r"-[A-Z]{2,3}", port):
        return None
    ordered = [e for e in _CC_ORDER if e in elements]
    return "CC-" + "-".join(ordered) + f"-{version}{port}"


# --- license-expression plumbing ----------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def spdx_licensing(rules_dir: Path | None = None) -> Licensing:
    """SPDX licensing from the ScanCode index bundled with license-expression plus our LicenseRef ids."""
    index: list[dict[str, Any]] = list(get_license_index())
    known = {(entry.get("spdx_license_key") or "").lower() for entry in index}
    for ident in tables.load_traits(rules_dir):
        if ident.lower() not in known:
            index.append({"spdx_license_key": ident, "other_spdx_license_keys": [], "is_exception": False})
    return build_spdx_licensing(index)


@functools.lru_cache(maxsize=8)
def _deprecated_ids() -> dict[str, str]:
    """Lower-cased deprecated or secondary id -> primary SPDX id, from the ScanCode index."""
    mapping: dict[str, str] = {}
    primary = {e["spdx_license_key"].lower() for e in get_license_index() if e.get("spdx_license_key")}
    for entry in get_license_index():
        for other in entry.get("other_spdx_license_keys") or ():
            if other.lower() not in primary:
                mapping[other.lower()] = entry["spdx_license_key"]
    return mapping


_SYMBOL_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+:-]*")
_OPERATORS = frozenset({"and", "or", "with"})
_SPDX_CHARS = re.compile(r"^[A-Za-z0-9.+:() -]+$")
_LICENSEREF = re.compile(r"^(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$")


@functools.lru_cache(maxsize=8)
def _known_lower(rules_dir: Path | None) -> frozenset[str]:
    """Lower-cased SPDX ids, exceptions and deprecated ids license-expression knows."""
    keys: set[str] = set()
    for entry in get_license_index():
        keys.add((entry.get("spdx_license_key") or "").lower())
        keys.update(k.lower() for k in entry.get("other_spdx_license_keys") or ())
    return frozenset(keys | set(tables.known_ids_by_lower(rules_dir)))


def _validate(expression: str, rules_dir: Path | None) -> tuple[str | None, str]:
    """(normalised expression, '') or (None, problem). Never raises."""
    licensing = spdx_licensing(rules_dir)
    try:
        info = licensing.validate(expression)
    except (AttributeError, ExpressionError, TypeError, ValueError) as exc:
        # license-expression 30.4 raises AttributeError on some malformed input ("MIT AND", ";").
        return None, f"does not parse as an SPDX expression ({type(exc).__name__})"
    if info.errors:
        return None, "; ".join(info.errors)
    if not info.normalized_expression:
        return None, "empty expression"
    return info.normalized_expression, ""


def check_expression(expression: str, rules_dir: Path | None = None) -> str:
    """'' when ``expression`` is a valid SPDX expression over known ids, else the problem."""
    normalised, problem = _validate(expression, rules_dir)
    if normalised is None:
        return problem
    if normalised != expression:
        return f"write it as {normalised!r}"
    return ""


def _as_spdx(text: str, rules_dir: Path | None) -> LicenceNormalisation | None:
    normalised, problem = _validate(text, rules_dir)
    if normalised is None:
        unknown_refs = [t for t in _SYMBOL_TOKEN.findall(text) if t.lower() not in _OPERATORS]
        if (
            problem.startswith("Unknown license key")
            and _SPDX_CHARS.match(text)
            and any(_LICENSEREF.match(t) for t in unknown_refs)
            and all(_LICENSEREF.match(t) or t.lower() in _known_lower(rules_dir) for t in unknown_refs)
        ):
            # A syntactically valid LicenseRef we have no traits for: keep it, traits will say unknown.
            try:
                rendered = str(Licensing().parse(text, simple=False))
            except (AttributeError, ExpressionError, TypeError, ValueError):
                return None
            return LicenceNormalisation(
                rendered, "licenseref", text, "LicenseRef id not in the licence table"
            )
        return None
    upgraded = sorted(
        {f"{t} -> {_deprecated_ids()[t.lower()]}" for t in _SYMBOL_TOKEN.findall(text)
         if t.lower() in _deprecated_ids() and not t.lower().startswith("licenseref-")}
    )  # fmt: skip
    if upgraded:
        return LicenceNormalisation(
            normalised, "deprecated-upgraded", text, "deprecated SPDX id(s) upgraded: " + ", ".join(upgraded)
        )
    if "LicenseRef-" in normalised:
        return LicenceNormalisation(normalised, "licenseref", text)
    if normalised.lower() == " ".join(text.split()).lower():
        return LicenceNormalisation(normalised, "ok", text)
    return LicenceNormalisation(normalised, "alias", text, f"secondary id(s) mapped to {normalised!r}")


def _single(text: str, rules_dir: Path | None) -> LicenceNormalisation | None:
    """Attempts 1-3 of the module docstring on one string (an exact SPDX expression is tried first)."""
    spdx = _as_spdx(text, rules_dir)
    if spdx is not None:
        return spdx
    key = alias_key(text)
    alias = tables.load_aliases(rules_dir).get(key)
    if alias is not None:
        if alias.expression is None:
            return LicenceNormalisation(
                None, "unknown", text, alias.note or "recognised, but names no licence"
            )
        status: Status = "licenseref" if "LicenseRef-" in alias.expression else "alias"
        return LicenceNormalisation(alias.expression, status, text, alias.note)
    cc = _cc_from_key(key)
    if cc is not None:
        normalised, _ = _validate(cc, rules_dir)
        if normalised is not None:
            return LicenceNormalisation(normalised, "alias", text, "Creative Commons name")
    parenthetical = _PARENTHETICAL.match(text)
    if parenthetical is not None:
        # "Open Database License (ODbL)": the name, else its abbreviation.
        for part in parenthetical.groups():
            found = _single(part, rules_dir)
            if found is not None and found.spdx is not None:
                return LicenceNormalisation(found.spdx, found.status, text, found.message)
    return None


_PARENTHETICAL = re.compile(r"^([^()]+?)\s*\(([^()]+)\)\s*$")
_LIST_SEPARATORS = (
    (re.compile(r"\s+OR\s+|\s+or\s+|\s*/\s*|\s*\|\s*"), " OR "),
    (re.compile(r"\s+AND\s+|\s+and\s+|\s*&\s*|\s*[,;、，]\s*"), " AND "),
)
_LOOKS_LIKE_EXPRESSION = re.compile(r"\b(?:AND|OR|WITH)\b|[()]|;|^[^\w]*$")


@functools.lru_cache(maxsize=65536)
def normalise_licence(text: str | None, rules_dir: Path | None = None) -> LicenceNormalisation:
    """Normalise a licence string as found in metadata, a dataset card or audit.toml.

    Never raises on bad input: malformed and unknown strings come back with their status and message.
    """
    if text is None or not text.strip():
        return LicenceNormalisation(None, "empty", text, "no licence given")
    cleaned = " ".join(text.split()).strip("\"'`")
    if not any(ch.isalnum() for ch in cleaned):
        return LicenceNormalisation(
            None, "malformed", text, "malformed licence expression: no licence id in it"
        )
    if cleaned.count("(") != cleaned.count(")"):
        return LicenceNormalisation(
            None, "malformed", text, "malformed licence expression: unbalanced parentheses"
        )
    result = _single(cleaned, rules_dir)
    if result is not None:
        return LicenceNormalisation(result.spdx, result.status, text, result.message)
    for pattern, operator in _LIST_SEPARATORS:
        parts = [p for p in pattern.split(cleaned) if p.strip()]
        if len(parts) < 2:
            continue
        normalised = [_single(p.strip(), rules_dir) for p in parts]
        if all(n is not None and n.spdx for n in normalised):
            joined = operator.join(f"({n.spdx})" if " " in n.spdx else n.spdx for n in normalised)  # type: ignore[union-attr]
            final, _ = _validate(joined, rules_dir)
            if final is None:  # own LicenseRefs only: keep the joined form
                final = joined
            status: Status = "licenseref" if "LicenseRef-" in final else "alias"
            return LicenceNormalisation(
                final, status, text, f"list of {len(parts)} licences joined with {operator.strip()}"
            )
    _, problem = _validate(cleaned, rules_dir)
    if _LOOKS_LIKE_EXPRESSION.search(cleaned) and not problem.startswith("Unknown license key"):
        return LicenceNormalisation(None, "malformed", text, f"malformed licence expression: {problem}")
    return LicenceNormalisation(None, "unknown", text, "not a known licence name or SPDX expression")
