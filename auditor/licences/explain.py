"""What a licence expression allows and requires: data for ``auditor licences explain EXPR``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from license_expression import OR, LicenseSymbol, LicenseWithExceptionSymbol

from auditor.licences import tables
from auditor.licences.normalise import normalise_licence
from auditor.licences.traits import LicenceTraits, parse_expression, traits_of

_SCOPE_OBLIGATION = {
    "weak": "share changes to the licensed files or library under the same licence when distributing",
    "strong": "license the whole derived work under the same licence when distributing it",
    "network": "license the whole derived work under the same licence, and offer its source to users "
    "who interact with it over a network",
}


def obligations(traits: LicenceTraits) -> list[str]:
    """Plain-language obligations and limits implied by a set of traits."""
    if traits.unknown:
        return ["the terms are unknown: review them before use"]
    found: list[str] = []
    if traits.all_rights_reserved:
        found.append("no licence is granted: use needs permission from the rights holder")
    if traits.research_only:
        found.append("research use only")
    if traits.non_commercial:
        found.append("no commercial use")
    elif not traits.commercial_use and not traits.all_rights_reserved:
        found.append("commercial use is not known to be allowed: check the terms")
    if traits.no_derivatives:
        found.append("do not share adapted material")
    if traits.attribution:
        found.append("keep the copyright and licence notices and credit the authors")
    if traits.copyleft_scope in _SCOPE_OBLIGATION:
        found.append(_SCOPE_OBLIGATION[traits.copyleft_scope])
    elif traits.share_alike:
        found.append("pass the licence's terms (e.g. use restrictions) on to derived works")
    if traits.public_domain and not found:
        found.append("none: public domain (crediting the source is still good practice)")
    if not found:
        found.append("none beyond the licence's disclaimers")
    return found


def _describe(traits: LicenceTraits) -> dict[str, Any]:
    return {
        "traits": traits.names,
        "copyleft_scope": traits.copyleft_scope,
        "rank": traits.rank,
        "obligations": obligations(traits),
    }


def _symbols(node: object) -> list[str]:
    if isinstance(node, LicenseWithExceptionSymbol):
        return [node.license_symbol.key, node.exception_symbol.key]
    if isinstance(node, LicenseSymbol):
        return [node.key]
    found: list[str] = []
    for arg in getattr(node, "args", ()):
        found += [s for s in _symbols(arg) if s not in found]
    return found


def explain(expression: str, rules_dir: Path | None = None) -> dict[str, Any]:
    """Traits, obligations, the licences involved and the OR options of an expression."""
    result = normalise_licence(expression, rules_dir)
    explanation: dict[str, Any] = {
        "expression": expression,
        "spdx": result.spdx,
        "status": result.status,
        "message": result.message,
        **_describe(traits_of(expression, rules_dir)),
        "licences": [],
        "options": [],
    }
    if result.spdx is None:
        return explanation
    tree = parse_expression(result.spdx)
    table = tables.load_traits(rules_dir)
    exceptions = tables.load_exceptions(rules_dir)
    for symbol in _symbols(tree):
        row = table.get(symbol)
        entry: dict[str, Any] = {"id": symbol}
        if row is not None:
            entry.update(name=row.name, category=row.category, origin=row.origin, note=row.note)
        elif symbol in exceptions:
            entry.update(name="licence exception", note=f"caps copyleft scope at {exceptions[symbol]!r}")
        else:
            entry.update(name="", note="not in the licence table: traits unknown")
        explanation["licences"].append(entry)
    if isinstance(tree, OR):
        for arg in tree.args:
            option = str(arg)
            explanation["options"].append({"expression": option, **_describe(traits_of(option, rules_dir))})
    return explanation


def render_explanation(explanation: dict[str, Any]) -> str:
    """Plain-text rendering of ``explain()`` for the terminal."""
    lines = [f"licence: {explanation['expression']}"]
    if explanation["spdx"] is None:
        lines.append(f"  not a usable licence expression ({explanation['status']}): {explanation['message']}")
    else:
        status = explanation["status"]
        note = f" ({status}: {explanation['message']})" if explanation["message"] else f" ({status})"
        lines.append(f"  SPDX: {explanation['spdx']}{note}")
    lines.append(f"  traits: {', '.join(explanation['traits']) or 'none'}")
    lines.append(f"  copyleft scope: {explanation['copyleft_scope']}")
    lines.append("  obligations:")
    lines += [f"    - {o}" for o in explanation["obligations"]]
    if explanation["licences"]:
        lines.append("  licences:")
        for entry in explanation["licences"]:
            detail = "; ".join(
                str(x) for x in (entry.get("name"), entry.get("category"), entry.get("note")) if x
            )
            lines.append(f"    {entry['id']}: {detail}" if detail else f"    {entry['id']}")
    if explanation["options"]:
        best = min(explanation["options"], key=lambda o: o["rank"])
        lines.append("  options (OR: the user may pick one; the most permissive is marked *):")
        for option in explanation["options"]:
            mark = "*" if option is best else " "
            lines.append(f"   {mark} {option['expression']}: {', '.join(option['traits'])}")
    return "\n".join(lines)
