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
    BandedSignatures,
    _bucket_pairs,
    choose_survivors,
    find_duplicates,
    pair_jaccard,
    read_signatures,
    summarise_duplicates,
    write_signatures,
)
from auditor.dedup.exact import SpilledHashes
from auditor.errors import ColumnError, ConfigError, InputError, ManifestError, UsageError
from auditor.stages.minhash import (
    MinHashParams,
    shingle_hash_sets,
    shingles,
    signature_array,
    signature_matrix,
    signatures,
)
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


# --- exact verification of pairs near the threshold (fetch_texts) ---

NOISY = MinHashParams(num_perm=32, bands=16, rows=2)  # a noisy estimate: many pairs fall in the band


def borderline_corpus() -> list[str]:
    """Pairs (2k, 2k + 1) whose true Jaccard lies around 0.8; unrelated across pairs."""
    texts: list[str] = []
    for k, rate in enumerate([0.01, 0.015, 0.02, 0.025, 0.03] * 5):
        base = document(500 + k, words=300)
        texts += [base, edited(base, rate, 600 + k)]
    return texts


def fetcher(texts: list[str | None], calls: list[np.ndarray] | None = None):
    norm = [None if t is None else normalise_text(t) for t in texts]

    def fetch_texts(rows: np.ndarray) -> list[str | None]:
        if calls is not None:
            calls.append(rows)
        return [norm[i] for i in rows]

    return fetch_texts


def pair_stats(table: pa.Table, texts: list[str], params: MinHashParams) -> list[tuple[float, float]]:
    sigs = signature_matrix(table.column("minhash"))
    return [
        (float(np.mean(sigs[i] == sigs[i + 1])), true_jaccard(texts[i], texts[i + 1], params))
        for i in range(0, len(texts), 2)
    ]


def test_exact_verification_decides_pairs_in_the_band() -> None:
    texts = borderline_corpus()
    table = records(texts, NOISY)
    band, t = NOISY.exact_band_used(), NOISY.threshold
    stats = pair_stats(table, texts, NOISY)
    plain = cluster_of(find_duplicates(table, NOISY))
    result = find_duplicates(table, NOISY, fetch_texts=fetcher(texts))
    exact = cluster_of(result)
    for k, (estimate, jaccard) in enumerate(stats):
        i = 2 * k
        assert (plain[i] is not None) == (estimate >= t)
        expected = jaccard >= t if abs(estimate - t) <= band else estimate >= t
        assert (exact[i] is not None) == expected, (estimate, jaccard)
        assert exact[i] == exact[i + 1] and exact[i] in (None, i)
    # The data is only a test if the estimate gets pairs wrong both ways.
    assert any(e >= t > j for e, j in stats) and any(j >= t > e for e, j in stats)
    reversed_pairs = sum((e >= t) != (j >= t) for e, j in stats)
    pairs = summarise_duplicates(result, NOISY)["pairs"]
    assert pairs["verification"] == "signature+exact"
    assert pairs["exact_checked"] == sum(abs(e - t) <= band for e, _ in stats)
    assert pairs["exact_changed"] == reversed_pairs
    assert pairs["exact_rows_fetched"] == 2 * pairs["exact_checked"]
    assert summarise_duplicates(find_duplicates(table, NOISY), NOISY)["pairs"]["verification"] == "signature"


