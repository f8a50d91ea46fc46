"""The column-wise content scan (licences/batch.py) and the pattern translations it relies on."""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from work_batches import licence_batch

from auditor.config import SourceSpec
from auditor.licences import ContentScanner, Evidence, conclude
from auditor.licences.batch import BatchPlan
from auditor.licences.content import _windows
from auditor.licences.gates import GateFinder
from auditor.licences.patterns import (
    _SPACE_BODY,
    PYTHON_EXTRA_FOLDS,
    SAFE_NON_ASCII,
    SAFE_TEXT_VIOLATION,
    literal_prefixes,
    to_re2,
)
from auditor.licences.tables import load_notices
from auditor.stages.base import StageContext
from auditor.stages.licence import LICENCE_COLUMNS, LicenceStage, source_evidence

try:
    import hyperscan  # noqa: F401

    ENGINES = ["re2", "re2-python", "hyperscan"]
except ImportError:
    ENGINES = ["re2", "re2-python"]


@pytest.fixture(scope="module", params=ENGINES)
def scanner(request: pytest.FixtureRequest) -> ContentScanner:
    """A scanner per engine: Hyperscan, RE2 with step 4 for any batch ("re2"), RE2 leaving every row
    that may hold more than copyright notices to Python ("re2-python", small batches by default)."""
    scanner = ContentScanner()
    scanner.plan = BatchPlan(scanner, use_hyperscan=request.param == "hyperscan")
    scanner.plan.re2_notice_rows = 10**9 if request.param == "re2-python" else 0
    assert scanner.plan.engine == request.param.split("-")[0]
    return scanner


# Pieces of licence and copyright wording, and characters on which Python's and RE2's regex semantics
# part: Unicode spaces and digits, letters Python folds to ASCII ('ſ', 'K', 'ı', 'İ'), accents, CJK.
_FRAGMENTS = [
    "// SPDX-License-Identifier: GPL-2.0\n",
    "SPDX-License-Identifier: MIT OR Apache-2.0",
    "Copyright (c) 2021 Jane Doe. All rights reserved.",
    "© 2019 Example Media",
    "©\u00a02020 Site",
    "Copyright\u00a0\u00a02020",
    "(C)2020",
    "plain (c) text",
    "&copy; 2018 X",
    "see https://creativecommons.org/licenses/by-sa/4.0/ terms",
    '<img src="https://i.creativecommons.org/l/by-nc/3.0/de/88x31.png">',
    "This work is licensed under a Creative Commons Attribution-NonCommercial 4.0 International License.",
    'Licensed under the Apache License, Version 2.0 (the "License");',
    "This project is released under the MIT License.",
    "released\nunder the MIT License",
    "it under the terms of the GNU General Public License as published by\n"
    "#  the Free Software Foundation; either version 3 of the License, or\n#  (at your option) any later version.",
    "license: cc-by-4.0\n",
    "Permission is hereby granted, free of charge, to any person obtaining a copy",
    "本作品采用知识共享署名 4.0 国际许可协议进行许可。",
    "版权所有 © 2020 某某公司，保留所有权利。",
    "Copyright 2019 ACME — tous droits réservés",
    "Über uns © 2020 Müller GmbH. Alle Rechte vorbehalten.",
    "ALL RIGHTS RESERVED",
    "all rightſ reserved",
    "copyrİght 2020",
    "\u212a copyright 2020 \u0131",
    "Copyright \u0663\u0660\u0662\u0660",
    "xcopyright 2020",
    "lorem ipsum dolor sit amet " * 4,
    "The copyright law of 1976 is complex; licensing is a topic.",
    # CJK (word-ish) characters touching ASCII notices: Python counts them as word characters
    "版copyright 2020",
    "copyright 2020版",
    "版权所有©2020某某",
    "中文all rights reserved中文",
    "著作权人：某某 (c) 2019",
    "本项目遵循 MIT 许可证。",
    " " * 90,
    "\n",
    "",
]


