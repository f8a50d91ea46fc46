"""The contract every map stage follows.

A stage is a small object with ``setup(context)`` (load tables, compile patterns; called once per
worker before the first batch) and ``__call__(batch) -> batch`` that returns the batch with new
columns appended. A stage never drops, reorders or mutates rows: ``len(out) == len(batch)``, and the
input columns are unchanged. The executor (engine), not the stage, decides where it runs.

The batch a stage receives has at least the columns of ``WORK_SCHEMA`` below, plus the columns added
by the stages that ran before it (``normalise`` adds ``norm_text``, a transient column the engine
drops before writing attributes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pyarrow as pa

if TYPE_CHECKING:
    from auditor.config import SourceSpec

# Columns of the batches that readers produce and stages receive.
WORK_SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("shard", pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("input_id", pa.string()),
        pa.field("url", pa.string()),
        pa.field("text", pa.large_string()),
        pa.field("meta_licence", pa.string()),
        pa.field("crawl_date", pa.date32()),
        pa.field("http_headers", pa.string()),
    ]
)

# Columns that exist only while a batch flows through the stages; never written to disk.
TRANSIENT_COLUMNS = ("text", "norm_text", "meta_licence", "http_headers")


@dataclass(frozen=True)
class StageContext:
    """What a stage may know beyond its batch: the sources, rule data and parameters."""

    sources: dict[str, SourceSpec] = field(default_factory=dict)
    rules_dir: Path | None = None
    params: dict[str, Any] = field(default_factory=dict)
    as_of: dt.date | None = None


@runtime_checkable
class Stage(Protocol):
    name: str

    def setup(self, context: StageContext) -> None: ...

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch: ...


def append_columns(batch: pa.RecordBatch, columns: dict[str, pa.Array]) -> pa.RecordBatch:
    """Return ``batch`` with ``columns`` appended (names must be new, lengths must match)."""
    arrays = list(batch.columns)
    fields = list(batch.schema)
    names = set(batch.schema.names)
    for name, array in columns.items():
        if name in names:
            raise ValueError(f"stage column {name!r} already exists in the batch; columns: {sorted(names)}")
        if len(array) != batch.num_rows:
            raise ValueError(f"stage column {name!r} has {len(array)} rows, batch has {batch.num_rows}")
        arrays.append(array)
        fields.append(pa.field(name, array.type))
        names.add(name)
    # Keep the input fields as they are (nullability, metadata): a stage only adds.
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, metadata=batch.schema.metadata))
