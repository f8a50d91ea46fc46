from __future__ import annotations

import datetime as dt
import hashlib
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.dedup import (
    OUTPUT_SCHEMA,
    _bucket_pairs,
    find_duplicates,
    read_signatures,
    summarise_duplicates,
    write_signatures,
)
from auditor.errors import ColumnError, ConfigError, ManifestError, UsageError
from auditor.stages.minhash import MinHashParams, shingles, signature_array, signatures
from auditor.stages.normalise import normalise_text

PARAMS = MinHashParams()
_rng = random.Random(11)
VOCAB = [
    "".join(_rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_rng.randrange(2, 10)))
    for _ in range(4000)
]
HAN = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]


def document(seed: int, words: int = 300) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) for _ in range(words))


def chinese_document(seed: int, chars: int = 600) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(HAN) for _ in range(chars))


def edited(text: str, rate: float, seed: int, *, chinese: bool = False) -> str:
    """Replace ``rate`` of the tokens (words, or characters for Chinese), at least one, at random places."""
    rng = random.Random(seed)
    tokens = list(text) if chinese else text.split(" ")
    pool = HAN if chinese else VOCAB
    for i in rng.sample(range(len(tokens)), max(1, round(rate * len(tokens)))):
        tokens[i] = rng.choice([t for t in rng.sample(pool, 2) if t != tokens[i]])
    return ("" if chinese else " ").join(tokens)


def true_jaccard(a: str, b: str, params: MinHashParams = PARAMS) -> float:
    sa, sb = set(shingles(normalise_text(a), params)), set(shingles(normalise_text(b), params))
    return len(sa & sb) / len(sa | sb)


def records(texts: list[str | None], params: MinHashParams = PARAMS, **columns: list) -> pa.Table:
    norm = [None if t is None else normalise_text(t) for t in texts]
    return pa.table(
        {
            "record_id": [f"web/shard-0.jsonl#{i}" for i in range(len(texts))],
            "norm_sha256": [hashlib.sha256((t or "").encode()).hexdigest() for t in norm],
            "minhash": signature_array(signatures(pa.array(norm, pa.large_string()), params)),
            "text_null": [t is None for t in texts],
            **columns,
        }
    )


def cluster_of(result: pa.Table) -> list[int | None]:
    return result.column("dup_cluster").to_pylist()


def test_exact_duplicates_after_normalisation() -> None:
    base = document(1)
    result = find_duplicates(records([base, document(2), base.upper().replace(" ", "  "), base]), PARAMS)
    assert result.schema == OUTPUT_SCHEMA
    assert cluster_of(result) == [0, None, 0, 0]
    assert result.column("dup_of").to_pylist() == [None, None, "web/shard-0.jsonl#0", "web/shard-0.jsonl#0"]
    assert result.column("dup_kind").to_pylist() == [None, None, "exact", "exact"]
    assert result.column("dup_reason").to_pylist() == [None, None, "record_id", "record_id"]
    assert result.column("dup_jaccard").to_pylist()[2:] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("rate", "is_duplicate"),
    [(0.002, True), (0.005, True), (0.01, True), (0.15, False), (0.4, False)],
)
def test_near_duplicates_at_edit_rates(rate: float, is_duplicate: bool) -> None:
    base = document(3, words=400)
    copy = edited(base, rate, seed=4)
    jaccard = true_jaccard(base, copy)
    # The planted edit rate puts the pair clearly on one side of the threshold.
    assert (jaccard >= 0.85) if is_duplicate else (jaccard <= 0.7)
    result = find_duplicates(records([base, copy, document(5)]), PARAMS)
    if is_duplicate:
        assert cluster_of(result) == [0, 0, None]
        assert result.column("dup_kind").to_pylist() == [None, "near", None]
        assert abs(result.column("dup_jaccard")[1].as_py() - jaccard) < 0.12
    else:
        assert cluster_of(result) == [None, None, None]


