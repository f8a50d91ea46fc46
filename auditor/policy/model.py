"""Policy value objects: the attribute vocabulary, conditions, rules, policies and decisions.

Everything here is plain frozen data. ``loader`` builds it from TOML (and validates it);
``evaluate`` turns it into decisions over an Arrow records table.

Attribute kinds and the operators each accepts (see docs/policies.md for the full reference)::

    string        eq ne in not_in glob is_null
    int, float    eq ne in not_in gt ge lt le is_null
    bool          eq ne is_null
    string_list   has has_any has_all has_glob is_empty
    struct_list   any none is_empty        (any/none take a table of field tests)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from auditor.config import ACQUISITION_TYPES, EVIDENCE_KINDS

SCHEMA_VERSION = 1

OUTCOMES = ("include", "exclude", "review")
RULE_OUTCOMES = (*OUTCOMES, "flag")
SOURCE_OUTCOMES = ("block", "review")
# The id that ``reasons`` carries when no rule matched and the policy default decided.
DEFAULT_RULE_ID = "default"
# Severity order used to combine a record decision with its source's outcome.
SEVERITY = {"include": 0, "review": 1, "exclude": 2}

LICENCE_TRAITS = (
    "commercial-use",
    "attribution",
    "share-alike",
    "no-derivatives",
    "non-commercial",
    "research-only",
    "copyleft",
    "public-domain",
    "all-rights-reserved",
    "unknown",
)
DUP_KINDS = ("exact", "near")

SCALAR_OPS: dict[str, tuple[str, ...]] = {
    "string": ("eq", "ne", "in", "not_in", "glob", "is_null"),
    "int": ("eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "is_null"),
    "float": ("eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "is_null"),
    "bool": ("eq", "ne", "is_null"),
}
OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    **SCALAR_OPS,
    "string_list": ("has", "has_any", "has_all", "has_glob", "is_empty"),
    "struct_list": ("any", "none", "is_empty"),
}


@dataclass(frozen=True)
class AttrSpec:
    """One attribute a condition may test: its kind, its struct fields, the vocabulary its values use."""

    name: str
    kind: str
    description: str
    # For struct_list attributes: field name -> scalar kind.
    fields: Mapping[str, str] = field(default_factory=dict)
    # Name of the vocabulary that values (or struct field values, keyed by field) are checked against.
    vocab: str | None = None
    field_vocab: Mapping[str, str] = field(default_factory=dict)


def _spec(name: str, kind: str, description: str, **kw: Any) -> tuple[str, AttrSpec]:
    return name, AttrSpec(name=name, kind=kind, description=description, **kw)


RECORD_ATTRIBUTES: dict[str, AttrSpec] = dict(
    [
        _spec("record_id", "string", "stable record id <source>/<shard>#<row>"),
        _spec("source", "string", "source name"),
        _spec("shard", "string", "file path relative to the source root"),
        _spec("row", "int", "0-based position within the shard"),
        _spec("input_id", "string", "the record's own id, if any"),
        _spec("url", "string", "the record's URL, if known"),
        _spec("content_sha256", "string", "hex SHA-256 of the raw text"),
        _spec("norm_sha256", "string", "hex SHA-256 of the normalised text"),
        _spec("n_chars", "int", "length of the text"),
        _spec("text_null", "bool", "the text was null"),
        _spec("lang", "string", "ISO 639-1 language code, zh for Chinese", vocab="lang"),
        _spec("dup_cluster", "int", "duplicate cluster id, null if unique"),
        _spec("dup_of", "string", "record_id of the cluster survivor; null for survivors and uniques"),
        _spec("dup_kind", "string", "exact or near", vocab="dup_kind"),
        _spec("licence", "string", "concluded SPDX expression", vocab="licence_ids"),
        _spec("licence_traits", "string_list", "traits of the concluded licence", vocab="licence_traits"),
        _spec("licence_conflict", "bool", "licence evidence disagrees"),
        _spec(
            "licence_evidence",
            "struct_list",
            "where the licence came from",
            fields={"kind": "string", "value": "string", "where": "string"},
        ),
        _spec(
            "rights",
            "struct_list",
            "rights-registry matches",
            fields={"registry": "string", "entry": "string", "kind": "string", "score": "float"},
            field_vocab={"kind": "rights_kinds"},
        ),
        _spec(
            "opt_out",
            "struct_list",
            "opt-out signals that apply",
            fields={"signal": "string", "detail": "string", "effective": "bool"},
            field_vocab={"signal": "opt_out_signals"},
        ),
        _spec("pii_types", "string_list", "PII detectors that fired", vocab="detectors"),
        _spec("pii_count", "int", "number of PII findings"),
        _spec("pii_sensitive", "bool", "any finding in a sensitive category"),
        _spec("pii_categories", "string_list", "legal categories of the findings", vocab="pii_categories"),
        _spec("source.acquisition", "string", "how the source was acquired", vocab="acquisition"),
        _spec("source.declared_licence", "string", "licence declared for the source, as found"),
        *(
            _spec(f"source.evidence.{kind}", "string", f"reference to the source's {kind.replace('_', ' ')}")
            for kind in EVIDENCE_KINDS
        ),
    ]
)

_SCALAR_TYPES = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


def arrow_type(spec: AttrSpec) -> pa.DataType:
    """The Arrow type a column must have to hold ``spec``'s attribute."""
    if spec.kind == "string_list":
        return pa.list_(pa.string())
    if spec.kind == "struct_list":
        return pa.list_(pa.struct([(name, _SCALAR_TYPES[kind]) for name, kind in spec.fields.items()]))
    return _SCALAR_TYPES[spec.kind]


