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
import pyarrow.parquet as pq

from auditor import __version__
from auditor.io.atomic import parquet_options, publish, temp_path, write_json_atomic, write_parquet_atomic
from auditor.manifest.merkle import MerkleBuilder
from auditor.manifest.schema import RECORDS_SCHEMA, SCHEMA_VERSION, conform

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


class SourceCounts:
    """Per-source record counts for sources.parquet (by decision, by flag, PII types and categories),
    accumulated over slices of decided records."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {}
        self.pii: dict[str, dict[str, dict[str, int]]] = {}  # source -> column -> value -> records
        self._pii_seen = False

    def _add(self, label: str, counts: dict[str, int]) -> None:
        for source, k in counts.items():
            row = self.counts.setdefault(source, {})
            row[label] = row.get(label, 0) + k

    def add(self, records: pa.Table) -> None:
        if records.num_rows == 0:
            return
        self._add("n_records", _count_by_source(records))
        for d in DECISIONS:
            self._add(f"n_{d}", _count_by_source(records, pc.equal(records.column("decision"), d)))
        for column, label in _FLAG_COLUMNS:
            mask = _flag(records, column)
            if column == "pii_count" and mask is not None:
                mask = pc.greater(pc.fill_null(records.column("pii_count"), 0), 0)
            if mask is not None:
                self._add(label, _count_by_source(records, mask))
        self._add_pii(records)

    def total(self, label: str) -> int:
        """A count summed over every source."""
        return sum(row.get(label, 0) for row in self.counts.values())

    def _add_pii(self, records: pa.Table) -> None:
        from auditor.pii import source_pii_summary

        if not all(c in records.column_names for c in ("pii_count", "pii_sensitive", *_PII_ITEMS)):
            return
        summary = source_pii_summary(records)
        for column, (key, _) in _PII_ITEMS.items():
            for source, items in zip(summary.column("source").to_pylist(), summary.column(column).to_pylist(),
                                     strict=True):
                mine = self.pii.setdefault(source, {}).setdefault(column, {})
                for item in items or []:
                    mine[item[key]] = mine.get(item[key], 0) + item["records"]

    def table(self, facts: pa.Table, outcomes: dict[str, tuple[str, list[str]]] | None = None) -> pa.Table:
        """sources.parquet: the source facts, the counts and the source-level outcome."""
        # Cast: facts read back from sources.parquet name their list items differently.
        table = facts.select(list(STATIC_SOURCE_COLUMNS)).cast(_SOURCE_STATIC_SCHEMA)
        names = table.column("source").to_pylist()
        labels = ["n_records", *(f"n_{d}" for d in DECISIONS), *(label for _, label in _FLAG_COLUMNS)]
        for label in labels:
            table = table.append_column(label, pa.array([self.counts.get(n, {}).get(label, 0) for n in names],
                                                        pa.int64()))
        for column, (key, label) in _PII_ITEMS.items():
            typ = pa.list_(pa.struct([(key, pa.string()), ("records", pa.int64())]))
            values = [[{key: k, "records": v} for k, v in sorted(self.pii.get(n, {}).get(column, {}).items())]
                      for n in names]
            table = table.append_column(label, pa.array(values, typ))
        outcomes = outcomes or {}
        table = table.append_column("source_outcome", pa.array([outcomes.get(n, ("none", []))[0] for n in names],
                                                               pa.string()))
        return table.append_column("source_reasons", pa.array([outcomes.get(n, ("none", []))[1] for n in names],
                                                              pa.list_(pa.string())))


_PII_ITEMS = {"pii_types": ("type", "pii_by_type"), "pii_categories": ("category", "pii_by_category")}


def build_sources_table(facts: pa.Table, records: pa.Table,
                        outcomes: dict[str, tuple[str, list[str]]] | None = None) -> pa.Table:
    """sources.parquet: the source facts, counts by decision and flag, and the source-level outcome."""
    counts = SourceCounts()
    counts.add(records)
    return counts.table(facts, outcomes)


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


# Rows per row group of records.parquet (and of the other per-record files): fixed, so that the file's
# bytes depend on the records only, not on the slices they were written in.
ROW_GROUP_ROWS = 65_536


class _RowGroupWriter:
    """A Parquet file written atomically from slices of any size, in row groups of exactly
    ``ROW_GROUP_ROWS`` rows (the last one shorter), each written as one chunk: the same bytes however
    the records arrive (tests/test_reduce_stream.py checks it)."""

    def __init__(self, target: Path, schema: pa.Schema) -> None:
        self.target = target
        self._tmp = temp_path(target)
        self._writer = pq.ParquetWriter(self._tmp, schema, **parquet_options(schema))
        self._schema = schema
        self._pending: list[pa.Table] = []
        self._rows = 0
        self._groups = 0

    def write(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._rows += table.num_rows
        while self._rows >= ROW_GROUP_ROWS:
            self._flush(ROW_GROUP_ROWS)

    def _flush(self, rows: int) -> None:
        pending = pa.concat_tables(self._pending)
        # One chunk per row group: the writer falls back from dictionary to plain encoding at chunk
        # boundaries, so the bytes would otherwise depend on how the records were sliced.
        self._writer.write_table(pending.slice(0, rows).combine_chunks(), row_group_size=max(1, rows))
        self._groups += 1
        rest = pending.slice(rows)
        self._pending, self._rows = ([rest] if rest.num_rows else []), rest.num_rows

    def close(self) -> None:
        """Write what is pending and move the file into place."""
        if self._rows or not self._groups:
            if not self._pending:  # nothing at all: one empty row group, as pq.write_table writes
                self._pending = [self._schema.empty_table()]
            self._flush(self._rows)
        self._writer.close()
        publish(self._tmp, self.target)

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)


class ManifestWriter:
    """Writes a manifest from slices of decided records, in record order, so that the records of a
    corpus need not be in memory at once: records.parquet in fixed row groups, the Merkle root
    (``MerkleBuilder``), the totals of summary.json and the per-source counts (``source_counts``,
    for sources.parquet) are all built as the slices arrive. ``extra`` names further per-record
    Parquet files (e.g. pii_findings.parquet) that ``add`` receives slices of too. ``finish`` writes
    the rest and summary.json, last."""

    def __init__(self, out: Path, extra: Sequence[str] = ()) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / SUMMARY).unlink(missing_ok=True)
        self._records = _RowGroupWriter(self.out / RECORDS, RECORDS_SCHEMA)
        self._extra_names = list(extra)
        self._extra: dict[str, _RowGroupWriter] = {}
        self.merkle = MerkleBuilder()
        self.source_counts = SourceCounts()
        self.chars = 0
        self.by_reason: dict[str, int] = {}

    def add(self, records: pa.Table, extra: dict[str, pa.Table] | None = None) -> None:
        """Add the next slice of decided records (and its rows of the extra files)."""
        records = conform(records)
        self._records.write(records)
        self.merkle.add_records(records)
        self.source_counts.add(records)
        self.chars += int(pc.sum(records.column("n_chars")).as_py() or 0)
        reasons = pc.list_flatten(records.column("reasons"))
        for reason, count in (_value_counts(pa.chunked_array([reasons])) if len(reasons) else {}).items():
            self.by_reason[reason] = self.by_reason.get(reason, 0) + count
        for name, table in (extra or {}).items():
            if name not in self._extra_names:
                raise ValueError(f"ManifestWriter: {name!r} was not declared as an extra file")
            if name not in self._extra:
                self._extra[name] = _RowGroupWriter(self.out / name, table.schema)
            self._extra[name].write(table)

    def abort(self) -> None:
        for writer in (self._records, *self._extra.values()):
            writer.abort()

    def finish(self, sources: pa.Table, shards: pa.Table, *, audit_name: str, parameters: dict[str, Any],
               policy: dict[str, Any] | None, prewritten: Sequence[str] = (),
               extra_summary: dict[str, Any] | None = None) -> Manifest:
        """Write records.parquet, sources.parquet, shards.parquet and, last, summary.json.

        ``prewritten`` names files the caller already wrote into ``out`` (after removing summary.json):
        they are hashed into the summary like the others.
        """
        self._records.close()
        write_parquet_atomic(self.out / SOURCES, sources)
        write_parquet_atomic(self.out / SHARDS, shards)
        files = [RECORDS, SOURCES, SHARDS, *prewritten]
        for name in self._extra_names:
            if name in self._extra:
                self._extra[name].close()
                files.append(name)
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
                "records": self.merkle.leaves,
                "sources": sources.num_rows,
                "shards": shards.num_rows,
                "shards_unreadable": int(pc.sum(pc.equal(shards.column("status"), "unreadable")
                                                .cast(pa.int64())).as_py() or 0),
                "bytes": int(pc.sum(shards.column("n_bytes")).as_py() or 0),
                "chars": self.chars,
                "text_null": self.source_counts.total("n_text_null"),
                "by_decision": {d: self.source_counts.total(f"n_{d}") for d in DECISIONS},
                "by_reason": self.by_reason,
            },
            "merkle": {"algorithm": "rfc6962-sha256", "leaves": self.merkle.leaves, "root": self.merkle.root()},
            **(extra_summary or {}),
            "files": {name: sha256_file(self.out / name) for name in files},
        }
        write_json_atomic(self.out / SUMMARY, summary)
        return Manifest(path=self.out, summary=summary)


def write_manifest(out: Path, records: pa.Table, sources: pa.Table, shards: pa.Table, *,
                   audit_name: str, parameters: dict[str, Any], policy: dict[str, Any] | None,
                   extra_files: dict[str, pa.Table] | None = None, prewritten: Sequence[str] = (),
                   extra_summary: dict[str, Any] | None = None) -> Manifest:
    """Write the manifest directory from one table of decided records (``ManifestWriter``, one slice)."""
    writer = ManifestWriter(out, extra=list(extra_files or {}))
    writer.add(records, extra_files)
    return writer.finish(sources, shards, audit_name=audit_name, parameters=parameters, policy=policy,
                         prewritten=prewritten, extra_summary=extra_summary)