@pytest.mark.parametrize(("rate", "is_duplicate"), [(0.005, True), (0.01, True), (0.3, False)])
def test_chinese_near_duplicates(rate: float, is_duplicate: bool) -> None:
    base = chinese_document(6)
    copy = edited(base, rate, seed=7, chinese=True)
    assert true_jaccard(base, copy) >= 0.85 if is_duplicate else true_jaccard(base, copy) <= 0.5
    result = find_duplicates(records([chinese_document(8), base, copy]), PARAMS)
    assert cluster_of(result) == ([None, 1, 1] if is_duplicate else [None, None, None])


BOILERPLATE = (
    "this article is licensed under the terms shown below all rights reserved subscribe to our newsletter "
    "for more stories like this one follow us on every social network and share it with your friends "
    "cookies help us deliver our services by using our services you agree to our use of cookies"
)


@pytest.mark.parametrize("words", [60, 120])
def test_shared_boilerplate_does_not_merge_unrelated_documents(words: int) -> None:
    texts = [f"{document(100 + i, words)} {BOILERPLATE}" for i in range(8)]
    assert max(true_jaccard(texts[0], t) for t in texts[1:]) < 0.6
    assert cluster_of(find_duplicates(records(texts), PARAMS)) == [None] * 8


def test_verification_rejects_band_collisions_below_threshold() -> None:
    # Two-value bands collide for pairs far below the threshold; verification must keep them apart.
    loose = MinHashParams(bands=64, rows=2)
    texts = [f"{document(200 + i, 60)} {BOILERPLATE}" for i in range(8)]
    table = records(texts, loose)
    assert cluster_of(find_duplicates(table, loose)) == [None] * 8
    unverified = MinHashParams(bands=64, rows=2, verify=False)
    assert any(c is not None for c in cluster_of(find_duplicates(table, unverified)))


def test_bucket_pairs_all_pairs_in_small_buckets() -> None:
    u, v = _bucket_pairs(np.array([1, 1, 1, 2, 3, 3], dtype=np.uint64))
    assert sorted(zip(u.tolist(), v.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2), (4, 5)]


def test_bucket_pairs_star_and_chain_in_large_buckets() -> None:
    u, v = _bucket_pairs(np.zeros(100, dtype=np.uint64))
    pairs = set(zip(u.tolist(), v.tolist(), strict=True))
    assert {(0, k) for k in range(1, 100)} <= pairs
    assert {(k, k + 1) for k in range(99)} <= pairs
    assert len(pairs) == 99 + 98


D = dt.date


@pytest.mark.parametrize(
    ("licence", "evidence", "dates", "order", "survivor", "reason"),
    [
        ([2, 0, 1], [0, 0, 0], [D(2020, 1, 1)] * 3, None, 1, ["licence_rank", None, "licence_rank"]),
        ([0, 0, 0], [3, 1, 2], [D(2020, 1, 1)] * 3, None, 1, ["evidence_rank", None, "evidence_rank"]),
        (
            [0, 0, 0],
            [0, 0, 0],
            [D(2021, 1, 1), None, D(2019, 5, 1)],
            None,
            2,
            ["crawl_date", "crawl_date", None],
        ),
        ([0, 0, 0], [0, 0, 0], [None, None, None], None, 0, [None, "record_id", "record_id"]),
        ([None, 1, 1], [0, 0, 0], [D(2020, 1, 1)] * 3, None, 1, ["licence_rank", None, "record_id"]),
        (
            [2, 0, 1],
            [0, 0, 0],
            [D(2021, 1, 1), D(2022, 1, 1), D(2019, 1, 1)],
            ["crawl_date"],
            2,
            ["crawl_date", "crawl_date", None],
        ),
        (
            [2, 0, 1],
            [5, 0, 0],
            [None] * 3,
            ["evidence_rank", "licence_rank"],
            1,
            ["evidence_rank", None, "licence_rank"],
        ),
    ],
)
def test_survivor_choice_and_reason(
    licence: list, evidence: list, dates: list, order: list[str] | None, survivor: int, reason: list
) -> None:
    base = document(9)
    table = records(
        [base, edited(base, 0.003, 10), base],
        licence_rank=pa.array(licence, pa.int32()),
        evidence_rank=pa.array(evidence, pa.int32()),
        crawl_date=pa.array(dates, pa.date32()),
    )
    result = find_duplicates(table, PARAMS, survivor_order=order)
    ids = table.column("record_id").to_pylist()
    assert result.column("dup_of").to_pylist() == [None if i == survivor else ids[survivor] for i in range(3)]
    assert result.column("dup_reason").to_pylist() == reason
    assert cluster_of(result) == [0, 0, 0]


