"""Large files mapped as several tasks (runs of Parquet row groups, of Arrow IPC record batches, of JSON
Lines lines): the manifest does not depend on it."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import auditor.pipeline
from auditor.config import SourceSpec, config_from_paths
from auditor.errors import ColumnError, InputError
from auditor.io.detect import PARQUET, Shard, ShardPart, discover_shards, sniff
from auditor.io.parts import arrow_parts, parquet_parts, stream_batches
from auditor.io.readers import open_jsonl, read_shard
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

def _jsonl_corpus(folder: Path, *, bad_line: int | None = None, fmt: str = "jsonl") -> Path:
    """A JSON Lines file with blank lines, a CRLF line, duplicates across parts and no final newline
    (``fmt`` "jsonl.gz" or "jsonl.zst": compressed, as ``big.jsonl.gz`` or ``big.jsonl.zst``)."""
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
    data = b"\n".join(lines)
    if fmt == "jsonl.gz":
        data = gzip.compress(data)
    elif fmt == "jsonl.zst":  # two frames
        data = b"".join(pa.compress(half, codec="zstd", asbytes=True) for half in (data[:9000], data[9000:]))
    (folder / f"big.{fmt}").write_bytes(data)
    (folder / "small.jsonl").write_bytes(json.dumps({"text": "a small file"}).encode() + b"\n")
    return folder


def _decompressed_size(path: Path) -> int:
    return sum(len(line) for line in open_jsonl(Shard(path, path.name, sniff(path))))


def test_jsonl_parts_are_runs_of_whole_lines_numbered_as_in_the_file(tmp_path: Path) -> None:
    from auditor.io.detect import JSONL
    from auditor.io.parts import jsonl_parts

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


@pytest.mark.parametrize("fmt", ["jsonl.gz", "jsonl.zst"])
def test_compressed_jsonl_parts_are_runs_of_whole_decompressed_lines(tmp_path: Path, fmt: str) -> None:
    from auditor.io.parts import COMPRESSED_MAX_PARTS, jsonl_parts

    corpus = _jsonl_corpus(tmp_path / "c", fmt=fmt)
    shard = Shard(corpus / f"big.{fmt}", f"big.{fmt}", sniff(corpus / f"big.{fmt}"))
    assert shard.format == fmt
    size = _decompressed_size(shard.path)
    parts = jsonl_parts(shard, size // 5)
    assert 4 <= len(parts) <= 6 and parts[0].byte_range[0] == 0 and parts[-1].byte_range[1] == size
    assert all(a.byte_range[1] == b.byte_range[0] for a, b in zip(parts[:-1], parts[1:], strict=True))
    # At most COMPRESSED_MAX_PARTS parts, however small the part size asked: larger runs of lines.
    many = jsonl_parts(shard, size // 40)
    assert 2 <= len(many) <= COMPRESSED_MAX_PARTS and many[-1].byte_range[1] == size
    spec = config_from_paths([corpus]).sources[0]
    whole = pa.Table.from_batches(list(read_shard(shard, spec, 16)))
    for split in (parts, many):
        pieces = pa.Table.from_batches([b for p in split for b in read_shard(shard, spec, 16, part=p)])
        assert pieces.column("row").to_pylist() == list(range(300))
        assert pieces.select(["text", "row", "record_id", "url"]).equals(whole.select(["text", "row", "record_id", "url"]))


@pytest.mark.parametrize("fmt", ["jsonl.gz", "jsonl.zst"])
def test_split_compressed_jsonl_scan_equals_whole_file_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            fmt: str) -> None:
    corpus = _jsonl_corpus(tmp_path / "c", fmt=fmt)
    config = config_from_paths([corpus])
    scan(config, ScanOptions(out=tmp_path / "whole"))
    monkeypatch.setattr(auditor.pipeline, "PART_BYTES", _decompressed_size(corpus / f"big.{fmt}") // 3)
    tasks, _ = plan_tasks(config, skip_bad_files=False)
    assert [t.part.number if t.part else None for t in tasks] == [0, 1, 2, None]
    scan(config, ScanOptions(out=tmp_path / "split", workers=2))
    summaries = _same_manifests(tmp_path / "whole", tmp_path / "split")
    assert summaries[0]["merkle"] == summaries[1]["merkle"]


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


def test_planned_jsonl_parts_are_reused_for_unchanged_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-run, and an incremental run, over an unchanged compressed file do not decompress it again
    to plan its parts; a file whose modification time changed is planned again."""
    import os

    import auditor.io.parts

    corpus = _jsonl_corpus(tmp_path / "c", fmt="jsonl.gz")
    big = corpus / "big.jsonl.gz"
    config = config_from_paths([corpus])
    monkeypatch.setattr(auditor.pipeline, "PART_BYTES", _decompressed_size(big) // 3)
    scan(config, ScanOptions(out=tmp_path / "m", workers=2))
    kept = json.loads((tmp_path / "m" / ".run" / "jsonl-parts.json").read_text(encoding="utf-8"))["files"]
    assert [(Path(k).name, len(v["parts"])) for k, v in kept.items()] == [("big.jsonl.gz", 3)]
    planned = auditor.io.parts.jsonl_parts

    def refuse(shard: Shard, min_bytes: int) -> list[ShardPart]:
        raise AssertionError(f"{shard.name} planned again")

    monkeypatch.setattr(auditor.io.parts, "jsonl_parts", refuse)
    again = scan(config, ScanOptions(out=tmp_path / "m", workers=2))
    assert all(r.reused for r in again.shards)
    scan(config, ScanOptions(out=tmp_path / "n", workers=2, previous_runs=(tmp_path / "m",)))
    _same_manifests(tmp_path / "m", tmp_path / "n")
    stat = big.stat()
    os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="big.jsonl.gz planned again"):
        plan_tasks(config, skip_bad_files=False, workers=2, jsonl_plans=auditor.io.parts.JsonlPlans.load(
            [tmp_path / "m" / ".run"]))
    monkeypatch.setattr(auditor.io.parts, "jsonl_parts", planned)
    (tmp_path / "m" / ".run" / "jsonl-parts.json").write_text("{not json", encoding="utf-8")  # damaged: ignored
    tasks, _ = plan_tasks(config, skip_bad_files=False, workers=2, jsonl_plans=auditor.io.parts.JsonlPlans.load(
        [tmp_path / "m" / ".run"]))
    assert [t.part.number for t in tasks if t.part] == [0, 1, 2]


