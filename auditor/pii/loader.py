"""Load and validate ``detectors.toml`` into a :class:`DetectorSet`.

The schema forbids unknown keys; every error names the file, the line of the ``[[detector]]`` (or
``[[detector.pattern]]``) table, the key and what is allowed. Patterns are also checked for unbounded
repeats (``*``, ``+``, ``{m,}``), which is what keeps a scan linear in the text length.
"""

from __future__ import annotations

import functools
import re
import re._parser as sre_parse  # the stdlib's own parser: to prove patterns have bounded repeats
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from auditor.errors import ConfigError
from auditor.pii.model import Detector, DetectorSet, Pattern
from auditor.pii.validators import VALIDATORS

_TOP_KEYS = {"version", "phone_regions", "detector"}
_DETECTOR_KEYS = {
    "name",
    "category",
    "sensitivity",
    "priority",
    "validator",
    "trigger",
    "context",
    "negative_context",
    "context_window",
    "negative_window",
    "context_boost",
    "min_score",
    "redact",
    "placeholder",
    "keywords",
    "keyword_score",
    "description",
    "pattern",
}
_PATTERN_KEYS = {"name", "regex", "score"}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$")
_TAG_RE = re.compile(r"^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*$")
_PLACEHOLDER_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_MAX_REPEAT = 8192  # the largest {m,n} a pattern may use
_RE2_SPECIAL = set("\\.^$|?*+()[]{}")
_REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, sre_parse.POSSESSIVE_REPEAT)


def default_rules_path() -> Path:
    """The detectors file shipped with auditor."""
    return Path(str(resources.files("auditor").joinpath("rules", "pii", "detectors.toml")))


@functools.cache
def default_detectors() -> DetectorSet:
    """The shipped detectors, loaded once per process."""
    return load_detectors(default_rules_path())


