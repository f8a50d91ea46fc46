"""Language stage: one language code per record, ``lang`` (string, null when undeterminable).

Decision order, on a bounded prefix of the text (``params["lang_prefix_chars"]``, default 512):

1. Strip URLs, e-mail addresses, digits and punctuation; fewer than 3 letters left -> null.
2. Script pre-check: Chinese, Japanese and Korean are decided by script, so mixed CJK + ASCII text
   (code, product names) is not mislabelled and Traditional Chinese is not called Korean (both known
   langdetect failures). Chinese is ``zh-Hans`` or ``zh-Hant`` when characters that exist in only one
   of the two forms say so, else ``zh``. Scripts used by a single language (Thai, Greek, Hebrew,
   Georgian, Armenian, most Indic scripts, ...) give that language directly.
3. Otherwise (Latin, Cyrillic, Arabic, Devanagari text) a statistical model over character n-grams:
   - ``backend="langdetect"`` (default): langdetect, seeded (seed 0) for determinism;
   - ``backend="profiles"``: the same langdetect language profiles scored exactly (naive Bayes over all
     1-3-grams with numpy) instead of langdetect's random sampling: deterministic without a seed and
     several times faster (see bench/lang_bench.py); no extra dependency.

Codes are ISO 639-1 (``zh``, ``zh-Hans``, ``zh-Hant`` for Chinese).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import operator
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException
from langdetect.utils.ngram import NGram

from auditor.errors import ConfigError
from auditor.io.atomic import atomic_path
from auditor.stages.base import StageContext, append_columns

DEFAULT_PREFIX_CHARS = 512
MIN_LETTERS = 3

_NOISE_URL = r"(?:https?://|www\.)[^\s<>\"]{0,2048}"
_NOISE_MAIL = r"[^\s@<>\"]{1,64}@[^\s@<>\"]{1,255}"
_NOISE_OTHER = r"[\W\d_]{1,1024}"
_NOISE = re.compile(f"{_NOISE_URL}|{_NOISE_MAIL}|{_NOISE_OTHER}")
# The same pattern without the alternatives that cannot match a text lacking "@" (e-mail) or "://" and
# "www." (URL): the same matches, without trying the e-mail form (up to 64 characters, then "@") at
# every position of every text. Keys: (may hold a URL, may hold an e-mail address).
_NOISE_BY_CUES = {
    (True, True): _NOISE,
    (True, False): re.compile(f"{_NOISE_URL}|{_NOISE_OTHER}"),
    (False, True): re.compile(f"{_NOISE_MAIL}|{_NOISE_OTHER}"),
    (False, False): re.compile(_NOISE_OTHER),
}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
# Scripts written by (nearly) one language in web text: script -> ISO 639-1 code.
_SINGLE_LANGUAGE_SCRIPTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(f"[{ranges}]"), code)
    for ranges, code in (
        ("\u0370-\u03ff\u1f00-\u1fff", "el"),
        ("\u0590-\u05ff", "he"),
        ("\u0e00-\u0e7f", "th"),
        ("\u10a0-\u10ff", "ka"),
        ("\u0530-\u058f", "hy"),
        ("\u0980-\u09ff", "bn"),
        ("\u0a00-\u0a7f", "pa"),
        ("\u0a80-\u0aff", "gu"),
        ("\u0b00-\u0b7f", "or"),
        ("\u0b80-\u0bff", "ta"),
        ("\u0c00-\u0c7f", "te"),
        ("\u0c80-\u0cff", "kn"),
        ("\u0d00-\u0d7f", "ml"),
        ("\u0d80-\u0dff", "si"),
        ("\u0e80-\u0eff", "lo"),
        ("\u0f00-\u0fff", "bo"),
        ("\u1000-\u109f", "my"),
        ("\u1200-\u137f", "am"),
        ("\u1780-\u17ff", "km"),
    )
)
# Common characters that exist in only one of the two written forms of Chinese (same order in both).
_SIMPLIFIED = "这个们说国会来时为对学发经过后还没开长门问间见现电话动东车书语让认点实头体关应产业进与从种样两无万义处员华号机条网数据务计统总区边报场变该级极军论买卖亲气钱请设听写线选银远运张则"
_TRADITIONAL = "這個們說國會來時為對學發經過後還沒開長門問間見現電話動東車書語讓認點實頭體關應產業進與從種樣兩無萬義處員華號機條網數據務計統總區邊報場變該級極軍論買賣親氣錢請設聽寫線選銀遠運張則"
_SIMPLIFIED_ONLY = re.compile(
    "[" + "".join(s for s, t in zip(_SIMPLIFIED, _TRADITIONAL, strict=True) if s != t) + "]"
)
_TRADITIONAL_ONLY = re.compile(
    "[" + "".join(t for s, t in zip(_SIMPLIFIED, _TRADITIONAL, strict=True) if s != t) + "]"
)
_LANGDETECT_CODES = {"zh-cn": "zh-Hans", "zh-tw": "zh-Hant"}


@functools.cache
def _langdetect_factory() -> DetectorFactory:
    """langdetect's profiles, loaded once per process, with a fixed seed."""
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)
    return factory


