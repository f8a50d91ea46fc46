"""The reduce and decide steps over the attributes of every record, shared by ``scan`` and ``decide``.

- ``survivor_preferences`` adds the columns dedup ranks copies by: ``licence_rank`` (lower = more
  permissive concluded licence) and ``evidence_rank`` (lower = better licence evidence).
- ``deduplicate`` clusters exact and near duplicates (``auditor.dedup``) and adds the ``dup_*`` columns.
- ``cluster_propagation`` carries rights matches and opt-out signals to every member of a duplicate
  cluster.
- ``decide_slices`` decides every record and every source under a policy, slice by slice, and hands
  the decided slices to a ``ManifestWriter``.

The scan does these steps over its attribute files without holding every record's attributes:
``dedup_view`` reads only the columns dedup needs, ``cluster_propagation`` the rights and opt-out
lists of the members of clusters that carry any, and ``decide_and_write`` reads the files twice
more, slice by slice: once for the aggregates the source rules read (``PolicyRun.observe``), once
to decide and write each slice (``ManifestWriter``).
"""

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
    choose_survivors,
    find_duplicates,
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
# What dedup reads of every record (with the survivor-order keys the policy names): the survivor
# preferences are computed from the licence columns, which are then dropped.
DEDUP_VIEW = ("record_id", "source", "shard", "row", "norm_sha256", "text_null", "crawl_date",
              "licence", "licence_evidence", "licence_conflict")
# What the reduce step adds to each record, carried from the dedup view into every slice.
DERIVED = ("licence_rank", "evidence_rank", *DUP_COLUMNS)


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


def deduplicate(records: pa.Table, params: MinHashParams, *, survivor_order: Sequence[str] | None,
                prior: PriorManifests, fetch_texts: FetchTexts | None = None,
                banded: BandedSignatures | None = None) -> tuple[pa.Table, dict[str, Any]]:
    """Add the ``dup_*`` columns; return the summary of what was found. The signatures are the
    ``minhash`` column of ``records``, or ``banded``."""
    dups = find_duplicates(records, params, survivor_order=survivor_order, against=prior.signatures,
                           fetch_texts=fetch_texts, banded=banded)
    for name in DUP_COLUMNS:
        records = set_column(records, name, dups.column(name))
    summary = summarise_duplicates(dups, params)
    summary["survivor_order"] = list(survivor_order) if survivor_order else None
    summary["against"] = prior.labels()
    return records, summary


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


def dedup_view(files: AttributeFiles, survivor_order: Sequence[str] | None) -> pa.Table:
    """Every record's columns that dedup, survivor choice and text fetching read, plus
    ``licence_rank``/``evidence_rank``; the licence columns are read per file and dropped."""
    keys = set(survivor_order or ())
    columns = [c for c in files.schema.names if c in DEDUP_VIEW or c in keys]
    drop = [c for c in ("licence", "licence_evidence", "licence_conflict") if c not in keys]
    # Source and shard names only serve to fetch texts again: codes, not a string per record.
    encode = [c for c in ("source", "shard") if c not in keys]
    tables = []
    for _, table in files.slices(columns):
        table = survivor_preferences(table)
        table = table.drop_columns([c for c in drop if c in table.column_names])
        for name in encode:
            if name in table.column_names:
                table = set_column(table, name, pc.dictionary_encode(table.column(name)))
        tables.append(table)
    if not tables:
        return files.concat(columns)
    return pa.concat_tables(tables)


def cluster_propagation(files: AttributeFiles, clusters: pa.Array | pa.ChunkedArray) -> pa.Table | None:
    """The rows whose ``rights``/``opt_out`` change when matches and signals are carried across
    their duplicate cluster (``propagate``): a table of ``row`` (record index), ``rights``,
    ``opt_out``, or None when none change. Reads those two columns only, and the record ids of
    members of clusters that carry any."""
    from auditor.registry import propagate_clusters

    if not {"rights", "opt_out"} <= set(files.schema.names) or len(clusters) == 0:
        return None
    clusters = clusters.combine_chunks() if isinstance(clusters, pa.ChunkedArray) else clusters
    carries = np.concatenate([
        np.asarray(pc.or_(pc.greater(pc.list_value_length(t.column("rights")), 0),
                          pc.greater(pc.list_value_length(t.column("opt_out")), 0))
                   .fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
        for _, t in files.slices(["rights", "opt_out"])])
    clustered = np.asarray(clusters.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    hot = pc.unique(clusters.filter(pa.array(carries & clustered)))
    if len(hot) == 0:
        return None
    rows = np.flatnonzero(np.asarray(pc.is_in(clusters, value_set=hot).fill_null(False)
                                     .to_numpy(zero_copy_only=False), dtype=bool))
    bounds = np.searchsorted(rows, files.starts)
    members = []
    for index in np.flatnonzero(np.diff(bounds)):
        local = rows[bounds[index]:bounds[index + 1]] - files.starts[index]
        members.append(files.read(int(index), ["record_id", "rights", "opt_out"]).take(pa.array(local)))
    sub = pa.concat_tables(members).append_column("dup_cluster", clusters.take(pa.array(rows)))
    done = propagate_clusters(sub)
    return pa.table({"row": pa.array(rows, pa.int64()), "rights": done.column("rights"),
                     "opt_out": done.column("opt_out")})


def _slice_of(table: pa.Table, start: int, view: pa.Table, overrides: pa.Table | None) -> pa.Table:
    """The attribute slice starting at record ``start`` with the reduce step's columns of ``view``
    set and the propagated rows of ``overrides`` replaced."""
    n = table.num_rows
    for name in DERIVED:
        if name in view.column_names:
            table = set_column(table, name, view.column(name).slice(start, n))
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


def decide_and_write(files: AttributeFiles, view: pa.Table, overrides: pa.Table | None, policy: Policy,
                     sources: pa.Table, writer: ManifestWriter, *, pii_findings: bool = False) -> Decisions:
    """``decide_slices`` over a scan's attribute files, each slice with the reduce step's columns
    (``view``) and propagated rows (``overrides``)."""

    def slices(columns: Sequence[str] | None) -> Iterator[pa.Table]:
        wanted = None if columns is None else [c for c in files.schema.names
                                               if c in columns or c in ("rights", "opt_out")]
        for start, table in files.slices(wanted):
            yield _slice_of(table, start, view, overrides)

    return decide_slices(slices, policy, sources, writer, pii_findings=pii_findings)
