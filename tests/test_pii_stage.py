"""PiiStage on Arrow batches: columns and types, invariants, and no PII value in any output."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.pii import PiiScanner, default_detectors, findings_table, source_pii_summary, write_findings
from auditor.stages.base import TRANSIENT_COLUMNS, WORK_SCHEMA, StageContext
from auditor.stages.language import LanguageStage
from auditor.stages.pii import PII_COLUMNS, PiiStage

# Values that must never appear in any output, each inside a sentence in its language.
PII_SENTENCES = [
    (
        "Contact jane.doe@example.co.uk or +1 415-555-2671.",
        ["jane.doe@example.co.uk", "+1 415-555-2671", "415-555-2671"],
    ),
    ("我的手机号是13812345678，身份证号110105199003071239。", ["13812345678", "110105199003071239"]),
    (
        "Bitte überweisen Sie auf DE89 3704 0044 0532 0130 00, Tel. 030 901820.",
        ["DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "030 901820"],
    ),
    (
        "Carte 4111 1111 1111 1111, courriel pierre.martin@orange.fr.",
        ["4111 1111 1111 1111", "4111111111111111", "pierre.martin@orange.fr"],
    ),
    (
        "SSN 536-90-4399, server 8.8.8.8, key AKIA2E3XKQ7VJH4MNPWZ.",
        ["536-90-4399", "536904399", "AKIA2E3XKQ7VJH4MNPWZ"],
    ),
    (
        'password = "Tr0ub4dor&3" and token ghp_aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gH3kM5',
        ["Tr0ub4dor&3", "ghp_aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gH3kM5"],
    ),
]
CLEAN = "A sentence with no personal information at all, version 1.2.3 released in 2024."


def make_batch(texts: list[str | None], source: str = "web") -> pa.RecordBatch:
    n = len(texts)
    given = {
        "record_id": pa.array([f"{source}/s.jsonl#{i}" for i in range(n)], pa.string()),
        "source": pa.array([source] * n, pa.string()),
        "shard": pa.array(["s.jsonl"] * n, pa.string()),
        "row": pa.array(range(n), pa.int64()),
        "text": pa.array(texts, pa.large_string()),
    }
    arrays = [given.get(f.name, pa.nulls(n, f.type)) for f in WORK_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=WORK_SCHEMA)


@pytest.fixture(scope="module")
def stages() -> tuple[LanguageStage, PiiStage]:
    context = StageContext(params={"pii_salt": b"test-salt-never-written"})
    language, pii = LanguageStage(), PiiStage()
    language.setup(context)
    pii.setup(context)
    return language, pii


def run(stages: tuple[LanguageStage, PiiStage], batch: pa.RecordBatch) -> pa.RecordBatch:
    language, pii = stages
    return pii(language(batch))


def test_columns_and_types(stages: tuple[LanguageStage, PiiStage]) -> None:
    batch = make_batch([PII_SENTENCES[1][0], CLEAN, None, ""])
    out = run(stages, batch)
    for field in PII_COLUMNS:
        assert out.schema.field(field.name).type == field.type
    assert out.schema.field("lang").type == pa.string()
    assert out.column("pii_types").to_pylist() == [["cn_resident_id", "phone"], [], [], []]
    assert out.column("pii_count").to_pylist() == [2, 0, 0, 0]
    assert out.column("pii_sensitive").to_pylist() == [True, False, False, False]
    assert out.column("pii_categories").to_pylist() == [["pipl28.identity_number"], [], [], []]
    findings = out.column("pii_findings").to_pylist()[0]
    assert [(f["detector"], f["category"]) for f in findings] == [
        ("phone", "contact"),
        ("cn_resident_id", "government_id"),
    ]
    text = batch.column("text")[0].as_py()
    assert [text[f["start"] : f["end"]] for f in findings] == ["13812345678", "110105199003071239"]
    assert all(len(f["value_hash"]) == 64 for f in findings)


def test_value_hash_is_null_without_salt() -> None:
    stage = PiiStage()
    stage.setup(StageContext())
    out = stage(make_batch([PII_SENTENCES[0][0]]))
    assert [f["value_hash"] for f in out.column("pii_findings")[0].as_py()] == [None, None]


def test_value_hash_links_equal_values_only(stages: tuple[LanguageStage, PiiStage]) -> None:
    out = run(stages, make_batch(["mail a@qq.com", "again a@qq.com", "other b@qq.com"]))
    hashes = [row[0]["value_hash"] for row in out.column("pii_findings").to_pylist()]
    assert hashes[0] == hashes[1] != hashes[2]


def test_rules_dir_override(tmp_path: Path) -> None:
    (tmp_path / "pii").mkdir()
    (tmp_path / "pii" / "detectors.toml").write_text(
        '[[detector]]\nname = "ticket"\ncategory = "contact"\n'
        "[[detector.pattern]]\nname = \"t\"\nregex = '''TCK-[0-9]{4}'''\nscore = 0.9\n",
        encoding="utf-8",
    )
    stage = PiiStage()
    stage.setup(StageContext(rules_dir=tmp_path))
    out = stage(make_batch(["see TCK-1234 and a@qq.com"]))
    assert out.column("pii_types").to_pylist() == [["ticket"]]


def test_no_pii_value_in_stage_output_or_findings_file(
    stages: tuple[LanguageStage, PiiStage], tmp_path: Path
) -> None:
    texts = [sentence for sentence, _ in PII_SENTENCES] * 3 + [CLEAN]
    out = run(stages, make_batch(texts))
    assert all(count > 0 for count in out.column("pii_count").to_pylist()[:-1])
    kept = out.drop_columns([c for c in TRANSIENT_COLUMNS if c in out.schema.names])
    arrow_bytes = io.BytesIO()
    with ipc.new_stream(arrow_bytes, kept.schema) as writer:
        writer.write_batch(kept)
    parquet_bytes = io.BytesIO()
    pq.write_table(pa.Table.from_batches([kept]), parquet_bytes)
    findings_path = tmp_path / "pii_findings.parquet"
    write_findings(findings_table(out), findings_path)
    blobs = {
        "arrow": arrow_bytes.getvalue(),
        "parquet": parquet_bytes.getvalue(),
        "findings": findings_path.read_bytes(),
        "pylist": repr(kept.to_pylist()).encode("utf-8"),
    }
    for _, values in PII_SENTENCES:
        for value in values:
            for name, blob in blobs.items():
                assert value.encode("utf-8") not in blob, f"{value!r} leaked into {name}"
    assert b"test-salt-never-written" not in b"".join(blobs.values())
    table = pq.read_table(findings_path)
    assert table.num_rows == sum(out.column("pii_count").to_pylist())
    assert table.schema.names == ["record_id", "detector", "category", "start", "end", "value_hash"]


FRAGMENTS = [v for _, values in PII_SENTENCES for v in values[:1]] + [
    "hello",
    "世界",
    " ",
    "\n",
    "1.2.3.4.5",
    "2023-04-05",
    "12345",
    "@",
    "x" * 30,
    "电话",
    "SSN",
    "passport",
    "192.168.0.1",
    "4111 1111 1111 1112",
    "patient diagnosed with diabetes",
    "account number",
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join), min_size=0, max_size=12))
def test_stage_invariants(texts: list[str]) -> None:
    stage = PiiStage()
    stage.setup(StageContext())
    batch = make_batch(texts)
    out = stage(batch)
    assert out.num_rows == batch.num_rows
    assert all(out.column(name).equals(batch.column(name)) for name in batch.schema.names)
    for text, types, count, findings in zip(
        texts,
        out.column("pii_types").to_pylist(),
        out.column("pii_count").to_pylist(),
        out.column("pii_findings").to_pylist(),
        strict=True,
    ):
        assert count == len(findings)
        assert types == sorted({f["detector"] for f in findings})
        previous_end = 0
        for f in findings:
            assert previous_end <= f["start"] < f["end"] <= len(text)
            previous_end = f["end"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join), min_size=1, max_size=12))
def test_triggers_never_hide_a_finding(texts: list[str]) -> None:
    scanner = PiiScanner(default_detectors())
    array = pa.array(texts, pa.large_string())
    assert scanner.scan_texts(array) == [scanner.scan(t) for t in texts]


def test_stage_requires_setup() -> None:
    with pytest.raises(RuntimeError, match="setup"):
        PiiStage()(make_batch(["x"]))


def test_source_summary_counts_records_per_type_and_category(stages: tuple[LanguageStage, PiiStage]) -> None:
    web = run(stages, make_batch([PII_SENTENCES[1][0], CLEAN, "mail a@qq.com"], source="web"))
    forum = run(stages, make_batch([CLEAN], source="forum"))
    summary = source_pii_summary(
        pa.concat_tables([pa.Table.from_batches([web]), pa.Table.from_batches([forum])])
    )
    assert summary.to_pylist() == [
        {
            "source": "forum",
            "records": 1,
            "records_with_pii": 0,
            "records_sensitive": 0,
            "pii_findings": 0,
            "pii_types": [],
            "pii_categories": [],
        },
        {
            "source": "web",
            "records": 3,
            "records_with_pii": 2,
            "records_sensitive": 1,
            "pii_findings": 3,
            "pii_types": [
                {"type": "cn_resident_id", "records": 1},
                {"type": "email", "records": 1},
                {"type": "phone", "records": 1},
            ],
            "pii_categories": [{"category": "pipl28.identity_number", "records": 1}],
        },
    ]
