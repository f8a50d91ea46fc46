"""End to end: the real `auditor scan` on sample_corpora/ against what the generator planted
(sample_corpora/expected.json, documented in sample_corpora/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "sample_corpora"
EXPECTED = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "audit-out"
    result = CliRunner().invoke(main, ["scan", str(SAMPLES), "--out", str(out), "--quiet", "--pii-findings"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def records(manifest) -> dict[str, dict]:
    return {r["record_id"]: r for r in pq.read_table(manifest / "records.parquet").to_pylist()}


def test_every_record_is_accounted_for(records, manifest):
    expected = {f"{source}/{shard}": n for source, shards in EXPECTED["counts"].items() for shard, n in shards.items()}
    seen: dict[str, int] = {}
    for r in records.values():
        seen[f"{r['source']}/{r['shard']}"] = seen.get(f"{r['source']}/{r['shard']}", 0) + 1
    assert seen == expected
    assert set(EXPECTED["records"]) <= set(records)
    summary = json.loads((manifest / "summary.json").read_text())
    assert summary["totals"]["records"] == sum(expected.values())
    assert CliRunner().invoke(main, ["verify", str(manifest)]).exit_code == 0


def test_planted_duplicate_clusters(records):
    clusters = EXPECTED["clusters"]
    for name, cluster in (clusters.items() if isinstance(clusters, dict) else clusters):
        first, *others = cluster["members"]
        for member, jaccard in zip(others, cluster["jaccard_to_first"][1:], strict=True):
            a, b = records[first], records[member]
            if jaccard >= 0.85:
                assert a["dup_cluster"] is not None and a["dup_cluster"] == b["dup_cluster"], (name, member, jaccard)
            elif jaccard <= 0.7:
                assert a["dup_cluster"] is None or a["dup_cluster"] != b["dup_cluster"], (name, member, jaccard)


def test_duplicates_point_to_a_survivor_and_are_excluded(records):
    duplicates = [r for r in records.values() if r["dup_of"] is not None]
    assert duplicates
    for r in duplicates:
        survivor = records[r["dup_of"]]
        assert survivor["dup_of"] is None and survivor["dup_cluster"] == r["dup_cluster"]
        # an earlier rule (an opt-out, say) may decide first; either way a copy is never included
        assert r["decision"] == "exclude"
    assert any(r["reasons"][0] == "dedup.drop" for r in duplicates)


# expected.json words some expectations for people; what each means as a concluded licence.
_LICENCE_WORDING = {
    "none in row: dataset licence cc-by-4.0 applies": "CC-BY-4.0",
    "LicenseRef-public-domain (no SPDX id)": "LicenseRef-scancode-public-domain",  # ScanCode's id
    "unknown (LicenseRef-other)": None,
}


def test_planted_licences(records):
    checked = 0
    for record_id, planted in EXPECTED["records"].items():
        if "licence_expected" in planted:
            expected = _LICENCE_WORDING.get(planted["licence_expected"], planted["licence_expected"])
            record = records[record_id]
            if record["licence"] != expected:
                # The row's licence disagrees with the source's declared one: the engine keeps both as
                # evidence, flags the conflict and concludes the stricter (docs: licence conclusion).
                values = {e["value"] for e in record["licence_evidence"]}
                assert record["licence_conflict"] and expected in values, (record_id, expected, record["licence"])
                assert "licence.conflict" in record["reasons"] or record["decision"] == "exclude"
            if expected is None:
                assert "unknown" in record["licence_traits"]
            checked += 1
    assert checked > 250


def test_planted_pii_found_and_decoys_not(records):
    for record_id, planted in EXPECTED["records"].items():
        found = set(records[record_id]["pii_types"])
        for kind in planted.get("pii", {}):
            assert any(kind in t for t in found), (record_id, kind, found)
        for kind in planted.get("pii_decoys", {}):
            if kind not in planted.get("pii", {}):
                assert not any(kind in t for t in found), (record_id, kind, found)


def test_pii_findings_file_and_source_breakdown(records, manifest):
    findings = pq.read_table(manifest / "pii_findings.parquet")
    assert findings.num_rows == sum(r["pii_count"] for r in records.values()) > 0
    assert set(findings.column_names) == {"record_id", "detector", "category", "start", "end", "value_hash"}
    assert findings.column("value_hash").null_count == findings.num_rows  # no salt given: no hashes
    sources = {s["source"]: s for s in pq.read_table(manifest / "sources.parquet").to_pylist()}
    for name, source in sources.items():
        with_type = {t["type"]: t["records"] for t in source["pii_by_type"]}
        mine = [r for r in records.values() if r["source"] == name]
        for kind, n in with_type.items():
            assert n == sum(1 for r in mine if kind in r["pii_types"])


def test_planted_work_excerpts_matched(records):
    for record_id, planted in EXPECTED["records"].items():
        for work in planted.get("works", []):
            entries = {m["entry"] for m in records[record_id]["rights"]}
            assert work["work"] in entries, (record_id, work, entries)


# expected.json's "registry" is an entry of the opt-out list (by URL, domain, prefix or work).
_SIGNAL_WORDING = {"registry": "optout-list"}


def test_planted_opt_outs_in_force(records):
    checked = 0
    for record_id, planted in EXPECTED["records"].items():
        in_force = {s["signal"] for s in records[record_id]["opt_out"] if s["effective"]}
        for signal in planted.get("opt_out", []):
            assert _SIGNAL_WORDING.get(signal["signal"], signal["signal"]) in in_force, \
                (record_id, signal, records[record_id]["opt_out"])
            checked += 1
    assert checked > 200


def test_no_text_or_pii_value_in_any_output(manifest):
    from test_scan_cli import manifest_strings

    everything = manifest_strings(manifest)
    import pyarrow as pa

    from auditor.config import load_config
    from auditor.io.detect import discover_shards
    from auditor.io.readers import read_shard
    from auditor.pii.scanner import PiiScanner

    scanner = PiiScanner()
    config = load_config(SAMPLES / "audit.toml")
    values: set[str] = set()
    for spec in config.sources:
        for path in spec.paths:
            for shard in discover_shards(path)[1]:
                for batch in read_shard(shard, spec, 256):
                    for text in pa.Table.from_batches([batch]).column("text").to_pylist():
                        if text:
                            values.update(text[f.start:f.end] for f in scanner.scan(text))
    assert len(values) > 20
    leaked = sorted(v for v in values if len(v) >= 6 and v in everything)
    assert not leaked