def test_fetch_texts_gets_each_needed_row_once_in_sorted_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    import auditor.dedup.exact

    texts = borderline_corpus()
    table = records(texts, NOISY)
    whole: list[np.ndarray] = []
    reference = find_duplicates(table, NOISY, fetch_texts=fetcher(texts, whole))
    monkeypatch.setattr(auditor.dedup.exact, "FETCH_BATCH", 3)
    calls: list[np.ndarray] = []
    assert find_duplicates(table, NOISY, fetch_texts=fetcher(texts, calls)).equals(reference)
    assert len(whole) == 1 and len(calls) == -(-len(whole[0]) // 3)
    fetched = np.concatenate(calls)
    assert all(c.dtype == np.int64 and 1 <= len(c) <= 3 for c in calls)
    assert np.array_equal(fetched, whole[0]) and np.all(np.diff(fetched) > 0)  # ascending, no repeats


def test_rows_without_text_keep_the_estimate_verdict() -> None:
    texts = borderline_corpus()
    table = records(texts, NOISY)
    result = find_duplicates(table, NOISY, fetch_texts=fetcher([None] * len(texts)))
    assert cluster_of(result) == cluster_of(find_duplicates(table, NOISY))
    pairs = summarise_duplicates(result, NOISY)["pairs"]
    assert pairs["exact_checked"] == 0 and pairs["exact_skipped_no_text"] == pairs["exact_pairs_in_band"] > 0


def test_exact_band_zero_checks_nothing_and_band_one_checks_every_candidate() -> None:
    texts = borderline_corpus()
    for band, expected in ((0.0, 0), (1.0, None)):
        params = MinHashParams(num_perm=32, bands=16, rows=2, exact_band=band)
        result = find_duplicates(records(texts, params), params, fetch_texts=fetcher(texts))
        pairs = summarise_duplicates(result, params)["pairs"]
        assert pairs["exact_checked"] == (pairs["candidate_pairs"] if expected is None else expected)


def test_fetched_text_must_be_the_normalised_text_of_the_record() -> None:
    texts = borderline_corpus()
    table = records(texts, NOISY)
    with pytest.raises(InputError, match=r"web/shard-0.jsonl#\d+ .*not its norm_sha256"):
        find_duplicates(table, NOISY, fetch_texts=lambda rows: [texts[i].upper() for i in rows])
    with pytest.raises(UsageError, match=r"returned 1 texts for \d+ rows"):
        find_duplicates(table, NOISY, fetch_texts=lambda rows: ["x"])


def test_pairs_with_prior_records_are_not_fetched() -> None:
    texts = borderline_corpus()
    old = records(texts[0::2], NOISY)
    new = records(texts[1::2], NOISY)
    calls: list[np.ndarray] = []
    result = find_duplicates(new, NOISY, against={"old": old}, fetch_texts=fetcher(texts[1::2], calls))
    assert calls == []  # every pair in the band has an old record: nothing to fetch
    pairs = summarise_duplicates(result, NOISY)["pairs"]
    assert pairs["exact_checked"] == 0 and pairs["exact_skipped_prior"] > 0
    assert result.equals(find_duplicates(new, NOISY, against={"old": old}))


WORDS = st.lists(st.sampled_from(["a", "b", "c", "dd", "é", "x"]), max_size=12).map(" ".join)
CJK = st.text(alphabet="中文字符测试一二三", max_size=14)


@given(st.lists(st.one_of(WORDS, CJK, st.none()), min_size=2, max_size=8), st.data())
@settings(max_examples=60, deadline=None)
def test_shingle_hash_sets_and_pair_jaccard_match_python_sets(texts: list[str | None], data) -> None:
    params = MinHashParams(ngram=2, char_ngram=2)
    hashes, offsets = shingle_hash_sets(pa.array(texts, pa.large_string()), params)
    sets = [set(shingles(t, params)) for t in texts]
    assert np.diff(offsets).tolist() == [len(s) for s in sets]
    for k in range(len(texts)):
        own = hashes[offsets[k] : offsets[k + 1]]
        assert np.all(own[1:] > own[:-1])  # sorted, distinct
    a = np.array(data.draw(st.lists(st.integers(0, len(texts) - 1), min_size=1, max_size=10)))
    b = np.array(data.draw(st.lists(st.integers(0, len(texts) - 1), min_size=len(a), max_size=len(a))))
    expected = [
        len(sets[i] & sets[j]) / len(sets[i] | sets[j]) if sets[i] | sets[j] else 1.0
        for i, j in zip(a, b, strict=True)
    ]
    assert pair_jaccard(hashes, offsets, a, b).tolist() == pytest.approx(expected)
    spilled = SpilledHashes()  # the hash sets on disk, as exact verification keeps them
    for k in range(len(texts)):
        spilled.append(hashes[offsets[k] : offsets[k + 1]])
    try:
        assert spilled.size == len(hashes)
        assert pair_jaccard(spilled, offsets, a, b).tolist() == pytest.approx(expected)
    finally:
        spilled.close()


@pytest.mark.parametrize(
    ("params", "band"),
    [
        (MinHashParams(), 3 * (0.8 * 0.2 / 128) ** 0.5),
        (MinHashParams(num_perm=64, threshold=0.5, bands=8), 3 * (0.25 / 64) ** 0.5),
        (MinHashParams(exact_band=0.05), 0.05),
        (MinHashParams(threshold=1.0, bands=8), 0.0),
    ],
)
def test_exact_band_defaults_to_three_standard_deviations(params: MinHashParams, band: float) -> None:
    assert params.exact_band_used() == pytest.approx(band)
    summary = params.to_summary()
    assert summary["exact_band"] == params.exact_band and summary["exact_band_used"] == pytest.approx(band)


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "wide"])
def test_exact_band_must_be_a_fraction(bad: object) -> None:
    with pytest.raises(ConfigError, match="minhash.exact_band must be a number in"):
        MinHashParams(exact_band=bad)  # type: ignore[arg-type]


