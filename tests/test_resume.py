"""Resumable and incremental scans: killed runs resume to identical output; unchanged shards are reused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from auditor.config import config_from_paths
from auditor.pipeline import ScanOptions, scan


def make_corpus(folder: Path, shards: int, docs: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        texts = [f"shard {s} document {i} " + " ".join(f"w{(i * 7 + j) % 997}" for j in range(300))
                 for i in range(docs)]
        pq.write_table(pa.table({"text": texts}), folder / f"part-{s:03d}.parquet")


def test_killed_scan_resumes_to_identical_manifest(tmp_path):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, shards=24, docs=3000)
    reference = tmp_path / "reference"
    scan(config_from_paths([corpus]), ScanOptions(out=reference))

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "auditor.cli", "scan", str(corpus), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True)
    deadline = time.monotonic() + 120
    markers: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        markers = list((out / ".run" / "attributes").glob("*.done.json")) if out.exists() else []
        if len(markers) >= 3:
            break
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.fail("the scan finished before it could be killed; make the corpus larger")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "summary.json").exists()  # killed before the manifest: not a manifest

    result = scan(config_from_paths([corpus]), ScanOptions(out=out))
    reused = sum(r.reused for r in result.shards)
    assert 3 <= reused < 24
    assert (out / "records.parquet").read_bytes() == (reference / "records.parquet").read_bytes()


def test_incremental_reads_only_new_and_changed_shards(tmp_path):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, shards=3, docs=50)
    first = tmp_path / "first"
    scan(config_from_paths([corpus]), ScanOptions(out=first))

    pq.write_table(pa.table({"text": ["changed shard", "with new text"]}), corpus / "part-001.parquet")
    pq.write_table(pa.table({"text": ["a brand new shard"]}), corpus / "part-005.parquet")
    second = tmp_path / "second"
    result = scan(config_from_paths([corpus]), ScanOptions(out=second, previous_runs=(first,)))
    by_shard = {r.shard: r.reused for r in result.shards}
    assert by_shard == {"part-000.parquet": True, "part-001.parquet": False, "part-002.parquet": True,
                        "part-005.parquet": False}
    fresh = tmp_path / "fresh"
    scan(config_from_paths([corpus]), ScanOptions(out=fresh))
    assert (second / "records.parquet").read_bytes() == (fresh / "records.parquet").read_bytes()


def test_unchanged_corpus_is_not_read_again(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, shards=2, docs=10)
    scan(config_from_paths([corpus]), ScanOptions(out=tmp_path / "a"))
    import auditor.engines.local as local

    def fail(*args, **kwargs):
        raise AssertionError("an unchanged shard was read")

    monkeypatch.setattr(local, "read_shard", fail)
    monkeypatch.setattr(local, "file_sha256", fail)
    result = scan(config_from_paths([corpus]), ScanOptions(out=tmp_path / "b", previous_runs=(tmp_path / "a",)))
    assert all(r.reused for r in result.shards)
