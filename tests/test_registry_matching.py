"""The vectorised exact comparison against a plain per-record reference, and batch independence."""

from __future__ import annotations

import datetime as dt
import random
import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.registry import Registries, load_registries
from auditor.registry.fingerprints import WINDOW_BYTES, str_windows
from auditor.registry.index import Candidates
from auditor.registry.matching import MatchParams, compare_pairs, map_normal_form, match_batch, match_record
from auditor.stages.base import StageContext
from auditor.stages.normalise import NormaliseStage, normalise_text
from auditor.stages.rights import RightsStage

AS_OF = dt.date(2026, 11, 24)
VOCAB = ("river stone market quietly morning window paper bridge ledger salt harbour garden number evening "
         "island lantern orchard weather uncle yard basket copper doctor engine feather glass hollow ink the "
         "of and to a in is was that it for on with").split()
HAN = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而"


def prose(seed: int, n_words: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) + ("." if rng.random() < 0.08 else "") for _ in range(n_words))


def hanzi(seed: int, n_chars: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(HAN) for _ in range(n_chars))


WORKS = {"EN": prose(1, 3000), "ZH": hanzi(2, 2000), "POEM": prose(3, 50), "MIX": prose(4, 600) + " " + hanzi(5, 300)}


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Registries:
    root = tmp_path_factory.mktemp("reg")
    rows = ["id,title,rights_holder,authors,author_death_year,publication_year,jurisdiction,status,file"]
    for wid, text in WORKS.items():
        (root / f"{wid}.txt").write_text(text, encoding="utf-8")
        rows.append(f"{wid},{wid},Press,Author,,2019,GB,in-copyright,{wid}.txt")
    (root / "works.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return load_registries([root], as_of=AS_OF)


def reference(text: str, works: list[int], registries: Registries, params: MatchParams) -> list[tuple]:
    """The comparison written plainly, one record and one work at a time (the previous engine)."""
    mapped = map_normal_form(text, normalise_text(text))
    pos, hashes = str_windows(mapped.norm)
    raw = mapped.norm.encode("utf-8")
    char_of_byte = np.cumsum((np.frombuffer(raw, dtype=np.uint8) & 0xC0) != 0x80) - 1
    out = []
    for w in works:
        fp = registries.fingerprints[w]
        found = np.isin(hashes, fp.windows)
        hit = np.sort(pos[found])
        if len(hit) == 0:
            continue
        qualify = min(params.min_excerpt_bytes, params.short_work_share * fp.norm_bytes)
        spans, run = [], [int(hit[0])]
        for p in hit[1:].tolist():
            if p - run[-1] > WINDOW_BYTES + params.gap_bytes:
                spans.append(run)
                run = []
            run.append(p)
        spans.append(run)
        kept = [(r[0], r[-1] + WINDOW_BYTES, len(r)) for r in spans
                if r[-1] + WINDOW_BYTES - r[0] >= min(params.min_span_bytes, qualify)]
        jaccard = 0.0
        if min(len(hashes), len(fp.windows)) >= params.near_duplicate * max(len(hashes), len(fp.windows)) * 0.5:
            distinct = set(hashes.tolist())
            inter = len(distinct & set(fp.windows.tolist()))
            jaccard = inter / (len(distinct) + len(fp.windows) - inter)
        if jaccard >= params.near_duplicate:
            kind, score = "work-near-duplicate", jaccard
        elif kept and max(e - s for s, e, _ in kept) >= qualify:
            kind, score = "work-excerpt", sum(n for _, _, n in kept) / len(pos)
        else:
            continue
        raw_spans = []
        for s, e, _ in kept:
            e = min(e, len(raw))
            a, b = (s, e) if len(raw) == len(mapped.norm) else (int(char_of_byte[s]), int(char_of_byte[e - 1]) + 1)
            raw_spans.append((mapped.raw_offset(a, end=False), mapped.raw_offset(b, end=True)))
        out.append((w, kind, round(score, 6), tuple(raw_spans)))
    return out


def _messy(rng: random.Random, text: str) -> str:
    """Case, doubled spaces, line breaks, tabs, a ligature, full-width letters: raw text whose
    normal form is ``normalise_text(text)`` but whose offsets differ."""
    out = []
    for word in text.split(" "):
        roll = rng.random()
        if roll < 0.1:
            word = word.upper()
        elif roll < 0.15:
            word += rng.choice(["  ", "\n", "\t", " \n "])
        elif roll < 0.17:
            word = word.replace("fi", "\ufb01")
        elif roll < 0.19:
            word = "".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" else c for c in word)
        out.append(word)
    return " ".join(out)


@st.composite
def records(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers(0, 10**6)))
    wid = draw(st.sampled_from(list(WORKS)))
    work = WORKS[wid]
    if wid == "ZH":
        at = rng.randrange(0, len(work) - 300)
        quote, filler = work[at:at + rng.randrange(20, 300)], hanzi(rng.randrange(10**6), rng.randrange(0, 500))
    else:
        words = work.split()
        n = rng.randrange(3, min(len(words), 200) + 1)
        at = rng.randrange(0, len(words) - n + 1)
        quote, filler = " ".join(words[at:at + n]), prose(rng.randrange(10**6), rng.randrange(0, 400))
    if draw(st.booleans()):
        quote = _messy(rng, quote)
    cut = rng.randrange(0, len(filler) + 1)
    glue = draw(st.sampled_from(["", " ", "  ", "\n", " “"]))
    return filler[:cut] + glue + quote + draw(st.sampled_from(["", " ", "” ", "\t"])) + filler[cut:]