# --- choose_survivors: another survivor order, same clusters ---

ORDERS = [
    None,
    ["crawl_date"],
    ["evidence_rank", "licence_rank"],
    ["record_id"],
    ["licence_rank", "crawl_date"],
]


def with_preferences(texts: list[str], seed: int, params: MinHashParams = PARAMS) -> pa.Table:
    rng = random.Random(seed)
    n = len(texts)
    return records(
        texts,
        params,
        licence_rank=pa.array([rng.choice([0, 1, 2, None]) for _ in range(n)], pa.int32()),
        evidence_rank=pa.array([rng.choice([0, 1, 3]) for _ in range(n)], pa.int32()),
        crawl_date=pa.array(
            [rng.choice([None, D(2019, 3, 3), D(2021, 6, 1)]) for _ in range(n)], pa.date32()
        ),
    )


def with_dups(table: pa.Table, result: pa.Table) -> pa.Table:
    for name in ("dup_cluster", "dup_of", "dup_kind", "dup_reason", "dup_jaccard"):
        table = table.append_column(name, result.column(name))
    return table


@given(st.integers(0, 10_000), st.sampled_from(ORDERS), st.sampled_from(ORDERS))
@settings(max_examples=25, deadline=None)
def test_choose_survivors_equals_find_duplicates_under_the_new_order(
    seed: int, before: list[str] | None, after: list[str] | None
) -> None:
    table = with_preferences(corpus(seed), seed)
    stored = with_dups(table, find_duplicates(table, PARAMS, survivor_order=before))
    expected = find_duplicates(table, PARAMS, survivor_order=after)
    assert choose_survivors(stored, survivor_order=after).equals(expected)
    # Without signatures every column but dup_jaccard is the same; dup_jaccard is right or null.
    blind = choose_survivors(stored.drop_columns(["minhash"]), survivor_order=after)
    assert blind.drop_columns(["dup_jaccard"]).equals(expected.drop_columns(["dup_jaccard"]))
    for got, want, kind in zip(
        blind.column("dup_jaccard").to_pylist(),
        expected.column("dup_jaccard").to_pylist(),
        expected.column("dup_kind").to_pylist(),
        strict=True,
    ):
        assert got == want if kind == "exact" else got in (None, want)


def test_choose_survivors_keeps_jaccard_of_known_pairs_without_signatures() -> None:
    base = document(40)
    texts = [base, edited(base, 0.004, 41), edited(base, 0.006, 42)]
    table = records(texts, licence_rank=pa.array([2, 0, 1], pa.int32()))
    stored = with_dups(table, find_duplicates(table, PARAMS, survivor_order=["record_id"]))
    assert stored.column("dup_of").to_pylist() == [None, "web/shard-0.jsonl#0", "web/shard-0.jsonl#0"]
    result = choose_survivors(stored.drop_columns(["minhash"]), survivor_order=["licence_rank"])
    assert result.column("dup_of").to_pylist() == ["web/shard-0.jsonl#1", None, "web/shard-0.jsonl#1"]
    assert result.column("dup_reason").to_pylist() == ["licence_rank", None, "licence_rank"]
    old = stored.column("dup_jaccard").to_pylist()
    # Records 0 and 1 swapped roles: their Jaccard is known; record 2 was never compared with record 1.
    assert result.column("dup_jaccard").to_pylist() == [old[1], None, None]
    assert result.column("dup_cluster").to_pylist() == [0, 0, 0]


