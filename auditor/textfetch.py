"""Re-reading the normalised text of chosen records from the input shards, for exact verification of
borderline near-duplicate pairs in the reduce step (``auditor.dedup.find_duplicates(fetch_texts=...)``).

Requests arrive as ascending row positions of the records table (which is in source, shard, row order),
each row once, so every shard is read forward at most once, batch by batch, with bounded memory: one
shard is open at a time (a shard left behind is closed, and reopened from its start should a later
request go back to it), and only the requested rows' normal forms are kept.

With ``workers`` > 1, the rows ``announce``d before the first request are read ahead in that many
processes, one job per map task (a file, or a part of a large file: each job reads only its part),
at most two jobs per worker ahead of the requests; the texts are the same.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np
import pyarrow as pa

from auditor.dedup import RecordSource, TableRecords
from auditor.engines.local import ShardTask
from auditor.errors import UsageError
from auditor.io.readers import read_shard
from auditor.stages.normalise import normalise_array


class ShardTextFetcher:
    """``fetch_texts`` over the shards a scan read: row position -> that record's ``norm_text``."""

    def __init__(self, records: RecordSource | pa.Table, tasks: Sequence[ShardTask], batch_size: int,
                 workers: int = 1) -> None:
        """``records``: where each row's ``source``, ``shard`` and ``row`` are read, for the rows asked."""
        self.batch_size = batch_size
        self.task_list = list(tasks)
        self.tasks = {(t.source.name, t.shard.name): t for t in tasks}
        self.records = TableRecords(records) if isinstance(records, pa.Table) else records
        self.workers = workers
        self._key: tuple[str, str] | None = None
        self._open: tuple[Iterator[pa.RecordBatch], list] | None = None
        self._ahead: _ReadAhead | None = None
        self._announced, self._served = np.empty(0, np.int64), 0

    def announce(self, rows: np.ndarray) -> None:
        """Every row that will be requested, in request order (ascending): with ``workers`` > 1 they are
        read ahead in worker processes."""
        if self.workers <= 1 or not len(rows):
            return
        located = self.records.gather(np.asarray(rows, dtype=np.int64), ["source", "shard", "row"])
        keys = zip(*(located.column(c).cast(pa.string()).to_pylist() for c in ("source", "shard")), strict=True)
        starts: dict[tuple[str, str], list[tuple[int, int]]] = {}  # file -> (first row, task index) per part
        for t, task in enumerate(self.task_list):
            starts.setdefault((task.source.name, task.shard.name), []).append(
                (task.part.first_row if task.part is not None else 0, t))
        wanted: dict[int, list[int]] = {}  # task index -> its file rows asked, ascending
        placed: list[tuple[int, int]] = []  # per row: (task index, place among its task's rows), or (-1, 0)
        for key, row in zip(keys, located.column("row").to_pylist(), strict=True):
            parts = starts.get(key)
            if parts is None:
                placed.append((-1, 0))
                continue
            t = next(t for first, t in reversed(parts) if first <= row)  # the part holding the row
            rows_of_task = wanted.setdefault(t, [])
            placed.append((t, len(rows_of_task)))
            rows_of_task.append(int(row))
        job_of = {t: k for k, t in enumerate(sorted(wanted))}  # tasks in row order, as the requests come
        order = [(job_of[t], place) if t >= 0 else (-1, 0) for t, place in placed]
        jobs = [(self.task_list[t], self.batch_size, wanted[t]) for t in sorted(wanted)]
        self._ahead = _ReadAhead(jobs, order, self.workers)
        self._announced, self._served = np.asarray(rows, dtype=np.int64).copy(), 0

    def _batches(self, key: tuple[str, str], row: int) -> tuple[Iterator[pa.RecordBatch], list]:
        state = self._open[1] if self._open is not None else None
        if key != self._key or self._open is None or (state is not None and row < state[1]):
            self.close()
            task = self.tasks[key]
            # state: [current batch, its first row]
            self._key, self._open = key, (read_shard(task.shard, task.source, self.batch_size), [None, 0])
        return self._open

    def close(self) -> None:
        """Release the open shard (its reader and current batch) and the read-ahead workers."""
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None
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
        if self._ahead is not None:
            rows = np.asarray(rows, dtype=np.int64)
            if not np.array_equal(rows, self._announced[self._served : self._served + len(rows)]):
                raise UsageError("ShardTextFetcher: requests must follow the announced rows, in order")
            self._served += len(rows)
            return self._ahead.take(len(rows))
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


def _read_texts(task: ShardTask, batch_size: int, rows: list[int]) -> list[str | None]:
    """The normal forms of ``rows`` (ascending file rows) of ``task``'s file or part, None for a row
    past its end (a worker process's job)."""
    wanted = np.asarray(rows, dtype=np.int64)
    found: list[str | None] = [None] * len(rows)
    at = 0
    for batch in read_shard(task.shard, task.source, batch_size, part=task.part):
        first = int(batch.column("row")[0].as_py()) if batch.num_rows else 0
        end = np.searchsorted(wanted, first + batch.num_rows)
        if end > at:
            texts = batch.column("text").take(pa.array(wanted[at:end] - first))
            found[at:end] = normalise_array(texts).to_pylist()
            at = int(end)
        if at == len(rows):
            break
    return found


class _ReadAhead:
    """Jobs of ``_read_texts`` in a process pool, at most two per worker ahead of ``take``; ``order``
    says where each announced row's text is: (job, place in the job), job -1 for none."""

    def __init__(self, jobs: list[tuple[ShardTask, int, list[int]]], order: list[tuple[int, int]],
                 workers: int) -> None:
        self._order = deque(order)
        self._jobs = deque(jobs)
        self._pool = ProcessPoolExecutor(max_workers=min(workers, max(len(jobs), 1)))
        self._pending: deque[Future[list[str | None]]] = deque()
        self._window = 2 * workers
        self._first = 0  # job number of the first pending future
        self._done: dict[int, list[str | None]] = {}
        self._fill()

    def _fill(self) -> None:
        while self._jobs and len(self._pending) < self._window:
            task, batch_size, rows = self._jobs.popleft()
            self._pending.append(self._pool.submit(_read_texts, task, batch_size, rows))

    def _job(self, k: int) -> list[str | None]:
        while k not in self._done:
            self._done[self._first] = self._pending.popleft().result()
            self._first += 1
            self._fill()
        return self._done[k]

    def take(self, n: int) -> list[str | None]:
        out: list[str | None] = []
        for _ in range(n):
            job, place = self._order.popleft()
            if job < 0:
                out.append(None)
                continue
            texts = self._job(job)
            out.append(texts[place])
            if place == len(texts) - 1:
                del self._done[job]  # its last row: the job's texts are no longer needed
        return out

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
