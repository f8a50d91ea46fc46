"""The per-shard attribute files of a scan, as the reduce step reads them.

``read_attributes`` concatenates every column but ``minhash``: a record's signature (512 bytes with
the default 128 permutations) is most of its attributes, and the reduce step needs the whole signature
of few records. ``AttributeSignatures`` reads the signatures shard by shard instead: once to write
``signatures.parquet`` and compute every record's LSH band keys (``BandedSignatures``), and again,
through ``BandedSignatures.load``, for the rows of candidate and exact pairs only. Memory holds one
shard's signatures, the band keys (8 bytes per band per record) and the signatures of paired records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from auditor.dedup import SIGNATURE_COLUMNS, SIGNATURES_METADATA_KEY, BandedSignatures
from auditor.engines.local import ShardResult
from auditor.errors import ManifestError
from auditor.io.atomic import atomic_path, parquet_options
from auditor.stages.minhash import MinHashParams, signature_matrix

_EMPTY_COLUMNS = ("record_id", "source", "shard")


def attribute_files(results: Sequence[ShardResult]) -> list[Path]:
    """The attribute files that hold records, in task order (= source, shard, row order)."""
    return [r.attributes for r in results if r.attributes is not None and r.n_records]


def read_attributes(results: Sequence[ShardResult], skip: Sequence[str] = ()) -> pa.Table:
    """Every record's attributes but ``minhash`` and the columns named in ``skip``, in task order."""
    paths = attribute_files(results)
    if not paths:
        return pa.table({name: pa.array([], pa.string()) for name in _EMPTY_COLUMNS})
    left_out = {"minhash", *skip}
    tables = [pq.read_table(p, columns=[c for c in pq.read_schema(p).names if c not in left_out]) for p in paths]
    return pa.concat_tables(tables, promote_options="default")


class AttributeSignatures:
    """The ``minhash`` columns of a scan's attribute files, read one file at a time."""

    def __init__(self, results: Sequence[ShardResult], params: MinHashParams) -> None:
        self.paths = attribute_files(results)
        self.params = params
        counts = [pq.ParquetFile(p).metadata.num_rows for p in self.paths]
        self.starts = np.cumsum([0, *counts]).astype(np.int64)
        for path in self.paths:
            names = pq.read_schema(path).names
            if "minhash" not in names:
                raise ManifestError(f"{path}: attribute file without a minhash column; it has {names}")

    def _matrix(self, index: int) -> tuple[pa.Array, np.ndarray]:
        path = self.paths[index]
        column = pq.read_table(path, columns=["minhash"]).column("minhash").combine_chunks()
        sigs = signature_matrix(column, self.params.num_perm)
        expected = self.starts[index + 1] - self.starts[index]
        if len(sigs) != expected:
            raise ManifestError(f"{path}: {len(sigs)} signatures, its footer says {expected} rows")
        return column, sigs

    def band_and_write(self, records: pa.Table, target: Path) -> BandedSignatures:
        """Write ``signatures.parquet`` to ``target`` (``SIGNATURE_COLUMNS`` of ``records`` and the
        signatures, a row group per attribute file; atomic) and return the banded signatures."""
        if records.num_rows != self.starts[-1]:
            raise ManifestError(f"attribute files hold {self.starts[-1]} signatures for {records.num_rows} records")
        bands, _ = self.params.band_params()
        keys = np.empty((bands, records.num_rows), dtype=np.uint64)
        empty = np.empty(records.num_rows, dtype=bool)
        names = [c for c in SIGNATURE_COLUMNS if c in records.column_names or c == "minhash"]
        metadata = {SIGNATURES_METADATA_KEY: json.dumps(self.params.sketch_fields(), sort_keys=True).encode()}
        with atomic_path(target) as tmp:
            writer: pq.ParquetWriter | None = None
            try:
                for index in range(len(self.paths)):
                    start, stop = int(self.starts[index]), int(self.starts[index + 1])
                    column, sigs = self._matrix(index)
                    keys[:, start:stop], empty[start:stop] = BandedSignatures.keys_of(sigs, self.params)
                    part = records.slice(start, stop - start)
                    table = pa.table({c: column if c == "minhash" else part.column(c) for c in names})
                    table = table.replace_schema_metadata(metadata)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema, **parquet_options(table.schema, ["minhash"]))
                    writer.write_table(table, row_group_size=max(1, table.num_rows))
            finally:
                if writer is not None:
                    writer.close()
        return BandedSignatures(keys, empty, self.load)

    def load(self, rows: np.ndarray) -> np.ndarray:
        """The signatures of ``rows`` (sorted record indices), reading only the files that hold them."""
        out = np.empty((len(rows), self.params.num_perm), dtype=np.uint32)
        bounds = np.searchsorted(rows, self.starts)
        for index in np.flatnonzero(np.diff(bounds)):
            lo, hi = int(bounds[index]), int(bounds[index + 1])
            _, sigs = self._matrix(int(index))
            out[lo:hi] = sigs[rows[lo:hi] - self.starts[index]]
        return out