def test_choose_survivors_keeps_clusters_of_prior_manifests() -> None:
    old_texts = [document(20), document(21)]
    old = records(old_texts, crawl_date=pa.array([D(2030, 1, 1)] * 2, pa.date32()))
    new_texts = [document(30), old_texts[1], edited(old_texts[0], 0.005, 31), document(30)]
    dates = [D(2001, 1, 1), D(2001, 1, 1), D(2001, 1, 1), D(2000, 1, 1)]
    new = records(new_texts, crawl_date=pa.array(dates, pa.date32()))
    stored = with_dups(new, find_duplicates(new, PARAMS, survivor_order=["record_id"], against={"a-1": old}))
    result = choose_survivors(stored, survivor_order=["crawl_date"])
    assert result.column("dup_of").to_pylist() == [
        "web/shard-0.jsonl#3",
        "a-1:web/shard-0.jsonl#1",
        "a-1:web/shard-0.jsonl#0",
        None,
    ]
    assert result.column("dup_reason").to_pylist() == ["crawl_date", "prior_manifest", "prior_manifest", None]
    for name in ("dup_cluster", "dup_kind", "dup_jaccard"):
        assert result.column(name).slice(1, 2).equals(stored.column(name).slice(1, 2))
    assert result.column("dup_cluster").equals(stored.column("dup_cluster"))


def test_choose_survivors_keeps_membership_found_by_exact_verification() -> None:
    texts = borderline_corpus()
    table = with_preferences(texts, 3, NOISY)
    fetch = fetcher(texts)
    stored = with_dups(table, find_duplicates(table, NOISY, fetch_texts=fetch))
    for order in ORDERS:
        result = choose_survivors(stored, survivor_order=order)
        assert result.column("dup_cluster").equals(stored.column("dup_cluster"))
        assert result.equals(find_duplicates(table, NOISY, survivor_order=order, fetch_texts=fetch))
    # Re-clustering without the texts would have changed membership.
    assert not find_duplicates(table, NOISY).column("dup_cluster").equals(stored.column("dup_cluster"))


def test_choose_survivors_names_missing_columns() -> None:
    with pytest.raises(ColumnError, match=r"lacks column\(s\) \['dup_cluster', 'dup_of'"):
        choose_survivors(records(["a b c"]))


def _banded(table: pa.Table, params: MinHashParams, loaded: list[np.ndarray]) -> BandedSignatures:
    """The table's signatures as band keys, with a loader that records what it is asked for."""
    sigs = signature_matrix(table.column("minhash"), params.num_perm)
    keys, empty = BandedSignatures.keys_of(sigs, params)

    def load(rows: np.ndarray) -> np.ndarray:
        loaded.append(rows)
        return sigs[rows]

    return BandedSignatures(keys, empty, load)


def test_banded_signatures_give_the_same_clusters_and_load_only_rows_of_pairs() -> None:
    texts = borderline_corpus() + [document(k) for k in range(40, 60)] + [None, ""]
    table = records(texts, NOISY)
    reference = find_duplicates(table, NOISY, fetch_texts=fetcher(texts))
    loaded: list[np.ndarray] = []
    banded = _banded(table, NOISY, loaded)
    result = find_duplicates(table.drop_columns(["minhash"]), NOISY, fetch_texts=fetcher(texts), banded=banded)
    assert result.equals(reference)
    assert result.schema.metadata == reference.schema.metadata  # the same pair counts
    assert len(loaded) == 1 and np.all(np.diff(loaded[0]) > 0)
    clustered = np.flatnonzero(result.column("dup_cluster").is_valid().to_numpy(zero_copy_only=False))
    assert set(clustered) <= set(loaded[0].tolist()) and len(loaded[0]) < len(texts)


