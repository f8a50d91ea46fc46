"""The reduce step in slices: policy decisions (``PolicyRun``) and the manifest (``ManifestWriter``)
must not depend on how the records are sliced, so that a corpus need not be in memory at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.config import SourceSpec
from auditor.manifest.schema import conform
from auditor.manifest.writer import ManifestWriter, build_sources_table, write_manifest
from auditor.policy import attribute_schema, decide, load_policy, sources_table
from auditor.policy.evaluate import PolicyRun

POLICIES = ("commercial-pretraining", "research-only", "cn-genai", "eu-gpai")
CLEAN = {"n_chars": 120, "licence": "CC-BY-4.0", "licence_traits": ["attribution", "commercial-use"],
         "pii_count": 0}
WORK = [{"registry": "works", "entry": "w-1", "kind": "work-excerpt", "score": 0.9}]
EMAIL = {"pii_count": 1, "pii_types": ["email"], "pii_categories": [], "pii_sensitive": False}
ROBOTS = [{"signal": "robots", "detail": "planted", "effective": True}]


def _records() -> tuple[pa.Table, pa.Table]:
    """Two sources interleaved: 'dirty' has 10% registered works (over cn-genai's 5% line), 'web' 1%."""
    rows = []
    for i in range(300):
        source = "dirty" if i % 3 == 0 else "web"
        extra: dict = {}
        if (source == "dirty" and i % 30 == 0) or (source == "web" and i % 100 == 1):
            extra = {"rights": WORK}
        elif i % 17 == 0:
            extra = EMAIL
        elif i % 23 == 0:
            extra = {"opt_out": ROBOTS}
        elif i % 29 == 0:
            extra = {"n_chars": 0, "text_null": True}
        rows.append({"record_id": f"{source}/s.jsonl#{i}", "source": source, "shard": "s.jsonl", "row": i,
                     "content_sha256": f"{i:064x}", "norm_sha256": f"{i:064x}", **CLEAN, **extra})
    specs = [SourceSpec("dirty", (), acquisition="web-crawl"),
             SourceSpec("web", (), acquisition="open-dataset", declared_licence="CC-BY-4.0")]
    return pa.Table.from_pylist(rows, schema=attribute_schema()), sources_table(specs)


def _in_slices(table: pa.Table, step: int) -> list[pa.Table]:
    return [table.slice(start, step) for start in range(0, table.num_rows, step)]


@pytest.mark.parametrize("policy_name", POLICIES)
@pytest.mark.parametrize("step", [1, 7, 64, 1000])
def test_policy_run_in_slices_decides_as_one_table(policy_name: str, step: int) -> None:
    table, sources = _records()
    policy = load_policy(policy_name)
    whole = decide(table, policy, sources)
    run = PolicyRun(policy, sources)
    for part in _in_slices(table, step):
        run.observe(part)
    run.settle()
    parts = [run.decide(part) for part in _in_slices(table, step)]
    for name in ("decision", "reasons", "record_rule"):
        assert pa.concat_arrays([getattr(p, name) for p in parts]).equals(getattr(whole, name))
    summary = run.decisions()
    assert summary.sources == whole.sources
    assert summary.counts_by_decision == whole.counts_by_decision
    assert summary.counts_by_reason == whole.counts_by_reason
    assert summary.counts_by_source == whole.counts_by_source


def test_planted_sources_reach_the_source_rules() -> None:
    """The fixture is not vacuous: cn-genai blocks the source over its 5% line and not the other."""
    table, sources = _records()
    outcomes = {o.source: o.outcome for o in decide(table, load_policy("cn-genai"), sources).sources}
    assert outcomes["dirty"] == "block"
    assert outcomes["web"] != "block"


def test_policy_run_refuses_out_of_order_use() -> None:
    table, sources = _records()
    run = PolicyRun(load_policy("cn-genai"), sources)
    with pytest.raises(RuntimeError, match="before settle"):
        run.decide(table)
    run.observe(table.filter(pa.compute.equal(table.column("source"), "web")))
    run.settle()
    with pytest.raises(RuntimeError, match="never observed"):
        run.decide(table)


def _decided() -> tuple[pa.Table, pa.Table, pa.Table]:
    table, sources = _records()
    decisions = decide(table, load_policy("cn-genai"), sources)
    records = table.append_column("decision", decisions.decision).append_column("reasons", decisions.reasons)
    facts = pa.table({"source": ["dirty", "web"], "acquisition": ["web-crawl", "open-dataset"],
                      "declared_licence": [None, "CC-BY-4.0"],
                      "evidence": pa.array([[], []], pa.list_(pa.struct([("kind", pa.string()),
                                                                          ("ref", pa.string())]))),
                      "n_shards": [1, 1], "n_shards_unreadable": [0, 0], "n_bytes": [10, 20],
                      "status": ["ok", "ok"], "errors": pa.array([[], []], pa.list_(pa.string()))})
    shards = pa.table({"source": ["dirty", "web"], "shard": ["s.jsonl", "s.jsonl"], "format": ["jsonl"] * 2,
                       "file_sha256": ["a" * 64, "b" * 64], "n_bytes": [10, 20], "n_records": [100, 200],
                       "status": ["ok", "ok"], "error": pa.array([None, None], pa.string())})
    return records, facts, shards


@pytest.mark.parametrize("step", [1, 13, 299, 300])
def test_manifest_writer_in_slices_writes_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         step: int) -> None:
    """Sliced or whole, every file of the manifest is byte-identical; row groups are of fixed size
    (made small here so that the 300 records span several)."""
    from auditor.manifest import writer

    monkeypatch.setattr(writer, "ROW_GROUP_ROWS", 32)
    records, facts, shards = _decided()
    findings = pa.table({"record_id": records.column("record_id"), "n": pa.array(range(300), pa.int64())})
    sources = build_sources_table(facts, records)
    kwargs = {"audit_name": "t", "parameters": {"p": 1}, "policy": None}
    one = write_manifest(tmp_path / "one", records, sources, shards, extra_files={"extra.parquet": findings},
                         **kwargs)
    sliced = ManifestWriter(tmp_path / "sliced", extra=["extra.parquet"])
    for start in range(0, records.num_rows, step):
        sliced.add(records.slice(start, step), {"extra.parquet": findings.slice(start, step)})
    assert sliced.source_counts.table(facts).equals(sources)
    two = sliced.finish(sources, shards, **kwargs)
    assert one.summary == two.summary
    for name in ("records.parquet", "sources.parquet", "shards.parquet", "extra.parquet", "summary.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "sliced" / name).read_bytes(), name
    meta = pq.ParquetFile(tmp_path / "sliced" / "records.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [32] * 9 + [12]
    assert pq.read_table(tmp_path / "sliced" / "records.parquet").equals(conform(records))


def test_source_counts_sum_over_slices() -> None:
    records, facts, _ = _decided()
    table = build_sources_table(facts, records).to_pylist()
    by_source = {row["source"]: row for row in table}
    web = records.filter(pa.compute.equal(records.column("source"), "web"))
    assert by_source["web"]["n_records"] == web.num_rows == 200
    assert by_source["web"]["n_pii"] == sum(1 for c in web.column("pii_count").to_pylist() if c)
    assert by_source["web"]["pii_by_type"] == [{"type": "email", "records": by_source["web"]["n_pii"]}]
    assert by_source["dirty"]["n_rights"] == 10


def test_empty_manifest_in_no_slices(tmp_path: Path) -> None:
    records, facts, shards = _decided()
    empty = records.slice(0, 0)
    one = write_manifest(tmp_path / "one", empty, build_sources_table(facts, empty), shards,
                         audit_name="t", parameters={}, policy=None)
    writer = ManifestWriter(tmp_path / "none")
    two = writer.finish(build_sources_table(facts, empty), shards, audit_name="t", parameters={}, policy=None)
    assert one.summary == two.summary
    assert (tmp_path / "one" / "records.parquet").read_bytes() == (tmp_path / "none" / "records.parquet").read_bytes()


# ---- the scan's attribute files, in slices --------------------------------------------------------

def _attribute_files(tmp_path: Path, tables: list[pa.Table]) -> list:
    from auditor.engines.local import ShardResult

    results = []
    for i, table in enumerate(tables):
        path = tmp_path / f"attr-{i}.parquet"
        pq.write_table(table, path)
        results.append(ShardResult(index=i, source="s", shard=f"f{i}", format="jsonl", file_sha256="0" * 64,
                                   n_bytes=1, n_records=table.num_rows, attributes=path))
    return results


def test_attribute_slices_agree_with_the_promoted_whole(tmp_path: Path) -> None:
    """A column one file lacks reads as nulls of its type, as concatenating with promotion gives."""
    from auditor.attributes import AttributeFiles

    first = pa.table({"record_id": ["a", "b"], "n": pa.array([1, 2], pa.int64()),
                      "minhash": pa.array([[1], [2]], pa.list_(pa.uint32()))})
    second = pa.table({"record_id": ["c"], "n": pa.array([3], pa.int64()),
                       "crawl_date": pa.array([None], pa.date32()), "minhash": pa.array([[3]], pa.list_(pa.uint32()))})
    files = AttributeFiles(_attribute_files(tmp_path, [first, second]))
    whole = pa.concat_tables([first, second], promote_options="default").drop_columns(["minhash"])
    assert files.concat().equals(whole)
    assert files.num_rows == 3 and list(files.starts) == [0, 2, 3]
    assert files.read(0, ["crawl_date"]).column("crawl_date").to_pylist() == [None, None]
    assert [start for start, _ in files.slices(["n"])] == [0, 2]
    assert files.gather(np.array([0, 2]), ["n", "crawl_date"]).to_pylist() == \
        [{"n": 1, "crawl_date": None}, {"n": 3, "crawl_date": None}]
    assert files.gather(np.array([], np.int64), ["n"]).num_rows == 0


def test_preference_records_read_as_the_survivor_preferences_of_the_whole(tmp_path: Path) -> None:
    """What dedup reads of the attribute files (``PreferenceRecords``), by slices and by gathered rows,
    is the whole table with ``survivor_preferences`` and without the licence columns."""
    from auditor.attributes import AttributeFiles
    from auditor.reduce import PreferenceRecords, survivor_preferences
    from auditor.stages.licence import EVIDENCE_TYPE

    evidence = [[{"kind": "metadata", "value": "mit", "where": "meta"}], [],
                [{"kind": "content", "value": "GPL-3.0-only", "where": "text"}], []]
    whole = pa.table({"record_id": list("abcd"), "licence": ["MIT", None, "GPL-3.0-only", "MIT"],
                      "licence_evidence": pa.array(evidence, pa.list_(EVIDENCE_TYPE)),
                      "licence_conflict": [False, None, True, False],
                      "minhash": pa.array([[1]] * 4, pa.list_(pa.uint32()))})
    files = AttributeFiles(_attribute_files(tmp_path, [whole.slice(0, 3), whole.slice(3)]))
    records = PreferenceRecords(files, None)
    expected = survivor_preferences(whole.drop_columns(["minhash"])).drop_columns(
        ["licence", "licence_evidence", "licence_conflict"])
    assert records.schema.names == expected.column_names and records.num_rows == 4
    assert pa.concat_tables(t for _, t in records.slices()).equals(expected)
    assert records.gather(np.array([1, 3]), ["evidence_rank", "record_id"]).to_pylist() == \
        expected.select(["record_id", "evidence_rank"]).take([1, 3]).to_pylist()
    kept = PreferenceRecords(files, ["licence", "record_id"])  # a survivor order naming the licence keeps it
    assert "licence" in kept.schema.names and "licence_evidence" not in kept.schema.names


@given(rows=st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 3)), st.booleans(), st.booleans()),
                     min_size=1, max_size=14),
       cuts=st.lists(st.integers(1, 13), max_size=3, unique=True))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_cluster_propagation_over_files_equals_propagation_over_the_table(
        tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[int | None, bool, bool]], cuts: list[int]) -> None:
    """Clusters spanning attribute files: the slices, with the propagated rows replaced, are the
    whole table as ``propagate_clusters`` leaves it."""
    from auditor.attributes import AttributeFiles
    from auditor.dedup import CLUSTERED_SCHEMA
    from auditor.reduce import _slice_of, cluster_propagation
    from auditor.registry import propagate_clusters
    from auditor.stages.optout import OPT_OUT_TYPE
    from auditor.stages.rights import RIGHTS_TYPE

    whole = pa.table({
        "record_id": [f"s/f#{i}" for i in range(len(rows))],
        "rights": pa.array([[{**WORK[0], "entry": f"w{i}"}] if r else [] for i, (_, r, _) in enumerate(rows)],
                           RIGHTS_TYPE),
        "opt_out": pa.array([ROBOTS if o else [] for _, _, o in rows], OPT_OUT_TYPE),
        "minhash": pa.array([[0]] * len(rows), pa.list_(pa.uint32())),
    })
    bounds = [0, *sorted(c for c in cuts if c < len(rows)), len(rows)]
    tables = [whole.slice(lo, hi - lo) for lo, hi in zip(bounds, bounds[1:], strict=False) if hi > lo]
    files = AttributeFiles(_attribute_files(tmp_path_factory.mktemp("attrs"), tables))
    clusters = pa.array([c for c, _, _ in rows], pa.int64())
    members = [i for i, (c, _, _) in enumerate(rows) if c is not None]
    clustered = pa.table({"row": pa.array(members, pa.int64()), "dup_cluster": clusters.take(pa.array(members, pa.int64())),
                          **{name: pa.nulls(len(members), CLUSTERED_SCHEMA.field(name).type)
                             for name in CLUSTERED_SCHEMA.names[2:]}}, schema=CLUSTERED_SCHEMA)
    overrides = cluster_propagation(files, clustered)
    got = pa.concat_tables([_slice_of(t, start, clustered, overrides) for start, t in files.slices()])
    expected = propagate_clusters(whole.drop_columns(["minhash"]).append_column("dup_cluster", clusters))
    assert got.select(["record_id", "rights", "opt_out", "dup_cluster"]).to_pylist() == \
        expected.select(["record_id", "rights", "opt_out", "dup_cluster"]).to_pylist()


