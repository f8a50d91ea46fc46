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
    table: pa.Table, policy: Policy, keep: set[int]
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Index of the deciding record rule per row (default: len(rules)), and full masks of rules in ``keep``."""
    deciders, kept = [], {i: [] for i in keep}
    default_index = len(policy.rules)
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
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


def _source_codes(table: pa.Table) -> tuple[list[str], np.ndarray]:
    """Source names in sorted order, and for each row the index of its source."""
    column = table.column("source")
    if column.null_count:
        raise ColumnError(f"the 'source' column has {column.null_count} null value(s)", path="<records>")
    names = pc.unique(column).sort() if table.num_rows else pa.array([], pa.string())
    codes = pc.index_in(column, value_set=names).to_numpy(zero_copy_only=False)
    return names.to_pylist(), np.asarray(codes, dtype=np.int64)


def _source_rule_hits(
    table: pa.Table,
    policy: Policy,
    decider: np.ndarray,
    masks: dict[int, np.ndarray],
    names: list[str],
    codes: np.ndarray,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Which source rules hold for which source (sources x rules), and the aggregates they read."""
    n_sources = len(names)
    by_id = {r.id: i for i, r in enumerate(policy.rules)}
    n_records = np.bincount(codes, minlength=n_sources)
    first_row = np.full(n_sources, table.num_rows, dtype=np.int64)
    np.minimum.at(first_row, codes, np.arange(table.num_rows))
    # One row per source: its attributes (from its first record) and the aggregates the rules read.
    view: dict[str, pa.Array] = {"source": pa.array(names, pa.string())}
    for attr in SOURCE_ATTRIBUTE_COLUMNS:
        if attr in table.column_names:
            view[attr] = pc.take(table.column(attr), pa.array(first_row)).combine_chunks()
    aggregates: dict[str, np.ndarray] = {}
    for test in (t for sr in policy.source_rules for t in metric_tests(sr.when)):
        if test.metric == "n_records":
            values = n_records
        else:
            if test.metric.endswith("_excluded_by"):
                hit = np.isin(decider, [by_id[r] for r in test.rules])
            else:
                hit = np.logical_or.reduce([masks[by_id[r]] for r in test.rules])
            values = np.bincount(codes[hit], minlength=n_sources)
            if test.metric.startswith("share_"):
                # IEEE division is correctly rounded: k/n equals the literal 0.05 exactly when k/n = 1/20.
                values = values / np.maximum(n_records, 1)
        aggregates[test.label] = values
        view[test.label] = pa.array(values)
    source_view = pa.table(view)
    hits = np.zeros((n_sources, len(policy.source_rules)), dtype=bool)
    for k, source_rule in enumerate(policy.source_rules):
        hits[:, k] = evaluate(source_rule.when, source_view)
    return hits, aggregates


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


def decide(records: pa.Table, policy: Policy, sources: pa.Table | None = None) -> Decisions:
    """Decide every record of ``records`` under ``policy``.

    ``sources`` is a table with one row per source (column ``source`` plus the columns named in
    ``SOURCE_ATTRIBUTE_COLUMNS``; see ``sources_table``). Existing ``decision``/``reasons`` columns
    in ``records`` are ignored, so a manifest can be re-decided under another policy.
    """
    if "source" not in records.column_names:
        raise ColumnError("the records table has no 'source' column", path="<records>")
    table = join_sources(records, sources, _source_attrs_read(policy))
    rules = policy.rules
    by_id = {r.id: i for i, r in enumerate(rules)}
    flag_ids = {i for i, r in enumerate(rules) if r.is_flag}
    counted = {
        by_id[r]
        for sr in policy.source_rules
        for t in metric_tests(sr.when)
        if t.metric.endswith("_matched")
        for r in t.rules
    }
    decider, masks = _record_rule_matches(table, policy, flag_ids | counted)
    names, codes = _source_codes(table)
    source_hits, aggregates = _source_rule_hits(table, policy, decider, masks, names, codes)
    source_outcomes = []
    for s in range(len(names)):
        kinds = {sr.outcome for k, sr in enumerate(policy.source_rules) if source_hits[s, k]}
        source_outcomes.append("block" if "block" in kinds else "review" if kinds else "ok")

    # Final decision: the more severe of the record rule's outcome and its source's.
    severity = [0 if r.is_flag else SEVERITY[r.outcome] for r in rules] + [SEVERITY[policy.default.outcome]]
    effect = [_SOURCE_EFFECT[o] for o in source_outcomes]
    final = np.maximum(np.array(severity, np.int8)[decider], np.array(effect, np.int8)[codes]).astype(
        np.int32
    )

    offsets, flat = _reasons(decider, {i: masks[i] for i in flag_ids}, source_hits, codes, len(rules))
    all_ids = [r.id for r in rules] + [DEFAULT_RULE_ID] + [sr.id for sr in policy.source_rules]
    id_array = pa.array(all_ids, pa.string())
    reasons = pa.ListArray.from_arrays(pa.array(offsets), pc.take(id_array, pa.array(flat, pa.int32())))

    n_codes = len(_DECISIONS_BY_CODE)
    decision_counts = np.bincount(final, minlength=n_codes)
    reason_counts = np.bincount(flat, minlength=len(all_ids))
    by_source = np.zeros((len(names), n_codes), dtype=np.int64)
    np.add.at(by_source, (codes, final), 1)
    counts_by_source = {
        name: {d: int(by_source[s, c]) for c, d in enumerate(_DECISIONS_BY_CODE)}
        for s, name in enumerate(names)
    }
    return Decisions(
        policy_name=policy.name,
        policy_sha256=policy.sha256,
        decision=pc.take(pa.array(_DECISIONS_BY_CODE, pa.string()), pa.array(final)),
        reasons=reasons,
        record_rule=pc.take(id_array, pa.array(decider)),
        sources=tuple(
            SourceOutcome(
                source=name,
                outcome=source_outcomes[s],
                rule_ids=tuple(sr.id for k, sr in enumerate(policy.source_rules) if source_hits[s, k]),
                n_records=int(by_source[s].sum()),
                aggregates={label: values[s].item() for label, values in aggregates.items()},
                counts=counts_by_source[name],
            )
            for s, name in enumerate(names)
        ),
        counts_by_decision={d: int(decision_counts[c]) for c, d in enumerate(_DECISIONS_BY_CODE)},
        counts_by_reason={rule_id: int(reason_counts[i]) for i, rule_id in enumerate(all_ids)},
        counts_by_source=counts_by_source,
    )


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