def test_exact_copies_borrow_their_representatives_signature() -> None:
    """Exact copies are not loaded (their representative's signature is theirs); every
    ``dup_jaccard`` still equals the estimate between the record's own signature and its survivor's."""
    base = borderline_corpus()[:10]
    texts = base + [base[0], base[1], base[1], base[4]]  # exact copies of near-duplicate documents
    table = records(texts, NOISY)
    loaded: list[np.ndarray] = []
    result = find_duplicates(table.drop_columns(["minhash"]), NOISY, banded=_banded(table, NOISY, loaded))
    assert not set(loaded[0].tolist()) & {10, 11, 12, 13}
    sigs = signature_matrix(table.column("minhash"), NOISY.num_perm)
    ids = table.column("record_id").to_pylist()
    checked = 0
    for row, (of, jaccard) in enumerate(zip(result.column("dup_of").to_pylist(),
                                            result.column("dup_jaccard").to_pylist(), strict=True)):
        if of is None:
            continue
        survivor = ids.index(of)
        expected = np.count_nonzero(sigs[row] == sigs[survivor]) / NOISY.num_perm
        assert jaccard == pytest.approx(expected, abs=1e-6)
        checked += 1
    kinds = result.column("dup_kind").to_pylist()
    assert checked >= 4 and "exact" in kinds and "near" in kinds


def test_banded_signatures_with_prior_manifests() -> None:
    texts = borderline_corpus()
    old = records(texts[0::2], NOISY)
    new = records(texts[1::2] + [texts[0]], NOISY)
    reference = find_duplicates(new, NOISY, against={"old": old})
    loaded: list[np.ndarray] = []
    banded = _banded(new, NOISY, loaded)
    result = find_duplicates(new.drop_columns(["minhash"]), NOISY, against={"old": old}, banded=banded)
    assert result.equals(reference) and result.column("dup_reason").to_pylist().count("prior_manifest") > 0
    with pytest.raises(UsageError, match="banded signatures of shape"):
        find_duplicates(new.drop_columns(["minhash"]).slice(1), NOISY, banded=banded)


def _same_grouping(codes: list, values: list) -> bool:
    return all((codes[i] == codes[j]) == (values[i] == values[j])
               for i in range(len(values)) for j in range(len(values)))