def _texts() -> st.SearchStrategy[list[str | None]]:
    piece = st.sampled_from(_FRAGMENTS) | st.text(alphabet="ab (c)©\u00a0\n1209", max_size=6)
    return st.lists(st.lists(piece, max_size=4).map("".join) | st.none(), max_size=10)


@settings(max_examples=120, deadline=None)
@given(_texts(), st.booleans())
def test_batch_equals_row_scan(scanner: ContentScanner, texts: list[str | None], small: bool) -> None:
    """Whatever the engine, and for string or large_string arrays, the batch finds what ``scan`` finds."""
    array = pa.array(texts, pa.string() if small else pa.large_string())
    expected = {i: scanner.scan(t) for i, t in enumerate(texts) if t and scanner.scan(t)}
    assert scanner.scan_batch(array) == expected


@settings(max_examples=60, deadline=None)
@given(_texts())
def test_batch_of_a_slice(scanner: ContentScanner, texts: list[str | None]) -> None:
    """An Arrow slice (non-zero offset) is scanned as its own rows."""
    array = pa.array(["Copyright 2020 X", *texts], pa.large_string()).slice(1)
    expected = {i: scanner.scan(t) for i, t in enumerate(texts) if t and scanner.scan(t)}
    assert scanner.scan_batch(array) == expected


def test_character_offsets_after_multibyte_text(scanner: ContentScanner) -> None:
    texts = ["é" * 30 + " — © 2020 X. All rights reserved.", "naïve 版 " * 5 + "Copyright 2021 Y"]
    found = scanner.scan_batch(pa.array(texts, pa.large_string()))
    for i, text in enumerate(texts):
        assert found[i] == scanner.scan(text)
        assert all(text[f.offset :].lower().startswith(("©", "all", "copyright")) for f in found[i])


@settings(max_examples=80, deadline=None)
@given(_texts())
def test_prefilter_is_a_superset(texts: list[str | None]) -> None:
    scanner = ContentScanner()
    mask = scanner.candidate_mask(pa.array(texts, pa.large_string()))
    for text, candidate in zip(texts, mask.tolist(), strict=True):
        if text and scanner.scan(text):
            assert candidate


@pytest.mark.parametrize("notice", load_notices(), ids=lambda n: n.id)
def test_superset_translation_matches_wherever_python_does(notice) -> None:  # type: ignore[no-untyped-def]
    superset = to_re2(notice.pattern, "superset")
    assert superset is not None
    hits = [t for t in _FRAGMENTS if notice.pattern.search(t)]
    assert hits or notice.id not in ("copyright-year", "c-symbol-year", "licensed-under")
    assert all(pc.match_substring_regex(pa.array(hits, pa.large_string()), superset).to_pylist())


_SAFE_ALPHABET = string.ascii_letters + string.digits + " \t\n.,;:()[]&#*/-!%_" + SAFE_NON_ASCII[:24]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["copyright", "Copyright", "(c)", "(C)", "©", "&copy;", "2020", "All rights reserved"]
        )
        | st.text(alphabet=_SAFE_ALPHABET, max_size=5),
        max_size=8,
    ).map("".join)
)
def test_exact_translation_on_safe_text(text: str) -> None:
    """On safe text, RE2's first match of an exact translation starts where Python's does."""
    for notice in load_notices():
        exact = to_re2(notice.pattern, "exact")
        if notice.kind != "copyright-notice" or exact is None:
            continue
        python = notice.pattern.search(text)
        found = pc.find_substring_regex(pa.array([text], pa.large_string()), exact)[0].as_py()
        expected = -1 if python is None else len(text[: python.start()].encode())
        assert found == expected, notice.id


