"""Evaluate a resolved policy over a records table, column by column (pyarrow.compute + numpy).

Semantics (docs/policies.md has the full reference):

- Record rules are tried in file order; the first non-flag rule whose condition holds decides the
  record. Flag rules never decide; when they hold, their ids are added to ``reasons``. No match: the
  policy default decides, with reason id ``default``.
- Source rules are evaluated once per source over its attributes and aggregates of the record-level
  decisions; every matching source rule applies. ``block`` makes every record of the source
  ``exclude``; ``review`` turns its ``include`` records into ``review``. The ids of the matching
  source rules are added to the reasons of every record of the source.
- ``reasons`` = [deciding record rule, matching flag rules in file order, matching source rules].
- A known attribute whose column is absent reads as null (lists: empty; struct lists: no entry).
  Null fails every test except ``is_null = true`` and the negations ``ne``/``not_in``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.config import SourceSpec
from auditor.errors import ColumnError
from auditor.policy.model import (
    DEFAULT_RULE_ID,
    OUTCOMES,
    RECORD_ATTRIBUTES,
    SEVERITY,
    SOURCE_ATTRIBUTE_COLUMNS,
    All,
    AnyOf,
    AttrTest,
    Condition,
    Decisions,
    ElementMatch,
    MetricTest,
    Not,
    Op,
    Policy,
    SourceOutcome,
    arrow_type,
    glob_regex,
    metric_tests,
    referenced_attrs,
)

BATCH_ROWS = 65_536
# Decision codes are severities, so combining a record with its source is a maximum.
_DECISIONS_BY_CODE = sorted(OUTCOMES, key=SEVERITY.__getitem__)
_SOURCE_EFFECT = {"ok": 0, "review": SEVERITY["review"], "block": SEVERITY["exclude"]}
_KIND_TYPES = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "string_list": pa.list_(pa.string()),
}
_COMPARE = {"eq": pc.equal, "gt": pc.greater, "ge": pc.greater_equal, "lt": pc.less, "le": pc.less_equal}


def sources_table(specs: Iterable[SourceSpec]) -> pa.Table:
    """The sources table ``decide`` expects, built from the audit's source specs."""
    specs = list(specs)
    columns: dict[str, list[Any]] = {"source": [s.name for s in specs]}
    for attr, column in SOURCE_ATTRIBUTE_COLUMNS.items():
        if attr == "source.acquisition":
            columns[column] = [s.acquisition for s in specs]
        elif attr == "source.declared_licence":
            columns[column] = [s.declared_licence for s in specs]
        else:
            kind = attr.removeprefix("source.evidence.")
            columns[column] = [s.evidence.get(kind) for s in specs]
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def join_sources(records: pa.Table, sources: pa.Table | None, attrs: Iterable[str] | None = None) -> pa.Table:
    """``records`` with source attributes (``attrs``, default all) joined on as ``source.*`` columns.

    With a sources table, its values win over ``source.*`` columns already in ``records``; without
    one, ``records`` is returned as it is (absent ``source.*`` columns then read as null).
    """
    if sources is None:
        return records
    for table, name in ((sources, "sources"), (records, "records")):
        if "source" not in table.column_names:
            raise ColumnError(f"the {name} table has no 'source' column", path=f"<{name}>")
    index = pc.index_in(records.column("source"), value_set=sources.column("source").combine_chunks())
    for attr in sorted(SOURCE_ATTRIBUTE_COLUMNS if attrs is None else attrs):
        column = SOURCE_ATTRIBUTE_COLUMNS[attr]
        if column in sources.column_names:
            values = pc.take(sources.column(column).combine_chunks().cast(pa.string()), index)
        else:
            values = pa.nulls(records.num_rows, pa.string())
        if attr in records.column_names:
            records = records.drop_columns([attr])
        records = records.append_column(attr, values)
    return records


def _source_attrs_read(policy: Policy) -> set[str]:
    read: set[str] = set()
    for rule in (*policy.rules, *policy.source_rules):
        read |= referenced_attrs(rule.when)
    return read & set(SOURCE_ATTRIBUTE_COLUMNS)


# ---- conditions over columns -------------------------------------------------------------------