def attribute_schema() -> pa.Schema:
    """Arrow schema of the record attributes a policy reads (without the joined ``source.*`` ones)."""
    return pa.schema(
        [
            pa.field(name, arrow_type(spec))
            for name, spec in RECORD_ATTRIBUTES.items()
            if not name.startswith("source.")
        ]
    )


# Source attributes come from a separate sources table (one row per source, key column ``source``);
# this maps each attribute to its column there.
SOURCE_ATTRIBUTE_COLUMNS: dict[str, str] = {
    "source.acquisition": "acquisition",
    "source.declared_licence": "declared_licence",
    **{f"source.evidence.{kind}": f"evidence_{kind}" for kind in EVIDENCE_KINDS},
}

# Per-source aggregates a source rule may test. Those marked True take a ``rules = [...]`` list.
METRICS: dict[str, bool] = {
    "n_records": False,
    "count_matched": True,
    "share_matched": True,
    "count_excluded_by": True,
    "share_excluded_by": True,
}
METRIC_KINDS = {"n_records": "int", "count_matched": "int", "count_excluded_by": "int"}

# Vocabularies that are fixed by the project (others are injected into ``load_policy``).
FIXED_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "licence_traits": LICENCE_TRAITS,
    "dup_kind": DUP_KINDS,
    "acquisition": ACQUISITION_TYPES,
}


# ---- conditions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One operator with its (validated) operand: ``eq = "zh"``, ``in = ["a", "b"]``, ``any = {...}``."""

    name: str
    value: Any


@dataclass(frozen=True)
class FieldTest:
    """Tests on one field of a struct element (``kind = {eq = "work-excerpt"}``)."""

    field: str
    kind: str
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class ElementMatch:
    """The operand of ``any``/``none``: an element matches when all its field tests hold."""

    tests: tuple[FieldTest, ...]


@dataclass(frozen=True)
class AttrTest:
    """A leaf over one attribute; several operators in one leaf must all hold."""

    attr: str
    kind: str
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class MetricTest:
    """A leaf of a source rule over a per-source aggregate."""

    metric: str
    rules: tuple[str, ...]
    ops: tuple[Op, ...]

    @property
    def label(self) -> str:
        return f"{self.metric}[{','.join(self.rules)}]" if self.rules else self.metric


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = AttrTest | MetricTest | All | AnyOf | Not


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def glob_regex(pattern: str) -> str:
    """A glob (``*`` any run, ``?`` one character, nothing else special) as an unanchored regex that
    means the same in Python ``re`` and RE2 (pyarrow); callers match it against the whole value."""
    body = ".*".join(".".join(re.escape(part) for part in piece.split("?")) for piece in pattern.split("*"))
    return f"(?s:{body})"


_OP_WORDS = {
    "eq": "=",
    "ne": "!=",
    "gt": ">",
    "ge": ">=",
    "lt": "<",
    "le": "<=",
    "not_in": "not in",
    "has_any": "has any of",
    "has_all": "has all of",
    "has_glob": "has an item like",
    "glob": "like",
}


