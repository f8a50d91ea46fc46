"""Window hashing and the anchor index: locality, consistency between batch and single text, bounds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.registry.fingerprints import (
    WINDOW_BYTES,
    WorkIndex,
    fingerprint_norms,
    str_windows,
    text_buffer,
    text_windows,
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
