"""Python notice regexes seen from Arrow's RE2 kernels, and the literals every match starts with.

The content scan's reference semantics are Python ``re`` (``ContentScanner.scan``). The batch scan runs
RE2 over whole Arrow columns first, so it needs RE2 forms of the same patterns, derived here from the
parse tree of the compiled Python pattern (``re._parser``), in two modes:

- ``superset``: RE2 matches wherever Python could (a pre-filter; extra hits only cost time). Zero-width
  assertions and lookarounds are dropped (but ``^`` in MULTILINE mode, RE2's ``(?m:^)``), Python's Unicode ``\\s``, ``\\d``, ``\\w`` become Unicode
  classes at least as wide, the case-insensitive letters Python folds beyond RE2 (``i`` also matches
  ``İ`` and ``ı``) are spelled out, and large counted repeats become open-ended.
- ``exact``: RE2 matches exactly where Python does, on texts that are *safe*: every non-ASCII character
  is whitespace or one of the usual symbols and punctuation of ``SAFE_NON_ASCII`` (``SAFE_TEXT_VIOLATION``
  finds the others). On such texts the only letters and digits are ASCII, so Python's Unicode classes,
  word boundaries and case folding coincide with RE2's ASCII ones. ``^``, ``$`` and lookarounds are
  refused.

A translation that is not possible returns None; callers then fall back to the Python scan.

``literal_prefixes`` gives the lower-cased literals one of which every match of a pattern starts with, so
the Python scan can try a pattern only where such a literal occurs instead of at every position.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any, Literal

Mode = Literal["superset", "exact"]

# Python's str whitespace (``str.isspace``), exactly, as an RE2 class body.
_SPACE_BODY = r"\t-\r\x1c-\x20\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
# Superset mode: at least Python's Unicode word characters (``str.isalnum`` or '_') and decimal digits.
_WORD_BODY = r"\p{L}\p{N}_"
_DIGIT_BODY = r"\p{Nd}"
# Exact mode: on a safe text the only letters and digits are ASCII (and small classes compile fast).
_EXACT_WORD_BODY = "0-9A-Za-z_"
_EXACT_DIGIT_BODY = "0-9"
# Non-ASCII characters that keep a text safe for the ``exact`` translations: Python whitespace and
# common symbols and punctuation of web pages (no letter, digit or cased character; a test checks it).
SAFE_NON_ASCII = (
    "\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029"
    "\u202f\u205f\u3000"
    "\xa1\xa6\xa7\xa9\xab\xae\xb0\xb1\xb6\xb7\xbb\xbf\xd7\xf7"
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2016\u2018\u2019\u201a\u201c\u201d\u201e\u2020\u2021"
    "\u2022\u2026\u2030\u2032\u2033\u2039\u203a\u2117\u2122\u2190\u2192\u2212\u25b6\u25cf"
    "\u3001\u3002\u300a\u300b\u300c\u300d\uff0c\uff1a\uff1b\uff08\uff09"
)
# Non-ASCII characters (code point ranges) on which Python and the ``exact`` forms differ only through
# word tests (``\w``, ``\W``, ``\b``, ``\B``): CJK punctuation, kana, CJK ideographs and Hangul have no
# case, are no digits and no whitespace (a test checks every one), but Python counts most of them as
# word characters. A text whose other characters are safe is safe for a pattern without word tests
# (``reads_word_class``).
WORDISH_RANGES = ((0x3001, 0x303F), (0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3))
# A character outside ASCII and SAFE_NON_ASCII: its presence makes a text unsafe for ``exact`` forms.
SAFE_TEXT_VIOLATION = "[^\\x00-\\x7f" + "".join(f"\\x{{{ord(c):x}}}" for c in SAFE_NON_ASCII) + "]"
# Non-ASCII characters that Python's IGNORECASE matches to an ASCII letter (beyond str.lower()).
PYTHON_EXTRA_FOLDS = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}
_LARGE_REPEAT = 16
_MAX_PREFIXES = 48
_MAX_PREFIX_CHARS = 24


class _Untranslatable(Exception):
    """A Python regex construct with no faithful RE2 translation: the caller keeps the Python scan."""


def _char(code: int) -> str:
    c = chr(code)
    return c if c.isascii() and c.isalnum() else f"\\x{{{code:x}}}"


class _Translator:
    def __init__(
        self,
        mode: Mode,
        ignore_case: bool,
        dotall: bool,
        multiline: bool = False,
        open_repeats: bool = False,
    ) -> None:
        self.mode = mode
        self.open_repeats = open_repeats or mode == "superset"
        self.ignore_case = ignore_case
        self.dotall = dotall
        self.multiline = multiline

    def literal(self, code: int) -> str:
        extra = PYTHON_EXTRA_FOLDS.get(chr(code).lower(), "") if self.ignore_case else ""
        if extra and self.mode == "superset":
            return "[" + _char(code) + "".join(_char(ord(c)) for c in extra) + "]"
        return _char(code)

    def category(self, code: Any, negated_class: bool) -> str:
        name = str(code)
        exact = self.mode == "exact"
        positive = {
            "CATEGORY_SPACE": _SPACE_BODY,
            "CATEGORY_DIGIT": _EXACT_DIGIT_BODY if exact else _DIGIT_BODY,
            "CATEGORY_WORD": _EXACT_WORD_BODY if exact else _WORD_BODY,
        }
        if name in positive:
            if negated_class and name == "CATEGORY_WORD" and not exact:
                raise _Untranslatable("\\w inside a negated class")  # the superset body would shrink it
            return positive[name]
        if negated_class:
            raise _Untranslatable(f"negated category {name} inside a class")
        negative = {
            "CATEGORY_NOT_SPACE": "[^" + _SPACE_BODY + "]",
            "CATEGORY_NOT_DIGIT": "[^0-9]" if exact else r"\D",
            "CATEGORY_NOT_WORD": "[^0-9A-Za-z_]" if exact else r"\W",
        }
        if name in negative:
            return negative[name]  # RE2's ASCII \D and \W hold Python's
        raise _Untranslatable(f"category {name}")

    def char_class(self, items: list[tuple[Any, Any]]) -> str:
        negated = bool(items) and items[0][0] is sre.NEGATE
        parts: list[str] = []
        for op, av in items[1:] if negated else items:
            if op is sre.LITERAL:
                if negated and self.ignore_case and chr(av).isalpha():
                    raise _Untranslatable("case-insensitive letter in a negated class")
                parts.append(_char(av))
                if self.ignore_case and self.mode == "superset":
                    parts.extend(_char(ord(c)) for c in PYTHON_EXTRA_FOLDS.get(chr(av).lower(), ""))
            elif op is sre.RANGE:
                lo, hi = av
                parts.append(f"{_char(lo)}-{_char(hi)}")
                if self.ignore_case and self.mode == "superset" and not negated:
                    for letter, extra in PYTHON_EXTRA_FOLDS.items():
                        if any(lo <= ord(c) <= hi for c in (letter, letter.upper())):
                            parts.extend(_char(ord(c)) for c in extra)
                if negated and self.ignore_case:
                    raise _Untranslatable("case-insensitive range in a negated class")
            elif op is sre.CATEGORY:
                parts.append(self.category(av, negated))
            else:
                raise _Untranslatable(f"class item {op}")
        return ("[^" if negated else "[") + "".join(parts) + "]"

    def sequence(self, items: Any) -> str:
        return "".join(self.item(op, av) for op, av in items)

    def item(self, op: Any, av: Any) -> str:
        if op is sre.LITERAL:
            return self.literal(av)
        if op is sre.NOT_LITERAL:
            if self.ignore_case and chr(av).isalpha():
                raise _Untranslatable("case-insensitive negated letter")
            return f"[^{_char(av)}]"
        if op is sre.ANY:
            return "(?s:.)" if self.dotall else "."
        if op is sre.IN:
            return self.char_class(av)
        if op is sre.BRANCH:
            return "(?:" + "|".join(self.sequence(alt) for alt in av[1]) + ")"
        if op is sre.SUBPATTERN:
            _group, add_flags, del_flags, body = av
            if add_flags or del_flags:
                raise _Untranslatable("scoped flags")
            return "(?:" + self.sequence(body) + ")"
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            lo, hi, body = av
            inner = "(?:" + self.sequence(body) + ")"
            if hi is sre.MAXREPEAT or (self.open_repeats and hi > _LARGE_REPEAT):
                if lo > 1000:
                    raise _Untranslatable("repeat too large for RE2")
                quantifier = "*" if lo == 0 else "+" if lo == 1 else f"{{{lo},}}"
            elif hi > 1000:
                raise _Untranslatable("repeat too large for RE2")
            else:
                quantifier = f"{{{lo},{hi}}}"
            return inner + quantifier + ("?" if op is sre.MIN_REPEAT else "")
        if op is getattr(sre, "ATOMIC_GROUP", None):
            if self.mode == "exact":
                raise _Untranslatable("atomic group")
            return "(?:" + self.sequence(av) + ")"
        if op is sre.AT:
            if self.mode == "superset":
                # '^' in MULTILINE mode is RE2's (?m:^) (RE2 also takes the start of a window for one);
                # dropping any other zero-width assertion only widens the match set.
                return "(?m:^)" if av is sre.AT_BEGINNING and self.multiline else ""
            if av is sre.AT_BOUNDARY:
                return r"\b"
            if av is sre.AT_NON_BOUNDARY:
                return r"\B"
            raise _Untranslatable(f"anchor {av}")
        if op in (sre.ASSERT, sre.ASSERT_NOT) and self.mode == "superset":
            return ""
        raise _Untranslatable(f"operator {op}")


def _trim_tail(items: list[Any]) -> list[Any]:
    """``items`` with the counted repeat that ends them (possibly inside final groups) cut to its
    minimum count."""
    if not items:
        return items
    op, av = items[-1]
    if op is sre.SUBPATTERN:
        group, add_flags, del_flags, body = av
        return [*items[:-1], (op, (group, add_flags, del_flags, _trim_tail(list(body))))]
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        lo, hi, body = av
        if hi is sre.MAXREPEAT or hi > lo:
            return [*items[:-1], (op, (lo, lo, body))]
    return items


def to_re2(
    pattern: re.Pattern[str],
    mode: Mode,
    *,
    max_items: int | None = None,
    trim_tail: bool = False,
    open_repeats: bool = False,
) -> str | None:
    """The RE2 form of a Python pattern (see the module docstring), or None when there is none.

    ``max_items`` (superset mode only) keeps the first items of the pattern's top-level sequence: a
    match of the whole pattern contains a match of any prefix of it, so the result is still a superset
    for searching, and a short one keeps RE2's automaton small when many patterns are alternated.
    ``trim_tail`` cuts a counted repeat that ends the pattern to its minimum count ("name{1,80}" ->
    "name{1}"): a match starts where the whole pattern's does, and ends no later than it from that
    start, with a smaller automaton (RE2 compiles a pattern at every kernel call).
    ``open_repeats`` makes counted repeats with a maximum above ``_LARGE_REPEAT`` open-ended in
    ``exact`` mode too (superset mode always does): a superset of the exact form, for Hyperscan, which
    refuses large counted repeats of classes that hold multi-byte characters.
    """
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except re.error:
        return None
    flags = tree.state.flags
    ignore_case = bool(flags & re.IGNORECASE)
    translator = _Translator(
        mode, ignore_case, bool(flags & re.DOTALL), bool(flags & re.MULTILINE), open_repeats
    )
    items = list(tree.data)
    if trim_tail:
        items = _trim_tail(items)
    if max_items is not None and mode == "superset":
        items = items[:max_items]
    try:
        body = translator.sequence(items)
    except _Untranslatable:
        return None
    if not body:
        return None
    return f"(?i:{body})" if ignore_case else f"(?:{body})"


def literals_to_re2(literals: tuple[str, ...] | list[str]) -> str:
    """A case-insensitive RE2 alternation matching wherever one of the literals occurs in ``str.lower()``."""
    translator = _Translator("superset", ignore_case=True, dotall=False)
    return "(?i:" + "|".join("".join(translator.literal(ord(c)) for c in lit) for lit in literals) + ")"


def _prefixes(items: Any) -> tuple[list[str], bool, int]:
    """(literal prefixes of a sequence, whether they are the complete strings the sequence matches,
    how many leading items they cover)."""
    out = [""]
    for index, (op, av) in enumerate(items):
        if op is sre.AT and av in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY):
            continue
        if op is sre.LITERAL:
            out = [p + chr(av) for p in out]
            continue
        options: list[str] | None = None
        complete = False
        if op is sre.IN and av and all(o is sre.LITERAL for o, _ in av) and len(av) <= 4:
            options, complete = [chr(code) for _o, code in av], True
        elif op is sre.SUBPATTERN and not av[1] and not av[2]:
            options, complete, _n = _prefixes(av[3])
        elif op is sre.BRANCH:
            found = [_prefixes(alt) for alt in av[1]]
            options = [p for alt, _c, _n in found for p in alt]
            complete = all(c for _a, c, _n in found)
        if not options or any(not o for o in options) or len(out) * len(options) > _MAX_PREFIXES:
            return out, False, index
        out = [p + o for p in out for o in options]
        if not complete:
            return out, False, index + 1
    return out, True, len(items)


def literal_prefixes(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Lower-cased literals such that every match of ``pattern`` starts with one of them, or None.

    A match starting at position x then has one of the literals at x in ``text.lower()``, as long as the
    text has no character that Python folds to an ASCII letter without ``str.lower()`` doing so
    (``PYTHON_EXTRA_FOLDS``) and ``str.lower()`` keeps its length.
    """
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except re.error:
        return None
    found, _complete, _items = _prefixes(tree.data)
    prefixes = {p[:_MAX_PREFIX_CHARS].lower() for p in found}
    if not prefixes or "" in prefixes:
        return None
    # Keep only the shortest: a literal that extends another one adds no candidate position.
    return tuple(sorted(p for p in prefixes if not any(q != p and p.startswith(q) for q in prefixes)))


