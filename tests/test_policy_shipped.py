"""The four shipped policies on a table of planted cases, and ``explain_record``.

Each planted record isolates one situation (an opt-out, a registered work, sensitive PI, ...); the
table says what every shipped policy must decide and which rule must be named first.
docs/policies.md carries the same matrix for readers.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from auditor.config import SourceSpec
from auditor.errors import UsageError
from auditor.policy import (
    DEFAULT_RULE_ID,
    attribute_schema,
    decide,
    explain_record,
    load_policy,
    sources_table,
)

POLICIES = ("commercial-pretraining", "research-only", "cn-genai", "eu-gpai")
FILLER = 60  # three infringing records among ~80 stay under the 5% source threshold
CLEAN = {
    "n_chars": 120,
    "licence": "CC-BY-4.0",
    "licence_traits": ["attribution", "commercial-use"],
    "pii_count": 0,
}


def _opt(signal: str) -> list[dict[str, Any]]:
    return [{"signal": signal, "detail": "planted", "effective": True}]


def _work(kind: str, score: float, status: str | None = None) -> list[dict[str, Any]]:
    """A work match as the rights stage writes it: an unprotected work's match takes its status as kind."""
    return [{"registry": "works", "entry": "w-1", "kind": status or kind, "score": score}]


# name -> (attributes over CLEAN, {policy: (decision, first reason)})
PLANTED: dict[str, tuple[dict[str, Any], dict[str, tuple[str, str]]]] = {
    "clean": ({}, dict.fromkeys(POLICIES, ("include", DEFAULT_RULE_ID))),
    "empty": (
        {"n_chars": 0, "text_null": True},
        {
            "commercial-pretraining": ("exclude", "quality.empty"),
            "research-only": ("exclude", "quality.empty"),
            "cn-genai": ("exclude", "cn.im.art7.quality.empty"),
            "eu-gpai": ("exclude", "quality.empty"),
        },
    ),
    "robots": (
        {"opt_out": _opt("robots")},
        {
            "commercial-pretraining": ("exclude", "optout.robots"),
            "research-only": ("include", DEFAULT_RULE_ID),
            "cn-genai": ("exclude", "cn.tc260.trace.selfcollect.robots"),
            "eu-gpai": ("exclude", "eu.dsm.art4.optout"),
        },
    ),
    "tdmrep": (
        {"opt_out": _opt("tdmrep")},
        {
            "commercial-pretraining": ("exclude", "optout.tdmrep"),
            "research-only": ("include", DEFAULT_RULE_ID),
            "cn-genai": ("exclude", "cn.tc260.trace.selfcollect.robots"),
            "eu-gpai": ("exclude", "eu.dsm.art4.optout"),
        },
    ),
    "holder_terms": (
        {"opt_out": _opt("holder-terms")},
        {
            "commercial-pretraining": ("exclude", "optout.reservation"),
            "research-only": ("include", DEFAULT_RULE_ID),
            "cn-genai": ("review", "cn.tc260.ip.controls"),
            "eu-gpai": ("exclude", "eu.dsm.art4.optout"),
        },
    ),
    "ineffective_optout": (
        {"opt_out": [{"signal": "robots", "detail": "4xx", "effective": False}]},
        dict.fromkeys(POLICIES, ("include", DEFAULT_RULE_ID)),
    ),
    "non_commercial": (
        {"licence": "CC-BY-NC-4.0", "licence_traits": ["attribution", "non-commercial"]},
        {
            "commercial-pretraining": ("exclude", "licence.non_commercial"),
            "research-only": ("include", DEFAULT_RULE_ID),
            "cn-genai": ("exclude", "licence.non_commercial"),
            "eu-gpai": ("exclude", "licence.non_commercial"),
        },
    ),
    "duplicate": (
        {"dup_of": "web/a.jsonl#0", "dup_cluster": 1, "dup_kind": "exact"},
        dict.fromkeys(POLICIES, ("exclude", "dedup.drop")),
    ),
    "work_excerpt": (
        {"rights": _work("work-excerpt", 0.9)},
        {
            "commercial-pretraining": ("exclude", "rights.work_match"),
            "research-only": ("review", "rights.work_match"),
            "cn-genai": ("exclude", "cn.im.art7.ip"),
            "eu-gpai": ("exclude", "eu.aiact.53c.policy"),
        },
    ),
    "short_excerpt_low_share": (
        # an excerpt is only reported above the stage's minimum passage length, so a low share of a
        # long record still counts
        {"rights": _work("work-excerpt", 0.1)},
        {
            "commercial-pretraining": ("exclude", "rights.work_match"),
            "research-only": ("review", "rights.work_match"),
            "cn-genai": ("exclude", "cn.im.art7.ip"),
            "eu-gpai": ("exclude", "eu.aiact.53c.policy"),
        },
    ),
    "protected_and_public_domain_works": (
        {"rights": _work("work-excerpt", 0.4) + [{"registry": "works", "entry": "w-2",
                                                   "kind": "public-domain", "score": 0.5}]},
        {
            "commercial-pretraining": ("exclude", "rights.work_match"),
            "research-only": ("review", "rights.work_match"),
            "cn-genai": ("exclude", "cn.im.art7.ip"),
            "eu-gpai": ("exclude", "eu.aiact.53c.policy"),
        },
    ),
    "public_domain_work": (
        {"rights": _work("work-excerpt", 0.95, status="public-domain")},
        dict.fromkeys(POLICIES, ("include", DEFAULT_RULE_ID)),
    ),
    "licensed_work": (
        {"rights": _work("work-near-duplicate", 0.8, status="licensed")},
        dict.fromkeys(POLICIES, ("include", DEFAULT_RULE_ID)),
    ),
    "holder_domain": (
        {"rights": [{"registry": "holders", "entry": "h-1", "kind": "holder-domain", "score": 1.0}]},
        {
            "commercial-pretraining": ("review", "rights.holder_domain"),
            "research-only": ("include", DEFAULT_RULE_ID),
            "cn-genai": ("review", "cn.tc260.ip.controls"),
            "eu-gpai": ("review", "eu.aiact.53c.holder"),
        },
    ),
    "sensitive_pii": (
        {
            "pii_types": ["cn_resident_id"],
            "pii_count": 1,
            "pii_sensitive": True,
            "pii_categories": ["pipl28.identity_number"],
        },
        {
            "commercial-pretraining": ("review", "pii.sensitive"),
            "research-only": ("review", "pii.sensitive"),
            "cn-genai": ("exclude", "cn.pipl.art29.consent"),
            "eu-gpai": ("review", "pii.sensitive"),
        },
    ),
    "financial_account": (
        {"pii_types": ["bank_card"], "pii_count": 1, "pii_categories": ["pipl28.financial_account"]},
        {
            "commercial-pretraining": ("review", "pii.sensitive"),
            "research-only": ("review", "pii.sensitive"),
            "cn-genai": ("exclude", "cn.pipl.art29.consent"),
            "eu-gpai": ("review", "pii.sensitive"),
        },
    ),
    "health_data": (
        {"pii_types": ["health_term"], "pii_count": 1, "pii_categories": ["gdpr9.health"]},
        {
            "commercial-pretraining": ("review", "pii.sensitive"),
            "research-only": ("review", "pii.sensitive"),
            "cn-genai": ("review", "cn.pipl.art13.basis"),
            "eu-gpai": ("review", "eu.gdpr.art9"),
        },
    ),
    "email": (
        {"pii_types": ["email"], "pii_count": 2},
        {
            "commercial-pretraining": ("include", DEFAULT_RULE_ID),
            "research-only": ("include", DEFAULT_RULE_ID),
            "cn-genai": ("review", "cn.pipl.art13.basis"),
            "eu-gpai": ("include", DEFAULT_RULE_ID),
        },
    ),
    "licence_conflict": (
        {"licence_conflict": True},
        dict.fromkeys(POLICIES, ("review", "licence.conflict")),
    ),
    "no_derivatives": (
        {"licence": "CC-BY-ND-4.0", "licence_traits": ["attribution", "no-derivatives"]},
        {
            "commercial-pretraining": ("review", "licence.no_derivatives"),
            "research-only": ("include", DEFAULT_RULE_ID),
            "cn-genai": ("include", DEFAULT_RULE_ID),
            "eu-gpai": ("include", DEFAULT_RULE_ID),
        },
    ),
}


