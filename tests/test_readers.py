from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import TEXTS

from auditor.config import SourceSpec
from auditor.errors import ColumnError, FormatError, InputError
from auditor.io.detect import discover_shards, sniff
from auditor.io.readers import read_shard
from auditor.stages.base import WORK_SCHEMA


def read_all(path: Path, batch_size: int = 2, **spec_kwargs) -> pa.Table:
    spec = SourceSpec(name="src", paths=(path,), **spec_kwargs)
    _, shards = discover_shards(path)
    batches = [b for s in shards for b in read_shard(s, spec, batch_size)]
    assert all(b.num_rows <= batch_size for b in batches)
    return pa.Table.from_batches(batches, schema=WORK_SCHEMA)


@pytest.mark.parametrize("fmt", ["parquet", "arrow-file", "arrow-stream", "jsonl", "jsonl.gz"])
def test_every_format_reads_the_same_records(corpus_files, fmt):
    path = corpus_files[fmt]
    assert sniff(path) == fmt
    t = read_all(path, columns={"url": "meta.url", "crawl_date": "meta.crawl_date"})
    assert t.column("text").to_pylist() == TEXTS
    assert t.column("row").to_pylist() == list(range(len(TEXTS)))
    assert t.column("record_id").to_pylist() == [f"src/{path.name}#{i}" for i in range(len(TEXTS))]
    assert t.column("input_id").to_pylist() == [f"doc-{i}" for i in range(len(TEXTS))]
    assert t.column("url").to_pylist()[0] == "https://example.com/0"
    assert t.column("crawl_date").to_pylist()[1] == dt.date(2026, 2, 1)
    assert t.column("meta_licence").to_pylist()[:3] == ["MIT", None, "CC-BY-4.0"]


def test_default_metadata_names_are_picked_up(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"content": ["a", "b"], "url": ["u1", "u2"], "timestamp": ["2025-01-31", "x"]}), path)
    t = read_all(path)
    assert t.column("text").to_pylist() == ["a", "b"]
    assert t.column("url").to_pylist() == ["u1", "u2"]
    assert t.column("crawl_date").to_pylist() == [dt.date(2025, 1, 31), None]


@pytest.mark.parametrize("array", [
    pa.array(["x", "y", None], pa.large_string()),
    pa.array(["x", "y", None]).dictionary_encode(),
    pa.array([b"x", b"y", None], pa.binary()),
])
def test_text_column_types(tmp_path, array):
    path = tmp_path / "t.arrow"
    table = pa.table({"text": array})
    with pa.ipc.new_file(path, table.schema) as w:
        w.write_table(table)
    assert read_all(path).column("text").to_pylist() == ["x", "y", None]


def test_chunked_column_across_batches(tmp_path):
    chunked = pa.chunked_array([["a", "b"], ["c"], ["d", "e", "f"]])
    path = tmp_path / "chunked.parquet"
    pq.write_table(pa.table({"text": chunked}), path)
    assert read_all(path, batch_size=4).column("text").to_pylist() == list("abcdef")


def test_hive_partitioned_folder(tmp_path):
    for lang in ("en", "zh"):
        part = tmp_path / f"lang={lang}"
        part.mkdir()
        pq.write_table(pa.table({"text": [f"{lang}-1", f"{lang}-2"]}), part / "part-0.parquet")
    root, shards = discover_shards(tmp_path)
    assert [s.name for s in shards] == ["lang=en/part-0.parquet", "lang=zh/part-0.parquet"]
    assert shards[0].partition == (("lang", "en"),)
    assert read_all(tmp_path).column("text").to_pylist() == ["en-1", "en-2", "zh-1", "zh-2"]


def test_datasets_save_to_disk_dataset_and_dict(tmp_path):
    ds = datasets.Dataset.from_dict({"text": ["one", "two", "three"], "id": [1, 2, 3]})
    ds.save_to_disk(str(tmp_path / "single"))
    t = read_all(tmp_path / "single")
    assert t.column("text").to_pylist() == ["one", "two", "three"]
    assert t.column("input_id").to_pylist() == ["1", "2", "3"]
    dd = datasets.DatasetDict({"train": ds, "test": datasets.Dataset.from_dict({"text": ["t"], "id": [9]})})
    dd.save_to_disk(str(tmp_path / "dict"))
    _, shards = discover_shards(tmp_path / "dict")
    assert {s.name for s in shards} == {"train", "test"}
    assert all(s.format == "arrow-stream" for s in shards)  # datasets writes IPC streams
    t = read_all(tmp_path / "dict")
    assert sorted(t.column("record_id").to_pylist()) == ["src/test#0", "src/train#0", "src/train#1", "src/train#2"]