@pytest.mark.parametrize(
    ("notice_id", "prefixes"),
    [
        ("copyright-year", ("copyright",)),
        ("c-symbol-year", ("&copy;", "(c)", "©")),
        ("mit-permission", ("permission",)),
        ("gnu-gpl-or-later", ("gnu",)),
        ("license-field", None),  # starts at a line start ('^' in MULTILINE mode), no literal
    ],
)
def test_literal_prefixes(notice_id: str, prefixes: tuple[str, ...] | None) -> None:
    notice = next(n for n in load_notices() if n.id == notice_id)
    assert literal_prefixes(notice.pattern) == prefixes


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=3).map(" ".join))
def test_every_match_starts_with_a_prefix(text: str) -> None:
    for notice in load_notices():
        prefixes = literal_prefixes(notice.pattern)
        if prefixes is None or text.lower() != text.lower()[: len(text)]:
            continue
        if len(text.lower()) != len(text) or any(c in text for c in "\u0131\u017f\u0130"):
            continue
        for match in notice.pattern.finditer(text):
            assert text.lower().startswith(prefixes, match.start()), notice.id


def test_safe_characters_behave_alike_in_python_and_re2() -> None:
    for c in SAFE_NON_ASCII:
        assert not re.match(r"[\w\d]", c) and c.lower() == c == c.upper(), repr(c)
        assert unicodedata.category(c)[0] in "SPZ" or c.isspace(), repr(c)
    violation = pc.match_substring_regex(
        pa.array(list(SAFE_NON_ASCII) + ["é", "\u200b", "a"]), SAFE_TEXT_VIOLATION
    )
    assert violation.to_pylist() == [False] * len(SAFE_NON_ASCII) + [True, True, False]


def test_space_class_is_python_whitespace() -> None:
    chars = [chr(i) for i in range(0x3100)]  # every Python whitespace character is below U+3100
    in_class = pc.match_substring_regex(pa.array(chars), f"^[{_SPACE_BODY}]$").to_pylist()
    assert in_class == [c.isspace() for c in chars]


def test_extra_folds_are_complete() -> None:
    """Every non-ASCII character that Python's IGNORECASE matches to an ASCII letter is listed."""
    extras = {c for value in PYTHON_EXTRA_FOLDS.values() for c in value}
    from re import _casefix  # type: ignore[attr-defined]

    for letter in string.ascii_lowercase:
        for code in _casefix._EXTRA_CASES.get(ord(letter), ()):
            if code >= 0x80:
                assert chr(code) in PYTHON_EXTRA_FOLDS[letter]
    letters = set(string.ascii_letters)
    for code in range(0x80, 0x110000):
        c = chr(code)
        if c.lower() in letters or c.upper() in letters:  # simple case mappings onto an ASCII letter
            assert c in extras, hex(code)


@pytest.mark.parametrize(
    ("gates", "compatible"),
    [
        (("licen", "copyright", "©", "版权"), True),
        (("kopie",), False),  # the Kelvin sign lowers to 'k'
        (("sui",), False),  # 'İ' lowers to 'i' + U+0307
        (("é",), False),  # a cased non-ASCII character
    ],
)
def test_gate_finder_compatibility(gates: tuple[str, ...], compatible: bool) -> None:
    assert GateFinder.compatible(gates) is compatible


def test_windows_merge_start_ranges() -> None:
    lowered = "x" * 300 + "under" + "y" * 50 + "under" + "z" * 600
    (window,) = _windows(lowered, ["under"])
    start, end, ranges = window
    assert (start, end) == (220, len(lowered))
    assert ranges == [(220, 435)]


# --- the stage against a per-row reference ---------------------------------------------------------




