"""Where clustering reads records from: a ``RecordSource`` gives the records in order, slice by slice,
and the chosen columns of chosen rows (``gather``), so that clustering never holds a column of every
record. ``TableRecords`` is the in-memory case (a ``pa.Table``); the scan passes its attribute files
(``auditor.attributes.AttributeFiles``, through ``auditor.reduce.PreferenceRecords``).

``_Rows`` puts the records and the records of earlier manifests (``against``, held in memory) one
after the other, as clustering numbers them: rows ``0 .. n - 1`` are the new records, the rows of
each earlier manifest follow in the order given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.dedup._common import _strings

# Rows per slice of an in-memory table.
TABLE_SLICE_ROWS = 1 << 16


@runtime_checkable
class RecordSource(Protocol):
    """Records in row order: ``schema`` (the columns available), ``num_rows``, ``slices(columns)``
    (``(first row, table)`` pairs covering every row in order) and ``gather(rows, columns)`` (the
    rows given, sorted ascending int64 indices, in that order)."""

    schema: pa.Schema

    @property
    def num_rows(self) -> int: ...

    def slices(self, columns: Sequence[str] | None = None) -> Iterator[tuple[int, pa.Table]]: ...

    def gather(self, rows: np.ndarray, columns: Sequence[str]) -> pa.Table: ...


class TableRecords:
    """A ``RecordSource`` over a table held in memory."""

    def __init__(self, table: pa.Table, slice_rows: int = TABLE_SLICE_ROWS) -> None:
        self.table = table
        self.schema = table.schema
        self.slice_rows = max(1, slice_rows)

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def slices(self, columns: Sequence[str] | None = None) -> Iterator[tuple[int, pa.Table]]:
        table = self.table if columns is None else self.table.select([c for c in self.schema.names if c in columns])
        for start in range(0, table.num_rows, self.slice_rows):
            yield start, table.slice(start, self.slice_rows)

    def gather(self, rows: np.ndarray, columns: Sequence[str]) -> pa.Table:
        table = self.table.select([c for c in self.schema.names if c in columns])
        return table.take(pa.array(np.asarray(rows, dtype=np.int64)))


class _Rows:
    """The new records (``records``) followed by those of earlier manifests (``priors``, by label)."""

    def __init__(self, records: RecordSource, priors: Mapping[str, pa.Table]) -> None:
        self.records = records
        self.labels = list(priors)
        self.priors = list(priors.values())
        self.n = records.num_rows
        self.starts = np.cumsum([self.n, *(p.num_rows for p in self.priors)]).astype(np.int64)
        self.total = int(self.starts[-1])
        # The first row of each part: the new records, then each earlier manifest.
        self.part_starts = [0, *self.starts[:-1].tolist()]

    def prior_slices(self) -> Iterator[tuple[int, pa.Table]]:
        """(first row, table) of each earlier manifest."""
        yield from zip(self.part_starts[1:], self.priors, strict=True)

    def gather(self, rows: np.ndarray, columns: Sequence[str]) -> list[pa.Table]:
        """The ``columns`` of ``rows`` (sorted), one table per part (new records, then each earlier
        manifest), with the columns each part has; ``record_id`` of earlier manifests' rows is
        ``<label>:<record_id>``."""
        rows = np.asarray(rows, dtype=np.int64)
        bounds = np.searchsorted(rows, [0, *self.starts.tolist()])
        parts = [self.records.gather(rows[bounds[0] : bounds[1]], columns)]
        for k, (label, prior) in enumerate(zip(self.labels, self.priors, strict=True)):
            local = rows[bounds[k + 1] : bounds[k + 2]] - self.starts[k]
            table = prior.select([c for c in prior.column_names if c in columns and c != "minhash"])
            table = table.take(pa.array(local, pa.int64()))
            if "record_id" in table.column_names:
                ids = pc.binary_join_element_wise(label + ":", _strings(table.column("record_id")), "")
                table = table.set_column(table.column_names.index("record_id"), "record_id", ids)
            parts.append(table)
        return parts

    def strings(self, rows: np.ndarray, column: str) -> pa.Array:
        """One string column of ``rows`` (sorted) across the parts."""
        chunks = [_strings(t.column(column)) for t in self.gather(rows, [column]) if t.num_rows]
        return pa.concat_arrays(chunks) if chunks else pa.array([], pa.string())