def letters_of(text: str) -> str:
    """The text without URLs, e-mail addresses, digits, punctuation and spaces."""
    return _NOISE_BY_CUES[("://" in text or "www." in text, "@" in text)].sub("", text)


def script_language(letters: str) -> str | None:
    """A language decided by script alone, or None when the script is shared by many languages."""
    if letters.isascii():
        return None
    han, kana, hangul = len(_HAN.findall(letters)), len(_KANA.findall(letters)), len(_HANGUL.findall(letters))
    cjk = han + kana + hangul
    # A CJK character carries about a word; compare with Latin/other letters counted per ~4 letters.
    if cjk and cjk * 4 >= len(letters) - cjk:
        if hangul >= kana and hangul * 5 >= cjk:
            return "ko"
        if kana >= 2 and kana * 20 >= cjk:
            return "ja"
        if han:
            return chinese_variant(letters)
    for pattern, code in _SINGLE_LANGUAGE_SCRIPTS:
        if len(pattern.findall(letters)) * 2 >= len(letters):
            return code
    return None


def chinese_variant(text: str) -> str:
    """``zh-Hans`` or ``zh-Hant`` when form-specific characters outnumber the other form's, else ``zh``."""
    simplified, traditional = len(_SIMPLIFIED_ONLY.findall(text)), len(_TRADITIONAL_ONLY.findall(text))
    if simplified > traditional:
        return "zh-Hans"
    if traditional > simplified:
        return "zh-Hant"
    return "zh"


def _langdetect(prefix: str) -> str | None:
    detector = _langdetect_factory().create()
    detector.append(prefix)
    try:
        return detector.detect()
    except LangDetectException:
        return None