def _describe_ops(subject: str, ops: tuple[Op, ...]) -> str:
    parts = []
    for op in ops:
        if isinstance(op.value, ElementMatch):
            inner = " and ".join(_describe_ops(t.field, t.ops) for t in op.value.tests) or "any element"
            parts.append(f"{subject} {'has an' if op.name == 'any' else 'has no'} entry with {inner}")
        elif op.name in ("is_null", "is_empty"):
            word = "null" if op.name == "is_null" else "empty"
            parts.append(f"{subject} is {'' if op.value else 'not '}{word}")
        else:
            parts.append(f"{subject} {_OP_WORDS.get(op.name, op.name)} {_fmt(op.value)}")
    return " and ".join(parts)


def describe(condition: Condition) -> str:
    """A one-line human reading of a condition, for ``explain`` and docs."""
    match condition:
        case AttrTest(attr=attr, ops=ops):
            return _describe_ops(attr, ops)
        case MetricTest(ops=ops):
            return _describe_ops(condition.label, ops)
        case All(items=items):
            return "(" + " AND ".join(describe(c) for c in items) + ")"
        case AnyOf(items=items):
            return "(" + " OR ".join(describe(c) for c in items) + ")"
        case Not(item=item):
            return f"NOT {describe(item)}"
    raise TypeError(f"not a condition: {condition!r}")


def referenced_attrs(condition: Condition) -> set[str]:
    """Attribute names a condition reads."""
    match condition:
        case AttrTest(attr=attr):
            return {attr}
        case MetricTest():
            return set()
        case All(items=items) | AnyOf(items=items):
            return set().union(*(referenced_attrs(c) for c in items))
        case Not(item=item):
            return referenced_attrs(item)
    raise TypeError(f"not a condition: {condition!r}")


def metric_tests(condition: Condition) -> list[MetricTest]:
    """The metric leaves of a source-rule condition, in order."""
    match condition:
        case MetricTest():
            return [condition]
        case AttrTest():
            return []
        case All(items=items) | AnyOf(items=items):
            return [m for c in items for m in metric_tests(c)]
        case Not(item=item):
            return metric_tests(item)
    raise TypeError(f"not a condition: {condition!r}")


# ---- rules and policies ------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A record rule: the first non-flag rule whose condition holds decides the record."""

    id: str
    outcome: str  # include | exclude | review | flag
    reason: str
    when: Condition | None  # None only for the policy default
    basis: str = ""
    line: int | None = None

    @property
    def is_flag(self) -> bool:
        return self.outcome == "flag"


@dataclass(frozen=True)
class SourceRule:
    """A rule over a source's attributes and aggregates; every matching source rule applies."""

    id: str
    outcome: str  # block | review
    reason: str
    when: Condition
    basis: str = ""
    line: int | None = None


@dataclass(frozen=True)
class Policy:
    """A validated, resolved policy."""

    name: str
    description: str
    default: Rule
    rules: tuple[Rule, ...]
    source_rules: tuple[SourceRule, ...]
    sha256: str
    path: Path | None = None
    schema_version: int = SCHEMA_VERSION
    # Order of preference for the survivor of a duplicate cluster (None: the dedup default).
    survivor_order: tuple[str, ...] | None = None

    def rule(self, rule_id: str) -> Rule | SourceRule:
        for rule in (*self.rules, *self.source_rules, self.default):
            if rule.id == rule_id:
                return rule
        raise KeyError(f"policy {self.name!r} has no rule {rule_id!r}")

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in (*self.rules, self.default, *self.source_rules))


# ---- decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceOutcome:
    """What the source rules made of one source."""

    source: str
    outcome: str  # ok | review | block
    rule_ids: tuple[str, ...]
    n_records: int
    # Values of the aggregates read by the source rules that matched (label -> value).
    aggregates: Mapping[str, float | int]
    counts: Mapping[str, int]  # final decision -> records


@dataclass(frozen=True)
class Decisions:
    """Per-record decisions aligned with the records table, plus per-source outcomes and counts."""

    policy_name: str
    policy_sha256: str
    decision: pa.Array  # string
    reasons: pa.Array  # list<string>: deciding rule, matched flag rules, matched source rules
    record_rule: pa.Array  # string: the record rule (or "default") that decided before source rules
    sources: tuple[SourceOutcome, ...]
    counts_by_decision: Mapping[str, int]
    counts_by_reason: Mapping[str, int]
    counts_by_source: Mapping[str, Mapping[str, int]]

    def columns(self) -> dict[str, pa.Array]:
        """The manifest columns ``decision`` and ``reasons``."""
        return {"decision": self.decision, "reasons": self.reasons}

    def source_outcome(self, source: str) -> SourceOutcome:
        for outcome in self.sources:
            if outcome.source == source:
                return outcome
        raise KeyError(f"no source {source!r}; sources: {[o.source for o in self.sources]}")