def test_absent_preference_columns_tie_and_record_id_decides() -> None:
    base = document(12)
    table = records([base, base]).drop_columns(["text_null"])
    result = find_duplicates(table, PARAMS)
    assert result.column("dup_of").to_pylist() == [None, "web/shard-0.jsonl#0"]
    assert result.column("dup_reason").to_pylist() == [None, "record_id"]


def test_unknown_survivor_key_lists_what_is_available() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'licence'; available: .*'licence_rank'"):
        find_duplicates(records(["a b c"]), PARAMS, survivor_order=["licence"])
    with pytest.raises(ConfigError, match="more than once"):
        find_duplicates(records(["a b c"]), PARAMS, survivor_order=["record_id", "record_id"])


def test_null_text_never_clusters() -> None:
    result = find_duplicates(records([None, None, "some text here", None]), PARAMS)
    assert cluster_of(result) == [None] * 4


def test_missing_column_is_named() -> None:
    with pytest.raises(ColumnError, match=r"lacks column\(s\) \['minhash'\]"):
        find_duplicates(records(["a"]).drop_columns(["minhash"]), PARAMS)


def corpus(seed: int) -> list[str]:
    rng = random.Random(seed)
    texts: list[str] = []
    for i in range(30):
        roll = rng.random()
        if texts and roll < 0.25:
            texts.append(rng.choice(texts))
        elif texts and roll < 0.5:
            texts.append(edited(rng.choice(texts), rng.choice([0.002, 0.01, 0.05, 0.3]), seed * 100 + i))
        else:
            texts.append(document(seed * 1000 + i, rng.randrange(20, 200)))
    return texts


@pytest.mark.parametrize("batch_size", [1, 7, 30])
def test_deterministic_across_runs_and_batch_sizes(batch_size: int) -> None:
    texts = corpus(13)
    reference = find_duplicates(records(texts), PARAMS)
    assert reference.column("dup_cluster").null_count < len(texts)  # the corpus has duplicates
    norm = pa.array([normalise_text(t) for t in texts], pa.large_string())
    batched = np.concatenate(
        [signatures(norm.slice(i, batch_size), PARAMS) for i in range(0, len(texts), batch_size)]
    )
    table = records(texts).set_column(2, "minhash", signature_array(batched))
    assert find_duplicates(table, PARAMS).equals(reference)
    assert find_duplicates(records(texts), PARAMS).equals(reference)


