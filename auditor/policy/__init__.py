"""Declarative policies: load a TOML policy, decide include / exclude / review per record with the
ids of the rules behind each decision, and explain a decision. Pure: no I/O beyond reading the
policy file, no printing. The language is documented in docs/policies.md."""

from __future__ import annotations

from auditor.policy.evaluate import apply_decisions, decide, evaluate, join_sources, sources_table
from auditor.policy.explain import LeafResult, RecordExplanation, RuleTrace, explain_record
from auditor.policy.loader import (
    DEFAULT_POLICY,
    list_policies,
    load_policy,
    parse_policy,
    policy_hash,
    resolve_policy_path,
)
from auditor.policy.model import (
    DEFAULT_RULE_ID,
    LICENCE_TRAITS,
    METRICS,
    OUTCOMES,
    RECORD_ATTRIBUTES,
    SOURCE_ATTRIBUTE_COLUMNS,
    Decisions,
    Policy,
    Rule,
    SourceOutcome,
    SourceRule,
    arrow_type,
    attribute_schema,
    describe,
)

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_RULE_ID",
    "LICENCE_TRAITS",
    "METRICS",
    "OUTCOMES",
    "RECORD_ATTRIBUTES",
    "SOURCE_ATTRIBUTE_COLUMNS",
    "Decisions",
    "LeafResult",
    "Policy",
    "RecordExplanation",
    "Rule",
    "RuleTrace",
    "SourceOutcome",
    "SourceRule",
    "apply_decisions",
    "arrow_type",
    "attribute_schema",
    "decide",
    "describe",
    "evaluate",
    "explain_record",
    "join_sources",
    "list_policies",
    "load_policy",
    "parse_policy",
    "policy_hash",
    "resolve_policy_path",
    "sources_table",
]