# ---- scan and re-decide, in many row groups -------------------------------------------------------

@pytest.mark.parametrize("order_changes", [False, True])
def test_redecide_over_row_groups_equals_a_fresh_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      order_changes: bool) -> None:
    """records.parquet in row groups of 2 records: re-deciding it row group by row group (or, when the
    survivor order changes, as a whole) writes the bytes a fresh scan under the new policy writes."""
    from auditor.config import config_from_paths
    from auditor.manifest import writer
    from auditor.pipeline import ScanOptions, scan
    from auditor.redecide import redecide
    from auditor.reduce import load_audit_policy

    monkeypatch.setattr(writer, "ROW_GROUP_ROWS", 2)
    texts = ["An original essay about rivers, licensed for reuse. " * 20] * 2 + [
        "A note on research methods that carries a non-commercial licence. " * 15, None,
        "A short story about a lighthouse keeper and the storm of the century, told twice. " * 12]
    corpus = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": texts, "license": ["CC-BY-4.0", "CC-BY-NC-4.0", "CC-BY-NC-4.0", None, "MIT"]}),
                   corpus)
    target = "research-only"
    if order_changes:
        base = (Path(__file__).resolve().parent.parent / "auditor/rules/policies/research-only.toml").read_text()
        target = str(tmp_path / "ordered.toml")
        Path(target).write_text(base + '\n[dedup]\nsurvivor_order = ["crawl_date", "record_id"]\n')
    config = config_from_paths([corpus])
    scan(config, ScanOptions(out=tmp_path / "first", policy="commercial-pretraining"))
    scan(config, ScanOptions(out=tmp_path / "fresh", policy=target))
    meta = pq.ParquetFile(tmp_path / "first" / "records.parquet").metadata
    assert meta.num_row_groups == 3
    redecide(tmp_path / "first", load_audit_policy(target), tmp_path / "again")
    for name in ("records.parquet", "sources.parquet"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
    decisions = pq.read_table(tmp_path / "again" / "records.parquet").column("decision").to_pylist()
    assert decisions != pq.read_table(tmp_path / "first" / "records.parquet").column("decision").to_pylist()


def test_records_bytes_do_not_depend_on_slicing_when_dictionaries_overflow(tmp_path: Path) -> None:
    """40,000 distinct 64-character digests overflow a column's dictionary page (1 MiB), where the
    Parquet writer falls back to plain encoding at a chunk boundary: row groups are written as one
    chunk each, so the bytes are the same however the slices came."""
    import hashlib

    n = 40_000
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]
    records = pa.table({"record_id": [f"s/f#{i}" for i in range(n)], "source": ["s"] * n, "shard": ["f"] * n,
                        "row": pa.array(range(n), pa.int64()), "content_sha256": digests, "norm_sha256": digests,
                        "n_chars": pa.array([10] * n, pa.int64()), "decision": ["include"] * n,
                        "reasons": pa.array([["default"]] * n, pa.list_(pa.string()))})
    shards = _decided()[2]
    files = []
    for label, step in (("whole", n), ("sliced", 7_000)):
        writer = ManifestWriter(tmp_path / label)
        for start in range(0, n, step):
            writer.add(records.slice(start, step))
        writer.finish(pa.table({"source": ["s"]}), shards, audit_name="t", parameters={}, policy=None)
        files.append((tmp_path / label / "records.parquet").read_bytes())
    meta = pq.ParquetFile(tmp_path / "whole" / "records.parquet").metadata
    encodings = meta.row_group(0).column(meta.schema.to_arrow_schema().get_field_index("norm_sha256")).encodings
    assert "PLAIN" in encodings  # the dictionary did overflow: the case this test is about
    assert files[0] == files[1]