def test_a_jsonl_file_is_split_only_where_it_would_hold_the_workers_up(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning a JSON Lines file's parts reads it once: with ``workers``, only a file larger than the
    input's bytes shared among twice that many workers is split, and none with one worker."""
    corpus = _jsonl_corpus(tmp_path / "c", fmt="jsonl.gz")
    for k in range(3):  # three more files, each as large as the first
        (corpus / f"more-{k}.jsonl.gz").write_bytes((corpus / "big.jsonl.gz").read_bytes())
    config = config_from_paths([corpus])
    monkeypatch.setattr(auditor.pipeline, "PART_BYTES", _decompressed_size(corpus / "big.jsonl.gz") // 3)

    def split(workers: int | None) -> list[str]:
        tasks, _ = plan_tasks(config, skip_bad_files=False, workers=workers)
        return sorted({t.shard.name for t in tasks if t.part is not None})

    every = ["big.jsonl.gz", "more-0.jsonl.gz", "more-1.jsonl.gz", "more-2.jsonl.gz"]
    assert split(None) == every  # no worker count: every large file
    assert split(1) == []
    assert split(2) == []  # each holds just under 1/4 of the bytes (small.jsonl has the rest): no straggler
    assert split(3) == every  # each holds more than 1/(2 x 3)
    (corpus / "huge.jsonl").write_bytes(b'{"text": "padding"}\n' * 40_000)  # 97% of the bytes now
    assert split(2) == split(3) == ["huge.jsonl"]
    assert split(100) == sorted(["huge.jsonl", *every])


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz"])
def test_a_bad_line_in_a_later_part_names_its_line_in_the_file(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    corpus = _jsonl_corpus(tmp_path / "c", bad_line=290, fmt=fmt)
    config = config_from_paths([corpus])
    errors = {}
    for label, part_bytes in (("whole", 1 << 40), ("split", _decompressed_size(corpus / f"big.{fmt}") // 4)):
        monkeypatch.setattr(auditor.pipeline, "PART_BYTES", part_bytes)
        tasks, _ = plan_tasks(config, skip_bad_files=False, workers=2)
        assert len(tasks) == (2 if label == "whole" else 5)
        result = scan(config, ScanOptions(out=tmp_path / label, on_error="skip-file", workers=2))
        errors[label] = [r.error for r in result.shards if r.error]
        assert pq.read_table(tmp_path / label / "records.parquet").num_rows == 1  # small.jsonl only
    assert errors["whole"] == errors["split"] and "line 290 is not valid JSON" in errors["split"][0]


# ---- Arrow IPC files in runs of record batches -----------------------------------------------------

_BATCHES = [40, 70, 0, 30, 60, 50, 50]  # uneven, with an empty batch: 300 rows


def _write_ipc(path: Path, table: pa.Table, sizes: list[int], *, stream: bool = False) -> None:
    """``table`` as an Arrow IPC file (or stream) of record batches of exactly ``sizes`` rows."""
    batches, start = [], 0
    for size in sizes:
        batches.append(table.slice(start, size).combine_chunks().to_batches()[0] if size else
                       pa.RecordBatch.from_pylist([], schema=table.schema))
        start += size
    with (pa.ipc.new_stream if stream else pa.ipc.new_file)(path, table.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)


def _arrow_corpus(folder: Path, *, texts: pa.Array | None = None) -> Path:
    """big.arrow: an IPC file of ``_BATCHES`` (duplicates across parts); small.arrow: an IPC file of one
    batch; stream.arrow: an IPC stream of six batches."""
    folder.mkdir(parents=True)
    rows = sum(_BATCHES)
    if texts is None:
        plain = _texts(rows)
        plain[120:125] = [plain[3]] * 5
        texts = pa.array(plain)
    table = pa.table({"text": texts, "meta": [{"url": f"https://example.org/{i}"} for i in range(rows)]})
    _write_ipc(folder / "big.arrow", table, _BATCHES)
    _write_ipc(folder / "small.arrow", pa.table({"text": _texts(20)}), [20])
    _write_ipc(folder / "stream.arrow", pa.table({"text": _texts(300)[::-1]}), [50] * 6, stream=True)
    return folder


def _arrow_shard(path: Path) -> Shard:
    return Shard(path, path.name, sniff(path))


def test_arrow_parts_are_runs_of_whole_record_batches(tmp_path: Path) -> None:
    corpus = _arrow_corpus(tmp_path / "c")
    big = _arrow_shard(corpus / "big.arrow")
    assert arrow_parts(big, 100) == [ShardPart(0, 3, (0, 2), 0), ShardPart(1, 3, (2, 6), 110),
                                     ShardPart(2, 3, (6, 7), 250)]
    assert arrow_parts(big, 300) == [] and arrow_parts(big, 10_000) == []  # one part: not split
    assert arrow_parts(_arrow_shard(corpus / "small.arrow"), 1) == []  # one record batch
    spec = config_from_paths([corpus]).sources[0]
    whole = pa.Table.from_batches(list(read_shard(big, spec, 16)))
    parts = arrow_parts(big, 100)
    pieces = [pa.Table.from_batches(list(read_shard(big, spec, 16, part=p))) for p in parts]
    assert [p.column("row").to_pylist() for p in pieces] == [list(range(0, 110)), list(range(110, 250)),
                                                             list(range(250, 300))]
    assert pa.concat_tables(pieces).equals(whole)  # rows, record ids, text and metadata of the whole file


def test_stream_parts_are_runs_of_whole_batch_messages(tmp_path: Path) -> None:
    corpus = _arrow_corpus(tmp_path / "c")
    stream = _arrow_shard(corpus / "stream.arrow")
    assert stream.format == "arrow-stream"
    found = stream_batches(stream)
    assert [rows for _, _, rows in found] == [50] * 6
    # The messages follow each other, from just after the schema to just before the end-of-stream marker.
    assert all(a[1] == b[0] for a, b in zip(found[:-1], found[1:], strict=True)) and found[-1][1] < stream.path.stat().st_size
    parts = arrow_parts(stream, 100)
    assert [(p.row_groups, p.first_row) for p in parts] == [((0, 2), 0), ((2, 4), 100), ((4, 6), 200)]
    assert [p.byte_range for p in parts] == [(found[0][0], found[1][1]), (found[2][0], found[3][1]),
                                             (found[4][0], found[5][1])]
    assert arrow_parts(stream, 300) == []
    spec = config_from_paths([corpus]).sources[0]
    whole = pa.Table.from_batches(list(read_shard(stream, spec, 16)))
    pieces = [pa.Table.from_batches(list(read_shard(stream, spec, 16, part=p))) for p in parts]
    assert [p.column("row").to_pylist() for p in pieces] == [list(range(0, 100)), list(range(100, 200)),
                                                             list(range(200, 300))]
    assert pa.concat_tables(pieces).equals(whole)


def test_a_stream_part_names_the_file_and_its_row(tmp_path: Path) -> None:
    texts = [t.encode() for t in _texts(300)]
    texts[260] = b"\xff\xfe not UTF-8"
    _write_ipc(tmp_path / "s.arrow", pa.table({"text": pa.array(texts, pa.binary())}), [50] * 6, stream=True)
    shard = _arrow_shard(tmp_path / "s.arrow")
    spec = SourceSpec(name="src", paths=(tmp_path,))
    with pytest.raises(InputError) as split_error:
        list(read_shard(shard, spec, 16, part=arrow_parts(shard, 100)[-1]))
    with pytest.raises(InputError) as whole_error:
        list(read_shard(shard, spec, 16))
    assert str(split_error.value) == str(whole_error.value) and split_error.value.row == 260
    assert str(tmp_path / "s.arrow") in str(split_error.value)


def test_a_stream_with_dictionary_batches_is_read_whole(tmp_path: Path) -> None:
    """A later batch of such a stream may need a dictionary sent before it: it is one part."""
    table = pa.table({"text": pa.array(_texts(100)).dictionary_encode()})
    _write_ipc(tmp_path / "dict.arrow", table, [25] * 4, stream=True)
    shard = _arrow_shard(tmp_path / "dict.arrow")
    assert stream_batches(shard) is None and arrow_parts(shard, 10) == []
    spec = SourceSpec(name="src", paths=(tmp_path,))
    assert [r for b in read_shard(shard, spec, 16) for r in b.column("text").to_pylist()] == _texts(100)


@settings(max_examples=80, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=12), min_rows=st.integers(1, 90), stream=st.booleans())
def test_arrow_parts_cover_every_batch_once(sizes: list[int], min_rows: int, stream: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.arrow"
        _write_ipc(path, pa.table({"text": [f"t{i}" for i in range(sum(sizes))]}), sizes, stream=stream)
        shard = _arrow_shard(path)
        parts = arrow_parts(shard, min_rows)
        first_big = next((k for k in range(len(sizes)) if sum(sizes[: k + 1]) >= min_rows), None)
        splits = first_big is not None and sum(sizes[first_big + 1 :]) > 0
        assert bool(parts) == splits
        if not parts:
            return
        assert [p.number for p in parts] == list(range(len(parts))) and {p.count for p in parts} == {len(parts)}
        covered = [b for p in parts for b in range(*p.row_groups)]
        assert covered == list(range(len(sizes)))  # every batch exactly once, in order
        assert all(p.first_row == sum(sizes[: p.row_groups[0]]) for p in parts)
        assert all(sum(sizes[slice(*p.row_groups)]) >= min_rows for p in parts[:-1])
        spec = SourceSpec(name="src", paths=(path,))
        rows = [r for p in parts for b in read_shard(shard, spec, 7, part=p) for r in b.column("row").to_pylist()]
        assert rows == list(range(sum(sizes)))


def test_split_arrow_scan_equals_whole_file_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = _arrow_corpus(tmp_path / "c")
    config = config_from_paths([corpus])
    whole = scan(config, ScanOptions(out=tmp_path / "whole"))
    monkeypatch.setattr(auditor.pipeline, "PART_ROWS", 100)
    tasks, _ = plan_tasks(config, skip_bad_files=False)
    assert [(t.shard.name, t.part.number if t.part else None) for t in tasks] == [
        ("big.arrow", 0), ("big.arrow", 1), ("big.arrow", 2), ("small.arrow", None),
        ("stream.arrow", 0), ("stream.arrow", 1), ("stream.arrow", 2)]
    split = scan(config, ScanOptions(out=tmp_path / "split", workers=2))
    summaries = _same_manifests(tmp_path / "whole", tmp_path / "split")
    for key in ("inputs", "totals", "merkle", "dedup"):
        assert summaries[0][key] == summaries[1][key], key
    assert [r.n_records for r in split.shards] == [r.n_records for r in whole.shards] == [300, 20, 300]
    assert summaries[1]["dedup"]["exact_duplicates"] >= 5
    urls = pq.read_table(tmp_path / "split" / "records.parquet").column("url").to_pylist()
    assert "https://example.org/299" in urls  # metadata of the last part, read from a struct column
    again = scan(config, ScanOptions(out=tmp_path / "split", workers=2))
    assert all(r.reused for r in again.shards)
    assert len(list((tmp_path / "split" / ".run" / "attributes").glob("*.done.json"))) == 7


def test_an_arrow_part_names_the_file_and_its_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [t.encode() for t in _texts(sum(_BATCHES))]
    texts[260] = b"\xff\xfe not UTF-8"
    corpus = _arrow_corpus(tmp_path / "c", texts=pa.array(texts, pa.binary()))
    big = _arrow_shard(corpus / "big.arrow")
    last = arrow_parts(big, 100)[-1]
    spec = config_from_paths([corpus]).sources[0]
    with pytest.raises(InputError) as split_error:
        list(read_shard(big, spec, 16, part=last))
    with pytest.raises(InputError) as whole_error:
        list(read_shard(big, spec, 16))
    assert str(split_error.value) == str(whole_error.value) and split_error.value.row == 260
    assert str(corpus / "big.arrow") in str(split_error.value)
    no_column = SourceSpec(name="src", paths=(corpus,), text_column="body")
    with pytest.raises(ColumnError, match="big.arrow.*'body' not found"):
        list(read_shard(big, no_column, 16, part=last))
    outputs = {}
    for label, part_rows in (("whole", 10**9), ("split", 100)):
        monkeypatch.setattr(auditor.pipeline, "PART_ROWS", part_rows)
        result = scan(config_from_paths([corpus]), ScanOptions(out=tmp_path / label, on_error="skip-file"))
        assert [r.shard for r in result.shards if r.error] == ["big.arrow"]
        assert "big.arrow (row 260)" in result.shards[0].error
        outputs[label] = (tmp_path / label / "records.parquet").read_bytes()
    assert outputs["whole"] == outputs["split"]


def test_a_datasets_folder_stream_is_split_and_scans_as_whole(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``datasets`` writes IPC streams (``ff ff ff ff``), never IPC files, in batches of 1,000 rows: a
    large file of a folder is mapped in parts, and the manifest is that of the file mapped whole."""
    folder = tmp_path / "hf"
    texts = [f"record {i}: " + " ".join(f"t{(i * 7919 + j * 104729) % 100003}" for j in range(40)) for i in range(2500)]
    texts[2400:2403] = [texts[5]] * 3  # exact duplicates of a record of the first part
    datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(folder))
    _, shards = discover_shards(folder)
    assert [s.format for s in shards] == ["arrow-stream"]
    assert [p.row_groups for p in arrow_parts(shards[0], 1000)] == [(0, 1), (1, 2), (2, 3)]
    config = config_from_paths([folder])
    scan(config, ScanOptions(out=tmp_path / "whole"))
    monkeypatch.setattr(auditor.pipeline, "PART_ROWS", 1000)
    tasks, _ = plan_tasks(config, skip_bad_files=False)
    assert [t.part.first_row for t in tasks] == [0, 1000, 2000]
    scan(config, ScanOptions(out=tmp_path / "split", workers=2))
    summaries = _same_manifests(tmp_path / "whole", tmp_path / "split")
    assert summaries[1]["dedup"]["exact_duplicates"] == 3
