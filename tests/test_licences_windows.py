"""Windows of the batch scan (``batch._window_back``, ``batch_windows``): whatever lies before a row's
first cue, farther back than Python reads, changes no finding."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from auditor.licences import ContentScanner
from auditor.licences.batch import BatchPlan, _window_back
from auditor.licences.batch_windows import prefix_chars, row_texts, starts_with_trigger, string_buffers

_NOTICES = [
    "© 2020 Example Site. All rights reserved.",
    "Copyright (c) 2019 Jane Doe",
    "This project is released under the MIT License.",
    "// SPDX-License-Identifier: Apache-2.0\n",
    "本作品采用知识共享署名 4.0 国际许可协议进行许可。",
    "ALL RIGHTS RESERVED",
]
# Characters on which Python's and RE2's regex semantics part, CJK, and plain accents.
_ODD = ["é", "ſ", "\u212a", "\u00a0", "版", "\u2028", "x"]


@pytest.fixture(scope="module", params=["hyperscan", "re2"])
def scanner(request: pytest.FixtureRequest) -> ContentScanner:
    if request.param == "hyperscan":
        pytest.importorskip("hyperscan")
    scanner = ContentScanner()
    scanner.plan = BatchPlan(scanner, use_hyperscan=request.param == "hyperscan")
    scanner.plan.re2_notice_rows = 0
    return scanner


@pytest.mark.parametrize("odd", _ODD)
def test_character_before_the_window(scanner: ContentScanner, odd: str) -> None:
    """An odd character at any distance before the notice (in the window or not)."""
    texts = [
        "word " * (gap // 5) + odd + "a" * (gap % 5) + " text " * 3 + notice + " tail"
        for notice in _NOTICES
        for gap in (0, 1, 40, 76, 77, 78, 79, 80, 81, 82, 83, 85, 120, 240, 320, 323, 324, 325, 400)
    ]
    array = pa.array(texts, pa.large_string())
    expected = {i: scanner.scan(t) for i, t in enumerate(texts) if scanner.scan(t)}
    assert scanner.scan_batch(array) == expected


def test_window_back_reads_back_81_ascii_bytes() -> None:
    """Windows start 81 bytes back when those are ASCII, else 324 (never before the row start)."""
    texts = ["a" * 100 + "X", "é" + "a" * 100 + "X", "a" * 50 + "é" + "a" * 49 + "X", "é" * 10 + "X", "X"]
    array = pa.array(texts, pa.large_string())
    offsets, data = string_buffers(array)
    first = np.array([offsets[i] + texts[i].encode().index(b"X") for i in range(len(texts))])
    back = _window_back(data, offsets[:-1], first)
    starts = np.maximum(first - back, offsets[:-1]) - offsets[:-1]
    assert starts.tolist() == [100 - 81, 102 - 81, 0, 0, 0]


def test_prefix_chars_and_row_texts() -> None:
    texts = ["abc", "", "héllo wörld", "版权所有", "x" * 300]
    array = pa.array(texts, pa.large_string())
    offsets, data = string_buffers(array)
    assert prefix_chars(data, offsets[:-1], offsets[1:]).tolist() == [len(t) for t in texts]
    assert row_texts(data, offsets, np.array([4, 0, 2])) == [texts[4], texts[0], texts[2]]


def test_starts_with_trigger_at_the_buffer_end() -> None:
    buffer = np.frombuffer(b"xx ALL rights reserved", np.uint8)
    at = np.array([3, 3, 20, 21, 0])
    stop = np.array([22, 21, 22, 22, 22])
    found = starts_with_trigger(buffer, at, stop, (b"all rights reserved", b"ed"))
    assert found.tolist() == [True, False, True, False, False]
