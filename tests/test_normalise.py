from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.stages.base import StageContext
from auditor.stages.normalise import NormaliseStage, normalise_text


@pytest.mark.parametrize(("raw", "expected"), [
    ("Hello   World", "hello world"),
    ("  tabs\tand\nnewlines  ", "tabs and newlines"),
    ("Straße", "strasse"),  # full case folding, not lower()
    ("ﬁne ＡＢＣ", "fine abc"),  # NFKC: ligature and full-width letters
    ("a\u00a0b\u3000c", "a b c"),  # no-break and ideographic spaces are whitespace after NFKC
    ("数据　治理", "数据 治理"),
    ("", ""),
])
def test_normal_form(raw, expected):
    assert normalise_text(raw) == expected


@given(st.text())
def test_normalisation_is_idempotent(text):
    once = normalise_text(text)
    assert normalise_text(once) == once


def _batch(texts):
    return pa.RecordBatch.from_pydict({"text": pa.array(texts, pa.large_string())})


@given(st.lists(st.one_of(st.none(), st.text()), max_size=20))
def test_stage_preserves_rows_and_hashes_deterministically(texts):
    stage = NormaliseStage()
    stage.setup(StageContext())
    out = stage(_batch(texts))
    assert out.num_rows == len(texts)
    assert out.column("text").to_pylist() == texts
    again = stage(_batch(texts))
    assert out.column("norm_sha256").to_pylist() == again.column("norm_sha256").to_pylist()
    for text, content, null in zip(texts, out.column("content_sha256").to_pylist(),
                                   out.column("text_null").to_pylist(), strict=True):
        assert null == (text is None)
        expected = hashlib.sha256((text or "").encode("utf-8", "surrogatepass")).hexdigest()
        assert content == expected


def test_exact_duplicate_key_ignores_case_and_spacing():
    stage = NormaliseStage()
    out = stage(_batch(["Hello  World", "hello world", "hello, world"]))
    keys = out.column("norm_sha256").to_pylist()
    assert keys[0] == keys[1] != keys[2]
    assert out.column("n_chars").to_pylist() == [12, 11, 12]


@given(st.lists(st.one_of(st.none(), st.text(), st.text(alphabet=st.characters(max_codepoint=127)))))
def test_vectorised_normalisation_equals_the_definition(texts):
    from auditor.stages.normalise import normalise_array

    got = normalise_array(pa.array(texts, pa.large_string())).to_pylist()
    assert got == [None if t is None else normalise_text(t) for t in texts]
