"""The reduce and decide steps over the attributes of every record, shared by ``scan`` and ``decide``.

- ``survivor_preferences`` adds the columns dedup ranks copies by: ``licence_rank`` (lower = more
  permissive concluded licence) and ``evidence_rank`` (lower = better licence evidence).
- ``deduplicate`` clusters exact and near duplicates (``auditor.dedup.cluster_records``) and returns
  the records in a cluster with their ``dup_*`` columns.
- ``cluster_propagation`` carries rights matches and opt-out signals to every member of a duplicate
  cluster.
- ``decide_slices`` decides every record and every source under a policy, slice by slice, and hands
  the decided slices to a ``ManifestWriter``.

The scan does these steps over its attribute files without holding a column of every record: dedup
reads them through ``PreferenceRecords`` (slices, and chosen rows), ``cluster_propagation`` reads the
rights and opt-out lists of the records in clusters, and ``decide_and_write`` reads the files twice
more, slice by slice: once for the aggregates the source rules read (``PolicyRun.observe``), once
to decide and write each slice (``ManifestWriter``), each slice with its survivor preferences and
``dup_*`` columns (``_slice_of``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.config import EVIDENCE_KINDS
from auditor.dedup import (
    DUP_COLUMNS,
    BandedSignatures,
    FetchTexts,
    RecordSource,
    choose_survivors,
    cluster_records,
    dup_columns,
    read_signatures,
    summarise_duplicates,
)
from auditor.manifest.verify import load_summary
from auditor.policy import Decisions, Policy, load_policy
from auditor.policy.evaluate import PolicyRun
from auditor.policy.model import referenced_attrs
from auditor.stages.minhash import MinHashParams

if TYPE_CHECKING:
    from auditor.attributes import AttributeFiles
    from auditor.manifest.writer import ManifestWriter

SIGNATURES = "signatures.parquet"
PII_FINDINGS = "pii_findings.parquet"


def set_column(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """``table`` with column ``name`` replaced (or appended)."""
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def policy_vocabularies() -> dict[str, Any]:
    """What exists, for validating the names a policy uses (detectors, licences, signals, kinds)."""
    from auditor.licences.tables import load_traits
    from auditor.pii import categories, detector_names
    from auditor.registry.models import OPT_OUT_SIGNALS, RIGHTS_KINDS

    return {"detectors": detector_names(), "pii_categories": categories(), "licence_ids": load_traits(),
            "opt_out_signals": OPT_OUT_SIGNALS, "rights_kinds": RIGHTS_KINDS}


def load_audit_policy(name_or_path: str | Path) -> Policy:
    return load_policy(name_or_path, **policy_vocabularies())


@dataclass(frozen=True)
class PriorManifests:
    """Signatures of earlier manifests to dedup against (``--against``), by label."""

    signatures: Mapping[str, pa.Table] = field(default_factory=dict)

    @classmethod
    def load(cls, paths: Sequence[Path], params: MinHashParams) -> PriorManifests:
        tables: dict[str, pa.Table] = {}
        for path in paths:
            load_summary(path)  # a complete manifest of a schema we read, or a ManifestError
            label = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(path).resolve().name).strip("-") or "prior"
            candidate, n = label, 2
            while candidate in tables:
                candidate, n = f"{label}-{n}", n + 1
            tables[candidate] = read_signatures(Path(path) / SIGNATURES, params)
        return cls(tables)

    def labels(self) -> dict[str, int]:
        return {label: table.num_rows for label, table in self.signatures.items()}


def survivor_preferences(records: pa.Table) -> pa.Table:
    """Add ``licence_rank`` and ``evidence_rank`` for the survivor choice.

    evidence_rank: 0 the licence is stated by the record's metadata or its source and nothing
    contradicts it; 1 it is stated but contradicted (a conflict); 2 it rests on the content alone;
    3 no licence was concluded.
    """
    from auditor.licences import permissiveness_rank

    if "licence" not in records.column_names:
        return records
    licences = records.column("licence").combine_chunks()
    unique = pc.unique(licences)
    ranks = pa.array([permissiveness_rank(v) for v in unique.to_pylist()], pa.int32())
    records = set_column(records, "licence_rank", pc.take(ranks, pc.index_in(licences, value_set=unique)))
    kinds = pc.list_flatten(records.column("licence_evidence").combine_chunks()).field("kind")
    parents = pc.list_parent_indices(records.column("licence_evidence").combine_chunks())
    stated_rows = pc.filter(parents, pc.is_in(kinds, value_set=pa.array(["metadata", "source"])))
    stated = pc.is_in(pa.array(range(records.num_rows), pa.int64()), value_set=stated_rows.cast(pa.int64()))
    conflict = pc.fill_null(records.column("licence_conflict"), False)
    has_licence = pc.is_valid(licences)
    evidence = pc.if_else(pc.invert(has_licence), 3,
                          pc.if_else(stated, pc.if_else(conflict, 1, 0), 2)).cast(pa.int32())
    return set_column(records, "evidence_rank", evidence)


def deduplicate(records: RecordSource, banded: BandedSignatures, params: MinHashParams, *,
                survivor_order: Sequence[str] | None, prior: PriorManifests,
                fetch_texts: FetchTexts | None = None) -> tuple[pa.Table, dict[str, Any]]:
    """The records in a duplicate cluster with their ``dup_*`` columns (``cluster_records``), and the
    summary of what was found."""
    clustered = cluster_records(records, params, banded, survivor_order=survivor_order,
                                against=prior.signatures, fetch_texts=fetch_texts)
    summary = summarise_duplicates(clustered, params, records=records.num_rows)
    summary["survivor_order"] = list(survivor_order) if survivor_order else None
    summary["against"] = prior.labels()
    return clustered, summary


def reassign_survivors(records: pa.Table, params: MinHashParams, survivor_order: Sequence[str] | None,
                       old_summary: dict[str, Any]) -> tuple[pa.Table, dict[str, Any]]:
    """Survivors under another order, same clusters (``records`` must carry ``minhash``)."""
    dups = choose_survivors(records, survivor_order=survivor_order)
    for name in DUP_COLUMNS:
        records = set_column(records, name, dups.column(name))
    summary = summarise_duplicates(dups, params)
    summary["survivor_order"] = list(survivor_order) if survivor_order else None
    for key in ("against", "pairs"):
        if key in old_summary:
            summary[key] = old_summary[key]
    return records, summary


def policy_sources(facts: pa.Table) -> pa.Table:
    """The sources table the policy reads, from the source facts of a scan or of sources.parquet."""
    rows = facts.select(["source", "acquisition", "declared_licence", "evidence"]).to_pylist()
    columns: dict[str, list[Any]] = {"source": [], "acquisition": [], "declared_licence": []}
    columns.update({f"evidence_{k}": [] for k in EVIDENCE_KINDS})
    for row in rows:
        evidence = {e["kind"]: e["ref"] for e in row["evidence"] or []}
        for key in ("source", "acquisition", "declared_licence"):
            columns[key].append(row[key])
        for kind in EVIDENCE_KINDS:
            columns[f"evidence_{kind}"].append(evidence.get(kind))
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def source_outcomes(decisions: Decisions) -> dict[str, tuple[str, list[str]]]:
    return {o.source: (o.outcome, list(o.rule_ids)) for o in decisions.sources}


def policy_summary(policy: Policy, decisions: Decisions) -> dict[str, Any]:
    return {
        "name": policy.name,
        "sha256": policy.sha256,
        "path": str(policy.path) if policy.path else None,
        "survivor_order": list(policy.survivor_order) if policy.survivor_order else None,
        "sources": {o.source: {"outcome": o.outcome, "rules": list(o.rule_ids),
                               "aggregates": dict(o.aggregates)} for o in decisions.sources},
        "counts_by_source": {k: dict(v) for k, v in decisions.counts_by_source.items()},
    }


_LICENCE_COLUMNS = ("licence", "licence_evidence", "licence_conflict")
_PREFERENCES = ("licence_rank", "evidence_rank")


class PreferenceRecords:
    """A scan's attribute files as dedup reads them (a ``RecordSource``): every column but the
    licence columns, which give way to ``licence_rank`` and ``evidence_rank``
    (``survivor_preferences``) unless the survivor order names them."""

    def __init__(self, files: AttributeFiles, survivor_order: Sequence[str] | None) -> None:
        self.files = files
        keys = set(survivor_order or ())
        self._drop = {c for c in _LICENCE_COLUMNS if c not in keys}
        self._ranked = set(_LICENCE_COLUMNS) <= set(files.schema.names)
        fields = [f for f in files.schema if f.name not in self._drop]
        if self._ranked:
            fields += [pa.field(name, pa.int32()) for name in _PREFERENCES]
        self.schema = pa.schema(fields)

    @property
    def num_rows(self) -> int:
        return self.files.num_rows

    def _columns(self, columns: Sequence[str] | None) -> list[str]:
        wanted = self.schema.names if columns is None else [c for c in self.schema.names if c in columns]
        if self._ranked and set(wanted) & set(_PREFERENCES):
            wanted = [*wanted, *_LICENCE_COLUMNS]
        return [c for c in self.files.schema.names if c in wanted]

    def _finish(self, table: pa.Table, columns: Sequence[str] | None) -> pa.Table:
        if self._ranked and set(_LICENCE_COLUMNS) <= set(table.column_names):
            table = survivor_preferences(table)
        return table.select([c for c in self.schema.names if (columns is None or c in columns)
                             and c in table.column_names])

    def slices(self, columns: Sequence[str] | None = None) -> Iterator[tuple[int, pa.Table]]:
        for start, table in self.files.slices(self._columns(columns)):
            yield start, self._finish(table, columns)

    def gather(self, rows: np.ndarray, columns: Sequence[str]) -> pa.Table:
        return self._finish(self.files.gather(rows, self._columns(columns)), columns)


def cluster_propagation(files: AttributeFiles, clustered: pa.Table) -> pa.Table | None:
    """The rows whose ``rights``/``opt_out`` change when matches and signals are carried across
    their duplicate cluster (``propagate``): a table of ``row`` (record index), ``rights``,
    ``opt_out``, or None when none change. ``clustered``: the ``row`` and ``dup_cluster`` of the
    records in a cluster (``deduplicate``). Reads those two columns of the clustered records only,
    and the record ids of members of clusters that carry any."""
    from auditor.registry import propagate_clusters

    if not {"rights", "opt_out"} <= set(files.schema.names) or clustered.num_rows == 0:
        return None
    rows = clustered.column("row").to_numpy()
    clusters = clustered.column("dup_cluster").to_numpy()
    lists = files.gather(rows, ["rights", "opt_out"])
    carries = np.asarray(pc.or_(pc.greater(pc.list_value_length(lists.column("rights")), 0),
                                pc.greater(pc.list_value_length(lists.column("opt_out")), 0))
                         .fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    del lists
    hot = np.isin(clusters, np.unique(clusters[carries]))
    if not hot.any():
        return None
    rows, clusters = rows[hot], clusters[hot]
    sub = files.gather(rows, ["record_id", "rights", "opt_out"])
    done = propagate_clusters(sub.append_column("dup_cluster", pa.array(clusters, pa.int64())))
    return pa.table({"row": pa.array(rows, pa.int64()), "rights": done.column("rights"),
                     "opt_out": done.column("opt_out")})


def _slice_of(table: pa.Table, start: int, clustered: pa.Table, overrides: pa.Table | None) -> pa.Table:
    """The attribute slice starting at record ``start`` with the reduce step's columns set: the
    survivor preferences, the ``dup_*`` columns of ``clustered`` (null for records in no cluster),
    and the propagated rows of ``overrides`` replaced."""
    n = table.num_rows
    if set(_LICENCE_COLUMNS) <= set(table.column_names):
        table = survivor_preferences(table)
    for name, column in dup_columns(clustered, start, n).items():
        table = set_column(table, name, column)
    if overrides is None or n == 0:
        return table
    rows = overrides.column("row").to_numpy()
    lo, hi = np.searchsorted(rows, [start, start + n])
    if lo == hi:
        return table
    index = np.arange(n, dtype=np.int64)
    index[rows[lo:hi] - start] = n + np.arange(hi - lo, dtype=np.int64)
    take = pa.array(index)
    for name in ("rights", "opt_out"):
        if name in table.column_names:
            column = table.column(name)
            new = overrides.column(name).slice(lo, hi - lo).cast(column.type)
            table = set_column(table, name, pa.chunked_array([*column.chunks, *new.chunks], column.type).take(take))
    return table


def policy_columns(policy: Policy) -> set[str]:
    """The record attributes a policy's rules read."""
    return set().union(*(referenced_attrs(r.when) for r in (*policy.rules, *policy.source_rules)))


