"""Explain one record's decision: its attributes, the evidence, and which rules held and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from auditor.errors import UsageError
from auditor.policy.evaluate import decide, evaluate, join_sources
from auditor.policy.model import (
    SOURCE_ATTRIBUTE_COLUMNS,
    All,
    AnyOf,
    AttrTest,
    Condition,
    Decisions,
    MetricTest,
    Not,
    Policy,
    SourceOutcome,
    describe,
)

# Columns that are the manifest's previous decision, not attributes the policy reads.
_DECISION_COLUMNS = ("decision", "reasons")


@dataclass(frozen=True)
class LeafResult:
    """One leaf test of a rule condition and whether it held for the record."""

    test: str
    held: bool


@dataclass(frozen=True)
class RuleTrace:
    """How one rule fared on the record."""

    rule_id: str
    scope: str  # record | flag | default | source
    outcome: str
    matched: bool
    decided: bool
    reason: str
    basis: str
    condition: str
    leaves: tuple[LeafResult, ...]


@dataclass(frozen=True)
class RecordExplanation:
    record_id: str
    attributes: dict[str, Any]
    decision: str
    reasons: tuple[str, ...]
    rules: tuple[RuleTrace, ...]
    source: SourceOutcome


def _leaves(condition: Condition, row: pa.Table) -> list[LeafResult]:
    match condition:
        case AttrTest() | MetricTest():
            return [LeafResult(describe(condition), bool(evaluate(condition, row)[0]))]
        case All(items=items) | AnyOf(items=items):
            return [leaf for item in items for leaf in _leaves(item, row)]
        case Not(item=item):
            return _leaves(item, row)
    raise TypeError(f"not a condition: {condition!r}")


def explain_record(
    records: pa.Table,
    policy: Policy,
    record_id: str,
    *,
    sources: pa.Table | None = None,
    decisions: Decisions | None = None,
) -> RecordExplanation:
    """Explain the decision ``policy`` gives the record ``record_id`` of ``records``.

    ``decisions`` (from ``decide`` on the same table, policy and sources) saves deciding again;
    source rules need the whole table because they read per-source aggregates.
    """
    matches = pc.equal(records.column("record_id"), record_id)
    index = pc.index(matches, True).as_py()
    if index < 0:
        raise UsageError(f"no record {record_id!r} in the records table ({records.num_rows} records)")
    if decisions is None:
        decisions = decide(records, policy, sources)
    prepared = join_sources(records, sources).slice(index, 1)
    row = prepared.drop_columns([c for c in _DECISION_COLUMNS if c in prepared.column_names])
    attributes = {name: values[0] for name, values in row.to_pydict().items()}
    decided_by = decisions.record_rule[index].as_py()
    source = decisions.source_outcome(attributes["source"])
    traces = []
    for rule in policy.rules:
        matched = bool(evaluate(rule.when, row)[0])
        traces.append(
            RuleTrace(
                rule_id=rule.id,
                scope="flag" if rule.is_flag else "record",
                outcome=rule.outcome,
                matched=matched,
                decided=rule.id == decided_by,
                reason=rule.reason,
                basis=rule.basis,
                condition=describe(rule.when),
                leaves=tuple(_leaves(rule.when, row)),
            )
        )
    default = policy.default
    traces.append(
        RuleTrace(
            default.id,
            "default",
            default.outcome,
            decided_by == default.id,
            decided_by == default.id,
            default.reason,
            default.basis,
            "no record rule matched",
            (),
        )
    )
    # The source's attributes and aggregates as one row, to show each source-rule leaf.
    source_row = pa.table(
        {
            "source": [source.source],
            **{
                a: pa.array([attributes[a]], pa.string()) for a in SOURCE_ATTRIBUTE_COLUMNS if a in attributes
            },
            **{label: [value] for label, value in source.aggregates.items()},
        }
    )
    for source_rule in policy.source_rules:
        matched = source_rule.id in source.rule_ids
        traces.append(
            RuleTrace(
                source_rule.id,
                "source",
                source_rule.outcome,
                matched,
                matched,
                source_rule.reason,
                source_rule.basis,
                describe(source_rule.when),
                tuple(_leaves(source_rule.when, source_row)),
            )
        )
    return RecordExplanation(
        record_id=record_id,
        attributes=attributes,
        decision=decisions.decision[index].as_py(),
        reasons=tuple(decisions.reasons[index].as_py()),
        rules=tuple(traces),
        source=source,
    )
