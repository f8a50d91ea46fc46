from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import xxhash
from datasketch import LeanMinHash, MinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.errors import ColumnError, ConfigError
from auditor.stages.base import StageContext
from auditor.stages.minhash import (
    EMPTY_HASH,
    MinHashParams,
    MinHashStage,
    cjk_mask,
    shingles,
    signature_array,
    signature_matrix,
    signatures,
    xxh32_spans,
)

PARAMS = MinHashParams()


def datasketch_digest(text: str | None, params: MinHashParams = PARAMS) -> np.ndarray:
    m = MinHash(params.num_perm, seed=params.seed, hashfunc=xxhash.xxh32_intdigest, scheme="affine32")
    m.update_batch(shingles(text, params))
    return m.digest()


def large(texts: list[str | None]) -> pa.Array:
    return pa.array(texts, pa.large_string())


_rng = random.Random(7)
_VOCAB = [
    "".join(_rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_rng.randrange(1, 12)))
    for _ in range(500)
]
_HAN = [chr(c) for c in range(0x4E00, 0x4E00 + 300)]

TEXTS = [
    " ".join(_rng.choice(_VOCAB) for _ in range(300)),
    " ".join(_rng.choice(_VOCAB) for _ in range(3)),  # fewer tokens than one n-gram
    "word",
    "a b c d e",  # exactly one n-gram
    "two  spaces and a trailing space ",
    "".join(_rng.choice(_HAN) for _ in range(400)),
    "中文",
    "日本語のテキストです。カタカナとひらがな。",
    "한국어 텍스트 입니다 정말로",
    "mixed 中文 text with mostly latin letters in it",
    "emoji 😀 and ümlauts ß ﬁ",
    "x" * 5000,  # one very long token: many 16-byte stripes
]


@pytest.mark.parametrize("text", TEXTS)
def test_signature_equals_datasketch(text: str) -> None:
    ours = signatures(large([text]), PARAMS)[0]
    assert np.array_equal(ours, datasketch_digest(text))


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet=st.sampled_from(list("ab cé中文かナ한 ")), max_size=60),
        ),
        max_size=12,
    )
)
@settings(max_examples=60, deadline=None)
def test_signatures_equal_datasketch_property(texts: list[str | None]) -> None:
    sigs = signatures(large(texts), PARAMS)
    assert sigs.shape == (len(texts), PARAMS.num_perm)
    for text, sig in zip(texts, sigs, strict=True):
        assert np.array_equal(sig, datasketch_digest(text))


def test_lean_minhash_from_stored_signature_is_equal() -> None:
    text = TEXTS[0]
    m = MinHash(128, seed=1, hashfunc=xxhash.xxh32_intdigest, scheme="affine32")
    m.update_batch(shingles(text, PARAMS))
    stored = LeanMinHash(seed=1, hashvalues=signatures(large([text]), PARAMS)[0], scheme="affine32")
    assert stored == LeanMinHash(m)
    assert stored.jaccard(LeanMinHash(m)) == 1.0


@pytest.mark.parametrize(
    "params",
    [
        MinHashParams(num_perm=64, seed=42),
        MinHashParams(num_perm=256, ngram=3, char_ngram=2),
        MinHashParams(seed=0),
    ],
)
def test_other_parameters_match_datasketch(params: MinHashParams) -> None:
    m = MinHash(params.num_perm, seed=params.seed, scheme="affine32")
    assert np.array_equal(params.permutations()[0], m.permutations[0])
    assert np.array_equal(params.permutations()[1], m.permutations[1])
    for text in TEXTS[:8]:
        assert np.array_equal(signatures(large([text]), params)[0], datasketch_digest(text, params))


@pytest.mark.parametrize("text", [None, ""])
def test_null_and_empty_give_the_empty_sketch(text: str | None) -> None:
    sig = signatures(large([text, "some words here"]), PARAMS)
    assert (sig[0] == EMPTY_HASH).all()
    assert np.array_equal(sig[0], MinHash(128, seed=1, scheme="affine32").digest())
    assert not (sig[1] == EMPTY_HASH).all()


