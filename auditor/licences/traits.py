"""Licence traits of an SPDX expression, and a permissiveness rank for choosing between licences.

``OR`` lets the user pick: the traits of an ``A OR B`` are those of its most permissive option.
``AND`` needs all: restrictions add up (any option's attribution, share-alike, non-commercial ... apply;
commercial use only if every part allows it; the widest copyleft scope wins). ``A WITH exception``
takes A's traits, with the copyleft scope capped by the exception (``overrides.toml``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace
from pathlib import Path

from license_expression import AND, OR, ExpressionError, LicenseSymbol, LicenseWithExceptionSymbol, Licensing

from auditor.licences import tables
from auditor.licences.normalise import normalise_licence

_SCOPE_ORDER = {scope: i for i, scope in enumerate(tables.COPYLEFT_SCOPES)}

# Levels of restriction (higher = stricter); permissiveness_rank is 10 * level + number of restriction
# flags set, so that e.g. CC-BY-NC-SA ranks after CC-BY-NC.
_LEVEL_PUBLIC_DOMAIN = 0
_LEVEL_NO_ATTRIBUTION = 1
_LEVEL_ATTRIBUTION = 2
_LEVEL_WEAK_COPYLEFT = 3
_LEVEL_STRONG_COPYLEFT = 4
_LEVEL_NETWORK_COPYLEFT = 5
_LEVEL_COMMERCIAL_NOT_ALLOWED = 6
_LEVEL_NON_COMMERCIAL = 7
_LEVEL_NO_DERIVATIVES = 8
_LEVEL_RESEARCH_ONLY = 9
_LEVEL_ALL_RIGHTS_RESERVED = 10
_LEVEL_UNKNOWN = 11
UNKNOWN_RANK = 10 * _LEVEL_UNKNOWN + 9


@dataclass(frozen=True)
class LicenceTraits:
    """What a licence (expression) allows and requires."""

    commercial_use: bool = False
    attribution: bool = False
    share_alike: bool = False
    no_derivatives: bool = False
    non_commercial: bool = False
    research_only: bool = False
    public_domain: bool = False
    all_rights_reserved: bool = False
    unknown: bool = False
    copyleft_scope: str = "none"  # none | weak | strong | network

    @property
    def names(self) -> list[str]:
        """Sorted trait names, as in the ``licence_traits`` column ("commercial-use", "copyleft", ...)."""
        found = [
            f.name.replace("_", "-")
            for f in fields(self)
            if f.type in (bool, "bool") and getattr(self, f.name)
        ]
        if self.copyleft_scope != "none":
            found.append("copyleft")
        return sorted(found)

    def combine_and(self, other: LicenceTraits) -> LicenceTraits:
        """Traits when both licences apply."""
        return LicenceTraits(
            commercial_use=self.commercial_use and other.commercial_use,
            attribution=self.attribution or other.attribution,
            share_alike=self.share_alike or other.share_alike,
            no_derivatives=self.no_derivatives or other.no_derivatives,
            non_commercial=self.non_commercial or other.non_commercial,
            research_only=self.research_only or other.research_only,
            public_domain=self.public_domain and other.public_domain,
            all_rights_reserved=self.all_rights_reserved or other.all_rights_reserved,
            unknown=self.unknown or other.unknown,
            copyleft_scope=max(self.copyleft_scope, other.copyleft_scope, key=_SCOPE_ORDER.__getitem__),
        )

    @property
    def rank(self) -> int:
        """Permissiveness rank: lower is more permissive."""
        if self.unknown:
            return UNKNOWN_RANK
        if self.all_rights_reserved:
            level = _LEVEL_ALL_RIGHTS_RESERVED
        elif self.research_only:
            level = _LEVEL_RESEARCH_ONLY
        elif self.no_derivatives:
            level = _LEVEL_NO_DERIVATIVES
        elif self.non_commercial:
            level = _LEVEL_NON_COMMERCIAL
        elif not self.commercial_use:
            level = _LEVEL_COMMERCIAL_NOT_ALLOWED
        elif self.copyleft_scope == "network":
            level = _LEVEL_NETWORK_COPYLEFT
        elif self.copyleft_scope == "strong":
            level = _LEVEL_STRONG_COPYLEFT
        elif self.copyleft_scope == "weak" or self.share_alike:
            level = _LEVEL_WEAK_COPYLEFT
        elif self.attribution:
            level = _LEVEL_ATTRIBUTION
        elif self.public_domain:
            level = _LEVEL_PUBLIC_DOMAIN
        else:
            level = _LEVEL_NO_ATTRIBUTION
        flags = (
            self.attribution,
            self.share_alike,
            self.non_commercial,
            self.no_derivatives,
            self.research_only,
        )
        return 10 * level + sum(flags)


UNKNOWN_TRAITS = LicenceTraits(unknown=True)


def traits_of_id(licence_id: str, rules_dir: Path | None = None) -> LicenceTraits:
    """Traits of one licence id from ``traits.tsv`` (unknown when the id is not in the table)."""
    table = tables.load_traits(rules_dir)
    row = table.get(licence_id) or table.get(tables.known_ids_by_lower(rules_dir).get(licence_id.lower(), ""))
    if row is None:
        return UNKNOWN_TRAITS
    return LicenceTraits(**row.flags, copyleft_scope=row.copyleft_scope)


def _traits_of_node(node: object, rules_dir: Path | None) -> LicenceTraits:
    if isinstance(node, LicenseWithExceptionSymbol):
        base = traits_of_id(node.license_symbol.key, rules_dir)
        cap = tables.load_exceptions(rules_dir).get(node.exception_symbol.key)
        if cap is not None and _SCOPE_ORDER[cap] < _SCOPE_ORDER[base.copyleft_scope]:
            base = replace(base, copyleft_scope=cap, share_alike=base.share_alike and cap != "none")
        return base
    if isinstance(node, LicenseSymbol):
        return traits_of_id(node.key, rules_dir)
    if isinstance(node, OR):
        options = [_traits_of_node(arg, rules_dir) for arg in node.args]
        return min(options, key=lambda t: t.rank)
    if isinstance(node, AND):
        combined = _traits_of_node(node.args[0], rules_dir)
        for arg in node.args[1:]:
            combined = combined.combine_and(_traits_of_node(arg, rules_dir))
        return combined
    return UNKNOWN_TRAITS


def parse_expression(expression: str) -> object | None:
    """The license-expression tree of an already normalised expression, or None when it does not parse."""
    try:
        return Licensing().parse(expression, simple=False)
    except (AttributeError, ExpressionError, TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=16384)
def traits_of(expression: str, rules_dir: Path | None = None) -> LicenceTraits:
    """Traits of a licence expression; strings that are not SPDX are normalised first.

    Unknown, empty or malformed expressions have the single trait ``unknown``.
    """
    normalised = normalise_licence(expression, rules_dir)
    if normalised.spdx is None:
        return UNKNOWN_TRAITS
    tree = parse_expression(normalised.spdx)
    if tree is None:
        return UNKNOWN_TRAITS
    return _traits_of_node(tree, rules_dir)


def permissiveness_rank(expression: str | None) -> int:
    """Lower = more permissive; unknown or None is the worst rank (used by dedup to choose survivors)."""
    if expression is None:
        return UNKNOWN_RANK
    return traits_of(expression).rank


def strictest(expressions: list[str], rules_dir: Path | None = None) -> str:
    """The expression with the highest permissiveness rank (ties: the lexicographically first)."""
    return max(sorted(expressions), key=lambda e: traits_of(e, rules_dir).rank)
