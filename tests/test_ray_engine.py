"""The Ray engine writes the same manifest as the local engine (on a local Ray instance, 2 CPUs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import config_from_paths, load_config
from auditor.errors import InputError
from auditor.pipeline import ScanOptions, scan

ray = pytest.importorskip("ray", reason="the Ray engine is tested where auditor[ray] is installed")

SAMPLES = Path(__file__).resolve().parents[1] / "sample_corpora"


@pytest.fixture(scope="module")
def local_ray():
    from auditor.engines.ray import ensure_ray

    ensure_ray(None, num_cpus=2)
    yield
    ray.shutdown()


def test_ray_and_local_give_identical_records(local_ray, corpus_files, tmp_path):
    config = config_from_paths(list(corpus_files.values()))
    scan(config, ScanOptions(out=tmp_path / "local", workers=2))
    scan(config, ScanOptions(out=tmp_path / "ray", engine="ray", workers=2))
    for name in ("records.parquet", "sources.parquet", "shards.parquet"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes(), name


@pytest.mark.skipif(not (SAMPLES / "audit.toml").is_file(), reason="sample_corpora not present")
def test_ray_and_local_identical_on_sample_corpora(local_ray, tmp_path):
    config = load_config(SAMPLES / "audit.toml")
    scan(config, ScanOptions(out=tmp_path / "local"))
    scan(config, ScanOptions(out=tmp_path / "ray", engine="ray", workers=2))
    assert (tmp_path / "local" / "records.parquet").read_bytes() == (tmp_path / "ray" / "records.parquet").read_bytes()


def test_ray_surfaces_input_errors(local_ray, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": oops}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl \(row 1\): line 2 is not valid JSON"):
        scan(config_from_paths([bad]), ScanOptions(out=tmp_path / "m", engine="ray"))


def test_ray_maps_parts_of_a_large_file_like_the_local_engine(local_ray, tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import auditor.pipeline

    corpus = tmp_path / "c"
    corpus.mkdir()
    texts = [f"record {i} " + " ".join(f"w{(i * 7 + j) % 311}" for j in range(40)) for i in range(240)]
    pq.write_table(pa.table({"text": texts}), corpus / "big.parquet", row_group_size=40)
    config = config_from_paths([corpus])
    scan(config, ScanOptions(out=tmp_path / "whole", workers=1))
    monkeypatch.setattr(auditor.pipeline, "PART_ROWS", 80)
    result = scan(config, ScanOptions(out=tmp_path / "ray", engine="ray", workers=2))
    assert len(list((tmp_path / "ray" / ".run" / "attributes").glob("*.done.json"))) == 3
    assert [r.n_records for r in result.shards] == [240]
    for name in ("records.parquet", "sources.parquet", "shards.parquet"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes(), name