class _Columns:
    """Columns of one batch by attribute name; absent ones read as typed nulls."""

    def __init__(self, data: pa.RecordBatch | pa.Table) -> None:
        self.data = data
        self.n = data.num_rows

    def get(self, name: str, kind: str) -> pa.Array:
        if name not in self.data.column_names:
            spec = RECORD_ATTRIBUTES.get(name)
            return pa.nulls(self.n, arrow_type(spec) if spec else _KIND_TYPES[kind])
        column = self.data.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        return column


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _numeric(array: pa.Array, values: Iterable[Any]) -> pa.Array:
    """Compare ints as ints unless an operand is a float."""
    if pa.types.is_integer(array.type) and any(isinstance(v, float) for v in values):
        return array.cast(pa.float64())
    return array


def _scalar_op(array: pa.Array, op: Op) -> np.ndarray:
    name, value = op.name, op.value
    if name == "is_null":
        return _np(pc.is_null(array) if value else pc.is_valid(array))
    if name in ("in", "not_in"):
        array = _numeric(array, value)
        mask = _np(pc.is_in(array, value_set=pa.array(list(value), type=array.type)))
        return ~mask if name == "not_in" else mask
    if name == "glob":
        return _np(pc.match_substring_regex(array, f"^{glob_regex(value)}$"))
    if name == "ne":
        return ~_scalar_op(array, Op("eq", value))
    array = _numeric(array, [value])
    return _np(_COMPARE[name](array, pa.scalar(value, type=array.type)))


