"""Window hashing and the anchor index: locality, consistency between batch and single text, bounds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from auditor.registry.fingerprints import (
    WINDOW_BYTES,
    WorkIndex,
    fingerprint_norms,
    str_windows,
    text_buffer,
    text_windows,
    token_starts,
)
from auditor.registry.index import ProbePlan
from auditor.registry.windows import (
    PROBE_REACH,
    PROBE_STRIDE,
    finalise,
    probe_starts,
    unfinalise,
    window_polys,
)
from auditor.stages.normalise import normalise_text

VOCAB = ["river", "stone", "market", "quietly", "morning", "window", "paper", "bridge", "ledger", "salt",
         "harbour", "garden", "number", "evening", "island", "lantern", "orchard", "weather", "uncle", "yard"]
WORDS = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "épée", "数据", "治理", "x", "longerword"]),
                 min_size=1, max_size=40)


@given(body=WORDS, prefix=WORDS)
@settings(deadline=None)
def test_windows_depend_only_on_their_bytes(body: list[str], prefix: list[str]) -> None:
    text = normalise_text(" ".join(body))
    _, alone = str_windows(text)
    _, embedded = str_windows(normalise_text(" ".join(prefix)) + " " + text)
    assert set(alone.tolist()) <= set(embedded.tolist())


@given(texts=st.lists(st.one_of(st.none(), WORDS.map(" ".join)), max_size=6))
@settings(max_examples=50, deadline=None)
def test_batch_and_single_agree_and_windows_stay_inside(texts: list[str | None]) -> None:
    arr = pa.array(texts, pa.string())
    doc, pos, hashes = text_windows(arr)
    for i, t in enumerate(texts):
        mine = hashes[doc == i]
        if t is None:
            assert len(mine) == 0
            continue
        single_pos, single = str_windows(t)
        assert mine.tolist() == single.tolist()
        assert (pos[doc == i] + WINDOW_BYTES <= len(t.encode())).all()
        assert single_pos.tolist() == pos[doc == i].tolist()


def test_string_large_string_and_slices_agree() -> None:
    texts = ["a" * 10 + " " + "word " * 20, None, "数据治理与版权合规是训练语料审计的重点。" * 2, "tail text " * 9]
    base = text_windows(pa.array(texts, pa.large_string()))
    small = text_windows(pa.array(texts, pa.string()))
    assert all((a == b).all() for a, b in zip(base, small, strict=True))
    sliced = text_windows(pa.array(["junk " * 50, *texts], pa.string()).slice(1))
    assert all((a == b).all() for a, b in zip(base, sliced, strict=True))
    data, begin, end = text_buffer(pa.array(texts))
    assert end[1] == begin[1]  # null is empty
    assert len(data) >= end[-1] + WINDOW_BYTES


def test_cjk_characters_each_start_a_window() -> None:
    text = "数据治理与版权合规是训练语料审计的重点" * 2
    pos, _ = str_windows(text)
    # Every character (3 bytes) whose 32-byte window fits starts one.
    assert pos.tolist() == list(range(0, len(text.encode()) - WINDOW_BYTES + 1, 3))


def test_anchors_are_a_subset_of_windows_and_about_a_quarter() -> None:
    words = [f"w{i % 50}{chr(97 + i % 26)}" for i in range(2000)]
    (fp,) = fingerprint_norms([" ".join(words)])
    assert set(fp.anchors.tolist()) <= set(fp.windows.tolist())
    assert 0.1 < len(fp.anchors) / len(fp.windows) < 0.5


def _index(*texts: str, **kw: int) -> WorkIndex:
    return WorkIndex.build(fingerprint_norms([normalise_text(t) for t in texts]), **kw)


def test_index_finds_the_record_holding_a_work_and_nothing_else() -> None:
    work = " ".join(f"{VOCAB[i * 7 % len(VOCAB)]}{i}" for i in range(300))
    other = " ".join(f"{VOCAB[i * 3 % len(VOCAB)]}x{i}" for i in range(300))
    index = _index(work, other)
    records = pa.array([other[:200], None, "prefix words " + work[1000:2500] + " suffix", "", "short"], pa.large_string())
    cands = index.candidates(records)
    pairs = set(zip(cands.doc.tolist(), cands.work.tolist(), strict=True))
    assert (2, 0) in pairs
    assert all(doc != 1 and doc != 3 for doc, _ in pairs)
    assert (cands.hits >= index.min_hits[cands.work]).all()


def test_windows_never_cross_record_boundaries() -> None:
    work = "first half of a sentence that goes on " * 3 + "and the second half continues it " * 3
    index = _index(work)
    half = len(work) // 2
    split = pa.array([work[:half], work[half:]], pa.large_string())
    _, pos, _ = text_windows(split)
    doc, _, _ = text_windows(split)
    for d in (0, 1):
        assert (pos[doc == d] + WINDOW_BYTES <= len(split[d].as_py().encode())).all()
    whole = index.candidates(pa.array([work], pa.large_string()))
    assert whole.doc.tolist() == [0]


def test_common_windows_are_left_out_of_the_prefilter() -> None:
    shared = "this sentence is boilerplate shared by many registered works in the registry "
    works = [shared * 3 + f" unique part number {i} " * 20 for i in range(5)]
    index = _index(*works, max_works_per_window=2)
    assert np.all(np.diff(index.owner_ptr) <= 2)
    cands = index.candidates(pa.array([shared * 3], pa.large_string()))
    assert len(cands.doc) == 0


# -- probes: the positional guarantee ----------------------------------------------------------------

PROBE_WORDS = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "épée", "数据", "治理", "x", "longerword",
                                        "a", "quietly", "harbour"]), min_size=1, max_size=120)


def _token_start_set(text: str) -> set[int]:
    data = text.encode("utf-8")
    return {i for i in range(len(data))
            if i == 0 or data[i - 1] == 0x20 or data[i] >= 0xE0}


@given(prefix=PROBE_WORDS, passage=PROBE_WORDS, suffix=PROBE_WORDS, other=st.lists(PROBE_WORDS, max_size=3))
@example(prefix=["x"] * 3, passage=["quietly", "harbour", "数据", "a"] * 30, suffix=["beta"], other=[["alpha"] * 9])
@example(prefix=["épée"], passage=["治理"] * 120, suffix=[], other=[])
@settings(max_examples=150, deadline=None)
def test_probes_guarantee_hits_in_any_long_enough_shared_passage(prefix: list[str], passage: list[str],
                                                                  suffix: list[str], other: list[list[str]]) -> None:
    """Every probe is a token start whose window lies inside its text; a passage of L bytes holds at
    least floor((L - reach - 31) / stride) probes whose windows lie inside it and start at a token
    start after its first byte (so at a token start of the passage wherever it appears)."""
    body = " ".join(passage)
    text = " ".join([*prefix, body, *suffix])
    start = len(" ".join(prefix).encode()) + 1
    stop = start + len(body.encode())
    texts = [" ".join(o) for o in other] + [text]
    data, begin, end = text_buffer(pa.array(texts, pa.large_string()))
    doc, pos = probe_starts(data, begin, end)
    mine = pos[doc == len(texts) - 1] - begin[-1]
    starts = _token_start_set(text)
    assert set(mine.tolist()) <= starts
    assert (mine + WINDOW_BYTES <= len(text.encode())).all()
    inside = [q for q in mine.tolist() if start < q and q + WINDOW_BYTES <= stop]
    guaranteed = max(0, stop - start - PROBE_REACH - WINDOW_BYTES + 1) // PROBE_STRIDE
    assert len(inside) >= guaranteed
    if len(body.encode()) >= 500:
        assert guaranteed >= 6
    # Probes depend on the record alone, not on the batch it is in.
    alone_doc, alone = probe_starts(*text_buffer(pa.array([text], pa.large_string())))
    assert alone.tolist() == mine.tolist() and (alone_doc == 0).all()


def test_probe_grid_phases_partition_the_full_grid() -> None:
    text = " ".join(f"w{i}" for i in range(600))
    data, begin, end = text_buffer(pa.array([text], pa.large_string()))
    _, full = probe_starts(data, begin, end, stride=64)
    _, even = probe_starts(data, begin, end, stride=128, phase=128)
    _, odd = probe_starts(data, begin, end, stride=128, phase=64, head=False)
    assert sorted(even.tolist() + odd.tolist()) == full.tolist()
    with pytest.raises(ValueError, match="reach"):
        probe_starts(data, begin, end, stride=16, reach=24)


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=50))
def test_unfinalise_inverts_the_finaliser(values: list[int]) -> None:
    h = np.array(values, dtype=np.uint64)
    assert (unfinalise(finalise(h.copy())) == h).all()
    assert (finalise(unfinalise(h)) == h).all()


def test_window_polys_finalise_to_window_hashes() -> None:
    text = normalise_text("The salt archivist kept every ledger the harbour ever wrote, 数据治理与版权合规")
    data, begin, end = text_buffer(pa.array([text], pa.large_string()))
    starts = np.sort(token_starts(data, begin, end))
    starts = starts[starts + WINDOW_BYTES <= end[0]]
    assert (finalise(window_polys(data, starts)) == str_windows(text)[1]).all()


LONG_WORK = " ".join(f"{VOCAB[i * 7 % len(VOCAB)]}{i}" for i in range(2000))


@given(at=st.integers(min_value=0, max_value=1500), n_words=st.integers(min_value=90, max_value=300),
       pad=st.integers(min_value=0, max_value=400), screen=st.booleans())
@settings(max_examples=60, deadline=None)
def test_a_quoted_passage_of_500_bytes_is_always_a_candidate(at: int, n_words: int, pad: int, screen: bool) -> None:
    """The guarantee end to end: whatever its offset in the record and in the work, a verbatim
    passage that qualifies as an excerpt (500 bytes) makes its record a candidate."""
    index = _cached_index()
    quote = " ".join(LONG_WORK.split()[at:at + n_words])
    if len(quote.encode()) < 500:
        return
    record = normalise_text("z" * (pad % 7) + " " + " ".join(["filler"] * pad) + " " + quote + " tail words")
    plan = index.plan(500, 0.8)
    plan = ProbePlan(plan.min_hits, screen)
    cands = index.candidates(pa.array(["unrelated text " * 40, record], pa.large_string()), plan)
    assert (1, 0) in set(zip(cands.doc.tolist(), cands.work.tolist(), strict=True))


_INDEX_CACHE: list[WorkIndex] = []


def _cached_index() -> WorkIndex:
    if not _INDEX_CACHE:
        _INDEX_CACHE.append(_index(LONG_WORK, " ".join(f"{w}q{i}" for i, w in enumerate(VOCAB * 40))))
    return _INDEX_CACHE[0]


@pytest.mark.parametrize(("work_words", "screen", "min_hits"), [
    (400, True, 2),   # 2,000 bytes: screening on every other grid point keeps a hit, it is safe
    (40, False, 1),   # 199 bytes: qualifies at 80% (159 B), one hit guaranteed on the full grid only
    (8, True, 1),     # 39 bytes: too short for any guarantee, no reason to give up screening
])
def test_plan_screens_only_when_every_guaranteed_work_keeps_a_coarse_hit(work_words: int, screen: bool,
                                                                       min_hits: int) -> None:
    short = " ".join(f"w{i:03d}" for i in range(work_words))  # 5 bytes a word with its space
    index = _index(LONG_WORK, short)
    plan = index.plan(500, 0.8)
    assert plan.screen is screen
    assert plan.min_hits.tolist() == [2, min_hits]
    assert index.parameters()["probe_stride"] == PROBE_STRIDE


@pytest.mark.parametrize("pad", range(0, 64, 7))
def test_a_short_work_quoted_whole_is_found_with_the_full_grid(pad: int) -> None:
    short = " ".join(f"w{i:03d}" for i in range(40))
    index = _index(LONG_WORK, short)
    record = normalise_text(f"{'x' * pad} some words before it. {short} and after")
    cands = index.candidates(pa.array([record], pa.large_string()), index.plan(500, 0.8))
    assert (0, 1) in set(zip(cands.doc.tolist(), cands.work.tolist(), strict=True))


def python_window_hash(window: bytes) -> int:
    """The scheme's hash of one 32-byte window, in plain integers (the ``windows`` docstring)."""
    mod = 2**64
    p = 0x9E3779B97F4A7C15
    w = [int.from_bytes(window[i:i + 8], "little") for i in range(0, WINDOW_BYTES, 8)]
    h = (((w[0] * p + w[1]) * p + w[2]) * p + w[3]) % mod
    h ^= h >> 30
    h = h * 0xBF58476D1CE4E5B9 % mod
    h ^= h >> 27
    h = h * 0x94D049BB133111EB % mod
    return h ^ (h >> 31)


@given(texts=st.lists(st.one_of(st.none(), WORDS.map(" ".join)), min_size=1, max_size=5))
@settings(max_examples=40, deadline=None)
def test_window_hashes_equal_the_plain_integer_scheme(texts: list[str | None]) -> None:
    doc, pos, hashes = text_windows(pa.array(texts, pa.large_string()))
    for d, p, h in zip(doc.tolist(), pos.tolist(), hashes.tolist(), strict=True):
        text = texts[d]
        assert text is not None
        assert h == python_window_hash(text.encode("utf-8")[p:p + WINDOW_BYTES])


@given(texts=st.lists(st.one_of(st.none(), WORDS.map(" ".join)), max_size=6))
@settings(max_examples=50, deadline=None)
def test_token_starts_are_sorted_and_fitting_keeps_whole_windows(texts: list[str | None]) -> None:
    data, begin, end = text_buffer(pa.array(texts, pa.string()))
    every = token_starts(data, begin, end)
    assert (np.diff(every) > 0).all()
    inside = [int(s) for s in every.tolist()
              if any(b <= s and s + WINDOW_BYTES <= e for b, e in zip(begin.tolist(), end.tolist(), strict=True))]
    assert token_starts(data, begin, end, fitting=True).tolist() == inside