def _reference_row(
    stage: LicenceStage, scanner: ContentScanner, text: str | None, source: str, meta: str | None
) -> dict[str, object]:
    """What the stage must give for one row: source + metadata evidence, then ``scan``'s findings."""
    evidence = stage._sources.get(source, ())
    evidence += LicenceStage._metadata_evidence(meta, None)
    evidence += tuple(Evidence(f.kind, f.value, f.where) for f in scanner.scan(text or ""))
    conclusion = conclude(evidence)
    return {
        "licence": conclusion.licence,
        "licence_evidence": [{"kind": e.kind, "value": e.value, "where": e.where} for e in evidence],
        "licence_conflict": conclusion.conflict,
        "licence_traits": list(conclusion.traits),
    }


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["web", "code", "unlisted"]),
            st.one_of(st.none(), st.sampled_from(["mit", "cc-by-4.0", "other", ""])),
            st.one_of(st.none(), st.lists(st.sampled_from(_FRAGMENTS), max_size=3).map(" ".join)),
        ),
        max_size=25,
    ),
    st.booleans(),
)
def test_stage_equals_per_row_reference(
    rows: list[tuple[str, str | None, str | None]], with_n_chars: bool
) -> None:
    stage = LicenceStage()
    stage.setup(
        StageContext(
            sources={
                "web": SourceSpec(name="web", paths=(Path("/nonexistent"),), declared_licence="CC-BY-SA-4.0")
            }
        )
    )
    batch = licence_batch([r[2] for r in rows], [r[0] for r in rows], [r[1] for r in rows])
    if with_n_chars:  # as after the normalise stage: character offsets come from its n_chars column
        n_chars = pc.fill_null(pc.utf8_length(batch.column("text")), 0).cast(pa.int64())
        batch = pa.RecordBatch.from_arrays([*batch.columns, n_chars], names=[*batch.schema.names, "n_chars"])
    out = stage(batch).select(LICENCE_COLUMNS.names).to_pylist()
    scanner = ContentScanner()
    expected = [_reference_row(stage, scanner, r[2], r[0], r[1]) for r in rows]
    assert out == expected


def test_source_evidence_is_reused() -> None:
    assert source_evidence("s", "MIT", ()) == (Evidence("source", "MIT", "source:audit.toml"),)


def test_plan_pickles_without_engine_state() -> None:
    import pickle

    scanner = ContentScanner()
    clone = pickle.loads(pickle.dumps(scanner))
    texts = pa.array(["© 2020 X. All rights reserved.", "MIT License"], pa.large_string())
    assert clone.scan_batch(texts) == scanner.scan_batch(texts)
    assert np.array_equal(clone.candidate_mask(texts), scanner.candidate_mask(texts))


# --- step 4: SPDX ids and licence notices settled column-wise ----------------------------------------

# Licence notices and SPDX lines, their look-alikes in prose, and characters that keep a window safe
# ('—', '©', NBSP) or make it unsafe ('é', 'ſ', CJK).
_NOTICE_PIECES = [
    "Released under the MIT License.",
    'Licensed under the Apache License, Version 2.0 (the "License");',
    "This article is licensed under a Creative Commons Attribution-ShareAlike 4.0 International License.",
    "made available under the MIT License",
    "is published under the terms of the BSD-3-Clause licence; see",
    "released\nunder the GPL",
    "licensed\n# under the MIT License",
    "distributed under an unknown bespoke agreement",
    "Permission is hereby granted, free of charge, to any person obtaining a copy",
    "This program is free software; it is released into the public domain",
    "it under the terms of the GNU General Public License as published by the Free Software "
    "Foundation, either version 3 of the License, or (at your option) any later version.",
    "// SPDX-License-Identifier: Apache-2.0\n",
    "# SPDX-License-Identifier: MIT OR GPL-2.0 */\n",
    "license: mit\n",
    "under the bridge, available and provided, released in May",
    "Copyright 2020 ACME",
    "© 2021 Site — All rights reserved.",
    "https://creativecommons.org/licenses/by/4.0/",
    "WARRANTY",
    "licence licence licence",
    "— \u00a0",
    "é",
    "licenſed under the MIT License",
    "本项目遵循 MIT 许可证。",
    "本作品采用知识共享署名 4.0 国际许可协议进行许可。",
    "采用MIT许可证",
    "版released under the MIT License",
    "released under the MIT License。版权所有",
    "依据「Apache License 2.0」授权协议发布",
    "İ",
    "\n",
    " ",
]


