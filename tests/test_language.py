"""LanguageStage: script pre-check, langdetect with a seed, nulls for text without language."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.errors import ConfigError
from auditor.stages.base import StageContext
from auditor.stages.language import LanguageStage, chinese_variant, detect_language, script_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The committee will publish its final report on the new railway line next spring.", "en"),
        (
            "Der Ausschuss wird seinen Abschlussbericht über die neue Bahnstrecke im Frühjahr veröffentlichen.",
            "de",
        ),
        (
            "Le comité publiera son rapport final sur la nouvelle ligne ferroviaire au printemps prochain.",
            "fr",
        ),
        ("El comité publicará su informe final sobre la nueva línea ferroviaria la próxima primavera.", "es"),
        ("Комитет опубликует окончательный доклад о новой железной дороге следующей весной.", "ru"),
        ("委员会将于明年春天发布关于新铁路线的最终报告。", "zh-Hans"),
        ("委員會將於明年春天發佈關於新鐵路線的最終報告。", "zh-Hant"),
        ("委员会明年春天发布报告", "zh-Hans"),
        ("春天到", "zh"),
        ("委員会は来年の春に新しい鉄道路線に関する最終報告書を公表する。", "ja"),
        ("위원회는 내년 봄 새 철도 노선에 관한 최종 보고서를 발표할 예정이다.", "ko"),
        ("Η επιτροπή θα δημοσιεύσει την τελική της έκθεση την επόμενη άνοιξη.", "el"),
        ("คณะกรรมการจะเผยแพร่รายงานฉบับสุดท้ายในฤดูใบไม้ผลิหน้า", "th"),
        ("הוועדה תפרסם את הדוח הסופי שלה באביב הבא.", "he"),
        # mixed CJK + ASCII: code and product names do not make it English (or vi/no/ca)
        ("使用Python的pandas库和NumPy进行数据分析，再用Docker部署到AWS。", "zh-Hans"),
        ("在GitHub上提交PR之前请先运行pytest和ruff check。", "zh-Hans"),
        ("iPhone 15 Proの新しいカメラはとても良いです。", "ja"),
        # nothing to decide on
        ("", None),
        ("   \n\t ", None),
        ("1234567890 42 3.14159", None),
        ("https://example.com/path/to/page?id=123&lang=en", None),
        ("jane.doe@example.com", None),
        ("!!! ??? ... --- ***", None),
    ],
)
@pytest.mark.parametrize("backend", ["langdetect", "profiles"])
def test_detect_language(text: str, expected: str | None, backend: str) -> None:
    assert detect_language(text, backend=backend) == expected


def test_null_text() -> None:
    assert detect_language(None) is None


@pytest.mark.parametrize(
    ("letters", "expected"),
    [
        ("Pythonpandas", None),  # Latin only: left to langdetect
        ("这个网站", "zh-Hans"),
        ("這個網站", "zh-Hant"),
        ("ひらがなとカタカナ", "ja"),
        ("한국어", "ko"),
        ("ReallyLongEnglishSentenceWithOne中", None),  # one Han character in English text
    ],
)
def test_script_language(letters: str, expected: str | None) -> None:
    assert script_language(letters) == expected


@pytest.mark.parametrize(("text", "expected"), [("国家", "zh-Hans"), ("國家", "zh-Hant"), ("中文", "zh")])
def test_chinese_variant(text: str, expected: str) -> None:
    assert chinese_variant(text) == expected


def test_only_a_prefix_is_analysed() -> None:
    english, german = (
        "The weather is nice today and we go out. " * 3,
        "Das Wetter ist heute schön und wir gehen. " * 50,
    )
    assert detect_language(english + german, prefix_chars=100) == "en"
    assert detect_language(english + german, prefix_chars=4000) == "de"


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["langdetect", "profiles"]))
def test_detection_is_deterministic_and_total(text: str, backend: str) -> None:
    first = detect_language(text, backend=backend)
    assert first == detect_language(text, backend=backend)
    assert first is None or isinstance(first, str)


def test_stage_adds_nullable_string_column() -> None:
    stage = LanguageStage()
    stage.setup(StageContext())
    texts = pa.array(["Guten Morgen, wie geht es Ihnen heute?", None, "", "今天天气很好"], pa.large_string())
    batch = pa.RecordBatch.from_arrays([texts], names=["text"])
    out = stage(batch)
    assert out.schema.field("lang").type == pa.string()
    assert out.column("lang").to_pylist() == ["de", None, None, "zh-Hans"]
    assert out.column("text").equals(texts)


def test_profiles_backend_through_the_stage() -> None:
    stage = LanguageStage()
    stage.setup(StageContext(params={"lang_backend": "profiles"}))
    texts = pa.array(["Où est la gare la plus proche, s'il vous plaît ?", "12 34"], pa.large_string())
    out = stage(pa.RecordBatch.from_arrays([texts], names=["text"]))
    assert out.column("lang").to_pylist() == ["fr", None]


def test_unknown_backend_lists_the_available_ones() -> None:
    with pytest.raises(
        ConfigError, match="lang_backend 'fasttext' is unknown; available: langdetect, profiles"
    ):
        LanguageStage().setup(StageContext(params={"lang_backend": "fasttext"}))


@pytest.mark.parametrize("bad", [0, 8, "512", True])
def test_prefix_parameter_is_validated(bad: object) -> None:
    with pytest.raises(ConfigError, match="lang_prefix_chars must be an integer >= 16"):
        LanguageStage().setup(StageContext(params={"lang_prefix_chars": bad}))


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=300))
def test_profiles_ascii_fast_path_equals_langdetects_cleaning(text):
    from auditor.stages.language import _langdetect_clean, _profile_model

    model = _profile_model()
    assert model._normalised(text) == _langdetect_clean(text).translate(model.table)


# The fast paths of the noise and capital-word filters give the regexes' own results.
_FILTER_ALPHABET = st.sampled_from(list("aZQbÀÖØÞАЯя中 \t\n@:/.w-_0123") + ["://", "www.", "http", "@x.y"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_FILTER_ALPHABET, max_size=60).map("".join))
def test_noise_and_capital_word_fast_paths_equal_the_regexes(text: str) -> None:
    from auditor.stages import language

    assert language.letters_of(text) == language._NOISE.sub("", text)
    assert language._drop_capital_words(text) == language._CAPITAL_WORD.sub(" ", text)
    assert language._drop_urls(text) == language._URL.sub(" ", text)
    assert language._drop_mail(text) == language._MAIL.sub(" ", text)


def test_profiles_model_cache_is_written_reused_and_rebuilt_when_broken(tmp_path, monkeypatch) -> None:
    import numpy as np

    from auditor.stages import language

    texts = ["Das ist ein kurzer deutscher Satz über das Wetter.", "Ceci est une phrase en français.",
             "This is an English sentence about the weather."]
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path))
    language._profile_model.cache_clear()
    try:
        built = language._profile_model()
        files = list(tmp_path.glob("langdetect-profiles-*.npz"))
        assert len(files) == 1
        language._profile_model.cache_clear()
        loaded = language._profile_model()
        assert loaded is not built and loaded.languages == built.languages
        assert np.array_equal(loaded.log_prob, built.log_prob) and list(loaded.index) == list(built.index)
        assert [loaded.detect(t) for t in texts] == [built.detect(t) for t in texts] == ["de", "fr", "en"]
        files[0].write_bytes(b"not an npz file")
        language._profile_model.cache_clear()
        assert language._profile_model().languages == built.languages  # rebuilt, and the file rewritten
        assert np.array_equal(language._ProfileModel.load(files[0]).log_prob, built.log_prob)
        monkeypatch.setenv("AUDITOR_CACHE_DIR", "")
        assert language._model_cache_path() is None
    finally:
        language._profile_model.cache_clear()