def test_jsonl_with_drifting_types_and_keys(tmp_path):
    rows = [
        {"id": 1, "text": "first", "meta": {"score": 1, "url": "https://a.example"}},
        {"id": "two", "text": "second", "meta": {"score": "high"}, "crawl_date": "2026-05-06T10:00:00Z"},
        {"id": None, "meta": {"score": [1, 2]}},
        {"id": 4.5, "text": 17},
    ]
    path = tmp_path / "drift.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    t = read_all(path, batch_size=3)
    assert t.column("text").to_pylist() == ["first", "second", None, "17"]
    assert t.column("input_id").to_pylist() == ["1", "two", None, "4.5"]
    assert t.column("url").to_pylist() == ["https://a.example", None, None, None]
    assert t.column("crawl_date").to_pylist() == [None, dt.date(2026, 5, 6), None, None]


def test_single_large_record(tmp_path):
    big = "word " * 10_000_000  # 50 MB
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": [big, "small"]}), path)
    t = read_all(path)
    assert t.column("text")[0].as_py() == big
    assert t.num_rows == 2


# --- bad input: each error names the file (and the row/line where known) -------------------------

def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        discover_shards(tmp_path / "nope")


def test_unknown_format(tmp_path):
    path = tmp_path / "notes.bin"
    path.write_bytes(b"\x00\x01binary")
    with pytest.raises(FormatError, match=r"notes\.bin: unknown format"):
        sniff(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.parquet"
    path.write_bytes(b"")
    with pytest.raises(FormatError, match=r"empty\.parquet: file is empty"):
        sniff(path)


@pytest.mark.parametrize("fmt", ["parquet", "arrow-file", "arrow-stream"])
def test_truncated_arrow_and_parquet(corpus_files, tmp_path, fmt):
    data = corpus_files[fmt].read_bytes()
    path = tmp_path / f"trunc-{fmt}"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(FormatError, match=f"trunc-{fmt}"):
        read_all(path)


def _zstd_frames(path: Path, data: bytes, frames: int = 2) -> None:
    """``data`` zstd-compressed as ``frames`` concatenated frames (as ``zstd`` and many tools write)."""
    cut = [len(data) * k // frames for k in range(frames + 1)]
    path.write_bytes(b"".join(pa.compress(data[a:b], codec="zstd", asbytes=True) for a, b in zip(cut[:-1], cut[1:], strict=True)))


def test_zstd_jsonl_reads_the_same_records_as_plain(corpus_files, tmp_path):
    path = tmp_path / "c.data"  # detected by content, not by name
    _zstd_frames(path, corpus_files["jsonl"].read_bytes())
    assert sniff(path) == "jsonl.zst"
    plain = read_all(corpus_files["jsonl"], columns={"url": "meta.url"})
    zstd = read_all(path, columns={"url": "meta.url"})
    for name in ("text", "row", "input_id", "url", "crawl_date", "meta_licence"):
        assert zstd.column(name).equals(plain.column(name)), name


def test_zstd_errors_name_the_file_and_what_was_expected(corpus_files, tmp_path):
    not_json = tmp_path / "table.zst"
    _zstd_frames(not_json, b"a,b\n1,2\n")
    with pytest.raises(FormatError, match=r"table\.zst: zstd file does not hold JSON Lines"):
        sniff(not_json)
    lines = b"".join(json.dumps({"text": f"document {i} " + "x" * 200}).encode() + b"\n" for i in range(20000))
    whole = tmp_path / "whole.zst"
    _zstd_frames(whole, lines, frames=4)
    truncated = tmp_path / "truncated.zst"
    truncated.write_bytes(whole.read_bytes()[:-100])
    assert sniff(truncated) == "jsonl.zst"  # its first frame is whole
    with pytest.raises(FormatError, match=r"truncated\.zst: cannot read jsonl\.zst after row \d+: .*[Tt]runcated"):
        read_all(truncated, batch_size=1000)
    bad_line = tmp_path / "bad.zst"
    _zstd_frames(bad_line, b'{"text": "a"}\n{"text": "b"\n')
    with pytest.raises(InputError, match=r"bad\.zst \(row 1\): line 2 is not valid JSON"):
        read_all(bad_line)


def test_missing_text_column_lists_columns(tmp_path):
    path = tmp_path / "notext.parquet"
    pq.write_table(pa.table({"body": ["a"], "meta": [{"x": 1}]}), path)
    with pytest.raises(ColumnError, match=r"notext\.parquet: no text column.*columns: body, meta, meta\.x"):
        read_all(path)
    with pytest.raises(ColumnError, match="text column 'missing' not found"):
        read_all(path, text_column="missing")


def test_non_utf8_binary_text_names_the_row(tmp_path):
    path = tmp_path / "bytes.parquet"
    pq.write_table(pa.table({"text": pa.array([b"ok", b"fine", b"bad \xff\xfe"], pa.binary())}), path)
    with pytest.raises(InputError, match=r"bytes\.parquet \(row 2\): .*not valid UTF-8"):
        read_all(path, batch_size=2)


def test_bad_json_line_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a"}\n{"text": "b"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.jsonl \(row 1\): line 2 is not valid JSON"):
        read_all(path)


def test_zero_row_dataset(tmp_path):
    ds = datasets.Dataset.from_dict({"text": []}, features=datasets.Features({"text": datasets.Value("string")}))
    ds.save_to_disk(str(tmp_path / "zero"))
    assert read_all(tmp_path / "zero").num_rows == 0