def _notice_texts() -> st.SearchStrategy[list[str | None]]:
    # Fillers move notices towards the 80-character trigger reach and the 400-character match span.
    filler = st.integers(0, 460).map(lambda k: ("word " * 92)[:k]) | st.integers(0, 460).map(
        lambda k: " " * k
    )
    piece = st.sampled_from(_NOTICE_PIECES) | filler
    return st.lists(st.lists(piece, max_size=6).map("".join) | st.none(), max_size=8)


@settings(max_examples=150, deadline=None)
@given(_notice_texts(), st.booleans())
def test_notices_batch_equals_row_scan(scanner: ContentScanner, texts: list[str | None], small: bool) -> None:
    """Rows with licence notices, SPDX lines and their look-alikes: the batch finds what ``scan`` finds
    (kind, value, offset, detail and order), whichever rows it settles column-wise."""
    array = pa.array(texts, pa.string() if small else pa.large_string())
    expected = {i: scanner.scan(t) for i, t in enumerate(texts) if t and scanner.scan(t)}
    assert scanner.scan_batch(array) == expected


@pytest.mark.parametrize(
    "text",
    [
        # apache-2.0-header claims the span licensed-under also matches
        'Licensed under the Apache License, Version 2.0 (the "License");',
        # two notices, one licence: the first in file order gives the finding
        "Licensed under the Apache License, Version 2.0 and released under the Apache License 2.0",
        # a second match of one notice, and two SPDX lines: left to Python
        "Released under the MIT License. Also published under the GPL.",
        "SPDX-License-Identifier: MIT\nSPDX-License-Identifier: Apache-2.0\n",
        # the trigger ' under ' just within and just beyond 80 characters of the match start
        "released" + " " * 70 + " under the MIT License",
        "released" + " " * 80 + " under the MIT License",
        # a match that runs past the end of the line 400 characters after its trigger
        "licensed under " + "the " * 110 + "MIT License",
        "licensed under the MIT" + " " * 380 + "License\nnext line",
        # safe non-ASCII before the notice: character offsets
        "Über — " * 3 + "© 2020 — released under the MIT License",
        "— \u00a0" * 40 + "released under the MIT License\nSPDX-License-Identifier: MIT",
        # a notice with no literal ' under ' (a Hyperscan cue stands for it), where lower-casing
        # changes the text's length ('İ')
        "released\nunder the MIT License copyrİght 2020",
        "released\nunder the MIT License. Also released under the GPL.",
        # a copyright notice whose match starts before the first cue: no trigger literal in it
        "All  rights reserved. All rights reserved.",
        "all rightſ reserved ALL RIGHTS RESERVED",
        # a name that normalises to nothing: no finding, no claim
        "distributed under an unknown bespoke agreement, licensed under the MIT License",
        # a full text after a notice that names its licence, and without one
        "Copyright (c) 2020 X\n\n"
        + "Permission is hereby granted, free of charge, to any person obtaining a copy"
        " of this software, WITHOUT WARRANTY OF ANY KIND",
        "licence licence licence and nothing else",
        # 'İ' lengthens the lower-cased text: Python searches every notice everywhere, also far
        # before the first trigger
        "İ All  rights reserved. " + "word " * 100 + "All rights reserved.",
        "İ released under the MIT License " + "word " * 100 + " released under the BSD License",
        # Chinese licence notices, settled column-wise when no notice that reads word classes runs
        "本作品采用知识共享署名 4.0 国际许可协议进行许可。" + " text" * 40,
        "本项目采用 MIT 许可协议，基于 Apache-2.0 许可证",
        "版权所有 © 2020 某某公司，保留所有权利。采用 MIT 许可证",
        "中文" * 30 + "版权所有，未经许可，不得转载",
        # a NUL byte (the separator of the windows Hyperscan scans) inside a notice
        "released under the MIT\x00License © 2020\x00X",
        "本项目基于\x00Apache 许可证",
    ],
)
def test_notice_edge_cases(scanner: ContentScanner, text: str) -> None:
    texts = pa.array(["filler " * 40, text, None, text.upper()], pa.large_string())
    expected = {i: scanner.scan(t) for i, t in enumerate(texts.to_pylist()) if t and scanner.scan(t)}
    assert scanner.scan_batch(texts) == expected