class _NormaliseTable(dict):
    """langdetect's per-character normalisation (``NGram.normalize``) as a ``str.translate`` table, each
    character's entry made the first time it is met (as the full table of the Basic Multilingual Plane
    would give it; characters beyond it are left as they are)."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        normal = NGram.normalize(char) if code < 0x10000 and not 0xD800 <= code <= 0xDFFF else char
        self[code] = normal
        return normal


class _ProfileModel:
    """langdetect's profiles as a matrix: log(alpha + P(n-gram | language)), scored over all n-grams."""

    _ALPHA = 0.5 / 10000  # langdetect's smoothing weight (ALPHA_DEFAULT / BASE_FREQ)

    def __init__(self, languages: list[str], grams: list[str], log_prob: np.ndarray) -> None:
        self.languages = languages
        self.index = {gram: i for i, gram in enumerate(grams)}
        self.log_prob = log_prob
        self.table = _NormaliseTable()
        # The same mapping for ASCII text as a bytes table: bytes.translate is a C loop, str.translate
        # looks every character up.
        ascii_map = bytearray(range(128))
        self.ascii_ok = True
        for code in range(128):
            normal = self.table[code]
            if len(normal) == 1 and ord(normal) < 128:
                ascii_map[code] = ord(normal)
            else:
                self.ascii_ok = False
        self.ascii_table = bytes(ascii_map) + bytes(range(128, 256))

    @classmethod
    def build(cls, factory: DetectorFactory) -> _ProfileModel:
        grams = list(factory.word_lang_prob_map)
        probabilities = np.array([factory.word_lang_prob_map[g] for g in grams], dtype=np.float32)
        return cls(list(factory.langlist), grams, np.log(probabilities + np.float32(cls._ALPHA)))

    @classmethod
    def load(cls, path: Path) -> _ProfileModel:
        with np.load(path, allow_pickle=False) as data:
            grams = bytes(data["grams"]).decode("utf-8").split("\x00")
            languages = bytes(data["languages"]).decode("utf-8").split("\x00")
            return cls(languages, grams, data["log_prob"])

    def save(self, path: Path) -> None:
        grams = "\x00".join(self.index).encode("utf-8")
        languages = "\x00".join(self.languages).encode("utf-8")
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, grams=np.frombuffer(grams, np.uint8), languages=np.frombuffer(languages, np.uint8),
                     log_prob=self.log_prob)

    def _normalised(self, prefix: str) -> str:
        if self.ascii_ok and prefix.isascii():
            # For ASCII text langdetect's cleaning only removes URLs and e-mail addresses: no
            # Vietnamese marks to join, no non-Latin script to strip Latin letters from.
            cleaned = _drop_mail(_drop_urls(prefix))
            return cleaned.encode("ascii").translate(self.ascii_table).decode("ascii")
        return _langdetect_clean(prefix).translate(self.table)

    def detect(self, prefix: str) -> str | None:
        text = self._normalised(prefix)
        text = " " + " ".join(_drop_capital_words(text).split()) + " "
        # langdetect's n-grams: 1-3-grams of each space-padded word (never across a word boundary).
        # Built with map over shifted strings (no index arithmetic per n-gram).
        bigrams = list(map(operator.add, text, text[1:]))
        trigrams = [g for g in map(operator.add, bigrams, text[2:]) if g[1] != " "]
        grams = itertools.chain(text.replace(" ", ""), bigrams, trigrams)
        get, unknown = self.index.get, len(self.index)
        rows = np.fromiter(map(get, grams, itertools.repeat(unknown)), dtype=np.int64)
        rows = rows[rows != unknown]
        if rows.size == 0:
            return None
        scores = self.log_prob[rows].sum(axis=0)
        return self.languages[int(np.argmax(scores))]


# Words with two capitals in a row (acronyms, names in capitals): langdetect ignores them.
_CAPITAL_WORD = re.compile(r"\S*[A-ZÀ-ÖØ-ÞА-Я]{2}\S*")
_TWO_CAPITALS = re.compile(r"[A-ZÀ-ÖØ-ÞА-Я]{2}")
_WORD = re.compile(r"\S+")
_URL = re.compile(r"https?://[-_.?&~;+=/#0-9A-Za-z]{1,2076}")
_MAIL = re.compile(r"[-_.0-9A-Za-z]{1,64}@[-_0-9A-Za-z]{1,255}[-_.0-9A-Za-z]{1,255}")


def _drop_capital_words(text: str) -> str:
    """``_CAPITAL_WORD.sub(" ", text)``, without its quadratic backtracking: a match of that pattern
    is exactly a whole run of non-spaces that holds two capitals in a row (``\\S*`` cannot cross a
    space, and a run without two capitals has no match at any of its positions)."""
    if _TWO_CAPITALS.search(text) is None:
        return text
    return _WORD.sub(lambda m: " " if _TWO_CAPITALS.search(m.group()) else m.group(), text)


def _drop_urls(text: str) -> str:
    """``_URL.sub(" ", text)``; a text without "://" has no match."""
    return _URL.sub(" ", text) if "://" in text else text


def _drop_mail(text: str) -> str:
    """``_MAIL.sub(" ", text)``; a text without "@" has no match."""
    return _MAIL.sub(" ", text) if "@" in text else text
_LATIN = re.compile(r"[A-z]")
_NON_LATIN = re.compile("[\u0300-\U0010ffff]")