@pytest.fixture(scope="module")
def planted() -> tuple[pa.Table, pa.Table]:
    rows = [
        {
            "record_id": f"web/planted.jsonl#{i}",
            "source": "web",
            "shard": "planted.jsonl",
            "row": i,
            **CLEAN,
            **attrs,
        }
        for i, (attrs, _) in enumerate(PLANTED.values())
    ]
    # Clean filler keeps the infringing records under cn-genai's 5% source threshold.
    rows += [
        {"record_id": f"web/filler.jsonl#{i}", "source": "web", "shard": "filler.jsonl", "row": i, **CLEAN}
        for i in range(FILLER)
    ]
    specs = [SourceSpec("web", (), acquisition="open-dataset", declared_licence="CC-BY-4.0")]
    return pa.Table.from_pylist(rows, schema=attribute_schema()), sources_table(specs)


@pytest.mark.parametrize("policy_name", POLICIES)
@pytest.mark.parametrize("case", list(PLANTED))
def test_planted_case(planted: tuple[pa.Table, pa.Table], policy_name: str, case: str) -> None:
    table, sources = planted
    result = decide(table, load_policy(policy_name), sources)
    i = list(PLANTED).index(case)
    decision, first_reason = PLANTED[case][1][policy_name]
    assert (result.decision[i].as_py(), result.reasons[i].as_py()[0]) == (decision, first_reason)
    assert result.source_outcome("web").outcome == "ok"