def test_safe_notice_rows_are_settled_column_wise(scanner: ContentScanner) -> None:
    """Typical notice rows are settled without the per-row Python scan; their findings are the
    reference's; unsafe rows and rows with two SPDX lines are scanned in Python."""
    settled = [
        "Released under the MIT License.\n" + "text " * 200,
        "// SPDX-License-Identifier: Apache-2.0\nint x;",
        'Licensed under the Apache License, Version 2.0 (the "License");',
        "page text " * 100 + "\n\n© 2021 Example Site — All rights reserved.",
    ]
    python = [
        "Café released under the MIT License",
        "SPDX-License-Identifier: MIT\nSPDX-License-Identifier: 0BSD",
    ]
    texts = pa.array(settled + python, pa.large_string())
    found = scanner.plan.scan(texts)
    assert found.python_rows == (len(settled) - 1 if scanner.plan.re2_notice_rows else 0) + len(python)
    expected = {i: scanner.scan(t) for i, t in enumerate(texts.to_pylist()) if scanner.scan(t)}
    assert found.by_row() == expected
    assert {f.kind for i in range(len(settled)) for f in expected[i]} == {
        "licence-notice",
        "spdx-id",
        "copyright-notice",
    }


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="ab é—\n©", max_size=40), st.data())
def test_multibyte_character_counts(text: str, data: st.DataObject) -> None:
    from auditor.licences.batch_windows import char_classes, unsafe_rows

    raw = np.frombuffer(text.encode(), np.uint8)
    multibyte = unsafe_rows(raw, np.array([0, len(raw)]), char_classes("—")).multibyte
    cut = data.draw(st.integers(0, len(text)))
    start = data.draw(st.integers(0, cut))
    begin, end = len(text[:start].encode()), len(text[:cut].encode())
    assert multibyte.chars(np.array([begin]), np.array([end])).tolist() == [cut - start]


@pytest.mark.parametrize(
    ("pattern", "reads_no_further"),
    [
        (r"\bcopyright\s*\d{4}", True),  # a leading \b reads before the match, never after it
        (r"all rights reserved\b", False),
        (r"version (?P<v>[123])(?! of the License)", False),
        (r"(?m)^licen[cs]e:\s*(?P<name>\S+)$", False),
        (r"licensed under (?P<name>[A-Za-z0-9][^\n.]{1,80})", True),
    ],
)
def test_reads_no_further(pattern: str, reads_no_further: bool) -> None:
    from auditor.licences.patterns import reads_no_further as check

    assert check(re.compile(pattern, re.IGNORECASE)) is reads_no_further


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="licensedunder MIT.\n—x", max_size=60))
def test_trimmed_tail_starts_where_the_pattern_does(text: str) -> None:
    """A pattern with its final counted repeat cut to the minimum finds its first match at the same
    start, and its matches end no later (what step 4 reads from the engines)."""
    pattern = re.compile(r"\blicensed under (?P<name>[A-Za-z0-9][^\n.]{1,80})", re.IGNORECASE)
    full, trimmed = to_re2(pattern, "exact"), to_re2(pattern, "exact", trim_tail=True)
    assert full is not None and trimmed is not None and full != trimmed
    array = pa.array([text], pa.large_string())
    assert (
        pc.find_substring_regex(array, full).to_pylist()
        == pc.find_substring_regex(array, trimmed).to_pylist()
    )
    assert (
        pc.count_substring_regex(array, trimmed)[0].as_py()
        >= pc.count_substring_regex(array, full)[0].as_py()
    )