def literal_items(pattern: re.Pattern[str]) -> int | None:
    """How many leading items of ``pattern`` its literal prefixes (``literal_prefixes``) spell out
    completely, or None when there are none: ``to_re2(.., max_items=..)`` of that is a superset cue
    made of literals only."""
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except re.error:
        return None
    _found, _complete, items = _prefixes(tree.data)
    return items or None


def cue_through(pattern: re.Pattern[str], word: str) -> str | None:
    """The superset form of ``pattern``'s leading items through the first top-level run of literals
    that spells ``word`` (ignoring case): a regex every match of the pattern starts with, or None."""
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except re.error:
        return None
    items = list(tree.data)
    lowered = word.lower()
    for k in range(len(items) - len(lowered) + 1):
        run = items[k : k + len(lowered)]
        if all(op is sre.LITERAL and chr(av).lower() == c for (op, av), c in zip(run, lowered, strict=True)):
            return to_re2(pattern, "superset", max_items=k + len(lowered))
    return None


def prefilter_re2(pattern: re.Pattern[str], triggers: tuple[str, ...]) -> str:
    """A cheap RE2 superset of where ``pattern`` can match near one of its ``triggers``.

    The triggers as literals; but when every match starts with a trigger, the trigger and the two items
    of the pattern that follow it (``"(c)"`` + spaces + a four-digit year, not any ``"(c)"``).
    """
    literals = literals_to_re2(triggers)
    prefixes = literal_prefixes(pattern)
    if prefixes is None or not all(any(p.startswith(t) for t in triggers) for p in prefixes):
        return literals
    tree = sre_parse.parse(pattern.pattern, pattern.flags)
    _found, _complete, items = _prefixes(tree.data)
    return to_re2(pattern, "superset", max_items=items + 2) or literals


