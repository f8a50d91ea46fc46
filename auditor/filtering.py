"""``auditor filter``: write the lawful corpus a manifest allows, optionally with PII redacted.

The sources are found through the manifest (summary.json records every source's paths and column
mapping), and every input file is checked against the SHA-256 the manifest recorded, so the corpus
written is exactly the one that was audited. Output: one Parquet file per input shard under
``OUT/<source>/``, with ``record_id``, ``text`` (redacted with typed placeholders such as ``<EMAIL>``
when asked), ``url`` and ``licence``, rows in manifest order, plus ``filter.json`` with the counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from auditor.config import SourceSpec
from auditor.engines.local import file_sha256
from auditor.errors import InputError, ManifestError, UsageError
from auditor.io.atomic import write_json_atomic, write_parquet_atomic
from auditor.io.detect import discover_shards
from auditor.io.readers import read_shard
from auditor.manifest.verify import load_summary
from auditor.manifest.writer import RECORDS, SHARDS

DECISIONS = ("include", "review", "exclude")


@dataclass(frozen=True)
class FilterResult:
    out: Path
    kept: int
    dropped: int
    redacted_records: int


def source_specs(summary: dict[str, Any], where: Path) -> list[SourceSpec]:
    """The source specs a manifest was scanned with (summary.json ``sources``)."""
    recorded = summary.get("sources")
    if not recorded:
        raise ManifestError(f"{where}: summary.json does not record the sources' paths; re-scan with this version")
    return [SourceSpec(name=s["name"], paths=tuple(Path(p) for p in s["paths"]), acquisition=s.get("acquisition"),
                       declared_licence=s.get("declared_licence"), text_column=s.get("text_column"),
                       columns=dict(s.get("columns") or {}), evidence=dict(s.get("evidence") or {}))
            for s in recorded]


def filter_corpus(manifest: Path, out: Path, *, keep: Sequence[str] = ("include",), redact_pii: bool = False,
                  batch_size: int = 2048) -> FilterResult:
    manifest, out = Path(manifest), Path(out)
    unknown = sorted(set(keep) - set(DECISIONS))
    if unknown or not keep:
        raise UsageError(f"--keep takes decisions from {list(DECISIONS)}; got {list(keep)}")
    summary = load_summary(manifest)
    records = pq.read_table(manifest / RECORDS, columns=["record_id", "source", "shard", "decision", "licence", "lang"])
    wanted = records.filter(pc.is_in(records.column("decision"), value_set=pa.array(list(keep))))
    licences = dict(zip(wanted.column("record_id").to_pylist(), wanted.column("licence").to_pylist(), strict=True))
    expected_sha = {(r["source"], r["shard"]): r["file_sha256"]
                    for r in pq.read_table(manifest / SHARDS).to_pylist() if r["status"] == "ok"}
    scanner = None
    if redact_pii:
        from auditor.pii import PiiScanner

        scanner = PiiScanner()
    kept = redacted = 0
    files: dict[str, str] = {}
    for spec in source_specs(summary, manifest):
        for path in spec.paths:
            _, shards = discover_shards(path)
            for shard in shards:
                name = f"{path.name}/{shard.name}" if len(spec.paths) > 1 else shard.name
                sha = expected_sha.get((spec.name, name))
                if sha is None:
                    continue  # unreadable when scanned, or not part of the audit
                if file_sha256(shard.path) != sha:
                    raise InputError("file changed since the audit (SHA-256 differs from shards.parquet); "
                                     "re-scan before filtering", path=str(shard.path))
                shard = type(shard)(shard.path, name, shard.format, shard.partition)
                tables = []
                for batch in read_shard(shard, spec, batch_size):
                    mask = pc.is_in(batch.column("record_id"), value_set=wanted.column("record_id"))
                    chosen = batch.filter(mask)
                    if not chosen.num_rows:
                        continue
                    texts = chosen.column("text")
                    if scanner is not None:
                        from auditor.pii import redact_texts

                        cleaned = redact_texts(texts, scanner=scanner)
                        redacted += int(pc.sum(pc.not_equal(cleaned, texts).cast(pa.int64())).as_py() or 0)
                        texts = cleaned
                    ids = chosen.column("record_id")
                    tables.append(pa.table({
                        "record_id": ids, "text": texts, "url": chosen.column("url"),
                        "licence": pa.array([licences.get(i) for i in ids.to_pylist()], pa.string()),
                    }))
                if tables:
                    table = pa.concat_tables(tables)
                    kept += table.num_rows
                    safe = hashlib.sha256(name.encode()).hexdigest()[:16]
                    write_parquet_atomic(out / spec.name / f"{safe}.parquet", table)
                    files[f"{spec.name}/{safe}.parquet"] = f"{spec.name}/{name}"
    result = FilterResult(out=out, kept=kept, dropped=records.num_rows - kept, redacted_records=redacted)
    write_json_atomic(out / "filter.json", {"manifest": str(manifest), "merkle_root": summary["merkle"]["root"],
                                            "keep": list(keep), "redact_pii": redact_pii, "kept": kept,
                                            "dropped": result.dropped, "redacted_records": redacted, "files": files})
    return result
