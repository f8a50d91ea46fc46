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
from auditor.stages.base import WORK_SCHEMA, StageContext
from auditor.stages.licence import LICENCE_COLUMNS, LicenceStage, source_evidence

try:
    import hyperscan  # noqa: F401

    ENGINES = ["re2", "hyperscan"]
except ImportError:
    ENGINES = ["re2"]


@pytest.fixture(scope="module", params=ENGINES)
def scanner(request: pytest.FixtureRequest) -> ContentScanner:
    scanner = ContentScanner()
    scanner.plan = BatchPlan(scanner, use_hyperscan=request.param == "hyperscan")
    assert scanner.plan.engine == request.param
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


def _batch(texts: list[str | None], sources: list[str], meta: list[str | None]) -> pa.RecordBatch:
    n = len(texts)
    values = {
        "record_id": [f"{s}/x#{i}" for i, s in enumerate(sources)],
        "source": sources,
        "shard": ["x"] * n,
        "row": list(range(n)),
        "text": texts,
        "meta_licence": meta,
    }
    arrays = [pa.array(values.get(f.name, [None] * n), type=f.type) for f in WORK_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=WORK_SCHEMA)


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
    batch = _batch([r[2] for r in rows], [r[0] for r in rows], [r[1] for r in rows])
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