def _assertions(items: Any, top: bool) -> list[int]:
    """Indices (in ``items``, -1 when nested) of zero-width assertions and lookarounds."""
    found: list[int] = []
    for index, (op, av) in enumerate(items):
        if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT, sre.GROUPREF, getattr(sre, "GROUPREF_EXISTS", None)):
            found.append(index if top else -1)
        elif op is sre.SUBPATTERN:
            found.extend(_assertions(av[3], False))
        elif op is sre.BRANCH:
            for alternative in av[1]:
                found.extend(_assertions(alternative, False))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            found.extend(_assertions(av[2], False))
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            found.extend(_assertions(av, False))
    return found


def _reads_word_class(items: Any) -> bool:
    for op, av in items:
        if (op is sre.AT and av in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY)) or (
            op is sre.CATEGORY and str(av) in ("CATEGORY_WORD", "CATEGORY_NOT_WORD")
        ):
            return True
        if op is sre.BRANCH:
            nested = list(av[1])
        elif op is sre.SUBPATTERN:
            nested = [av[3]]
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            nested = [av[2]]
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            nested = [av[1]]
        elif op in (sre.IN, getattr(sre, "ATOMIC_GROUP", None)):
            nested = [av]
        else:
            nested = []
        if any(_reads_word_class(inner) for inner in nested):
            return True
    return False


