"""Re-deciding an existing manifest under another policy, without re-scanning (``auditor decide``).

Measurement is kept apart from decision: records.parquet holds every attribute the policy reads, so a
new policy needs only the manifest. The result is the manifest a fresh scan under that policy would
write (the tests compare the bytes of records.parquet).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from auditor.errors import ManifestError, UsageError
from auditor.manifest.verify import load_summary, verify_manifest
from auditor.manifest.writer import (
    RECORDS,
    SHARDS,
    SOURCES,
    STATIC_SOURCE_COLUMNS,
    SUMMARY,
    Manifest,
    ManifestWriter,
)
from auditor.policy import Policy
from auditor.reduce import (
    SIGNATURES,
    decide_slices,
    policy_sources,
    policy_summary,
    reassign_survivors,
    source_outcomes,
)
from auditor.stages.minhash import MinHashParams


def redecide(manifest: Path, policy: Policy, out: Path) -> Manifest:
    """Decide the records of ``manifest`` under ``policy`` and write a new manifest to ``out``."""
    manifest, out = Path(manifest), Path(out)
    problems = verify_manifest(manifest)
    if problems:
        raise ManifestError(f"{manifest}: will not re-decide a manifest that fails verification: "
                            + "; ".join(problems))
    if out.resolve() == manifest.resolve():
        raise UsageError(f"--out {out} is the manifest itself: write the re-decided manifest elsewhere")
    summary = load_summary(manifest)
    facts = pq.read_table(manifest / SOURCES).select(list(STATIC_SOURCE_COLUMNS))
    shards = pq.read_table(manifest / SHARDS)
    dedup_summary = dict(summary.get("dedup") or {})
    old_order = dedup_summary.get("survivor_order")
    new_order = list(policy.survivor_order) if policy.survivor_order else None
    records_file = pq.ParquetFile(manifest / RECORDS)
    if old_order != new_order:
        # Cluster membership stays as the scan found it (exact verification read texts this step does
        # not have); only the survivors are chosen again, under the new order: this needs every record.
        params = MinHashParams.from_mapping(_sketch_params(summary), where=f"{manifest / SUMMARY}: minhash")
        signatures = pq.read_table(manifest / SIGNATURES).select(["record_id", "minhash"])
        # Each record's signature by record id (a hash join would refuse the list columns).
        records = records_file.read()
        at = pc.index_in(records.column("record_id"), value_set=signatures.column("record_id").combine_chunks())
        joined = records.append_column("minhash", signatures.column("minhash").take(at)).sort_by(
            [("source", "ascending"), ("shard", "ascending"), ("row", "ascending")])
        joined, dedup_summary = reassign_survivors(joined, params, new_order, dedup_summary)
        records = joined.drop_columns(["minhash"])

        def slices(columns: Sequence[str] | None) -> Iterator[pa.Table]:
            yield records if columns is None else records.select([c for c in records.column_names if c in columns])
    else:
        # Row group by row group: the manifest's records are never all in memory.
        def slices(columns: Sequence[str] | None) -> Iterator[pa.Table]:
            names = None if columns is None else [c for c in records_file.schema_arrow.names if c in columns]
            for group in range(records_file.num_row_groups):
                yield records_file.read_row_group(group, columns=names)

    writer = ManifestWriter(out)
    try:
        shutil.copyfile(manifest / SIGNATURES, out / SIGNATURES)
        decisions = decide_slices(slices, policy, policy_sources(facts), writer)
    except BaseException:
        writer.abort()
        raise
    sources = writer.source_counts.table(facts, source_outcomes(decisions))
    return writer.finish(sources, shards, audit_name=summary.get("audit", "audit"),
                         parameters=summary.get("parameters", {}),
                         policy=policy_summary(policy, decisions), prewritten=[SIGNATURES],
                         extra_summary={"dedup": dedup_summary, "redecided_from": {
                             "manifest": str(manifest), "merkle_root": summary["merkle"]["root"],
                             "policy": (summary.get("policy") or {}).get("name")}})


def _sketch_params(summary: dict) -> dict:
    recorded = (summary.get("parameters") or {}).get("minhash") or {}
    allowed = set(MinHashParams.__dataclass_fields__)
    return {k: v for k, v in recorded.items() if k in allowed}  # drop the derived, descriptive keys