def test_flags_are_named_beside_the_decision(planted: tuple[pa.Table, pa.Table]) -> None:
    table, sources = planted
    cases = list(PLANTED)
    research = decide(table, load_policy("research-only"), sources).reasons
    assert research[cases.index("robots")].as_py() == [DEFAULT_RULE_ID, "optout.noted"]
    assert research[cases.index("non_commercial")].as_py() == [DEFAULT_RULE_ID, "licence.non_commercial"]
    commercial = decide(table, load_policy("commercial-pretraining"), sources).reasons
    assert commercial[cases.index("email")].as_py() == [DEFAULT_RULE_ID, "pii.present"]


SOURCE_CASES = [
    # (acquisition, evidence, {policy: (outcome, rule ids)})
    (
        "web-crawl",
        {},
        {
            "commercial-pretraining": ("ok", ()),
            "cn-genai": ("review", ("cn.tc260.trace.selfcollect",)),
            "eu-gpai": ("review", ("eu.aiact.53d.summary.crawl",)),
        },
    ),
    (
        "commercial",
        {},
        {
            "commercial-pretraining": ("review", ("source.evidence.contract",)),
            "research-only": ("review", ("source.evidence.contract",)),
            "cn-genai": ("review", ("cn.tc260.trace.contract",)),
            "eu-gpai": ("review", ("source.evidence.contract",)),
        },
    ),
    ("user-data", {"consent_record": "consent.csv"}, dict.fromkeys(POLICIES, ("ok", ()))),
    (
        None,
        {},
        {
            "commercial-pretraining": ("ok", ()),
            "cn-genai": ("review", ("cn.im.art7.lawful_source",)),
            "eu-gpai": ("review", ("eu.aiact.53d.summary",)),
        },
    ),
]


@pytest.mark.parametrize(("acquisition", "evidence", "expected"), SOURCE_CASES)
@pytest.mark.parametrize("policy_name", POLICIES)
def test_source_rules_by_acquisition(
    policy_name: str,
    acquisition: str | None,
    evidence: dict[str, str],
    expected: dict[str, tuple[str, tuple[str, ...]]],
) -> None:
    table = pa.Table.from_pylist([{"record_id": "x/a#0", "source": "x", **CLEAN}], schema=attribute_schema())
    result = decide(
        table, load_policy(policy_name), sources_table([SourceSpec("x", (), acquisition, evidence=evidence)])
    )
    outcome, rule_ids = expected.get(policy_name, ("ok", ()))
    got = result.source_outcome("x")
    assert (got.outcome, got.rule_ids) == (outcome, rule_ids)
    assert result.decision[0].as_py() == ("review" if rule_ids else "include")


def test_sensitive_pii_with_consent_goes_to_review_under_cn(planted: tuple[pa.Table, pa.Table]) -> None:
    table, _ = planted
    with_consent = sources_table(
        [SourceSpec("web", (), "open-dataset", "CC-BY-4.0", evidence={"consent_record": "c.csv"})]
    )
    result = decide(table, load_policy("cn-genai"), with_consent)
    cases = list(PLANTED)
    assert result.reasons[cases.index("sensitive_pii")].as_py()[0] == "cn.pipl.art29.consent.verify"
    assert result.decision[cases.index("email")].as_py() == "include"


def test_explain_names_the_deciding_rule_and_its_evidence(planted: tuple[pa.Table, pa.Table]) -> None:
    table, sources = planted
    record_id = f"web/planted.jsonl#{list(PLANTED).index('work_excerpt')}"
    explanation = explain_record(table, load_policy("cn-genai"), record_id, sources=sources)
    assert explanation.decision == "exclude"
    assert explanation.reasons == ("cn.im.art7.ip",)
    decided = [t for t in explanation.rules if t.decided]
    assert [t.rule_id for t in decided] == ["cn.im.art7.ip"]
    assert decided[0].basis.startswith("Interim Measures art. 7(2)")
    assert [leaf.held for leaf in decided[0].leaves] == [True]
    assert explanation.attributes["rights"][0]["kind"] == "work-excerpt"
    assert explanation.attributes["source.acquisition"] == "open-dataset"
    assert "decision" not in explanation.attributes
    source_trace = {t.rule_id: t for t in explanation.rules if t.scope == "source"}
    share_leaf = source_trace["cn.tc260.source.5pct"].leaves[0]
    assert share_leaf.test == "share_excluded_by[cn.im.art7.ip] > 0.05" and share_leaf.held is False
    assert source_trace["cn.tc260.source.5pct"].matched is False
    infringing = sum(1 for _, expected in PLANTED.values() if expected["cn-genai"][1] == "cn.im.art7.ip")
    assert infringing == 3
    assert explanation.source.aggregates["share_excluded_by[cn.im.art7.ip]"] == infringing / (len(PLANTED) + FILLER)
    assert explanation.source.outcome == "ok"


def test_explain_unknown_record(planted: tuple[pa.Table, pa.Table]) -> None:
    with pytest.raises(UsageError, match="no record 'web/none#9'"):
        explain_record(planted[0], load_policy("eu-gpai"), "web/none#9")
