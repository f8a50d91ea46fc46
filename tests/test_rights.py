"""The rights stage: excerpts, near-duplicates, spans, holders, statuses and the stage contract."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.registry import Registries, load_registries
from auditor.registry.fingerprints import WINDOW_BYTES, str_windows
from auditor.stages.base import StageContext
from auditor.stages.normalise import NormaliseStage, normalise_text
from auditor.stages.rights import COPYRIGHT_STATUS_TYPE, RIGHTS_SPANS_TYPE, RIGHTS_TYPE, RightsStage

AS_OF = dt.date(2026, 11, 24)
_WORDS = ("river stone market quietly morning window paper bridge ledger salt harbour garden number evening "
         "island lantern orchard weather uncle yard basket copper doctor engine feather glass hollow ink "
         "jacket kettle ladder meadow needle oyster pepper quarry ribbon saddle timber umbrella velvet "
         "wagon yellow zebra anchor blanket candle desert empire fabric gravel honey iron jungle kitchen "
         "lemon mirror nephew office pocket quilt rocket silver tunnel uniform valley walnut ash birch "
         "cedar dune elm fern grove heath ivy juniper kelp lichen moss nettle oak pine reed sedge thistle "
         "ran walked sang carried folded opened counted whispered painted lifted mended waited turned "
         "old small bright heavy narrow silent distant wooden broken golden tired early")
VOCAB = _WORDS.split()
PHRASES = ("at the end of the day it was clear that", "in the middle of the night", "on the other hand",
           "as a matter of fact", "for the first time in many years", "it is important to note that",
           "one of the most important things")
HAN = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府"
WORKS_HEADER = "id,title,rights_holder,authors,author_death_year,publication_year,jurisdiction,status,file,contract"


def prose(seed: int, n_words: int, phrases: tuple[str, ...] = PHRASES) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n_words:
        if rng.random() < 0.02:
            out.extend(rng.choice(phrases).split())
        else:
            out.append(rng.choice(VOCAB))
        if rng.random() < 0.08:
            out[-1] += "."
    return " ".join(out[:n_words])


def hanzi(seed: int, n_chars: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(HAN) + ("。" if rng.random() < 0.05 else "") for _ in range(n_chars))


WORK_TEXT = prose(1, 4000)
POEM = prose(2, 60)
ZH_TEXT = hanzi(3, 3000)
LICENSED = prose(4, 800)


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Registries:
    root = tmp_path_factory.mktemp("reg")
    for name, text in {"w1.txt": WORK_TEXT, "poem.txt": POEM, "zh.txt": ZH_TEXT, "lic.txt": LICENSED}.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "works.csv").write_text(
        f"{WORKS_HEADER}\n"
        "W1,Novel,Press Ltd,Ann Author,,2019,GB,in-copyright,w1.txt,\n"
        "POEM,Old Poem,,Old Poet,1890,1870,US,in-copyright,poem.txt,\n"
        "ZH,灯塔,出版社,林,,2020,CN,in-copyright,zh.txt,\n"
        "LIC,Licensed Book,Partner,Bo,1990,1985,EU,licensed,lic.txt,CT-7\n", encoding="utf-8")
    (root / "holders.csv").write_text(
        "holder,domains,terms,since\n"
        "News Ltd,example.co.uk;example.com/news/,all rights reserved,2020-01-01\n"
        "Partner,partner.example,licensed under contract P-1,\n", encoding="utf-8")
    return load_registries([root], as_of=AS_OF)


def run(registries: Registries, texts: list[str | None], urls: list[str | None] | None = None,
        *, normalise: bool = True, **context: object) -> pa.RecordBatch:
    n = len(texts)
    batch = pa.RecordBatch.from_pydict({
        "record_id": [f"r{i}" for i in range(n)],
        "url": pa.array(urls or [None] * n, pa.string()),
        "text": pa.array(texts, pa.large_string()),
    })
    if normalise:
        batch = NormaliseStage()(batch)
    stage = RightsStage(registries)
    stage.setup(StageContext(as_of=AS_OF, **context))  # type: ignore[arg-type]
    return stage(batch)


def work_entries(batch: pa.RecordBatch, row: int) -> list[tuple[str, str]]:
    return [(e["entry"], e["kind"]) for e in batch.column("rights")[row].as_py()]


def test_excerpt_of_300_words_inside_3000_words_is_found(registries: Registries) -> None:
    words = WORK_TEXT.split()
    excerpt = " ".join(words[1500:1800])
    before, after = prose(10, 1350), prose(11, 1350)
    record = f"{before} {excerpt} {after}"
    out = run(registries, [record])
    (match,) = out.column("rights")[0].as_py()
    assert (match["entry"], match["kind"]) == ("W1", "work-excerpt")
    assert match["registry"] == f"{registries.folders[-1].name}/works"
    assert 0.07 < match["score"] < 0.13  # about 300 of 3,000 words
    (span,) = out.column("rights_spans")[0].as_py()
    start = len(before) + 1
    assert span["entry"] == "W1" and span["start"] == start
    assert start + len(excerpt) - WINDOW_BYTES <= span["end"] <= start + len(excerpt)


def test_unrelated_record_sharing_common_phrases_is_not_flagged(registries: Registries) -> None:
    record = prose(99, 3000)
    shared = set(str_windows(normalise_text(record))[1].tolist()) & set(registries.fingerprints[0].windows.tolist())
    assert shared, "the record must share common-phrase windows with the work for this test to mean anything"
    out = run(registries, [record])
    assert out.column("rights")[0].as_py() == []
    assert out.column("rights_spans")[0].as_py() == []


# The default minimum span is 500 bytes of normal form.
@pytest.mark.parametrize(("n_words", "found"), [(20, False), (45, False), (100, True), (300, True)])
def test_quotation_length_threshold(registries: Registries, n_words: int, found: bool) -> None:
    quote = " ".join(WORK_TEXT.split()[700:700 + n_words])
    out = run(registries, [f"{prose(20, 400)} “{quote}” {prose(21, 400)}"])
    assert (("W1", "work-excerpt") in work_entries(out, 0)) is found


def test_near_duplicate_of_a_work(registries: Registries) -> None:
    words = WORK_TEXT.split()
    edited = [("changed" if i % 40 == 0 else w) for i, w in enumerate(words)]
    out = run(registries, [" ".join(edited)])
    (match,) = out.column("rights")[0].as_py()
    assert (match["entry"], match["kind"]) == ("W1", "work-near-duplicate")
    assert 0.5 <= match["score"] < 1.0


def test_short_work_quoted_whole_and_public_domain(registries: Registries) -> None:
    out = run(registries, [f"{prose(50, 300)} As the poet wrote: {POEM} And so on. {prose(51, 300)}", POEM])
    # a public-domain work's match carries that status as its kind (one entry per matched work)
    assert work_entries(out, 0) == [("POEM", "public-domain")]
    assert work_entries(out, 1) == [("POEM", "public-domain")]
    statuses = {s["jurisdiction"]: s["status"] for s in out.column("copyright_status")[0].as_py()}
    assert statuses == {"CN": "public-domain", "EU": "public-domain", "US": "public-domain", "GB": "public-domain"}


def test_licensed_work_and_statuses(registries: Registries) -> None:
    out = run(registries, [LICENSED])
    assert work_entries(out, 0) == [("LIC", "licensed")]
    statuses = {s["jurisdiction"]: (s["status"], s["basis"]) for s in out.column("copyright_status")[0].as_py()}
    assert statuses["EU"][0] == "licensed" and "CT-7" in statuses["EU"][1]
    assert statuses["CN"][0] == "licensed"  # died 1990: CN term runs to 2040


def test_jurisdictions_can_be_narrowed(registries: Registries) -> None:
    out = run(registries, [LICENSED], params={"rights.jurisdictions": ["FR"]})
    assert [s["jurisdiction"] for s in out.column("copyright_status")[0].as_py()] == ["EU"]


def test_chinese_excerpt(registries: Registries) -> None:
    excerpt = ZH_TEXT[1000:1200]
    before = hanzi(30, 800)
    out = run(registries, [before + excerpt + hanzi(31, 800)])
    assert work_entries(out, 0) == [("ZH", "work-excerpt")]
    (span,) = out.column("rights_spans")[0].as_py()
    assert span["start"] == len(before)
    assert len(before) + len(excerpt) - WINDOW_BYTES // 3 <= span["end"] <= len(before) + len(excerpt)


def test_spans_point_into_the_raw_text_despite_normalisation(registries: Registries) -> None:
    words = WORK_TEXT.split()[2000:2100]
    # Upper case, line breaks, doubled spaces and a compatibility ligature: the normal form is
    # shorter than the raw text, and the spans must still be raw offsets.
    raw_excerpt = "\n".join(" ".join(w.upper() for w in words[i:i + 10]) for i in range(0, 100, 10))
    raw_excerpt = raw_excerpt.replace("FI", "\ufb01").replace(" ", "  ")
    before = "Ｆｕｌｌ  ｗｉｄｔｈ   preamble\t\tfollows.  " * 20
    out = run(registries, [before + raw_excerpt + "  the end."])
    (span,) = out.column("rights_spans")[0].as_py()
    assert span["start"] == len(before)
    assert len(before) + len(raw_excerpt) - WINDOW_BYTES <= span["end"] <= len(before) + len(raw_excerpt)


def test_norm_text_is_computed_when_absent(registries: Registries) -> None:
    texts = [f"{prose(40, 100)} {' '.join(WORK_TEXT.split()[100:250])}", None, ""]
    with_norm = run(registries, texts)
    without = run(registries, texts, normalise=False)
    assert with_norm.column("rights").to_pylist() == without.column("rights").to_pylist()
    assert with_norm.column("rights_spans").to_pylist() == without.column("rights_spans").to_pylist()
    assert work_entries(without, 0) == [("W1", "work-excerpt")]


@pytest.mark.parametrize(("url", "expected"), [
    ("https://news.example.co.uk/story/1", [("News Ltd", "holder-domain")]),
    ("https://badexample.co.uk/story/1", []),
    ("https://www.example.com/news/today", [("News Ltd", "holder-domain")]),
    ("https://www.example.com/about", []),
    ("https://shop.partner.example/x", [("Partner", "holder-domain"), ("Partner", "licensed")]),
    (None, []),
    ("not a url", []),
    # Host normalisation and the parsing of split_url, whether or not the host has a path rule.
    ("HTTPS://News.Example.CO.UK:8443/story", [("News Ltd", "holder-domain")]),
    (" https://news.example.co.uk/x ", [("News Ltd", "holder-domain")]),
    ("ht tp://news.example.co.uk/x", []),  # not a scheme
    ("https://news.example.co.uk?x=/news/", [("News Ltd", "holder-domain")]),
    ("https://www.example.com?q=1/news/", []),  # the path is /?q=1/news/
    ("https://example.com#/news/", []),  # a fragment is not a path
    ("https://user@www.example.com/news/a", [("News Ltd", "holder-domain")]),
    ("news.example.co.uk/story", [("News Ltd", "holder-domain")]),
    ("https://example.co.uk./a", [("News Ltd", "holder-domain")]),
])
def test_holder_domains(registries: Registries, url: str | None, expected: list[tuple[str, str]]) -> None:
    out = run(registries, ["short text"], [url])
    assert work_entries(out, 0) == expected
    assert all(e["registry"] == f"{registries.folders[-1].name}/holders" for e in out.column("rights")[0].as_py())


def test_columns_and_parameters(registries: Registries) -> None:
    out = run(registries, ["a", None])
    assert out.schema.field("rights").type == RIGHTS_TYPE
    assert out.schema.field("rights_spans").type == RIGHTS_SPANS_TYPE
    assert out.schema.field("copyright_status").type == COPYRIGHT_STATUS_TYPE
    assert out.column("rights").to_pylist() == [[], []]
    stage = RightsStage(registries)
    stage.setup(StageContext(as_of=AS_OF))
    params = stage.parameters()
    assert params["fingerprints"]["window_bytes"] == WINDOW_BYTES and params["jurisdictions"] == ["CN", "EU", "US", "GB"]


def test_no_registries_no_matches(tmp_path: Path) -> None:
    empty = load_registries([], as_of=AS_OF)
    out = run(empty, [WORK_TEXT], ["https://news.example.co.uk/"])
    assert out.column("rights").to_pylist() == [[]]


texts_st = st.lists(st.one_of(st.none(), st.text(max_size=80),
                              st.sampled_from([WORK_TEXT[:600], POEM, ZH_TEXT[:300]])), min_size=1, max_size=8)


@given(texts=texts_st)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_stage_only_adds_columns(registries: Registries, texts: list[str | None]) -> None:
    batch = NormaliseStage()(pa.RecordBatch.from_pydict({"text": pa.array(texts, pa.large_string()),
                                                         "url": pa.array([None] * len(texts), pa.string())}))
    stage = RightsStage(registries)
    stage.setup(StageContext(as_of=AS_OF))
    out = stage(batch)
    assert out.num_rows == batch.num_rows
    assert out.schema.names == [*batch.schema.names, "rights", "rights_spans", "copyright_status"]
    assert all(out.column(i).equals(batch.column(i)) for i in range(batch.num_columns))
    for text, spans in zip(texts, out.column("rights_spans").to_pylist(), strict=True):
        for span in spans:
            assert text is not None and 0 <= span["start"] < span["end"] <= len(text)


def holder_reference(registries: Registries, url: str | None) -> list[tuple[str, str]]:
    """The holder entries of one URL, written plainly: a URL whose host (as ``url_hosts`` finds it)
    is in a registrable domain with holder rules is parsed with split_url, then every rule covering
    the host whose path prefix the path has counts, holders in rule order, each holder once."""
    from auditor.registry.urls import HostIndex, registrable_domain, split_url, url_hosts

    index = HostIndex((rule, holder) for holder in registries.holders for rule in holder.rules)
    at, hosts = url_hosts(pa.array([url], pa.string()))
    if at[0] < 0 or registrable_domain(hosts[at[0]]) not in index.domains():
        return []
    parts = split_url(url) if url else None
    if parts is None:
        return []
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for _, holder in index.match(*parts):
        if holder.name not in seen:
            seen.add(holder.name)
            out.append((holder.name, "holder-domain"))
            if holder.terms == "licensed":
                out.append((holder.name, "licensed"))
    return out


url_parts = st.tuples(
    st.sampled_from(["https://", "http://", "HTTP://", "svn+ssh://", " https://", "ht tp://", "", "//", "x:/"]),
    st.sampled_from(["", "user@", "a:b@"]),
    st.sampled_from(["news.example.co.uk", "www.example.com", "example.com", "Example.COM", "shop.partner.example",
                     "partner.example.", "badexample.co.uk", "other.org", "example.com:8080", "exämple.com", ""]),
    st.sampled_from(["", "/", "/news/", "/news/today", "/newsroom", "?q=1/news/", "#/news/", "/a?b#c", "/news/ ",
                     "/news/#x", "/Ünï"]))


@given(urls=st.lists(st.one_of(st.none(), url_parts.map("".join)), min_size=1, max_size=30))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_holder_entries_equal_the_plain_reference(registries: Registries, urls: list[str | None]) -> None:
    """Whole-domain rules take the vectorised path, path rules the per-URL one: both as split_url."""
    out = run(registries, ["short text"] * len(urls), urls)
    for i, url in enumerate(urls):
        assert work_entries(out, i) == holder_reference(registries, url), url


@pytest.mark.parametrize(("texts", "ascii_only"), [
    (["plain ascii text", None, ""], True),
    (["plain ascii text", "数据治理"], False),
    (["café"], False),
])
def test_ascii_batches_are_told_from_n_chars(texts: list[str | None], ascii_only: bool) -> None:
    from auditor.stages.rights import _ascii_texts

    batch = NormaliseStage()(pa.RecordBatch.from_pydict({"text": pa.array(texts, pa.large_string())}))
    assert _ascii_texts(batch) is ascii_only
    assert _ascii_texts(batch.drop_columns(["n_chars"])) is False  # cannot tell: read the bytes
