"""Licence traits, OR/AND resolution, permissiveness ranks and explanations."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.licences import explain, permissiveness_rank, render_explanation, traits_of
from auditor.licences.traits import UNKNOWN_RANK, LicenceTraits


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("MIT", ["attribution", "commercial-use"]),
        ("Apache-2.0", ["attribution", "commercial-use"]),
        ("CC0-1.0", ["commercial-use", "public-domain"]),
        ("0BSD", ["commercial-use"]),
        ("CC-BY-4.0", ["attribution", "commercial-use"]),
        ("CC-BY-SA-4.0", ["attribution", "commercial-use", "copyleft", "share-alike"]),
        ("CC-BY-NC-4.0", ["attribution", "non-commercial"]),
        ("CC-BY-ND-4.0", ["attribution", "commercial-use", "no-derivatives"]),
        ("CC-BY-NC-SA-4.0", ["attribution", "copyleft", "non-commercial", "share-alike"]),
        ("CC-BY-NC-ND-3.0", ["attribution", "no-derivatives", "non-commercial"]),
        ("GPL-3.0-only", ["attribution", "commercial-use", "copyleft", "share-alike"]),
        ("LicenseRef-All-Rights-Reserved", ["all-rights-reserved"]),
        ("LicenseRef-scancode-llama-license-2023", ["attribution", "non-commercial", "research-only"]),
        ("LicenseRef-scancode-bigscience-open-rail-m", ["attribution", "commercial-use", "share-alike"]),
        ("LicenseRef-Not-In-Table", ["unknown"]),
        ("other", ["unknown"]),
        ("MIT AND", ["unknown"]),
    ],
)
def test_traits_of_single_licences(expression: str, expected: list[str]) -> None:
    assert traits_of(expression).names == expected


@pytest.mark.parametrize(
    ("expression", "scope"),
    [
        ("MIT", "none"),
        ("MPL-2.0", "weak"),
        ("LGPL-2.1-only", "weak"),
        ("GPL-2.0-only", "strong"),
        ("AGPL-3.0-or-later", "network"),
        ("GPL-2.0-only WITH Classpath-exception-2.0", "weak"),
        ("Apache-2.0 WITH LLVM-exception", "none"),
    ],
)
def test_copyleft_scope(expression: str, scope: str) -> None:
    assert traits_of(expression).copyleft_scope == scope


def test_or_takes_the_most_permissive_option() -> None:
    assert traits_of("GPL-3.0-only OR MIT") == traits_of("MIT")
    assert traits_of("CC-BY-NC-4.0 OR CC-BY-4.0") == traits_of("CC-BY-4.0")


def test_and_needs_all() -> None:
    combined = traits_of("MIT AND CC-BY-NC-SA-4.0")
    assert not combined.commercial_use
    assert combined.non_commercial and combined.share_alike and combined.attribution
    assert traits_of("MIT AND GPL-2.0-only").copyleft_scope == "strong"


@pytest.mark.parametrize(
    "ordered",
    [
        ["CC0-1.0", "0BSD", "MIT", "MPL-2.0", "GPL-3.0-only", "AGPL-3.0-only", "CC-BY-NC-4.0"],
        ["CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "CC-BY-NC-ND-4.0", "LicenseRef-All-Rights-Reserved"],
    ],
)
def test_permissiveness_rank_orders_licences(ordered: list[str]) -> None:
    ranks = [permissiveness_rank(e) for e in ordered]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)


@pytest.mark.parametrize("expression", [None, "other", "garbage words", "LicenseRef-Unknown-To-Us"])
def test_unknown_ranks_worst(expression: str | None) -> None:
    assert permissiveness_rank(expression) == UNKNOWN_RANK
    assert permissiveness_rank(expression) > permissiveness_rank("LicenseRef-All-Rights-Reserved")


_known = st.sampled_from(["MIT", "Apache-2.0", "GPL-2.0-only", "CC-BY-NC-4.0", "CC0-1.0", "CC-BY-SA-4.0"])


@settings(max_examples=60, deadline=None)
@given(_known, _known)
def test_or_is_never_stricter_and_and_never_looser(a: str, b: str) -> None:
    either = permissiveness_rank(f"{a} OR {b}")
    both = permissiveness_rank(f"{a} AND {b}")
    assert either == min(permissiveness_rank(a), permissiveness_rank(b))
    assert both >= max(permissiveness_rank(a), permissiveness_rank(b))


def test_combine_and_is_commutative() -> None:
    a, b = traits_of("CC-BY-SA-4.0"), traits_of("LGPL-3.0-only")
    assert a.combine_and(b) == b.combine_and(a)
    assert LicenceTraits(unknown=True).names == ["unknown"]


def test_explain_lists_options_and_obligations() -> None:
    explanation = explain("MIT OR GPL-3.0-or-later")
    assert explanation["spdx"] == "MIT OR GPL-3.0-or-later"
    assert [o["expression"] for o in explanation["options"]] == ["MIT", "GPL-3.0-or-later"]
    assert explanation["traits"] == ["attribution", "commercial-use"]
    assert [entry["id"] for entry in explanation["licences"]] == ["MIT", "GPL-3.0-or-later"]
    text = render_explanation(explanation)
    assert "* MIT" in text and "GPL-3.0-or-later" in text


@pytest.mark.parametrize(
    ("expression", "phrase"),
    [
        ("CC-BY-NC-4.0", "no commercial use"),
        ("CC-BY-ND-4.0", "do not share adapted material"),
        ("AGPL-3.0-only", "over a network"),
        ("LicenseRef-All-Rights-Reserved", "permission from the rights holder"),
        ("other", "terms are unknown"),
        ("CC0-1.0", "public domain"),
    ],
)
def test_explain_obligations(expression: str, phrase: str) -> None:
    explanation = explain(expression)
    assert any(phrase in o for o in explanation["obligations"]), explanation["obligations"]
    assert phrase in render_explanation(explanation)
