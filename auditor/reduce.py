"""The reduce and decide steps over the attributes of every record, shared by ``scan`` and ``decide``.

- ``survivor_preferences`` adds the columns dedup ranks copies by: ``licence_rank`` (lower = more
  permissive concluded licence) and ``evidence_rank`` (lower = better licence evidence).
- ``deduplicate`` clusters exact and near duplicates (``auditor.dedup``) and adds the ``dup_*`` columns.
- ``propagate`` carries rights matches and opt-out signals to every member of a duplicate cluster.
- ``apply_policy`` decides every record and every source under a policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from auditor.policy import Decisions, Policy, apply_decisions, decide, load_policy
from auditor.stages.minhash import MinHashParams

SIGNATURES = "signatures.parquet"


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


def propagate(records: pa.Table) -> pa.Table:
    """Rights matches and opt-out signals of any cluster member apply to the whole cluster."""
    from auditor.registry import propagate_clusters

    if "rights" not in records.column_names and "opt_out" not in records.column_names:
        return records
    return propagate_clusters(records)


def apply_policy(records: pa.Table, policy: Policy, sources: pa.Table) -> tuple[pa.Table, Decisions]:
    """Decide every record (``decision``, ``reasons``) and every source under ``policy``."""
    if records.num_rows == 0:
        empty = records
        for name, typ in (("decision", pa.string()), ("reasons", pa.list_(pa.string()))):
            empty = set_column(empty, name, pa.array([], typ))
        return empty, decide(empty, policy, sources)
    decisions = decide(records, policy, sources)
    return apply_decisions(records, decisions), decisions


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
