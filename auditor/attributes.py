"""The per-shard attribute files of a scan, as the reduce step reads them.

``AttributeFiles`` gives every column but ``minhash`` one file (a slice of records) at a time, or
chosen columns of chosen records (``gather``): a record's signature (512 bytes with the default 128
permutations) is most of its attributes, and the reduce step needs the whole signature of few
records. ``AttributeSignatures`` reads the signatures shard by shard instead: once to write
``signatures.parquet`` and compute every record's LSH band keys (``BandedSignatures``), and again,
through ``BandedSignatures.load``, for the representatives of candidate pairs only. Memory holds one
shard's signatures, one block of one band's keys (the bands wait in a temporary file,
``BandKeyFile``) and the signatures of the representatives of candidate pairs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from auditor.dedup import SIGNATURE_COLUMNS, SIGNATURES_METADATA_KEY, BandedSignatures
from auditor.dedup.clusters import BandKeyFile
from auditor.engines.local import ShardResult
from auditor.errors import ManifestError
from auditor.io.atomic import atomic_path, parquet_options
from auditor.stages.minhash import MinHashParams, signature_matrix

_EMPTY_COLUMNS = ("record_id", "source", "shard")


def attribute_files(results: Sequence[ShardResult]) -> list[Path]:
    """The attribute files that hold records, in task order (= source, shard, row order)."""
    return [r.attributes for r in results if r.attributes is not None and r.n_records]


class AttributeFiles:
    """A scan's attribute files as slices of the records table: file ``i`` holds records
    ``starts[i]:starts[i + 1]`` (task order = source, shard, row order). Every slice has the columns
    of ``schema`` (all files' columns but ``minhash`` and ``skip``; a column a file lacks reads as
    nulls, as ``pa.concat_tables`` would promote it), so that slices and the whole agree."""

    def __init__(self, results: Sequence[ShardResult], skip: Sequence[str] = ()) -> None:
        self.paths = attribute_files(results)
        left_out = {"minhash", *skip}
        self.file_schemas = [pq.read_schema(p) for p in self.paths]
        self.schema = pa.unify_schemas([pa.schema([f for f in s if f.name not in left_out])
                                        for s in self.file_schemas]) \
            if self.file_schemas else pa.schema([(name, pa.string()) for name in _EMPTY_COLUMNS])
        counts = [pq.ParquetFile(p).metadata.num_rows for p in self.paths]
        self.starts = np.cumsum([0, *counts]).astype(np.int64)
        self._last: tuple[tuple[int, tuple[str, ...] | None], pa.Table] | None = None

    @property
    def num_rows(self) -> int:
        return int(self.starts[-1])

    def read(self, index: int, columns: Sequence[str] | None = None) -> pa.Table:
        """Records of file ``index``: ``columns`` (default: all of ``schema``) in schema order."""
        wanted = [f for f in self.schema if columns is None or f.name in columns]
        path = self.paths[index]
        present = set(self.file_schemas[index].names)
        table = pq.read_table(path, columns=[f.name for f in wanted if f.name in present])
        n = int(self.starts[index + 1] - self.starts[index])
        if table.num_rows != n:
            raise ManifestError(f"{path}: {table.num_rows} records, its footer says {n}")
        arrays = [table.column(f.name) if f.name in present else pa.nulls(n, f.type) for f in wanted]
        return pa.Table.from_arrays([a if a.type == f.type else a.cast(f.type) for a, f in zip(arrays, wanted,
                                                                                            strict=True)],
                                    schema=pa.schema(wanted))

    def _cached(self, index: int, columns: Sequence[str] | None) -> pa.Table:
        """``read``, keeping the last file read: ``gather`` calls with ascending rows (a text fetch,
        batch by batch) then read each file once."""
        key = (index, None if columns is None else tuple(columns))
        if self._last is None or self._last[0] != key:
            self._last = (key, self.read(index, columns))
        return self._last[1]

    def slices(self, columns: Sequence[str] | None = None) -> Iterator[tuple[int, pa.Table]]:
        """(first row, records) of each file in order."""
        for index in range(len(self.paths)):
            yield int(self.starts[index]), self.read(index, columns)

    def gather(self, rows: np.ndarray, columns: Sequence[str] | None = None) -> pa.Table:
        """Records ``rows`` (sorted ascending indices), ``columns`` only, reading only the files
        that hold them."""
        rows = np.asarray(rows, dtype=np.int64)
        bounds = np.searchsorted(rows, self.starts)
        tables = [self._cached(int(index), columns).take(pa.array(rows[bounds[index]:bounds[index + 1]]
                                                                   - self.starts[index]))
                  for index in np.flatnonzero(np.diff(bounds))]
        if not tables:
            return pa.table({f.name: pa.array([], f.type) for f in self.schema
                             if columns is None or f.name in columns})
        return pa.concat_tables(tables)

    def concat(self, columns: Sequence[str] | None = None) -> pa.Table:
        """Every record, ``columns`` only: the whole records table when it fits in memory."""
        tables = [table for _, table in self.slices(columns)]
        if not tables:
            return pa.table({f.name: pa.array([], f.type) for f in self.schema
                             if columns is None or f.name in columns})
        return pa.concat_tables(tables)


class AttributeSignatures:
    """The ``minhash`` columns of a scan's attribute files (``AttributeFiles``), read one file at a time."""

    def __init__(self, files: AttributeFiles, params: MinHashParams) -> None:
        self.paths = files.paths
        self.params = params
        self.starts = files.starts
        for path, schema in zip(files.paths, files.file_schemas, strict=True):
            names = schema.names
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

    def band_and_write(self, slices: Iterable[tuple[int, pa.Table]], target: Path) -> BandedSignatures:
        """Write ``signatures.parquet`` to ``target`` (``SIGNATURE_COLUMNS`` of the records, which
        ``slices`` gives file by file, and the signatures; a row group per attribute file; atomic)
        and return the banded signatures."""
        n = int(self.starts[-1])
        bands, _ = self.params.band_params()
        keys = BandKeyFile(bands, n)
        empty = np.empty(n, dtype=bool)
        metadata = {SIGNATURES_METADATA_KEY: json.dumps(self.params.sketch_fields(), sort_keys=True).encode()}
        with atomic_path(target) as tmp:
            writer: pq.ParquetWriter | None = None
            index = -1
            try:
                for index, (start, part) in enumerate(slices):
                    stop = int(self.starts[index + 1])
                    if start != self.starts[index] or part.num_rows != stop - start:
                        raise ManifestError(f"{self.paths[index]}: records {start}..{start + part.num_rows} "
                                            f"given for the signatures of records {self.starts[index]}..{stop}")
                    column, sigs = self._matrix(index)
                    block, empty[start:stop] = BandedSignatures.keys_of(sigs, self.params)
                    keys.write(start, block)
                    names = [c for c in SIGNATURE_COLUMNS if c in part.column_names or c == "minhash"]
                    table = pa.table({c: column if c == "minhash" else part.column(c) for c in names})
                    table = table.replace_schema_metadata(metadata)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema, **parquet_options(table.schema, ["minhash"]))
                    writer.write_table(table, row_group_size=max(1, table.num_rows))
            finally:
                if writer is not None:
                    writer.close()
            if index + 1 != len(self.paths):
                raise ManifestError(f"records given for {index + 1} of {len(self.paths)} attribute files' signatures")
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
