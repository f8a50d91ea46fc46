"""Re-reading the normalised text of chosen records from the input shards (exact dedup verification)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from auditor.config import config_from_paths
from auditor.errors import UsageError
from auditor.pipeline import plan_tasks
from auditor.stages.normalise import normalise_text
from auditor.textfetch import ShardTextFetcher


def _corpus(tmp_path: Path) -> tuple[list[str], pa.Table, list]:
    folder = tmp_path / "corpus"
    folder.mkdir()
    texts = {f"part-{k}.parquet": [f"Shard {k}  Row {i}\tTEXT  é ß Ⅻ" for i in range(7)] for k in range(2)}
    for name, values in texts.items():
        pq.write_table(pa.table({"text": values, "other": [1] * len(values)}), folder / name, row_group_size=3)
    tasks, _ = plan_tasks(config_from_paths([folder]), skip_bad_files=False)
    source = tasks[0].source.name
    shards = [t.shard.name for t in tasks]
    records = pa.table({
        "source": [source] * 14 + ["elsewhere"],
        "shard": [shards[0]] * 7 + [shards[1]] * 7 + [shards[0]],
        "row": list(range(7)) * 2 + [0],
    })
    flat = [t for name in sorted(texts) for t in texts[name]] + [None]
    return flat, records, tasks


def test_fetches_normalised_texts_reading_each_shard_forward(tmp_path: Path) -> None:
    flat, records, tasks = _corpus(tmp_path)
    fetch = ShardTextFetcher(records, tasks, batch_size=2)
    expected = [None if t is None else normalise_text(t) for t in flat]
    assert fetch(np.array([0, 3, 6, 8], np.int64)) == [expected[i] for i in (0, 3, 6, 8)]
    assert fetch(np.array([9, 13, 14], np.int64)) == [expected[9], expected[13], None]  # unknown source
    assert fetch(np.array([1, 2], np.int64)) == [expected[1], expected[2]]  # back in a closed shard: reopened
    fetch.close()
    assert fetch._open is None


def test_a_row_beyond_the_shard_gives_none(tmp_path: Path) -> None:
    flat, records, tasks = _corpus(tmp_path)
    longer = records.set_column(2, "row", pa.array(list(range(7)) + [0, 1, 2, 3, 4, 5, 99] + [0]))
    fetch = ShardTextFetcher(longer, tasks, batch_size=4)
    assert fetch(np.array([5, 13], np.int64)) == [normalise_text(flat[5]), None]


def test_read_ahead_in_workers_gives_the_serial_texts(tmp_path: Path, monkeypatch) -> None:
    """Announced rows are read ahead in worker processes, one job per map task (parts of a split file
    each read only their part): the texts, call by call, are those of the serial fetcher."""
    import auditor.pipeline

    folder = tmp_path / "corpus"
    folder.mkdir()
    big = [f"Big  row {i}\tTEXT é ß Ⅻ " + "x" * (i % 7) for i in range(120)]
    big[50] = None
    pq.write_table(pa.table({"text": big}), folder / "a-big.parquet", row_group_size=20)
    small = [f"small {i}" for i in range(9)]
    pq.write_table(pa.table({"text": small}), folder / "b-small.parquet")
    monkeypatch.setattr(auditor.pipeline, "PART_ROWS", 40)
    tasks, _ = plan_tasks(config_from_paths([folder]), skip_bad_files=False)
    assert [t.part.first_row if t.part else None for t in tasks] == [0, 40, 80, None]
    source = tasks[0].source.name
    records = pa.table({
        "source": [source] * 129 + ["elsewhere"],
        "shard": ["a-big.parquet"] * 120 + ["b-small.parquet"] * 9 + ["a-big.parquet"],
        "row": list(range(120)) + list(range(9)) + [0],
    })
    rng = np.random.default_rng(3)
    for _ in range(3):
        rows = np.sort(rng.choice(130, size=int(rng.integers(1, 130)), replace=False)).astype(np.int64)
        serial = ShardTextFetcher(records, tasks, batch_size=16)
        ahead = ShardTextFetcher(records, tasks, batch_size=16, workers=2)
        ahead.announce(rows)
        try:
            for chunk in np.array_split(rows, 4):
                if len(chunk):
                    assert ahead(chunk) == serial(chunk)
        finally:
            ahead.close()
            serial.close()
    flat = big + small + [None]
    ahead = ShardTextFetcher(records, tasks, batch_size=16, workers=2)
    ahead.announce(np.arange(130))
    assert ahead(np.arange(130)) == [None if t is None else normalise_text(t) for t in flat]
    ahead.close()
    ahead = ShardTextFetcher(records, tasks, batch_size=16, workers=2)
    ahead.announce(np.array([3, 5, 7]))
    with pytest.raises(UsageError, match="follow the announced rows"):
        ahead(np.array([3, 7]))
    ahead.close()