@given(texts=st.lists(records(), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
def test_batch_comparison_equals_the_plain_reference(registries: Registries, texts: list[str]) -> None:
    params = MatchParams()
    index = registries.work_index
    every = list(range(len(registries.works)))
    docs = np.repeat(np.arange(len(texts)), len(every))
    cands = Candidates(docs, np.tile(every, len(texts)), np.zeros(len(docs), np.int64))
    norm = pa.array([normalise_text(t) for t in texts], pa.large_string())
    found = match_batch(pa.array(texts, pa.large_string()), norm, cands, index, params)
    for i, text in enumerate(texts):
        got = [(m.work, m.kind, m.score, m.spans) for m in found.get(i, [])]
        assert got == reference(text, every, registries, params)
        assert got == [(m.work, m.kind, m.score, m.spans) for m in match_record(text, every, index, params)]


@pytest.mark.parametrize("text", [
    f"{prose(9, 100)} {' '.join(WORKS['EN'].split()[500:650])} {prose(10, 100)}",  # single-spaced: fast path
    f"{prose(9, 100)} {' '.join(WORKS['EN'].split()[500:650])}  {prose(10, 100)}",  # doubled space
    f"  {' '.join(WORKS['EN'].split()[500:650])}\n",  # leading and trailing whitespace
    " ".join(WORKS["EN"].split()[500:650]).upper(),  # case only
    f"{prose(9, 100)} {' '.join(WORKS['EN'].split()[500:650])} ",  # a span ending just before a space
    WORKS["POEM"],  # a near-duplicate of a short work
    " ".join(("changed" if i % 30 == 0 else w) for i, w in enumerate(WORKS["EN"].split()[:2500])),  # near-dup
    f"前言 {WORKS['ZH'][100:1600]}",  # CJK, not ASCII: the piecewise mapping
])
def test_spans_of_ascii_records_match_the_reference(registries: Registries, text: str) -> None:
    params = MatchParams()
    every = list(range(len(registries.works)))
    got = [(m.work, m.kind, m.score, m.spans) for m in match_record(text, every, registries.work_index, params)]
    assert got and got == reference(text, every, registries, params)
    for _, _, _, spans in got:
        for start, end in spans:
            assert not text[start].isspace() and not text[end - 1].isspace()


@given(texts=st.lists(records(), min_size=2, max_size=5), at=st.integers(0, 4))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
def test_a_record_gets_the_same_result_alone_and_in_any_batch(registries: Registries, texts: list[str],
                                                              at: int) -> None:
    stage = RightsStage(registries)
    stage.setup(StageContext(as_of=AS_OF))

    def run(batch_texts: list[str]) -> pa.RecordBatch:
        batch = pa.RecordBatch.from_pydict({"text": pa.array(batch_texts, pa.large_string()),
                                            "url": pa.array([None] * len(batch_texts), pa.string())})
        return stage(NormaliseStage()(batch))

    together = run(texts)
    i = at % len(texts)
    alone = run([texts[i]])
    for column in ("rights", "rights_spans", "copyright_status"):
        assert together.column(column)[i].as_py() == alone.column(column)[0].as_py()


def test_the_reference_is_not_vacuous(registries: Registries) -> None:
    text = f"{prose(11, 80)} {' '.join(WORKS['EN'].split()[100:300])} {prose(12, 80)}"
    (match,) = reference(text, list(range(len(registries.works))), registries, MatchParams())
    assert match[1] == "work-excerpt" and len(match[3]) == 1
    assert re.fullmatch(r"\S.*\S", text[match[3][0][0]:match[3][0][1]], re.S)


def test_a_span_whose_last_window_ends_with_a_space_stops_before_it(registries: Registries) -> None:
    """The window ending a passage can end with the space before the next word; the raw span then
    ends before that space (single-spaced ASCII takes a shortcut that must agree)."""
    words = WORKS["EN"].split()
    index, params = registries.work_index, MatchParams()
    seen = 0
    for at, n in [(at, n) for at in range(900, 1400, 50) for n in range(120, 160, 4)]:
        text = f"{prose(20, 60)} {' '.join(words[at:at + n])} {prose(21, 60)}"
        norm = normalise_text(text)
        (pair,) = compare_pairs(pa.array([norm], pa.large_string()), np.array([0]), np.array([0]), index, params)
        if norm[int(pair.ends[-1]) - 1] != " ":
            continue
        seen += 1
        (match,) = match_record(text, [0], index, params)
        assert match.spans == reference(text, [0], registries, params)[0][3]
        assert text[match.spans[-1][1] - 1] != " " and match.spans[-1][1] == int(pair.ends[-1]) - 1
    assert seen >= 5


@pytest.mark.parametrize(("extra", "n_spans"), [(0, 1), (1, 2)])
def test_matched_windows_merge_across_a_gap_of_at_most_window_plus_gap_bytes(registries: Registries, extra: int,
                                                                             n_spans: int) -> None:
    """Two passages of a work: their spans merge when the next matched window starts at most
    WINDOW_BYTES + gap_bytes after the previous one, and stay apart one byte further."""
    words = WORKS["EN"].split()
    first, second = " ".join(words[1000:1120]), " ".join(words[1500:1530])
    pos, _ = str_windows(first)
    last_start = int(pos[-1])  # the last window of the first passage
    filler = "z" * (WINDOW_BYTES + MatchParams().gap_bytes + last_start - len(first) - 2 + extra)
    text = f"{first} {filler} {second}"
    (match,) = match_record(text, [0], registries.work_index, MatchParams())
    assert len(match.spans) == n_spans
    assert [(m.work, m.kind, m.score, m.spans) for m in [match]] == reference(text, [0], registries, MatchParams())


def test_a_batch_mixing_fast_slow_null_and_empty_records_equals_one_by_one(registries: Registries) -> None:
    """Records mapped back all at once (ASCII) and one by one (not ASCII), with null and empty
    records in between, get what each gets alone."""
    quote = " ".join(WORKS["EN"].split()[700:820])
    texts = [f"{prose(30, 40)} {quote} {prose(31, 40)}", None, "", f"Intro:\n\t{quote.upper()}  end",
             f"前言 {WORKS['ZH'][200:900]}", f"{prose(32, 20)}  {quote}", "   ", f"ﬁne {quote} ﬁn"]
    index, params = registries.work_index, MatchParams()
    every = list(range(len(registries.works)))
    docs = np.repeat(np.arange(len(texts)), len(every))
    cands = Candidates(docs, np.tile(every, len(texts)), np.zeros(len(docs), np.int64))
    norm = pa.array([None if t is None else normalise_text(t) for t in texts], pa.large_string())
    found = match_batch(pa.array(texts, pa.large_string()), norm, cands, index, params)
    assert sorted(found) == [0, 3, 4, 5, 7]
    for i, text in enumerate(texts):
        alone = [] if not text else [(m.work, m.kind, m.score, m.spans) for m in match_record(text, every, index, params)]
        assert [(m.work, m.kind, m.score, m.spans) for m in found.get(i, [])] == alone
        if text:
            assert alone == reference(text, every, registries, params)
