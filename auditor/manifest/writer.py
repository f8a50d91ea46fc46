"""Writing the manifest directory: records.parquet, sources.parquet, shards.parquet, summary.json.

Every file is written atomically. summary.json is written last and holds the SHA-256 of every other
file, so a manifest is complete exactly when summary.json exists and the hashes match (``verify``); an
old summary.json is removed before anything else is written, so a crash mid-write never leaves a
manifest that looks complete.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from auditor import __version__
from auditor.io.atomic import write_json_atomic, write_parquet_atomic
from auditor.manifest.merkle import records_root
from auditor.manifest.schema import SCHEMA_VERSION, conform

if TYPE_CHECKING:
    from auditor.config import AuditConfig
    from auditor.engines.local import ShardResult

RECORDS = "records.parquet"
SOURCES = "sources.parquet"
SHARDS = "shards.parquet"
SUMMARY = "summary.json"
DECISIONS = ("include", "exclude", "review")


@dataclass(frozen=True)
class Manifest:
    path: Path
    summary: dict[str, Any]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _count_by_source(records: pa.Table, mask: pa.Array | None = None) -> dict[str, int]:
    if records.num_rows == 0:
        return {}
    table = records.select(["source"]) if mask is None else records.select(["source"]).filter(mask)
    if table.num_rows == 0:
        return {}
    counts = table.group_by("source").aggregate([("source", "count")])
    return dict(zip(counts.column("source").to_pylist(), counts.column("source_count").to_pylist(), strict=True))


def _flag(records: pa.Table, name: str) -> pa.Array | None:
    if name not in records.column_names:
        return None
    col = records.column(name)
    if pa.types.is_boolean(col.type):
        return pc.fill_null(col, False)
    if pa.types.is_list(col.type):
        return pc.greater(pc.list_value_length(col).fill_null(0), 0)
    return pc.is_valid(col)


STATIC_SOURCE_COLUMNS = ("source", "acquisition", "declared_licence", "evidence", "n_shards",
                         "n_shards_unreadable", "n_bytes", "status", "errors")
_SOURCE_STATIC_SCHEMA = pa.schema([
    ("source", pa.string()), ("acquisition", pa.string()), ("declared_licence", pa.string()),
    ("evidence", pa.list_(pa.struct([("kind", pa.string()), ("ref", pa.string())]))),
    ("n_shards", pa.int64()), ("n_shards_unreadable", pa.int64()), ("n_bytes", pa.int64()),
    ("status", pa.string()), ("errors", pa.list_(pa.string())),
])
_FLAG_COLUMNS = (("text_null", "n_text_null"), ("dup_of", "n_duplicates"), ("pii_count", "n_pii"),
                 ("pii_sensitive", "n_pii_sensitive"), ("opt_out", "n_opt_out"), ("rights", "n_rights"),
                 ("licence_conflict", "n_licence_conflict"))


def source_facts(config: AuditConfig, results: Sequence[ShardResult],
                 source_errors: dict[str, list[str]]) -> pa.Table:
    """What the scan knows of each source before any decision: acquisition, evidence, read status."""
    rows = []
    for spec in sorted(config.sources, key=lambda s: s.name):
        mine = [r for r in results if r.source == spec.name]
        errors = source_errors.get(spec.name, [])
        read_any = any(r.n_records or not r.error for r in mine)
        rows.append({
            "source": spec.name,
            "acquisition": spec.acquisition,
            "declared_licence": spec.declared_licence,
            "evidence": [{"kind": k, "ref": v} for k, v in sorted(spec.evidence.items())],
            "n_shards": len(mine),
            "n_shards_unreadable": len(errors),  # unreadable shards and paths that could not be listed
            "n_bytes": sum(r.n_bytes for r in mine),
            "status": "ok" if not errors else ("partial" if read_any else "unreadable"),
            "errors": errors,
        })
    return pa.Table.from_pylist(rows, schema=_SOURCE_STATIC_SCHEMA)


def build_sources_table(facts: pa.Table, records: pa.Table,
                        outcomes: dict[str, tuple[str, list[str]]] | None = None) -> pa.Table:
    """sources.parquet: the source facts, counts by decision and flag, and the source-level outcome."""
    facts = facts.select(list(STATIC_SOURCE_COLUMNS))
    names = facts.column("source").to_pylist()
    totals = _count_by_source(records)
    columns: dict[str, list[int]] = {"n_records": [totals.get(n, 0) for n in names]}
    for d in DECISIONS:
        counts = _count_by_source(records, pc.equal(records.column("decision"), d))
        columns[f"n_{d}"] = [counts.get(n, 0) for n in names]
    for column, label in _FLAG_COLUMNS:
        mask = _flag(records, column)
        if column == "pii_count" and mask is not None:
            mask = pc.greater(pc.fill_null(records.column("pii_count"), 0), 0)
        counts = _count_by_source(records, mask) if mask is not None else {}
        columns[label] = [counts.get(n, 0) for n in names]
    table = facts
    for name, values in columns.items():
        table = table.append_column(name, pa.array(values, pa.int64()))
    table = _with_pii_breakdown(table, records)
    outcomes = outcomes or {}
    table = table.append_column("source_outcome", pa.array([outcomes.get(n, ("none", []))[0] for n in names],
                                                           pa.string()))
    return table.append_column("source_reasons", pa.array([outcomes.get(n, ("none", []))[1] for n in names],
                                                          pa.list_(pa.string())))


def _with_pii_breakdown(table: pa.Table, records: pa.Table) -> pa.Table:
    """Per source: how many records hold each PII type and each sensitive category (never values)."""
    from auditor.pii import source_pii_summary

    item = {"pii_types": ("type", "pii_by_type"), "pii_categories": ("category", "pii_by_category")}
    names = table.column("source").to_pylist()
    have = all(c in records.column_names for c in ("pii_count", "pii_sensitive", *item))
    summary = source_pii_summary(records) if have and records.num_rows else None
    for column, (key, label) in item.items():
        typ = pa.list_(pa.struct([(key, pa.string()), ("records", pa.int64())]))
        by_source = dict(zip(summary.column("source").to_pylist(), summary.column(column).to_pylist(),
                             strict=True)) if summary is not None else {}
        table = table.append_column(label, pa.array([by_source.get(n) or [] for n in names], typ))
    return table


def shards_table(results: Sequence[ShardResult]) -> pa.Table:
    return pa.table({
        "source": pa.array([r.source for r in results], pa.string()),
        "shard": pa.array([r.shard for r in results], pa.string()),
        "format": pa.array([r.format for r in results], pa.string()),
        "file_sha256": pa.array([r.file_sha256 for r in results], pa.string()),
        "n_bytes": pa.array([r.n_bytes for r in results], pa.int64()),
        "n_records": pa.array([r.n_records for r in results], pa.int64()),
        "status": pa.array(["unreadable" if r.error else "ok" for r in results], pa.string()),
        "error": pa.array([r.error for r in results], pa.string()),
    })


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    counts = pc.value_counts(column.combine_chunks() if column.num_chunks else pa.array([], column.type))
    return {str(v["values"]): int(v["counts"]) for v in counts.to_pylist() if v["values"] is not None}


def write_manifest(out: Path, records: pa.Table, sources: pa.Table, shards: pa.Table, *,
                   audit_name: str, parameters: dict[str, Any], policy: dict[str, Any] | None,
                   extra_files: dict[str, pa.Table] | None = None, prewritten: Sequence[str] = (),
                   extra_summary: dict[str, Any] | None = None) -> Manifest:
    """Write the manifest directory and return its summary.

    ``prewritten`` names files the caller already wrote into ``out`` (after removing summary.json):
    they are hashed into the summary like the others.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY).unlink(missing_ok=True)
    records = conform(records)
    write_parquet_atomic(out / RECORDS, records)
    write_parquet_atomic(out / SOURCES, sources)
    write_parquet_atomic(out / SHARDS, shards)
    files = [RECORDS, SOURCES, SHARDS, *prewritten]
    for name, table in (extra_files or {}).items():
        write_parquet_atomic(out / name, table)
        files.append(name)
    reasons = pc.list_flatten(records.column("reasons"))
    summary = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "auditor", "version": __version__},
        "audit": audit_name,
        "policy": policy,
        "parameters": parameters,
        "inputs": [{"source": r["source"], "shard": r["shard"], "format": r["format"],
                    "sha256": r["file_sha256"], "bytes": r["n_bytes"], "records": r["n_records"],
                    "error": r["error"]} for r in shards.to_pylist()],
        "totals": {
            "records": records.num_rows,
            "sources": sources.num_rows,
            "shards": shards.num_rows,
            "shards_unreadable": int(pc.sum(pc.equal(shards.column("status"), "unreadable").cast(pa.int64())).as_py() or 0),
            "bytes": int(pc.sum(shards.column("n_bytes")).as_py() or 0),
            "chars": int(pc.sum(records.column("n_chars")).as_py() or 0),
            "text_null": int(pc.sum(records.column("text_null").cast(pa.int64())).as_py() or 0),
            "by_decision": {d: int(pc.sum(pc.equal(records.column("decision"), d).cast(pa.int64())).as_py() or 0)
                            for d in DECISIONS},
            "by_reason": _value_counts(pa.chunked_array([reasons])) if len(reasons) else {},
        },
        "merkle": {"algorithm": "rfc6962-sha256", "leaves": records.num_rows,
                   "root": records_root(records)},
        **(extra_summary or {}),
        "files": {name: sha256_file(out / name) for name in files},
    }
    write_json_atomic(out / SUMMARY, summary)
    return Manifest(path=out, summary=summary)
