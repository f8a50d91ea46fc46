"""Licence evidence in content: SPDX ids, CC URLs and badges, notices, copyright lines, full texts."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.licences import ContentScanner
from auditor.licences.build_reference import licensedcode_dir, scancode_texts
from auditor.licences.fulltext import identify_full_text, shingle_hashes
from auditor.licences.tables import load_fulltext


@pytest.fixture(scope="module")
def scanner() -> ContentScanner:
    return ContentScanner()


def _found(scanner: ContentScanner, text: str) -> set[tuple[str, str]]:
    return {(f.kind, f.value) for f in scanner.scan(text)}


CASES = [
    ("// SPDX-License-Identifier: GPL-2.0\nint main(void) { return 0; }", {("spdx-id", "GPL-2.0-only")}),
    ("/* SPDX-License-Identifier: MIT OR Apache-2.0 */", {("spdx-id", "MIT OR Apache-2.0")}),
    ("# SPDX-License-Identifier: NotALicence-9", {("spdx-id", "unknown")}),
    (
        "Copyright (c) 2021 Jane Doe. All rights reserved.",
        {("copyright-notice", "copyright"), ("copyright-notice", "all-rights-reserved")},
    ),
    ("© 2019 Example Media", {("copyright-notice", "copyright")}),
    (
        "Text is available under https://creativecommons.org/licenses/by-sa/4.0/ terms.",
        {("cc-url", "CC-BY-SA-4.0")},
    ),
    ('<img src="https://i.creativecommons.org/l/by-nc/3.0/de/88x31.png">', {("cc-badge", "CC-BY-NC-3.0-DE")}),
    ("[![License](https://licensebuttons.net/l/by-nd/4.0/88x31.png)]", {("cc-badge", "CC-BY-ND-4.0")}),
    ("Dedicated via http://creativecommons.org/publicdomain/zero/1.0/", {("cc-url", "CC0-1.0")}),
    (
        "This work is licensed under a Creative Commons Attribution-NonCommercial 4.0 International License.",
        {("licence-notice", "CC-BY-NC-4.0")},
    ),
    ('Licensed under the Apache License, Version 2.0 (the "License");', {("licence-notice", "Apache-2.0")}),
    ("This project is released under the MIT License.", {("licence-notice", "MIT")}),
    (
        "#  This program is free software; you can redistribute it and/or modify\n"
        "#  it under the terms of the GNU General Public License as published by\n"
        "#  the Free Software Foundation; either version 3 of the License, or\n"
        "#  (at your option) any later version.",
        {("licence-notice", "GPL-3.0-or-later")},
    ),
    (
        " * This library is free software; you can redistribute it and/or modify it under the terms of the\n"
        " * GNU Lesser General Public License as published by the Free Software Foundation; either\n"
        " * version 2.1 of the License, or (at your option) any later version.",
        {("licence-notice", "LGPL-2.1-or-later")},
    ),
    ("license: cc-by-4.0\n", {("licence-notice", "CC-BY-4.0")}),
    ("The copyright law of 1976 is complex; licensing is a topic.", set()),
    ("It was released under the supervision of the board.", set()),
    ("The weather is nice today.", set()),
]

CASES_ZH = [
    (
        "本作品采用知识共享署名-非商业性使用-相同方式共享 4.0 国际许可协议进行许可。",
        {("licence-notice", "CC-BY-NC-SA-4.0")},
    ),
    ("本项目遵循 MIT 许可证。", {("licence-notice", "MIT")}),
    ("本软件基于 Apache 2.0 协议开源。", {("licence-notice", "Apache-2.0")}),
    (
        "版权所有 © 2020 某某公司，保留所有权利。",
        {("copyright-notice", "all-rights-reserved"), ("copyright-notice", "copyright")},
    ),
    ("本文版權所有，未经授权禁止转载。", {("copyright-notice", "all-rights-reserved")}),
    ("今天天气很好，我们去公园散步。", set()),
]


@pytest.mark.parametrize(("text", "expected"), CASES + CASES_ZH)
def test_content_evidence(scanner: ContentScanner, text: str, expected: set[tuple[str, str]]) -> None:
    assert _found(scanner, text) == expected


def test_findings_never_copy_text(scanner: ContentScanner) -> None:
    text = (
        "Copyright (c) 2021 Secret Holder Name. Licensed under the MIT License. SPDX-License-Identifier: Foo"
    )
    for finding in scanner.scan(text):
        assert "Secret" not in finding.value and "Secret" not in finding.where
        assert finding.where.startswith("content")


def test_offsets_point_at_the_evidence(scanner: ContentScanner) -> None:
    text = "x" * 50 + "\nSPDX-License-Identifier: MIT\n"
    (finding,) = scanner.scan(text)
    assert finding.offset == text.index("SPDX") and finding.where == f"content:offset {finding.offset}"


def test_candidate_mask_is_vectorised_prefilter(scanner: ContentScanner) -> None:
    texts = pa.array(
        ["hello", None, "Copyright 2020 X", "see LICENSE", "版权所有", "plain (c) text"], pa.large_string()
    )
    assert scanner.candidate_mask(texts).tolist() == [False, False, True, True, True, False]


def test_shingles_ignore_reflow_and_case() -> None:
    a = "Permission is hereby granted, free of charge, to any person obtaining a copy"
    b = "PERMISSION is hereby\ngranted,   free of charge,\n to any person obtaining a copy"
    assert shingle_hashes(a).tolist() == shingle_hashes(b).tolist()


@pytest.fixture(scope="module")
def reference_texts() -> dict[str, tuple[str, str]]:
    folder = licensedcode_dir()
    if folder is None:
        pytest.skip("licensedcode-data not installed (only needed to build and check reference texts)")
    return scancode_texts(folder)


@pytest.mark.parametrize(
    "licence",
    [
        "MIT",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "Apache-2.0",
        "GPL-3.0-only",
        "AGPL-3.0-only",
        "CC-BY-SA-4.0",
        "MPL-2.0",
    ],
)
def test_full_text_with_light_edits(reference_texts: dict[str, tuple[str, str]], licence: str) -> None:
    text = reference_texts[licence][1]
    words = text.split()
    reflowed = "\n".join(" ".join(words[i : i + 9]) for i in range(0, len(words), 9))
    edited = "Copyright (c) 2024 Someone Else\n\n" + reflowed + "\n\nint main() { return 0; }"
    match = identify_full_text(edited, load_fulltext())
    assert match is not None and match.licence == licence
    assert match.containment > 0.9


def test_full_text_of_a_fragment_is_not_claimed() -> None:
    fragment = "Permission is hereby granted, free of charge, to any person obtaining a copy of this software"
    assert identify_full_text(fragment, load_fulltext()) is None


_FRAGMENTS = [text for text, _ in CASES + CASES_ZH] + [
    "© 2021 Example Site 12. All rights reserved.",
    "Copyright 2019 ACME — tous droits réservés",
    "Über uns © 2020 Müller GmbH. Alle Rechte vorbehalten.",
    "Text released under the GPL. Copyright 2001 X",
    "lorem ipsum dolor sit amet",
    "",
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_FRAGMENTS), max_size=3).map(" ".join) | st.none(), max_size=12))
def test_batch_scan_equals_row_scan(texts: list[str | None]) -> None:
    """The vectorised batch path finds exactly what the per-text scan finds."""
    scanner = ContentScanner()
    by_batch = scanner.scan_batch(pa.array(texts, pa.large_string()))
    by_row = {i: scanner.scan(t) for i, t in enumerate(texts) if t and scanner.scan(t)}
    assert by_batch == by_row
