"""Re-reading the normalised text of chosen records from the input shards, for exact verification of
borderline near-duplicate pairs in the reduce step (``auditor.dedup.find_duplicates(fetch_texts=...)``).

Requests arrive as ascending row positions of the records table (which is in source, shard, row order),
each row once, so every shard is read forward at most once, batch by batch, with bounded memory: one
shard is open at a time (a shard left behind is closed, and reopened from its start should a later
request go back to it), and only the requested rows' normal forms are kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa

from auditor.dedup import RecordSource, TableRecords
from auditor.engines.local import ShardTask
from auditor.io.readers import read_shard
from auditor.stages.normalise import normalise_array


class ShardTextFetcher:
    """``fetch_texts`` over the shards a scan read: row position -> that record's ``norm_text``."""

    def __init__(self, records: RecordSource | pa.Table, tasks: Sequence[ShardTask], batch_size: int) -> None:
        """``records``: where each row's ``source``, ``shard`` and ``row`` are read, for the rows asked."""
        self.batch_size = batch_size
        self.tasks = {(t.source.name, t.shard.name): t for t in tasks}
        self.records = TableRecords(records) if isinstance(records, pa.Table) else records
        self._key: tuple[str, str] | None = None
        self._open: tuple[Iterator[pa.RecordBatch], list] | None = None

    def _batches(self, key: tuple[str, str], row: int) -> tuple[Iterator[pa.RecordBatch], list]:
        state = self._open[1] if self._open is not None else None
        if key != self._key or self._open is None or (state is not None and row < state[1]):
            self.close()
            task = self.tasks[key]
            # state: [current batch, its first row]
            self._key, self._open = key, (read_shard(task.shard, task.source, self.batch_size), [None, 0])
        return self._open

    def close(self) -> None:
        """Release the open shard (its reader and current batch)."""
        if self._open is not None:
            close = getattr(self._open[0], "close", None)
            if close is not None:
                close()
        self._key, self._open = None, None

    def _text_at(self, key: tuple[str, str], row: int) -> pa.Scalar | None:
        """The raw text of ``row`` of the shard ``key``, or None if the shard has no such row."""
        batches, state = self._batches(key, row)
        while state[0] is None or row >= state[1] + state[0].num_rows:
            if state[0] is not None:
                state[1] += state[0].num_rows
            state[0] = next(batches, None)
            if state[0] is None:
                return None  # the shard is shorter than the manifest says: leave the pair unverified
        return state[0].column("text")[row - state[1]]

    def __call__(self, rows: np.ndarray) -> list[str | None]:
        located = self.records.gather(np.asarray(rows, dtype=np.int64), ["source", "shard", "row"])
        raw: list[str | None] = []
        for source, shard, row in zip(*(located.column(c).cast(pa.string()).to_pylist() for c in ("source", "shard")),
                                      located.column("row").to_pylist(), strict=True):
            key = (source, shard)
            text = self._text_at(key, int(row)) if key in self.tasks else None
            raw.append(None if text is None else text.as_py())
        found = [k for k, text in enumerate(raw) if text is not None]
        normal = normalise_array(pa.array([raw[k] for k in found], pa.large_string())).to_pylist()
        out: list[str | None] = [None] * len(raw)
        for k, text in zip(found, normal, strict=True):
            out[k] = text
        return out