def load_detectors(path: Path | str) -> DetectorSet:
    """Read and validate a detectors file."""
    path = Path(path)
    try:
        raw_text = path.read_text(encoding="utf-8")
        data = tomllib.loads(raw_text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: detectors file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    where = _Where(path, raw_text)
    _no_unknown_keys(data, _TOP_KEYS, f"{path}: top level")
    if data.get("version", 1) != 1:
        raise ConfigError(f"{path}: version must be 1, got {data['version']!r}")
    regions = _phone_regions(data.get("phone_regions", {}), path)
    raw_detectors = data.get("detector")
    if not isinstance(raw_detectors, list) or not raw_detectors:
        raise ConfigError(f"{path}: at least one [[detector]] table is required")
    detectors = tuple(_detector(i, raw, where) for i, raw in enumerate(raw_detectors))
    names = [d.name for d in detectors]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{path}: detector names must be unique; repeated: {repeated}")
    return DetectorSet(detectors=detectors, phone_regions=regions, path=path)


class _Where:
    """Line numbers of the array-of-tables headers, for error messages (tomllib keeps no positions)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.detector_lines: list[int] = []
        self.pattern_lines: list[list[int]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            header = line.strip()
            if header == "[[detector]]":
                self.detector_lines.append(number)
                self.pattern_lines.append([])
            elif header == "[[detector.pattern]]" and self.pattern_lines:
                self.pattern_lines[-1].append(number)

    def detector(self, index: int, name: object = None) -> str:
        line = self.detector_lines[index] if index < len(self.detector_lines) else None
        label = f"detector[{index}]" + (f" {name!r}" if isinstance(name, str) else "")
        return f"{self.path}" + (f", line {line}" if line else "") + f": {label}"

    def pattern(self, index: int, name: object, p_index: int) -> str:
        lines = self.pattern_lines[index] if index < len(self.pattern_lines) else []
        line = lines[p_index] if p_index < len(lines) else None
        return f"{self.path}" + (f", line {line}" if line else "") + f": detector {name!r} pattern[{p_index}]"


def _no_unknown_keys(found: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(found) - allowed)
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")


def _phone_regions(raw: Any, path: Path) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [phone_regions] must be a table of language = [regions]")
    supported = phonenumbers.SUPPORTED_REGIONS
    regions: dict[str, tuple[str, ...]] = {}
    for lang, codes in raw.items():
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ConfigError(f'{path}: phone_regions.{lang} must be a list of region codes like "US"')
        unknown = [c for c in codes if c not in supported]
        if unknown:
            raise ConfigError(
                f"{path}: phone_regions.{lang}: unknown region(s) {unknown}; use ISO 3166 codes that "
                "phonenumbers supports, e.g. US, GB, CN, DE, FR"
            )
        regions[lang] = tuple(codes)
    return regions


def _detector(index: int, raw: Any, where: _Where) -> Detector:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where.detector(index)} must be a table")
    name = raw.get("name")
    at = where.detector(index, name)
    _no_unknown_keys(raw, _DETECTOR_KEYS, at)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(f"{at}: name must match [a-z][a-z0-9_]*, got {name!r}")
    category = raw.get("category")
    if not isinstance(category, str) or not _CATEGORY_RE.match(category):
        raise ConfigError(f"{at}: category must be dotted lower-case words (e.g. contact, keyword.health)")
    sensitivity = _strings(raw.get("sensitivity", []), "sensitivity", at)
    bad_tags = [t for t in sensitivity if not _TAG_RE.match(t)]
    if bad_tags:
        raise ConfigError(f"{at}: sensitivity tags {bad_tags} must look like pipl28.health or gdpr9.health")
    validator = raw.get("validator")
    if validator is not None and validator not in VALIDATORS:
        raise ConfigError(
            f"{at}: Unknown validator {validator!r}; available: {', '.join(sorted(VALIDATORS))}"
        )
    has_patterns, has_keywords = "pattern" in raw, "keywords" in raw
    if has_patterns == has_keywords:
        raise ConfigError(f"{at}: give either [[detector.pattern]] tables or a keywords list (exactly one)")
    if has_keywords:
        keywords = _strings(raw["keywords"], "keywords", at)
        if not keywords:
            raise ConfigError(f"{at}: keywords must not be empty")
        score = _number(raw.get("keyword_score", 0.3), "keyword_score", at)
        patterns: tuple[Pattern, ...] = (Pattern("keyword", _word_regex(keywords), score),)
        trigger = "(?i)(?:" + "|".join(_re2_escape(k.lower()) for k in keywords) + ")"
    else:
        if "keyword_score" in raw:
            raise ConfigError(f"{at}: keyword_score applies only to keyword detectors")
        raw_patterns = raw["pattern"]
        if not isinstance(raw_patterns, list) or not raw_patterns:
            raise ConfigError(f"{at}: pattern must be one or more [[detector.pattern]] tables")
        patterns = tuple(_pattern(index, name, j, p, where) for j, p in enumerate(raw_patterns))
        trigger = raw.get("trigger")
    if trigger is not None:
        _check_trigger(trigger, at)
    context = _strings(raw.get("context", []), "context", at)
    negative = _strings(raw.get("negative_context", []), "negative_context", at)
    window = raw.get("context_window", 48)
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 1000:
        raise ConfigError(f"{at}: context_window must be an integer from 1 to 1000, got {window!r}")
    negative_window = raw.get("negative_window", 20)
    if (
        not isinstance(negative_window, int)
        or isinstance(negative_window, bool)
        or not 1 <= negative_window <= 1000
    ):
        raise ConfigError(f"{at}: negative_window must be an integer from 1 to 1000, got {negative_window!r}")
    priority = raw.get("priority", 50)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ConfigError(f"{at}: priority must be an integer, got {priority!r}")
    redact = raw.get("redact", True)
    if not isinstance(redact, bool):
        raise ConfigError(f"{at}: redact must be true or false, got {redact!r}")
    placeholder = raw.get("placeholder", name.upper())
    if not isinstance(placeholder, str) or not _PLACEHOLDER_RE.match(placeholder):
        raise ConfigError(f"{at}: placeholder must be upper-case letters, digits and _, got {placeholder!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{at}: description must be a string")
    return Detector(
        name=name,
        category=category,
        patterns=patterns,
        sensitivity=tuple(sensitivity),
        priority=priority,
        validator=validator,
        trigger=trigger,
        context=_word_regex(context) if context else None,
        negative_context=_word_regex(negative) if negative else None,
        context_window=window,
        negative_window=negative_window,
        context_boost=_number(raw.get("context_boost", 0.4), "context_boost", at),
        min_score=_number(raw.get("min_score", 0.5), "min_score", at),
        redact=redact,
        placeholder=placeholder,
        description=description,
    )


def _pattern(index: int, det_name: str, p_index: int, raw: Any, where: _Where) -> Pattern:
    at = where.pattern(index, det_name, p_index)
    if not isinstance(raw, dict):
        raise ConfigError(f"{at} must be a table")
    _no_unknown_keys(raw, _PATTERN_KEYS, at)
    name = raw.get("name", f"pattern{p_index}")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{at}: name must be a non-empty string")
    regex = raw.get("regex")
    if not isinstance(regex, str) or not regex:
        raise ConfigError(f"{at}: regex is required (a Python regular expression)")
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise ConfigError(f"{at}: regex does not compile: {exc}") from None
    problem = _unbounded_repeat(sre_parse.parse(regex))
    if problem:
        raise ConfigError(
            f"{at}: regex has {problem}; use a bounded {{m,n}} with n <= {_MAX_REPEAT} so scans stay linear"
        )
    return Pattern(name=name, regex=compiled, score=_number(raw.get("score", 0.5), "score", at))


def _unbounded_repeat(parsed: Any) -> str | None:
    """Describe the first repeat without a (small enough) upper bound in a parsed pattern, if any."""
    for op, arg in parsed:
        children: list[Any] = []
        if op in _REPEATS:
            low, high, sub = arg
            if high == sre_parse.MAXREPEAT:
                return f"an unbounded repeat ({{{low},}}, * or +)"
            if high > _MAX_REPEAT:
                return f"a repeat of up to {high}"
            children = [sub]
        elif op is sre_parse.SUBPATTERN:
            children = [arg[-1]]
        elif op is sre_parse.BRANCH:
            children = list(arg[1])
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            children = [arg[1]]
        elif op is sre_parse.ATOMIC_GROUP:
            children = [arg]
        elif op is sre_parse.GROUPREF_EXISTS:
            children = [p for p in arg[1:] if p is not None]
        for child in children:
            problem = _unbounded_repeat(child)
            if problem:
                return problem
    return None


def _check_trigger(trigger: Any, at: str) -> None:
    if not isinstance(trigger, str) or not trigger:
        raise ConfigError(f"{at}: trigger must be a non-empty RE2 regular expression")
    try:
        pc.match_substring_regex(pa.array([""], pa.large_string()), trigger)
    except pa.ArrowInvalid as exc:
        raise ConfigError(
            f"{at}: trigger is not a valid RE2 regex (no lookaround, no backrefs): {exc}"
        ) from None


def _strings(value: Any, key: str, at: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{at}: {key} must be a list of non-empty strings")
    return list(value)


def _number(value: Any, key: str, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{at}: {key} must be a number from 0 to 1, got {value!r}")
    return float(value)


def _re2_escape(text: str) -> str:
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in text)


def _word_regex(words: list[str]) -> re.Pattern[str]:
    """Case-insensitive alternation; words that start/end with an ASCII letter or digit match whole words."""
    alternatives = []
    for word in sorted({w.strip().lower() for w in words}, key=len, reverse=True):
        first, rest = _re2_escape(word[0]), _re2_escape(word[1:])
        # Character first, boundary lookbehind second: re then skips quickly to candidate positions.
        body = (
            f"{first}(?<![a-z0-9]{first}){rest}" if word[0].isascii() and word[0].isalnum() else first + rest
        )
        if word[-1].isascii() and word[-1].isalnum():
            body += "(?![a-z0-9])"
        alternatives.append(body)
    return re.compile("|".join(alternatives), re.IGNORECASE)
