"""Large Parquet files mapped as several tasks (runs of row groups): the manifest does not depend on it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import auditor.pipeline
from auditor.config import config_from_paths
from auditor.io.detect import PARQUET, Shard, ShardPart
from auditor.io.readers import parquet_parts, read_shard
from auditor.pipeline import ScanOptions, plan_tasks, scan


def _texts(n: int) -> list[str]:
    return [f"document {i} about " + " ".join(f"w{(i * 13 + j) % 991}" for j in range(60))
            + (f" mail me at person{i}@example.org" if i % 17 == 0 else "") for i in range(n)]


def _corpus(folder: Path, *, rows: int = 300, group: int = 50) -> Path:
    folder.mkdir(parents=True)
    texts = _texts(rows)
    texts[120:125] = [texts[3]] * 5  # duplicates across row groups and parts
    pq.write_table(pa.table({"text": texts, "url": [f"https://example.org/{i}" for i in range(rows)]}),
                   folder / "big.parquet", row_group_size=group)
    pq.write_table(pa.table({"text": _texts(20)}), folder / "small.parquet")
    return folder


def _same_manifests(whole: Path, split: Path) -> list[dict]:
    """The two manifests' files are byte-identical, but signatures.parquet (a row group per attribute
    file: the same rows, other groups); returns both summaries."""
    for name in ("records.parquet", "sources.parquet", "shards.parquet"):
        assert (split / name).read_bytes() == (whole / name).read_bytes(), name
    assert pq.read_table(split / "signatures.parquet").equals(pq.read_table(whole / "signatures.parquet"))
    return [json.loads((d / "summary.json").read_text()) for d in (whole, split)]


def test_parquet_parts_are_runs_of_whole_row_groups(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "c")
    shard = Shard(corpus / "big.parquet", "big.parquet", PARQUET)
    assert parquet_parts(shard, 100) == [ShardPart(0, 3, (0, 2), 0), ShardPart(1, 3, (2, 4), 100),
                                         ShardPart(2, 3, (4, 6), 200)]
    assert parquet_parts(shard, 120) == [ShardPart(0, 2, (0, 3), 0), ShardPart(1, 2, (3, 6), 150)]
    assert parquet_parts(shard, 300) == [] and parquet_parts(shard, 10_000) == []
    assert parquet_parts(Shard(corpus / "small.parquet", "small.parquet", PARQUET), 1) == []
    # A part's rows keep their numbers in the whole file.
    spec = config_from_paths([corpus]).sources[0]
    rows = [r for b in read_shard(shard, spec, 7, part=ShardPart(1, 3, (2, 4), 100)) for r in b.column("row").to_pylist()]
    assert rows == list(range(100, 200))


def test_split_scan_equals_whole_file_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = _corpus(tmp_path / "c")
    config = config_from_paths([corpus])
    whole = scan(config, ScanOptions(out=tmp_path / "whole"))
    monkeypatch.setattr(auditor.pipeline, "PART_ROWS", 100)
    tasks, _ = plan_tasks(config, skip_bad_files=False)
    assert [t.part.number if t.part else None for t in tasks] == [0, 1, 2, None]
    split = scan(config, ScanOptions(out=tmp_path / "split", workers=2))
    summaries = _same_manifests(tmp_path / "whole", tmp_path / "split")
    for key in ("inputs", "totals", "merkle", "dedup"):
        assert summaries[0][key] == summaries[1][key], key
    assert len(split.shards) == len(whole.shards) == 2 and split.shards[0].n_records == 300
    assert summaries[1]["dedup"]["exact_duplicates"] >= 5
    # Every part is reused by a re-run: four attribute files, none mapped again.
    again = scan(config, ScanOptions(out=tmp_path / "split", workers=2))
    assert all(r.reused for r in again.shards)
    assert len(list((tmp_path / "split" / ".run" / "attributes").glob("*.done.json"))) == 4


def test_a_bad_part_makes_the_whole_file_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    texts = [t.encode() for t in _texts(300)]
    texts[250] = b"\xff\xfe not UTF-8"
    pq.write_table(pa.table({"text": pa.array(texts, pa.binary())}), corpus / "big.parquet", row_group_size=50)
    pq.write_table(pa.table({"text": _texts(20)}), corpus / "small.parquet")
    config = config_from_paths([corpus])
    outputs = {}
    for label, part_rows in (("whole", 10**9), ("split", 100)):
        monkeypatch.setattr(auditor.pipeline, "PART_ROWS", part_rows)
        result = scan(config, ScanOptions(out=tmp_path / label, on_error="skip-file"))
        assert [r.shard for r in result.shards if r.error] == ["big.parquet"]
        assert "row 250" in result.shards[0].error
        outputs[label] = (tmp_path / label / "records.parquet").read_bytes()
    assert outputs["whole"] == outputs["split"]
    assert pq.read_table(tmp_path / "split" / "records.parquet").num_rows == 20


# ---- JSON Lines files in byte ranges ---------------------------------------------------------------

def _jsonl_corpus(folder: Path, *, bad_line: int | None = None) -> Path:
    """A JSON Lines file with blank lines, a CRLF line, duplicates across parts and no final newline."""
    folder.mkdir(parents=True)
    texts = _texts(300)
    texts[200:204] = [texts[7]] * 4
    lines = []
    for i, text in enumerate(texts):
        lines.append(json.dumps({"text": text, "url": f"https://example.org/{i}"}).encode())
        if i % 37 == 0:
            lines.append(b"   ")  # blank: no record, but a line
    lines[10] += b"\r"
    if bad_line is not None:
        lines[bad_line - 1] = b'{"text": "unterminated'
    (folder / "big.jsonl").write_bytes(b"\n".join(lines))
    (folder / "small.jsonl").write_bytes(json.dumps({"text": "a small file"}).encode() + b"\n")
    return folder


def test_jsonl_parts_are_runs_of_whole_lines_numbered_as_in_the_file(tmp_path: Path) -> None:
    from auditor.io.detect import JSONL
    from auditor.io.readers import jsonl_parts

    corpus = _jsonl_corpus(tmp_path / "c")
    shard = Shard(corpus / "big.jsonl", "big.jsonl", JSONL)
    size = shard.path.stat().st_size
    parts = jsonl_parts(shard, size // 5)
    assert 4 <= len(parts) <= 6 and parts[0].byte_range[0] == 0 and parts[-1].byte_range[1] == size
    assert all(a.byte_range[1] == b.byte_range[0] for a, b in zip(parts, parts[1:], strict=False))
    data = shard.path.read_bytes()
    assert all(data[p.byte_range[0] - 1 : p.byte_range[0]] == b"\n" for p in parts[1:])  # whole lines
    assert jsonl_parts(shard, size) == [] and jsonl_parts(Shard(corpus / "small.jsonl", "s", JSONL), 1) == []
    spec = config_from_paths([corpus]).sources[0]
    whole = pa.Table.from_batches(list(read_shard(shard, spec, 16)))
    pieces = pa.Table.from_batches([b for p in parts for b in read_shard(shard, spec, 16, part=p)])
    assert pieces.column("row").to_pylist() == list(range(300))
    assert pieces.select(["text", "row", "record_id"]).equals(whole.select(["text", "row", "record_id"]))


def test_split_jsonl_scan_equals_whole_file_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = _jsonl_corpus(tmp_path / "c")
    config = config_from_paths([corpus])
    whole = scan(config, ScanOptions(out=tmp_path / "whole"))
    monkeypatch.setattr(auditor.pipeline, "PART_BYTES", (corpus / "big.jsonl").stat().st_size // 4)
    tasks, _ = plan_tasks(config, skip_bad_files=False)
    assert [t.part.number if t.part else None for t in tasks] == [0, 1, 2, 3, None]
    split = scan(config, ScanOptions(out=tmp_path / "split", workers=2))
    summaries = _same_manifests(tmp_path / "whole", tmp_path / "split")
    dedup = summaries[1]["dedup"]
    assert summaries[0]["merkle"] == summaries[1]["merkle"] and dedup["exact_duplicates"] + dedup["near_duplicates"] >= 3
    assert [r.n_records for r in split.shards] == [r.n_records for r in whole.shards] == [300, 1]


def test_a_bad_line_in_a_later_part_names_its_line_in_the_file(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = _jsonl_corpus(tmp_path / "c", bad_line=290)
    config = config_from_paths([corpus])
    errors = {}
    for label, part_bytes in (("whole", 1 << 40), ("split", (corpus / "big.jsonl").stat().st_size // 4)):
        monkeypatch.setattr(auditor.pipeline, "PART_BYTES", part_bytes)
        result = scan(config, ScanOptions(out=tmp_path / label, on_error="skip-file"))
        errors[label] = [r.error for r in result.shards if r.error]
        assert pq.read_table(tmp_path / label / "records.parquet").num_rows == 1  # small.jsonl only
    assert errors["whole"] == errors["split"] and "line 290 is not valid JSON" in errors["split"][0]