@given(st.lists(st.integers(0, 7), min_size=0, max_size=30), st.integers(1, 7), st.sampled_from([1, 2, 5, 1000]))
@settings(max_examples=60, deadline=None)
def test_exact_groups_equal_exactly_when_digests_are(picks: list[int], slice_rows: int, per_partition: int) -> None:
    """Exact clusters, over slices and hash partitions, are the groups of equal digests: a shared
    128-bit prefix with a different tail (a prefix collision) still makes two groups, and digests
    that are not SHA-256 hex (other lengths, upper case, non-hex) group by string equality."""
    from auditor.dedup import cluster_records
    from auditor.dedup.records import TableRecords

    pool = [hashlib.sha256(str(k).encode()).hexdigest() for k in range(4)]
    pool += [pool[0][:32] + "0" * 32, pool[0][:32] + "f" * 32]  # same first 128 bits as pool[0]
    pool += ["G" * 64, "abc"]
    values = [pool[k] for k in picks]
    table = records([document(k) for k in range(len(values))])  # no two near duplicates
    table = table.set_column(table.column_names.index("norm_sha256"), "norm_sha256", pa.array(values, pa.string()))
    banded = BandedSignatures.of_column(table.column("minhash"), PARAMS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("auditor.dedup.partition.PARTITION_ROWS", per_partition)
        clustered = cluster_records(TableRecords(table, slice_rows), PARAMS, banded)
    cluster = dict(zip(clustered.column("row").to_pylist(), clustered.column("dup_cluster").to_pylist(), strict=True))
    codes = [cluster.get(row, -1 - row) for row in range(len(values))]
    assert _same_grouping(codes, values)
    assert "near" not in clustered.column("dup_kind").to_pylist()


@pytest.mark.parametrize("per_partition", [1, 3, 16])
def test_partitioned_clustering_equals_one_partition(per_partition: int) -> None:
    """Keys spilled to hash partitions (temporary files) and records read in small slices give the
    same clusters, survivors, pair counts and fetched rows as one partition in memory, with an
    earlier manifest and exact verification."""
    from auditor.dedup import cluster_records
    from auditor.dedup.records import TableRecords

    texts = borderline_corpus() + [document(k) for k in range(40, 50)] + [None, ""]
    texts += [texts[0], texts[3], texts[3]]  # exact copies
    old = records(texts[1:12:2], NOISY)
    table = records(texts, NOISY)
    banded = BandedSignatures.of_column(table.column("minhash"), NOISY)

    def run(per: int, slice_rows: int) -> tuple[pa.Table, list[np.ndarray]]:
        calls: list[np.ndarray] = []
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("auditor.dedup.partition.PARTITION_ROWS", per)
            result = cluster_records(TableRecords(table, slice_rows), NOISY, banded, against={"old": old},
                                     fetch_texts=fetcher(texts, calls))
        return result, calls

    reference, reference_calls = run(10**6, 1 << 16)
    result, calls = run(per_partition, 4)
    assert result.equals(reference) and result.schema.metadata == reference.schema.metadata
    assert [c.tolist() for c in calls] == [c.tolist() for c in reference_calls]
    assert "exact" in result.column("dup_kind").to_pylist() and "near" in result.column("dup_kind").to_pylist()
    assert "prior_manifest" in result.column("dup_reason").to_pylist()


def test_partitions_spill_and_read_back_by_key() -> None:
    from auditor.dedup.partition import BAND_DTYPE, Partitions, partition_count

    assert partition_count(10, 10) == 1 and partition_count(11, 10) == 2 and partition_count(41, 10) == 8
    rng = np.random.default_rng(3)
    parts = Partitions(4, BAND_DTYPE)
    written = []
    for start in (0, 100, 250):
        block = np.empty(rng.integers(0, 100), dtype=BAND_DTYPE)
        block["key"] = rng.integers(0, 2**64 - 1, len(block), dtype=np.uint64)
        block["row"] = start + np.arange(len(block))
        parts.append(block["key"], block)
        written.append(block)
    read = list(parts)
    parts.close()
    assert len(read) == 4
    for p, block in enumerate(read):
        assert np.all(block["key"] >> np.uint64(62) == p) and np.all(np.diff(block["row"]) > 0)
    every = np.concatenate(written)
    assert sorted(np.concatenate(read)["row"].tolist()) == sorted(every["row"].tolist())
    with pytest.raises(ValueError, match="power of two"):
        Partitions(3, BAND_DTYPE)


def test_band_key_file_round_trip_and_clusters_as_in_memory() -> None:
    """Band keys written file by file to the temporary file read back as the in-memory matrix, and
    clustering over them finds the same duplicates."""
    from auditor.dedup.clusters import BandKeyFile

    texts = borderline_corpus() + [document(k) for k in range(40, 50)]
    table = records(texts, NOISY)
    sigs = signature_matrix(table.column("minhash"), NOISY.num_perm)
    keys, empty = BandedSignatures.keys_of(sigs, NOISY)
    on_disk = BandKeyFile(*keys.shape)
    try:
        for start in (30, 0, 17):  # written out of order, in uneven blocks
            stop = {0: 17, 17: 30, 30: len(texts)}[start]
            on_disk.write(start, keys[:, start:stop])
        assert np.array_equal(np.asarray(on_disk), keys)
        rows = np.array([3, 5, 40])
        assert np.array_equal(on_disk[2, rows], keys[2, rows])
        banded = BandedSignatures(on_disk, empty, lambda r: sigs[r])
        result = find_duplicates(table.drop_columns(["minhash"]), NOISY, banded=banded)
        assert result.equals(find_duplicates(table, NOISY))
        assert result.column("dup_cluster").null_count < len(texts)
    finally:
        on_disk.close()