def decide_slices(slices: Callable[[Sequence[str] | None], Iterator[pa.Table]], policy: Policy,
                  sources: pa.Table, writer: ManifestWriter, *, pii_findings: bool = False) -> Decisions:
    """Decide every record under ``policy`` and hand each decided slice to ``writer``.

    ``slices(columns)`` yields the records in order, in slices, with at least ``columns`` (None: all
    columns); it is called twice. The first pass reads only the columns the policy's rules read and
    gathers what its source rules need; the second reads every column, decides and writes.
    Returns the per-source outcomes and counts (``Decisions`` without per-record columns).
    """
    run = PolicyRun(policy, sources)
    for table in slices(sorted(policy_columns(policy) | {"source"})):
        run.observe(table)
    run.settle()
    for table in slices(None):
        decided = run.decide(table)
        table = set_column(set_column(table, "decision", decided.decision), "reasons", decided.reasons)
        extra = None
        if pii_findings and "pii_findings" in table.column_names:
            from auditor.pii import findings_table

            extra = {PII_FINDINGS: findings_table(table)}
        writer.add(table, extra)
    return run.decisions()


def decide_and_write(files: AttributeFiles, clustered: pa.Table, overrides: pa.Table | None, policy: Policy,
                     sources: pa.Table, writer: ManifestWriter, *, pii_findings: bool = False) -> Decisions:
    """``decide_slices`` over a scan's attribute files, each slice with the reduce step's columns
    (the records in a cluster, ``clustered``) and propagated rows (``overrides``)."""

    def slices(columns: Sequence[str] | None) -> Iterator[pa.Table]:
        # The licence columns only for the survivor preferences, when the policy reads those.
        extra = ("rights", "opt_out", *(_LICENCE_COLUMNS if columns and set(columns) & set(_PREFERENCES) else ()))
        wanted = None if columns is None else [c for c in files.schema.names if c in columns or c in extra]
        for start, table in files.slices(wanted):
            yield _slice_of(table, start, clustered, overrides)

    return decide_slices(slices, policy, sources, writer, pii_findings=pii_findings)