def _elements(array: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Values of a list array and, for each, the row it belongs to (elements of null rows dropped)."""
    offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    values = array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    parents = np.repeat(np.arange(len(array)), np.diff(offsets))
    if array.null_count:
        keep = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)[parents]
        values = values.filter(pa.array(keep))
        parents = parents[keep]
    return values, parents


def _any_per_row(n: int, parents: np.ndarray, element_mask: np.ndarray) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[parents[element_mask]] = True
    return out


def _list_op(array: pa.Array, kind: str, op: Op) -> np.ndarray:
    n = len(array)
    if op.name == "is_empty":
        empty = np.asarray(pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)) == 0
        return empty if op.value else ~empty
    values, parents = _elements(array)
    if kind == "string_list":
        if op.name == "has":
            return _any_per_row(n, parents, _scalar_op(values, Op("eq", op.value)))
        if op.name == "has_any":
            return _any_per_row(n, parents, _scalar_op(values, Op("in", op.value)))
        if op.name == "has_glob":
            return _any_per_row(n, parents, _scalar_op(values, Op("glob", op.value)))
        out = np.ones(n, dtype=bool)  # has_all
        for v in op.value:
            out &= _any_per_row(n, parents, _scalar_op(values, Op("eq", v)))
        return out
    match_ = _element_match(values, op.value)
    found = _any_per_row(n, parents, match_)
    return found if op.name == "any" else ~found


def _element_match(structs: pa.Array, match_: ElementMatch) -> np.ndarray:
    mask = np.asarray(structs.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    names = {structs.type.field(i).name for i in range(structs.type.num_fields)}
    for test in match_.tests:
        if test.field in names:
            field_values = pc.struct_field(structs, test.field)
        else:
            field_values = pa.nulls(len(structs), _KIND_TYPES[test.kind])
        for op in test.ops:
            mask &= _scalar_op(field_values, op)
    return mask


def evaluate(condition: Condition, data: pa.RecordBatch | pa.Table) -> np.ndarray:
    """Boolean mask (numpy) of the rows of ``data`` for which ``condition`` holds."""
    return _eval(condition, _Columns(data))


def _eval(condition: Condition, cols: _Columns) -> np.ndarray:
    match condition:
        case AttrTest(attr=attr, kind=kind, ops=ops):
            array = cols.get(attr, kind)
            out = np.ones(cols.n, dtype=bool)
            for op in ops:
                out &= _list_op(array, kind, op) if kind.endswith("_list") else _scalar_op(array, op)
            return out
        case MetricTest(ops=ops):
            array = cols.get(condition.label, "float")
            out = np.ones(cols.n, dtype=bool)
            for op in ops:
                out &= _scalar_op(array, op)
            return out
        case All(items=items):
            out = np.ones(cols.n, dtype=bool)
            for item in items:
                out &= _eval(item, cols)
            return out
        case AnyOf(items=items):
            out = np.zeros(cols.n, dtype=bool)
            for item in items:
                out |= _eval(item, cols)
            return out
        case Not(item=item):
            return ~_eval(item, cols)
    raise TypeError(f"not a condition: {condition!r}")


# ---- decisions ---------------------------------------------------------------------------------


def _record_rule_matches(
    table: pa.Table | pa.RecordBatch, policy: Policy, keep: set[int]
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Index of the deciding record rule per row (default: len(rules)), and full masks of rules in ``keep``."""
    deciders, kept = [], {i: [] for i in keep}
    default_index = len(policy.rules)
    batches = table.to_batches(max_chunksize=BATCH_ROWS) if isinstance(table, pa.Table) else [table]
    for batch in batches:
        cols = _Columns(batch)
        decider = np.full(batch.num_rows, default_index, dtype=np.int32)
        undecided = np.ones(batch.num_rows, dtype=bool)
        for i, rule in enumerate(policy.rules):
            if i not in keep and (rule.is_flag or not undecided.any()):
                continue
            mask = _eval(rule.when, cols)
            if i in keep:
                kept[i].append(mask)
            if not rule.is_flag:
                newly = mask & undecided
                decider[newly] = i
                undecided &= ~newly
        deciders.append(decider)
    empty = np.zeros(0, dtype=bool)
    decider_all = np.concatenate(deciders) if deciders else np.zeros(0, dtype=np.int32)
    return decider_all, {i: np.concatenate(m) if m else empty for i, m in kept.items()}


def _reasons(
    decider: np.ndarray,
    flags: dict[int, np.ndarray],
    source_hits: np.ndarray,
    codes: np.ndarray,
    n_rules: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and flat rule indices of each row's reasons: decider, matching flags, source rules.

    Rule indices: record rules 0..n_rules-1, the default n_rules, source rules from n_rules + 1.
    """
    n_source_rules = source_hits.shape[1]
    candidates = np.full((len(decider), 1 + len(flags) + n_source_rules), -1, dtype=np.int32)
    candidates[:, 0] = decider
    for j, (i, mask) in enumerate(sorted(flags.items())):
        candidates[mask, 1 + j] = i
    for k in range(n_source_rules):
        candidates[source_hits[codes, k], 1 + len(flags) + k] = n_rules + 1 + k
    present = candidates >= 0
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    return offsets, candidates[present]


@dataclass(frozen=True)
class SliceDecisions:
    """The decisions of one slice of records (``PolicyRun.decide``), aligned with its rows."""

    decision: pa.Array  # string
    reasons: pa.Array  # list<string>
    record_rule: pa.Array  # string


class PolicyRun:
    """Decide records under a policy one slice at a time, so that a corpus need not be in memory.

    Source rules read aggregates over every record of a source, so there are two passes over the
    same slices in the same order: ``observe`` each slice (record rules, per-source aggregates),
    then, after ``settle`` (source outcomes), ``decide`` each slice again. ``decisions`` returns the
    per-source outcomes and the counts of the decided slices. ``decide()`` is the one-slice case.
    """

    def __init__(self, policy: Policy, sources: pa.Table | None = None) -> None:
        self.policy = policy
        self.sources = sources
        rules = policy.rules
        self._by_id = {r.id: i for i, r in enumerate(rules)}
        self._flag_ids = {i for i, r in enumerate(rules) if r.is_flag}
        self._counted = {
            self._by_id[r]
            for sr in policy.source_rules
            for t in metric_tests(sr.when)
            if t.metric.endswith("_matched")
            for r in t.rules
        }
        self._attrs = _source_attrs_read(policy)
        self._metrics = [t for sr in policy.source_rules for t in metric_tests(sr.when)]
        # Per source (by name), in the order first seen: records, metric counts, source attributes.
        self._n_records: dict[str, int] = {}
        self._metric_counts: dict[str, dict[str, int]] = {}
        self._first: dict[str, dict[str, Any]] = {}
        self._names: list[str] | None = None
        self._hits = np.zeros((0, len(policy.source_rules)), dtype=bool)
        self._aggregates: dict[str, np.ndarray] = {}
        self._outcomes: list[str] = []
        all_ids = [r.id for r in rules] + [DEFAULT_RULE_ID] + [sr.id for sr in policy.source_rules]
        self._ids = pa.array(all_ids, pa.string())
        self._decision_counts = np.zeros(len(_DECISIONS_BY_CODE), dtype=np.int64)
        self._reason_counts = np.zeros(len(all_ids), dtype=np.int64)
        self._by_source: dict[str, np.ndarray] = {}

    def _prepare(self, records: pa.Table | pa.RecordBatch) -> tuple[pa.Table, np.ndarray, dict[int, np.ndarray]]:
        if "source" not in records.column_names:
            raise ColumnError("the records table has no 'source' column", path="<records>")
        table = records if isinstance(records, pa.Table) else pa.Table.from_batches([records])
        table = join_sources(table, self.sources, self._attrs)
        column = table.column("source")
        if column.null_count:
            raise ColumnError(f"the 'source' column has {column.null_count} null value(s)", path="<records>")
        decider, masks = _record_rule_matches(table, self.policy, self._flag_ids | self._counted)
        return table, decider, masks

    def observe(self, records: pa.Table | pa.RecordBatch) -> None:
        """First pass: count what the source rules read, per source."""
        if self._names is not None:
            raise RuntimeError("PolicyRun.observe after settle")
        table, decider, masks = self._prepare(records)
        if table.num_rows == 0:
            return
        local = pc.unique(table.column("source")).to_pylist()
        codes = np.asarray(pc.index_in(table.column("source"), value_set=pa.array(local, pa.string()))
                           .to_numpy(zero_copy_only=False), dtype=np.int64)
        counts = np.bincount(codes, minlength=len(local))
        first_row = np.full(len(local), table.num_rows, dtype=np.int64)
        np.minimum.at(first_row, codes, np.arange(table.num_rows))
        by_metric: dict[str, np.ndarray] = {}
        for test in self._metrics:
            if test.metric == "n_records":
                continue
            if test.metric.endswith("_excluded_by"):
                hit = np.isin(decider, [self._by_id[r] for r in test.rules])
            else:
                hit = np.logical_or.reduce([masks[self._by_id[r]] for r in test.rules])
            by_metric[test.label] = np.bincount(codes[hit], minlength=len(local))
        for s, name in enumerate(local):
            if name not in self._n_records:
                self._n_records[name] = 0
                self._metric_counts[name] = {}
                # The source's attributes, from its first record (they are the same on every record).
                self._first[name] = {a: table.column(a)[int(first_row[s])].as_py()
                                     for a in SOURCE_ATTRIBUTE_COLUMNS if a in table.column_names}
            self._n_records[name] += int(counts[s])
            for label, values in by_metric.items():
                self._metric_counts[name][label] = self._metric_counts[name].get(label, 0) + int(values[s])

    def settle(self) -> None:
        """Evaluate the source rules over the observed aggregates; ``decide`` may follow."""
        names = sorted(self._n_records)
        n_records = np.array([self._n_records[n] for n in names], dtype=np.int64)
        view: dict[str, pa.Array] = {"source": pa.array(names, pa.string())}
        for attr in SOURCE_ATTRIBUTE_COLUMNS:
            if any(attr in self._first[n] for n in names):
                view[attr] = pa.array([self._first[n].get(attr) for n in names], pa.string())
        for test in self._metrics:
            if test.metric == "n_records":
                values = n_records
            else:
                values = np.array([self._metric_counts[n].get(test.label, 0) for n in names], dtype=np.int64)
                if test.metric.startswith("share_"):
                    # IEEE division is correctly rounded: k/n equals the literal 0.05 exactly when k/n = 1/20.
                    values = values / np.maximum(n_records, 1)
            self._aggregates[test.label] = values
            view[test.label] = pa.array(values)
        source_view = pa.table(view) if names else pa.table({"source": pa.array([], pa.string())})
        hits = np.zeros((len(names), len(self.policy.source_rules)), dtype=bool)
        for k, source_rule in enumerate(self.policy.source_rules):
            hits[:, k] = evaluate(source_rule.when, source_view)
        self._names, self._hits = names, hits
        self._outcomes = []
        for s in range(len(names)):
            kinds = {sr.outcome for k, sr in enumerate(self.policy.source_rules) if hits[s, k]}
            self._outcomes.append("block" if "block" in kinds else "review" if kinds else "ok")

    def decide(self, records: pa.Table | pa.RecordBatch) -> SliceDecisions:
        """Second pass: the decisions of one observed slice (counted for ``decisions``)."""
        if self._names is None:
            raise RuntimeError("PolicyRun.decide before settle")
        table, decider, masks = self._prepare(records)
        rules = self.policy.rules
        index = pc.index_in(table.column("source"), value_set=pa.array(self._names, pa.string()))
        if index.null_count:
            raise RuntimeError("PolicyRun.decide: a slice holds a source that was never observed")
        codes = np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64)
        # Final decision: the more severe of the record rule's outcome and its source's.
        severity = [0 if r.is_flag else SEVERITY[r.outcome] for r in rules] + [SEVERITY[self.policy.default.outcome]]
        effect = np.array([_SOURCE_EFFECT[o] for o in self._outcomes] or [0], np.int8)
        final = np.maximum(np.array(severity, np.int8)[decider], effect[codes]).astype(np.int32)
        offsets, flat = _reasons(decider, {i: masks[i] for i in self._flag_ids}, self._hits, codes, len(rules))
        reasons = pa.ListArray.from_arrays(pa.array(offsets), pc.take(self._ids, pa.array(flat, pa.int32())))
        self._decision_counts += np.bincount(final, minlength=len(_DECISIONS_BY_CODE))
        self._reason_counts += np.bincount(flat, minlength=len(self._ids))
        for s in np.unique(codes):
            name = self._names[int(s)]
            row = self._by_source.setdefault(name, np.zeros(len(_DECISIONS_BY_CODE), dtype=np.int64))
            row += np.bincount(final[codes == s], minlength=len(_DECISIONS_BY_CODE))
        return SliceDecisions(
            decision=pc.take(pa.array(_DECISIONS_BY_CODE, pa.string()), pa.array(final)),
            reasons=reasons,
            record_rule=pc.take(self._ids, pa.array(decider)),
        )

    def decisions(self, per_record: SliceDecisions | None = None) -> Decisions:
        """Source outcomes and the counts of every decided slice; ``per_record``: the per-record
        columns to carry (the one-slice case), else empty columns."""
        if self._names is None:
            raise RuntimeError("PolicyRun.decisions before settle")
        names = self._names
        empty = np.zeros(len(_DECISIONS_BY_CODE), dtype=np.int64)
        counts_by_source = {
            name: {d: int(self._by_source.get(name, empty)[c]) for c, d in enumerate(_DECISIONS_BY_CODE)}
            for name in names
        }
        if per_record is None:
            per_record = SliceDecisions(pa.array([], pa.string()), pa.array([], pa.list_(pa.string())),
                                        pa.array([], pa.string()))
        return Decisions(
            policy_name=self.policy.name,
            policy_sha256=self.policy.sha256,
            decision=per_record.decision,
            reasons=per_record.reasons,
            record_rule=per_record.record_rule,
            sources=tuple(
                SourceOutcome(
                    source=name,
                    outcome=self._outcomes[s],
                    rule_ids=tuple(sr.id for k, sr in enumerate(self.policy.source_rules) if self._hits[s, k]),
                    n_records=int(sum(counts_by_source[name].values())),
                    aggregates={label: values[s].item() for label, values in self._aggregates.items()},
                    counts=counts_by_source[name],
                )
                for s, name in enumerate(names)
            ),
            counts_by_decision={d: int(self._decision_counts[c]) for c, d in enumerate(_DECISIONS_BY_CODE)},
            counts_by_reason={rule_id: int(self._reason_counts[i])
                              for i, rule_id in enumerate(self._ids.to_pylist())},
            counts_by_source=counts_by_source,
        )


def decide(records: pa.Table, policy: Policy, sources: pa.Table | None = None) -> Decisions:
    """Decide every record of ``records`` under ``policy``.

    ``sources`` is a table with one row per source (column ``source`` plus the columns named in
    ``SOURCE_ATTRIBUTE_COLUMNS``; see ``sources_table``). Existing ``decision``/``reasons`` columns
    in ``records`` are ignored, so a manifest can be re-decided under another policy.
    """
    run = PolicyRun(policy, sources)
    run.observe(records)
    run.settle()
    return run.decisions(run.decide(records))


def apply_decisions(records: pa.Table, decisions: Decisions) -> pa.Table:
    """``records`` with its ``decision``/``reasons`` columns replaced by (or set to) ``decisions``."""
    if len(decisions.decision) != records.num_rows:
        raise ValueError(
            f"decisions cover {len(decisions.decision)} records, the table has {records.num_rows}"
        )
    out = records
    for name, array in decisions.columns().items():
        if name in out.column_names:
            out = out.set_column(out.column_names.index(name), name, array)
        else:
            out = out.append_column(name, array)
    return out