@given(
    st.binary(min_size=1, max_size=300),
    st.lists(st.tuples(st.integers(0, 299), st.integers(0, 80)), max_size=40),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=80, deadline=None)
def test_xxh32_spans_equals_xxhash(data: bytes, spans: list[tuple[int, int]], seed: int) -> None:
    buf = np.frombuffer(data, dtype=np.uint8)
    starts = np.array([min(s, len(data)) for s, _ in spans], dtype=np.int64)
    lengths = np.array(
        [min(n, len(data) - s) for s, (_, n) in zip(starts, spans, strict=True)], dtype=np.int64
    )
    got = xxh32_spans(buf, starts, lengths, seed)
    expected = [xxhash.xxh32_intdigest(data[s : s + n], seed) for s, n in zip(starts, lengths, strict=True)]
    assert got.tolist() == expected


@pytest.mark.parametrize(
    ("text", "char_ngrams"),
    [
        ("plain english text", False),
        ("中文文本", True),
        ("日本語のテキスト", True),
        ("한국어 텍스트", True),
        ("mostly english with 中文", False),
        ("中文为主的一段文本 with en", True),
        ("12345 !!!", False),
        ("", False),
        (None, False),
    ],
)
def test_cjk_detection_by_script(text: str | None, char_ngrams: bool) -> None:
    assert cjk_mask(large([text]))[0] == char_ngrams


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a b c d e f", [b"a b c d e", b"b c d e f"]),
        ("a b", [b"a b"]),
        ("中文文本测试一", ["中文文本测".encode(), "文文本测试".encode(), "文本测试一".encode()]),
        ("", []),
        (None, []),
    ],
)
def test_shingles(text: str | None, expected: list[bytes]) -> None:
    assert shingles(text, PARAMS) == expected


@given(
    st.lists(st.one_of(st.none(), st.text(alphabet="abc 中文", max_size=40)), min_size=1, max_size=20),
    st.data(),
)
@settings(max_examples=40, deadline=None)
def test_signatures_do_not_depend_on_batching(texts: list[str | None], data: st.DataObject) -> None:
    whole = signatures(large(texts), PARAMS)
    cut = data.draw(st.integers(0, len(texts)))
    parts = pa.chunked_array([large(texts[:cut]), large(texts[cut:])], pa.large_string())
    assert np.array_equal(signatures(parts, PARAMS), whole)
    assert np.array_equal(signatures(large(texts).slice(cut), PARAMS), whole[cut:])
    assert np.array_equal(signatures(pa.array(texts, pa.string()), PARAMS), whole)


def test_signatures_cross_slice_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    import auditor.stages.minhash as minhash_module

    whole = signatures(large(TEXTS), PARAMS)
    monkeypatch.setattr(minhash_module, "_SLICE_BYTES", 64)
    monkeypatch.setattr(minhash_module, "_CHUNK_SHINGLES", 8)
    assert np.array_equal(signatures(large(TEXTS), PARAMS), whole)


def test_stage_adds_fixed_size_list_column() -> None:
    batch = pa.RecordBatch.from_pydict(
        {"record_id": ["a", "b", "c"], "norm_text": large(["x y z", None, "中文"])}
    )
    stage = MinHashStage()
    stage.setup(StageContext())
    out = stage(batch)
    assert out.num_rows == 3
    assert out.schema.names == ["record_id", "norm_text", "minhash"]
    assert out.schema.field("minhash").type == pa.list_(pa.uint32(), 128)
    assert out.column("minhash").null_count == 0
    assert out.column("record_id").equals(batch.column("record_id"))
    assert np.array_equal(
        signature_matrix(out.column("minhash")), signatures(batch.column("norm_text"), PARAMS)
    )


def test_stage_reads_params_from_context() -> None:
    stage = MinHashStage()
    stage.setup(StageContext(params={"minhash": {"num_perm": 32, "seed": 3}}))
    out = stage(pa.RecordBatch.from_pydict({"norm_text": large(["a b c"])}))
    assert out.schema.field("minhash").type == pa.list_(pa.uint32(), 32)