def test_full_texts_in_one_lookup_equal_one_by_one() -> None:
    from auditor.licences.fulltext import identify_full_text, identify_full_texts
    from auditor.licences.tables import load_fulltext

    index = load_fulltext()
    mit = (
        "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
        'associated documentation files (the "Software"), to deal in the Software without restriction, '
        "including without limitation the rights to use, copy, modify, merge, publish, distribute, "
        "sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is "
        "furnished to do so, subject to the following conditions: The above copyright notice and this "
        "permission notice shall be included in all copies or substantial portions of the Software. THE "
        'SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT '
        "LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. "
        "IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER "
        "LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN "
        "CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE."
    )
    texts = ["", "a b c", mit, "intro text " * 30 + mit, mit[:300], (mit[:120] + " ") * 8, mit + " " + mit]
    batched = identify_full_texts(texts, index)
    assert batched == [identify_full_text(t, index) for t in texts]
    assert batched[2] is not None and batched[2].licence == "MIT"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from([*_NOTICE_PIECES, "made\t available", "licenſed", " UNDER ", "under"]), max_size=5
    )
)
def test_word_cue_holds_every_match(pieces: list[str]) -> None:
    """The cue that stands for the gate " under " (its notices' starts through "under") matches
    wherever one of those notices matches, and not in prose that merely says "under"."""
    from auditor.licences.batch import word_cues

    scanner = ContentScanner()
    gate_index = {gate: i for i, gate in enumerate(scanner.gates)}
    (cue,) = word_cues(scanner, gate_index).values()
    text = "".join(pieces)
    users = [n for n in scanner.notices if " under " in n.triggers]
    if any(n.pattern.search(text) for n in users):
        assert pc.match_substring_regex(pa.array([text]), cue)[0].as_py()
    prose = pa.array(["under the bridge, hidden under a tree"])
    assert not pc.match_substring_regex(prose, cue)[0].as_py()


# --- word-ish (CJK) windows, root gates, 'İ' ------------------------------------------------------------


def test_wordish_characters_differ_only_in_word_classes() -> None:
    """Every character of ``WORDISH_RANGES`` is caseless, no digit, no whitespace and folds to no ASCII
    letter: on it Python and the exact RE2 forms can differ only through \\w, \\W, \\b and \\B."""
    from auditor.licences.patterns import WORDISH_RANGES

    for low, high in WORDISH_RANGES:
        for code in range(low, high + 1):
            c = chr(code)
            assert c.lower() == c == c.upper(), hex(code)
            assert not re.match(r"[\d\s]", c) and not re.match(r"(?i)[a-z]", c), hex(code)


@pytest.mark.parametrize(
    ("pattern", "reads"),
    [
        (r"\bcopyright\s*\d{4}", True),
        (r"[^\w]x", True),
        (r"(?:a|\W)+", True),
        (r"x(?=\b)", True),
        (r"(?:采用|基于)\s*(?P<name>[^\n。]{2,40}?)\s*许可证", False),
        (r"(?:©|\([cC]\))\s*\d{4}", False),
    ],
)
def test_reads_word_class(pattern: str, reads: bool) -> None:
    from auditor.licences.patterns import reads_word_class

    assert reads_word_class(re.compile(pattern)) is reads