def reads_word_class(pattern: re.Pattern[str]) -> bool:
    """True when the pattern tests whether characters are word characters (``\\w``, ``\\W``, ``\\b``,
    ``\\B``): where Python and the ``exact`` forms disagree on ``WORDISH_RANGES`` characters. Unparsable
    patterns count as reading them."""
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except re.error:
        return True
    return _reads_word_class(tree.data)


def reads_no_further(pattern: re.Pattern[str]) -> bool:
    """True when the pattern has no zero-width assertion or lookaround except as its very first item.

    Then whether a path through the pattern matches depends only on the characters it consumes (and,
    for a leading ``\\b``, the character before the start), so a match of ``pattern.match(text, pos,
    endpos)`` is also a match at ``pos`` in the whole text: cutting the text at ``endpos`` can only
    take matches away, and leaves the preferred match at a start alone when it ends by ``endpos``.
    """
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except re.error:
        return False
    return all(index == 0 for index in _assertions(tree.data, True))


def starts_at_line(pattern: re.Pattern[str]) -> bool:
    """True when ``pattern`` begins with ``^`` in MULTILINE mode: every match starts at position 0 or
    right after a newline."""
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except re.error:
        return False
    if not tree.data or not tree.state.flags & re.MULTILINE:
        return False
    op, av = tree.data[0]
    return op is sre.AT and av is sre.AT_BEGINNING
