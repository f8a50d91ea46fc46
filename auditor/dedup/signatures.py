"""A manifest's ``signatures.parquet`` (the MinHash signatures later runs deduplicate against, with
the sketch parameters in its metadata), the check that two sets of signatures are comparable, and
the dedup counts of summary.json (``summarise_duplicates``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from auditor.dedup._common import (
    DEDUP_METADATA_KEY,
    PRIOR_REASON,
    REQUIRED_COLUMNS,
    SIGNATURE_COLUMNS,
    SIGNATURES_METADATA_KEY,
    _check_columns,
)
from auditor.errors import ManifestError
from auditor.stages.minhash import MinHashParams, signature_matrix


def _check_compatible(table: pa.Table, params: MinHashParams, what: str) -> None:
    metadata = table.schema.metadata or {}
    if SIGNATURES_METADATA_KEY not in metadata:
        return
    stored = json.loads(metadata[SIGNATURES_METADATA_KEY])
    wanted = params.sketch_fields()
    differ = sorted(k for k in wanted if stored.get(k) != wanted[k])
    if differ:
        detail = ", ".join(f"{k}: stored {stored.get(k)!r}, now {wanted[k]!r}" for k in differ)
        raise ManifestError(
            f"{what} were made with other MinHash parameters ({detail}); they cannot be compared"
        )


def summarise_duplicates(result: pa.Table, params: MinHashParams, records: int | None = None) -> dict[str, Any]:
    """Counts and parameters for summary.json (no record content). ``records``: how many records
    there are, when ``result`` holds only those in a cluster (``cluster_records``)."""
    kinds = result.column("dup_kind")
    clusters = pc.count_distinct(result.column("dup_cluster"), mode="only_valid").as_py()
    stored = (result.schema.metadata or {}).get(DEDUP_METADATA_KEY)
    return {
        "minhash": params.to_summary(),
        "pairs": json.loads(stored) if stored else None,
        "records": result.num_rows if records is None else records,
        "clusters": clusters,
        "exact_duplicates": pc.sum(pc.equal(kinds, "exact")).as_py() or 0,
        "near_duplicates": pc.sum(pc.equal(kinds, "near")).as_py() or 0,
        "duplicates_of_prior_manifests": pc.sum(pc.equal(result.column("dup_reason"), PRIOR_REASON)).as_py()
        or 0,
    }


def write_signatures(table: pa.Table, path: Path, params: MinHashParams) -> None:
    """Write ``signatures.parquet`` (record_id, norm_sha256, minhash, text_null and the preference
    columns present), with the sketch parameters in the schema metadata; atomic (temp file, rename)."""
    from auditor.io.atomic import write_parquet_atomic

    _check_columns(table, "the records table")
    signature_matrix(table.column("minhash"), params.num_perm)  # checks type and width
    kept = table.select([c for c in SIGNATURE_COLUMNS if c in table.column_names])
    metadata = {SIGNATURES_METADATA_KEY: json.dumps(params.sketch_fields(), sort_keys=True).encode()}
    write_parquet_atomic(Path(path), kept.replace_schema_metadata(metadata), raw_columns=["minhash"])


def read_signatures(path: Path, params: MinHashParams | None = None) -> pa.Table:
    """Read ``signatures.parquet`` of an earlier manifest; with ``params``, check it is comparable."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise ManifestError(f"{path}: signatures file not found") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"{path}: not a readable Parquet file: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ManifestError(f"{path}: lacks column(s) {missing}; it has {table.column_names}")
    if SIGNATURES_METADATA_KEY not in (table.schema.metadata or {}):
        raise ManifestError(
            f"{path}: no MinHash parameters in the file metadata ({SIGNATURES_METADATA_KEY.decode()})"
        )
    if params is not None:
        _check_compatible(table, params, str(path))
    return table