def test_char_classes() -> None:
    from auditor.licences.batch_windows import SAFE, UNSAFE, WORDISH, char_classes
    from auditor.licences.patterns import WORDISH_RANGES

    classes = char_classes(SAFE_NON_ASCII, WORDISH_RANGES)
    expected = {"a": SAFE, "©": SAFE, "—": SAFE, "\u3000": SAFE, "版": WORDISH, "。": SAFE, "、": SAFE}
    expected |= {"ー": WORDISH, "한": WORDISH, "é": UNSAFE, "ı": UNSAFE, "\u200b": UNSAFE, "Ａ": UNSAFE}
    assert {c: int(classes[ord(c)]) for c in expected} == expected


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="abc 版", max_size=12), st.integers(17, 60))
def test_open_repeats_form_is_a_superset(text: str, top: int) -> None:
    """``open_repeats`` widens counted repeats above 16: a superset of the exact form, equal to it
    where there are none."""
    pattern = re.compile(f"a[^c]{{2,{top}}}?c")
    exact, wide = to_re2(pattern, "exact"), to_re2(pattern, "exact", open_repeats=True)
    assert exact is not None and wide is not None and wide != exact
    array = pa.array([text], pa.large_string())
    if pc.match_substring_regex(array, exact)[0].as_py():
        assert pc.match_substring_regex(array, wide)[0].as_py()
    plain = re.compile("a[^c]{2,5}c")
    assert to_re2(plain, "exact", open_repeats=True) == to_re2(plain, "exact")


def test_chinese_notice_rows_are_settled_column_wise(scanner: ContentScanner) -> None:
    """Rows whose only non-ASCII characters are CJK are settled column-wise when no gate of a notice
    that reads word classes occurs; a CJK character touching such a notice sends the row to Python."""
    settled = [
        "本作品采用知识共享署名 4.0 国际许可协议进行许可。" + " text" * 30,
        "版权所有 © 2020 某某公司，保留所有权利。",
        "本项目遵循 MIT 许可证。",
    ]
    python = ["版copyright 2020 某某"]
    texts = pa.array(settled + python, pa.large_string())
    found = scanner.plan.scan(texts)
    if scanner.plan.engine == "hyperscan":
        assert found.python_rows == len(python)
    else:  # RE2 counts no copyright gates (the copyright-only row goes to Python), and re2-python
        # leaves the licence-notice rows to Python too
        assert found.python_rows == len(python) + (1 if scanner.plan.re2_notice_rows == 0 else 3)
    expected = {i: scanner.scan(t) for i, t in enumerate(texts.to_pylist()) if scanner.scan(t)}
    assert found.by_row() == expected
    assert {f.detail for i in range(len(settled)) for f in expected[i]} >= {"zh-licence", "c-symbol-year"}


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_NOTICE_PIECES + _FRAGMENTS[:20]), max_size=4).map("".join), max_size=6))
def test_gate_counts_cover_every_gate(texts: list[str]) -> None:
    """Step 1 counts the root gates over the batch, step 2 the others in the windows: together, every
    candidate row's gates are the ones ``ContentScanner.present_gates`` finds (cues aside)."""
    pytest.importorskip("hyperscan")
    scanner = ContentScanner()
    plan = scanner.plan
    assert plan._gates is not None and plan._gates.available()
    array = pa.array(texts, pa.large_string())
    captured: list[np.ndarray] = []
    original = plan._gates.window_matches

    def keep(*args: object) -> object:
        result = original(*args)  # type: ignore[arg-type]
        captured.append(args[2])  # type: ignore[arg-type]
        return result

    plan._gates.window_matches = keep  # type: ignore[method-assign,assignment]
    from auditor.licences.batch_windows import string_buffers

    offsets, data = string_buffers(array)
    located = plan._gates.locate(offsets, data) if data is not None else None
    plan.scan(array)
    cue_gates = set(plan._gates.cues)
    rows = [] if located is None else located.candidates.tolist()
    for k, row in enumerate(rows):
        present = {g for g, count in enumerate(captured[0][k]) if count} - cue_gates
        expected = {scanner.gates.index(g) for g in scanner.present_gates(texts[row].lower())} - cue_gates
        if len(texts[row].lower()) == len(texts[row]):
            assert present == expected, texts[row]
    for row, text in enumerate(texts):
        if row not in rows:
            assert not scanner.present_gates(text.lower()) - {scanner.gates[g] for g in cue_gates}
