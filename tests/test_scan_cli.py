"""End-to-end tests of `auditor scan` and `auditor verify` through click's CliRunner."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import TEXTS

from auditor.cli import main
from auditor.config import config_from_paths
from auditor.io.atomic import atomic_path
from auditor.manifest.schema import CONTRACT_COLUMNS
from auditor.pipeline import ScanOptions, scan


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_scan_all_formats_accounts_for_every_record(corpus_files, tmp_path):
    out = tmp_path / "m"
    code, stdout, _ = run("scan", *map(str, corpus_files.values()), "--out", str(out), "--batch-size", "2")
    assert code == 0, stdout
    records = pq.read_table(out / "records.parquet")
    assert records.num_rows == len(TEXTS) * len(corpus_files)
    assert all(c in records.column_names for c in CONTRACT_COLUMNS)
    assert records.column("text_null").to_pylist().count(True) == len(corpus_files)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"]["records"] == records.num_rows
    by_name = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in corpus_files.values()}
    assert {i["shard"]: i["sha256"] for i in summary["inputs"]} == by_name
    sources = pq.read_table(out / "sources.parquet")
    assert sum(sources.column("n_records").to_pylist()) == records.num_rows
    # the manifest is ordered by (source, shard, row)
    keys = list(zip(*(records.column(c).to_pylist() for c in ("source", "shard", "row")), strict=True))
    assert keys == sorted(keys)
    assert "audited 25 records from 5 sources" in stdout


def test_same_input_gives_byte_identical_records(corpus_files, tmp_path):
    paths = [str(p) for p in corpus_files.values()]
    run("scan", *paths, "--out", str(tmp_path / "a"), "--batch-size", "2")
    run("scan", *paths, "--out", str(tmp_path / "b"), "--batch-size", "1000")
    run("scan", *paths, "--out", str(tmp_path / "c"), "--workers", "2")
    a = (tmp_path / "a" / "records.parquet").read_bytes()
    assert a == (tmp_path / "b" / "records.parquet").read_bytes()
    assert a == (tmp_path / "c" / "records.parquet").read_bytes()


def test_attribute_files_are_written_in_row_groups_of_several_batches(corpus_files, tmp_path, monkeypatch):
    import auditor.engines.local as local

    paths = [str(p) for p in corpus_files.values()]
    run("scan", *paths, "--out", str(tmp_path / "a"), "--batch-size", "1000")
    monkeypatch.setattr(local, "ATTRIBUTE_GROUP_ROWS", 3)
    run("scan", *paths, "--out", str(tmp_path / "b"), "--batch-size", "1")
    groups = {}
    for path in sorted((tmp_path / "b" / ".run" / "attributes").glob("*.parquet")):
        metadata = pq.ParquetFile(path).metadata
        groups[path.name] = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    # Batches of one record, flushed once three are pending: groups of three, then the rest.
    assert all(sizes[:-1] == [3] * (len(sizes) - 1) and 1 <= sizes[-1] <= 3 for sizes in groups.values()), groups
    assert any(len(sizes) > 1 for sizes in groups.values()), groups
    assert (tmp_path / "a" / "records.parquet").read_bytes() == (tmp_path / "b" / "records.parquet").read_bytes()


def test_rerun_reuses_finished_shards(corpus_files, tmp_path):
    config = config_from_paths(list(corpus_files.values()))
    first = scan(config, ScanOptions(out=tmp_path / "m"))
    second = scan(config, ScanOptions(out=tmp_path / "m"))
    assert not any(r.reused for r in first.shards)
    assert all(r.reused for r in second.shards)
    assert first.manifest.summary["merkle"] == second.manifest.summary["merkle"]


def test_json_output(corpus_files, tmp_path):
    code, stdout, _ = run("scan", str(corpus_files["parquet"]), "--out", str(tmp_path / "m"), "--json")
    assert code == 0
    summary = json.loads(stdout)
    assert summary["schema_version"] == 1
    assert summary["totals"]["records"] == len(TEXTS)


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "missing.parquet", "path does not exist"),
    (lambda d: (d / "x.bin").write_bytes(b"GIF89a...") and d / "x.bin", "unknown format"),
    (lambda d: (d / "e.jsonl").write_bytes(b"") or d / "e.jsonl", "file is empty"),
])
def test_bad_input_exits_3_naming_the_file(tmp_path, make, message):
    path = make(tmp_path)
    code, _, stderr = run("scan", str(path), "--out", str(tmp_path / "m"))
    assert code == 3
    assert message in stderr and path.name in stderr


def test_usage_errors_exit_2(tmp_path):
    assert run("scan", "--out", str(tmp_path / "m"))[0] == 2
    assert run("scan", "--workers", "0", str(tmp_path))[0] == 2
    (tmp_path / "audit.toml").write_text("[[source]]\nname='a'\npaths=['x']\nacquisition='bad'\n")
    code, _, stderr = run("scan", "--config", str(tmp_path / "audit.toml"), "--out", str(tmp_path / "m"))
    assert code == 2 and "acquisition 'bad' is not allowed" in stderr


def test_skip_file_records_unreadable_shard(tmp_path, corpus_files):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.parquet").write_bytes(corpus_files["parquet"].read_bytes())
    (folder / "broken.parquet").write_bytes(corpus_files["parquet"].read_bytes()[:100])
    code, _, stderr = run("scan", str(folder), "--out", str(tmp_path / "abort"))
    assert code == 3 and "broken.parquet" in stderr
    code, stdout, _ = run("scan", str(folder), "--out", str(tmp_path / "m"), "--on-error", "skip-file")
    assert code == 0
    sources = pq.read_table(tmp_path / "m" / "sources.parquet").to_pylist()
    assert sources[0]["status"] == "partial" and sources[0]["n_shards_unreadable"] == 1
    assert "broken.parquet" in sources[0]["errors"][0]
    shards = pq.read_table(tmp_path / "m" / "shards.parquet").to_pylist()
    assert [(s["shard"], s["status"]) for s in shards] == [("broken.parquet", "unreadable"), ("good.parquet", "ok")]
    assert pq.read_table(tmp_path / "m" / "records.parquet").num_rows == len(TEXTS)


def test_verify_detects_tampering(corpus_files, tmp_path):
    out = tmp_path / "m"
    run("scan", str(corpus_files["parquet"]), "--out", str(out))
    assert run("verify", str(out))[0] == 0
    records = pq.read_table(out / "records.parquet")
    decisions = pa.array(["include"] * records.num_rows)
    tampered = records.set_column(records.column_names.index("decision"), "decision", decisions)
    pq.write_table(tampered, out / "records.parquet")
    code, _, stderr = run("verify", str(out))
    assert code == 3
    assert "records.parquet: sha256 differs" in stderr and "Merkle root" in stderr


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_interrupted_manifest_is_not_a_manifest(corpus_files, tmp_path, monkeypatch):
    out = tmp_path / "m"
    run("scan", str(corpus_files["parquet"]), "--out", str(out))
    import auditor.manifest.writer as writer

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "write_parquet_atomic", boom)
    with pytest.raises(OSError):
        scan(config_from_paths([corpus_files["parquet"]]), ScanOptions(out=out))
    code, _, stderr = run("verify", str(out))
    assert code == 3 and "not a manifest" in stderr


def test_version_and_help():
    code, stdout, _ = run("--version")
    assert code == 0 and "auditor" in stdout
    for command in ("scan", "verify"):
        code, stdout, _ = run(command, "--help")
        assert code == 0 and "Usage" in stdout


def manifest_strings(out: Path) -> str:
    """Every file of a manifest (run directory included) as text, Parquet decoded (it is compressed)."""
    parts = []
    for path in sorted(Path(out).rglob("*")):
        if path.suffix == ".parquet":
            parts.append(json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False))
        elif path.is_file():
            parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)


def test_no_raw_text_in_outputs(corpus_files, tmp_path):
    out = tmp_path / "m"
    run("scan", *map(str, corpus_files.values()), "--out", str(out))
    everything = manifest_strings(out)
    assert "record_id" in everything  # the decoder sees the columns
    for text in TEXTS:
        if text:
            assert text not in everything


def test_borderline_near_duplicates_are_verified_on_the_re_read_text(tmp_path):
    import random

    rng = random.Random(5)
    words = [f"w{i}" for i in range(3000)]
    base = [rng.choice(words) for _ in range(400)]
    texts = [" ".join(base)]
    for rate in (0.01, 0.02, 0.03, 0.04, 0.05, 0.08):  # true Jaccard from ~0.95 down to ~0.6
        edited = list(base)
        for j in rng.sample(range(len(base)), int(len(base) * rate)):
            edited[j] = f"edit{j}"
        texts.append(" ".join(edited))
    texts += [" ".join(rng.choice(words) for _ in range(400)) for _ in range(20)]
    folder = tmp_path / "c"
    folder.mkdir()
    pq.write_table(pa.table({"text": texts[:10]}), folder / "a.parquet")
    pq.write_table(pa.table({"text": texts[10:]}), folder / "b.parquet")
    out = tmp_path / "m"
    assert run("scan", str(folder), "--out", str(out), "--batch-size", "3")[0] == 0
    pairs = json.loads((out / "summary.json").read_text())["dedup"]["pairs"]
    assert pairs["verification"] == "signature+exact"
    assert pairs["exact_checked"] >= 1 and pairs["exact_skipped_no_text"] == 0
    records = pq.read_table(out / "records.parquet").to_pylist()
    assert records[1]["dup_of"] == records[0]["record_id"]  # 1% edits: a near duplicate
    assert records[6]["dup_of"] is None  # 8% edits of 5-gram shingles: far below 0.8


def test_one_huge_adversarial_record_is_audited_in_linear_time(tmp_path):
    """5 MB in one record, dense with licence cues, notices and e-mail addresses, and no newline:
    every stage must stay linear (a quadratic step would not finish)."""
    import random

    rng = random.Random(3)
    words = ["Licensed", "under", "the", "MIT", "License", "copyright", "(c)", "2021", "mail",
             "a@example.com", "river", "data", "All", "rights", "reserved", "版权所有"]
    big = " ".join(rng.choice(words) for _ in range(800_000))[:5_000_000]
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": [big, "a small second record"]}), path)
    code, stdout, _ = run("scan", str(path), "--out", str(tmp_path / "m"))
    assert code == 0 and "audited 2 records" in stdout
    record = pq.read_table(tmp_path / "m" / "records.parquet").to_pylist()[0]
    assert record["n_chars"] == len(big) and "email" in record["pii_types"]