def _langdetect_clean(text: str) -> str:
    """langdetect's cleaning: drop URLs and e-mail addresses, drop Latin letters from non-Latin text."""
    text = NGram.normalize_vi(_drop_mail(_drop_urls(text)))
    if len(_LATIN.findall(text)) * 2 < len(_NON_LATIN.findall(text)):
        text = _LATIN.sub("", text)
    return text


@functools.cache
def _profile_model() -> _ProfileModel:
    """The profiles model, from the cache when it holds one made from the same langdetect profiles
    (building it from langdetect's JSON profiles takes a second or two in every worker process)."""
    path = _model_cache_path()
    if path is not None and path.is_file():
        try:
            return _ProfileModel.load(path)
        except (OSError, ValueError, KeyError):
            pass  # unreadable or of another layout: build it again
    model = _ProfileModel.build(_langdetect_factory())
    if path is not None:
        with contextlib.suppress(OSError):
            model.save(path)
    return model


_MODEL_FORMAT = 1


def _model_cache_path() -> Path | None:
    """Where the profiles model is cached: ``$AUDITOR_CACHE_DIR`` (empty: no cache), else
    ``$XDG_CACHE_HOME/auditor`` or ``~/.cache/auditor``; the name hashes langdetect's profile files
    (names, sizes, modification times) and the format, so another langdetect gets another file."""
    root = os.environ.get("AUDITOR_CACHE_DIR")
    if root is None:
        root = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "auditor")
    if not root:
        return None
    digest = hashlib.sha256(f"format {_MODEL_FORMAT}\n".encode())
    for profile in sorted(Path(PROFILES_DIRECTORY).iterdir()):
        stat = profile.stat()
        digest.update(f"{profile.name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return Path(root) / f"langdetect-profiles-{digest.hexdigest()[:16]}.npz"


def _profiles(prefix: str) -> str | None:
    return _profile_model().detect(prefix)


BACKENDS: dict[str, Callable[[str], str | None]] = {"langdetect": _langdetect, "profiles": _profiles}


def detect_language(
    text: str | None, *, prefix_chars: int = DEFAULT_PREFIX_CHARS, backend: str = "langdetect"
) -> str | None:
    """The language of ``text`` (see the module docstring), or None."""
    if not text:
        return None
    prefix = text[:prefix_chars]
    letters = letters_of(prefix)
    if len(letters) < MIN_LETTERS:
        return None
    by_script = script_language(letters)
    if by_script is not None:
        return by_script
    code = BACKENDS[backend](prefix)
    return _LANGDETECT_CODES.get(code, code) if code is not None else None


class LanguageStage:
    """Adds ``lang`` (string, nullable) from ``text``; see the module docstring."""

    name = "language"

    def __init__(self, *, prefix_chars: int = DEFAULT_PREFIX_CHARS, backend: str = "langdetect") -> None:
        self.prefix_chars = prefix_chars
        self.backend = backend

    def setup(self, context: StageContext) -> None:
        prefix = context.params.get("lang_prefix_chars", self.prefix_chars)
        if not isinstance(prefix, int) or isinstance(prefix, bool) or prefix < 16:
            raise ConfigError(f"params.lang_prefix_chars must be an integer >= 16, got {prefix!r}")
        backend = context.params.get("lang_backend", self.backend)
        if backend not in BACKENDS:
            raise ConfigError(f"params.lang_backend {backend!r} is unknown; available: {', '.join(BACKENDS)}")
        self.prefix_chars, self.backend = prefix, backend
        DetectorFactory.seed = 0  # also makes langdetect's module-level detect() deterministic
        if backend == "profiles":
            _profile_model()
        else:
            _langdetect_factory()

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text")
        # Only a bounded prefix is analysed: slice in Arrow before converting to Python strings.
        prefixes = pc.utf8_slice_codeunits(texts, 0, self.prefix_chars).to_pylist()
        langs = [detect_language(t, prefix_chars=self.prefix_chars, backend=self.backend) for t in prefixes]
        return append_columns(batch, {"lang": pa.array(langs, pa.string())})
