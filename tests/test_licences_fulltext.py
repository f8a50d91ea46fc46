"""Full-text identification in one lookup for many texts (``fulltext.identify_full_texts``) against a
plain per-text reference built on ``shingle_hashes`` and ``containment_scores``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.licences.fulltext import (
    _NEAR_TIE,
    MIN_CONTAINMENT,
    MIN_SHINGLES,
    FullTextMatch,
    containment_scores,
    identify_full_texts,
    shingle_hashes,
)
from auditor.licences.tables import FullTextIndex, load_fulltext

_MIT = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
    'associated documentation files (the "Software"), to deal in the Software without restriction, '
    "including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, "
    "and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, "
    "subject to the following conditions: The above copyright notice and this permission notice shall be "
    "included in all copies or substantial portions of the Software. THE SOFTWARE IS PROVIDED \"AS IS\", "
    "WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF "
    "MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR "
    "COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, "
    "TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS "
    "IN THE SOFTWARE."
)
_BSD_CLAUSE = (
    "Redistribution and use in source and binary forms, with or without modification, are permitted "
    "provided that the following conditions are met: Redistributions of source code must retain the above "
    "copyright notice, this list of conditions and the following disclaimer. Redistributions in binary form "
    "must reproduce the above copyright notice, this list of conditions and the following disclaimer in the "
    "documentation and/or other materials provided with the distribution. "
)
_PROSE = "the river market data of and school energy warranty under licence water people history is a"


@pytest.fixture(scope="module")
def index() -> FullTextIndex:
    return load_fulltext()


def _reference(text: str, index: FullTextIndex, min_containment: float) -> FullTextMatch | None:
    """``identify_full_text`` spelled out for one text: containment of every reference, the best one (a
    larger one nearly as contained wins), and the thresholds."""
    hashes = shingle_hashes(text)
    counts, containment = containment_scores(hashes, index)
    best = int(np.argmax(containment))
    best_containment = containment[best]
    near = (containment >= best_containment - _NEAR_TIE) & (counts > counts[best])
    if near.any():
        best = int(np.argmax(np.where(near, counts, -1)))
    if best_containment < min_containment:
        return None
    if counts[best] < MIN_SHINGLES and len(hashes) < MIN_SHINGLES:
        return None
    return FullTextMatch(index.ids[best], float(containment[best]), int(counts[best]))


def _pieces() -> st.SearchStrategy[str]:
    words = _PROSE.split()
    prose = st.lists(st.sampled_from(words), min_size=0, max_size=60).map(" ".join)
    mit_cut = st.tuples(st.integers(0, len(_MIT)), st.integers(0, len(_MIT))).map(
        lambda ab: _MIT[min(ab) : max(ab)]
    )
    return st.sampled_from([_MIT, _BSD_CLAUSE, _BSD_CLAUSE + _MIT, "Copyright (c) 2020 Holder\n\n"]) | prose | mit_cut


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(_pieces(), max_size=4).map("\n".join), max_size=8),
    st.sampled_from([MIN_CONTAINMENT, 0.3, 0.05, 0.0]),
)
def test_batched_lookup_equals_reference(index: FullTextIndex, texts: list[str], min_containment: float) -> None:
    """Whatever the texts (licence texts whole or cut, prose, mixtures) and the threshold, one lookup for
    all of them gives each text's own result."""
    expected = [_reference(text, index, min_containment) for text in texts]
    found = identify_full_texts(texts, index, min_containment)
    assert [None if m is None else (m.licence, m.matched) for m in found] == [
        None if m is None else (m.licence, m.matched) for m in expected
    ]
    for got, want in zip(found, expected, strict=True):
        if got is not None and want is not None:
            assert got.containment == pytest.approx(want.containment)


def test_owner_sets_reproduce_the_owners(index: FullTextIndex) -> None:
    """Each key's owner set (``_Lookup``) holds exactly the references that hold the key."""
    from auditor.licences.fulltext import _lookup

    lookup = _lookup(index)
    for key in range(len(index.keys)):
        owners = index.owners[index.offsets[key] : index.offsets[key + 1]]
        owner_set = lookup.key_set[key]
        members = lookup.set_members[lookup.set_offsets[owner_set] : lookup.set_offsets[owner_set + 1]]
        assert sorted(owners.tolist()) == members.tolist()


def test_licence_texts_among_prose(index: FullTextIndex) -> None:
    """Prose between licence texts changes nothing: each licence text is found, prose matches none."""
    texts = [_PROSE * 5, _MIT, _PROSE, "Copyright (c) 2020 Holder\n\n" + _MIT + " " + _PROSE * 3, ""]
    found = identify_full_texts(texts, index)
    assert [None if m is None else m.licence for m in found] == [None, "MIT", None, "MIT", None]
    assert found == [_reference(t, index, MIN_CONTAINMENT) for t in texts]
