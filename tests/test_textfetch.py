"""Re-reading the normalised text of chosen records from the input shards (exact dedup verification)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from auditor.config import config_from_paths
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
