"""Work batches (``WORK_SCHEMA``) for stage tests, built from plain lists."""

from __future__ import annotations

import pyarrow as pa

from auditor.stages.base import WORK_SCHEMA


def licence_batch(texts: list[str | None], sources: list[str], meta: list[str | None]) -> pa.RecordBatch:
    """A work batch of ``texts`` from ``sources`` with ``meta_licence`` values; other columns null."""
    n = len(texts)
    values = {
        "record_id": [f"{s}/x#{i}" for i, s in enumerate(sources)],
        "source": sources,
        "shard": ["x"] * n,
        "row": list(range(n)),
        "text": texts,
        "meta_licence": meta,
    }
    arrays = [pa.array(values.get(f.name, [None] * n), type=f.type) for f in WORK_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=WORK_SCHEMA)