@given(st.integers(0, 10_000))
@settings(max_examples=15, deadline=None)
def test_cluster_invariants(seed: int) -> None:
    texts = corpus(seed)
    result = find_duplicates(records(texts), PARAMS)
    assert result.num_rows == len(texts)
    ids = result.column("record_id").to_pylist()
    clusters = cluster_of(result)
    dup_of = result.column("dup_of").to_pylist()
    kinds = result.column("dup_kind").to_pylist()
    members: dict[int, list[int]] = {}
    for i, c in enumerate(clusters):
        if c is not None:
            members.setdefault(c, []).append(i)
    for c, rows in members.items():
        assert len(rows) >= 2 and c == min(rows)  # id = smallest row index
        survivors = [i for i in rows if dup_of[i] is None]
        assert len(survivors) == 1
        for i in rows:
            if i != survivors[0]:
                assert dup_of[i] == ids[survivors[0]]
                assert kinds[i] == (
                    "exact" if normalise_text(texts[i]) == normalise_text(texts[survivors[0]]) else "near"
                )
    for i, c in enumerate(clusters):
        if c is None:
            assert dup_of[i] is None and kinds[i] is None
        # Exact copies always share a cluster.
        for j in range(i):
            if texts[i] == texts[j]:
                assert c is not None and clusters[j] == c


def test_cross_corpus_against_previous_manifest(tmp_path: Path) -> None:
    old_texts = [document(20), document(21), chinese_document(22)]
    old = records(old_texts, crawl_date=pa.array([D(2030, 1, 1)] * 3, pa.date32()))
    write_signatures(old, tmp_path / "signatures.parquet", PARAMS)
    assert not [p for p in tmp_path.iterdir() if p.name != "signatures.parquet"]  # no temp file left
    prior = read_signatures(tmp_path / "signatures.parquet", PARAMS)
    assert prior.column_names == ["record_id", "norm_sha256", "minhash", "text_null", "crawl_date"]

    new_texts = [
        document(30),
        old_texts[1],
        edited(old_texts[0], 0.005, 31),
        document(30),
        edited(old_texts[2], 0.01, 32, chinese=True),
    ]
    new = records(new_texts, crawl_date=pa.array([D(2001, 1, 1)] * 5, pa.date32()))
    result = find_duplicates(new, PARAMS, against={"audit-2026-10": prior})
    assert result.num_rows == 5  # old records are not returned
    assert result.column("record_id").to_pylist() == new.column("record_id").to_pylist()
    assert result.column("dup_of").to_pylist() == [
        None,
        "audit-2026-10:web/shard-0.jsonl#1",
        "audit-2026-10:web/shard-0.jsonl#0",
        "web/shard-0.jsonl#0",
        "audit-2026-10:web/shard-0.jsonl#2",
    ]
    # An old copy wins even though the new copy has an earlier crawl date.
    assert result.column("dup_reason").to_pylist() == [
        None,
        "prior_manifest",
        "prior_manifest",
        "record_id",
        "prior_manifest",
    ]
    assert result.column("dup_kind").to_pylist() == [None, "exact", "near", "exact", "near"]
    assert cluster_of(result) == [0, 1, 2, 0, 4]
    summary = summarise_duplicates(result, PARAMS)
    assert (summary["clusters"], summary["exact_duplicates"], summary["near_duplicates"]) == (4, 2, 2)
    assert summary["duplicates_of_prior_manifests"] == 3
    # Without the old manifest, nothing in the new corpus but the exact pair is a duplicate.
    assert cluster_of(find_duplicates(new, PARAMS)) == [0, None, None, 0, None]


def test_incompatible_signatures_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "signatures.parquet"
    write_signatures(records(["a b c"]), path, PARAMS)
    with pytest.raises(ManifestError, match=r"seed: stored 1, now 2"):
        read_signatures(path, MinHashParams(seed=2))
    with pytest.raises(ManifestError, match="seed: stored 1, now 2"):
        find_duplicates(
            records(["a b c"], MinHashParams(seed=2)),
            MinHashParams(seed=2),
            against={"old": read_signatures(path)},
        )
    with pytest.raises(ManifestError, match="not found"):
        read_signatures(tmp_path / "missing.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(ManifestError, match="not a readable Parquet file"):
        read_signatures(tmp_path / "broken.parquet")


def test_against_label_must_be_unambiguous() -> None:
    with pytest.raises(UsageError, match="label 'a:b'"):
        find_duplicates(records(["x"]), PARAMS, against={"a:b": records(["x"])})
