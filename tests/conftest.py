"""Shared fixtures: tiny corpora in every supported format, built on the fly."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Licensed under the Apache License, Version 2.0.",
    None,
    "  Whitespace   and\tTabs\nand newlines  ",
    "数据治理与版权合规是训练语料审计的重点。",
]


def sample_table() -> pa.Table:
    return pa.table({
        "id": pa.array([f"doc-{i}" for i in range(len(TEXTS))]),
        "text": pa.array(TEXTS, pa.string()),
        "meta": pa.array([{"url": f"https://example.com/{i}", "crawl_date": f"2026-0{i + 1}-01"}
                          for i in range(len(TEXTS))]),
        "license": pa.array(["MIT", None, "CC-BY-4.0", "", None]),
    })


@pytest.fixture
def table() -> pa.Table:
    return sample_table()


@pytest.fixture
def corpus_files(tmp_path: Path) -> dict[str, Path]:
    """The same five records as Parquet, Arrow IPC file, Arrow IPC stream, JSONL and JSONL.gz."""
    t = sample_table()
    out: dict[str, Path] = {}
    out["parquet"] = tmp_path / "c.parquet"
    pq.write_table(t, out["parquet"], row_group_size=2)
    out["arrow-file"] = tmp_path / "c.feather"
    with ipc.new_file(out["arrow-file"], t.schema) as w:
        w.write_table(t, max_chunksize=3)
    out["arrow-stream"] = tmp_path / "c.stream"
    with ipc.new_stream(out["arrow-stream"], t.schema) as w:
        w.write_table(t, max_chunksize=2)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in t.to_pylist())
    out["jsonl"] = tmp_path / "c.jsonl"
    out["jsonl"].write_text(lines, encoding="utf-8")
    out["jsonl.gz"] = tmp_path / "c.data"  # name says nothing: detection is by content
    with gzip.open(out["jsonl.gz"], "wt", encoding="utf-8") as fh:
        fh.write(lines)
    return out