def test_stage_without_norm_text_names_the_column() -> None:
    stage = MinHashStage()
    stage.setup(StageContext())
    with pytest.raises(ColumnError, match="norm_text"):
        stage(pa.RecordBatch.from_pydict({"text": ["a"]}))


def test_signature_matrix_roundtrip_and_nulls() -> None:
    sigs = signatures(large(["a b c", "d e f g h i"]), PARAMS)
    column = signature_array(sigs)
    assert np.array_equal(signature_matrix(column), sigs)
    assert np.array_equal(signature_matrix(column.slice(1)), sigs[1:])
    with_null = pa.array([sigs[0].tolist(), None], pa.list_(pa.uint32(), 128))
    assert (signature_matrix(with_null)[1] == EMPTY_HASH).all()
    with pytest.raises(ColumnError, match="num_perm=64"):
        signature_matrix(column, 64)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_perm": 0}, "num_perm must be a positive integer"),
        ({"ngram": 1.5}, "ngram must be a positive integer"),
        ({"scheme": "legacy"}, "available: \\['affine32'\\]"),
        ({"hash_function": "sha1"}, "available: \\['xxh32'\\]"),
        ({"threshold": 0}, "threshold must be a number in \\(0, 1\\]"),
        ({"bands": 20, "rows": 10}, "Did you forget to set num_perm"),
        ({"rows": 4}, "rows is given without minhash.bands"),
        ({"bands": 1}, "bands must be at least 2"),
        ({"lsh_weights": (0.5, 0.6)}, "summing to 1"),
        ({"seed": -1}, "seed must be an integer"),
    ],
)
def test_invalid_params(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MinHashParams(**kwargs)


def test_from_mapping_rejects_unknown_keys() -> None:
    with pytest.raises(
        ConfigError, match=r"policy.dedup: unknown key\(s\) \['num_perms'\]; allowed: .*num_perm"
    ):
        MinHashParams.from_mapping({"num_perms": 64}, where="policy.dedup")
    assert MinHashParams.from_mapping({"lsh_weights": [0.5, 0.5]}).lsh_weights == (0.5, 0.5)


@pytest.mark.parametrize(("threshold", "weights"), [(0.8, (0.5, 0.5)), (0.8, (0.2, 0.8)), (0.7, (0.3, 0.7))])
def test_band_params_come_from_datasketch_optimiser(threshold: float, weights: tuple[float, float]) -> None:
    params = MinHashParams(threshold=threshold, lsh_weights=weights)
    lsh = MinHashLSH(threshold=threshold, num_perm=128, weights=weights)
    assert params.band_params() == (lsh.b, lsh.r)
    assert MinHashParams(bands=16).band_params() == (16, 8)


def test_summary_lists_every_sketch_parameter() -> None:
    summary = MinHashParams(bands=16, rows=8).to_summary()
    for key in (
        "scheme",
        "seed",
        "num_perm",
        "hash_function",
        "ngram",
        "char_ngram",
        "cjk_share",
        "threshold",
    ):
        assert key in summary
    assert (summary["bands_used"], summary["rows_used"], summary["bands_rows_source"]) == (16, 8, "explicit")
    assert summary["scheme"] == "affine32" and summary["hash_function"] == "xxh32"


_CLASS_TEXT = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from("中文한국어カタカナひらがな⺀⼀〇々ー・𠀀abcÜ 。,1")), max_size=80
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_CLASS_TEXT, min_size=1, max_size=8))
def test_class_counts_equal_counting_characters_one_by_one(texts: list[str]) -> None:
    from auditor.stages import minhash

    array = pa.array(texts, pa.large_string())
    for single, run in ((minhash._CJK_LETTERS, minhash._NOT_CJK_RUN), (minhash._ANY_LETTER, minhash._NOT_LETTER_RUN)):
        expected = pc.count_substring_regex(array, single).to_numpy(zero_copy_only=False)
        assert minhash.class_count(array, run).tolist() == expected.tolist()
